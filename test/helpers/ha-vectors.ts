import type { HaMessage } from '../../protocol/index.js';

const LINEAGE = { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 };

/** The golden HA messages of protocol/vectors/ha-frames.json, one or more per HA kind, by name. */
export const HA_VECTOR_MESSAGES: Array<{ name: string; message: HaMessage }> = [
  { name: 'challenge', message: { kind: 109, nonce: '00112233445566778899aabbccddeeff' } },
  {
    name: 'hello',
    message: { kind: 100, versions: [1], pairName: 'cfgproxy', masters: ['m1:9020', 'm2:9020'], nonce: 'ffeeddccbbaa99887766554433221100', proof: 'a1b2', role: 'backup', term: 3, clientEndpoint: 'backup-host:9030', received: { journalId: 'j-1', lastRecord: 120 }, lineage: LINEAGE },
  },
  { name: 'welcome', message: { kind: 101, version: 1, proof: 'c3d4', role: 'primary', term: 3, clientEndpoint: 'primary-host:9030', received: { journalId: 'j-2', lastRecord: 7 }, lineage: LINEAGE } },
  { name: 'stream start', message: { kind: 104, journalId: 'j-1', resumed: true } },
  {
    name: 'records',
    message: {
      kind: 102,
      records: [
        { r: 121, k: 'open', id: 's-1', person: 3, clientName: 'desk-1', clientType: 'sdk', subs: [{ type: 'DN', dbid: 12 }], pos: 46 },
        { r: 122, k: 'subs', id: 's-1', subs: [{ type: 'DN', dbid: 12 }, { type: 'Skill', tenant: 1 }] },
        { r: 123, k: 'pos', positions: [['s-1', 47]] },
        { r: 124, k: 'change', change: { kind: 11, seq: 47, at: 1795000000001, type: 'Host', dbid: 2 } },
        { r: 125, k: 'close', id: 's-1' },
        { r: 126, k: 'reset' },
      ],
    },
  },
  { name: 'ack', message: { kind: 103, upTo: 126 } },
  { name: 'switchover', message: { kind: 105, seq: 47 } },
  { name: 'switchover done', message: { kind: 106, ok: true, message: 'took over' } },
  { name: 'take back', message: { kind: 107 } },
  { name: 'backup reloaded', message: { kind: 108, seq: 900 } },
  { name: 'status', message: { kind: 110, loaded: true, appliedSeq: 47, acceptsClients: false, canReload: true } },
];
