import type { NewObject } from '../../protocol/index.js';

/**
 * A small contact-center configuration for the demo and for tests: one tenant with a site
 * folder, a switch with DNs, agents, groups and an application. `ref(name)` entries are resolved
 * to dbids as the objects are created in order.
 */
export interface SampleObject extends Omit<NewObject, 'props' | 'tenant' | 'folder'> {
  tenant?: string;
  folder?: string;
  props?: Record<string, unknown>;
}

export function sampleConfiguration(agentCount = 10): SampleObject[] {
  const objects: SampleObject[] = [
    { type: 'Tenant', name: 'Acme', props: { description: 'sample tenant' } },
    { type: 'Folder', name: 'Paris', tenant: 'Acme', props: { contains: 'any' } },
    { type: 'Folder', name: 'Berlin', tenant: 'Acme', props: { contains: 'any' } },
    { type: 'Host', name: 'cc-host-1', tenant: 'Acme', folder: 'Paris', props: { ip: '10.0.0.11', os: 'linux' } },
    { type: 'Application', name: 'TServer_Paris', tenant: 'Acme', folder: 'Paris', props: { appType: 'TServer', host: 'ref:Host:cc-host-1', port: 7000, version: '8.5' }, options: { TServer: { 'log-level': 'standard', 'addp-timeout': '10' } } },
    { type: 'Switch', name: 'SIP_Switch_Paris', tenant: 'Acme', folder: 'Paris', props: { switchType: 'SIPServer' } },
    { type: 'Switch', name: 'SIP_Switch_Berlin', tenant: 'Acme', folder: 'Berlin', props: { switchType: 'SIPServer' } },
    { type: 'Skill', name: 'French', tenant: 'Acme' },
    { type: 'Skill', name: 'German', tenant: 'Acme' },
  ];
  for (let i = 1; i <= agentCount; i += 1) {
    const site = i % 2 === 0 ? 'Berlin' : 'Paris';
    objects.push(
      { type: 'DN', name: `${5000 + i}`, tenant: 'Acme', folder: site, props: { number: `${5000 + i}`, switch: `ref:Switch:SIP_Switch_${site}`, dnType: 'Extension' } },
      { type: 'Person', name: `agent${i}`, tenant: 'Acme', folder: site, props: { firstName: 'Agent', lastName: `${i}`, isAgent: true }, annex: { skills: { [site === 'Paris' ? 'French' : 'German']: '5' } } },
      { type: 'AgentLogin', name: `${7000 + i}`, tenant: 'Acme', folder: site, props: { loginCode: `${7000 + i}`, switch: `ref:Switch:SIP_Switch_${site}`, person: `ref:Person:agent${i}` } },
      { type: 'Place', name: `Place_${5000 + i}`, tenant: 'Acme', folder: site, props: { dns: [`ref:DN:${5000 + i}`] } },
    );
  }
  objects.push({ type: 'AgentGroup', name: 'All agents', tenant: 'Acme', props: { agents: Array.from({ length: agentCount }, (_, i) => `ref:Person:agent${i + 1}`) } });
  return objects;
}
