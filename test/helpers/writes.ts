import type { CfgClient } from '../../src/client/index.js';

/** Creates `count` skills named `${prefix}-${i}`, one write each; resolves with the last seq. */
export async function createSkills(client: CfgClient, prefix: string, count: number): Promise<number> {
  let seq = 0;
  for (let i = 0; i < count; i += 1) seq = (await client.create({ type: 'Skill', name: `${prefix}-${i}` })).seq;
  return seq;
}
