import type { Message } from '../../protocol/index.js';

/** The golden messages of protocol/vectors/frames.json, by name. */
export const VECTOR_MESSAGES: Array<{ name: string; message: Message }> = [
  { name: 'register minimal', message: { kind: 1, id: 1, versions: [1], clientName: 'desk-1', clientType: 'agent-desktop', user: 'agent1', password: 'secret' } },
  {
    name: 'register with addp and session',
    message: {
      kind: 1, id: 7, versions: [1], clientName: 'desk-1', clientType: 'agent-desktop', user: 'agent1', password: 'secret',
      addp: { localTimeoutMs: 10000, remoteTimeoutMs: 15000, trace: 'both' },
      session: { id: '5b0f6c1e-1111-4222-8333-944455556666', lastSeq: 1234, lineage: { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 }, subscriptions: [{ type: 'DN', tenant: 1 }, {}] },
    },
  },
  { name: 'standby', message: { kind: 25, id: 1, user: 'agent1', password: 'secret', remoteTimeoutMs: 10000 } },
  { name: 'login start', message: { kind: 30, id: 1, user: 'agent1', nonce: 'q5JrZ1l0bq1n2hYcQ6m0Vg==' } },
  { name: 'login challenge', message: { kind: 31, id: 1, nonce: 'q5JrZ1l0bq1n2hYcQ6m0Vg==Jc3d0kq9T0W2cYQ8gm7lkJ2M', salt: 'c2FsdHNhbHRzYWx0c2FsdA==', n: 16384, r: 8, p: 1 } },
  { name: 'register with proof', message: { kind: 1, id: 2, versions: [1], clientName: 'desk-1', clientType: 'agent-desktop', user: 'agent1', proof: 'Zm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyZm9vYmFyMTI=' } },
  { name: 'registered', message: { kind: 2, id: 1, version: 1, sessionId: 's-1', serverName: 'master', serverKind: 'master', serverRole: 'standalone', seq: 42, lineage: { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 }, restored: false } },
  { name: 'read objects with filter', message: { kind: 3, id: 2, objectType: 'DN', filter: { tenant: 1, props: { number: '5001' } } } },
  { name: 'read end', message: { kind: 5, id: 2, total: 3, seq: 42, lineage: { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 } } },
  { name: 'subscribe', message: { kind: 6, id: 3, filter: { type: 'Person', folder: 4 } } },
  { name: 'subscribe after a seq', message: { kind: 6, id: 4, filter: {}, afterSeq: 42, lineage: { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 }, chain: '0123456789abcdef0123456789abcdef' } },
  { name: 'ack', message: { kind: 8, id: 3, seq: 42 } },
  {
    name: 'object updated',
    message: { kind: 10, seq: 43, at: 1795000000000, type: 'DN', dbid: 12, delta: { state: 'disabled', options: { TServer: { 'timeout': '30', old: null } } } },
  },
  { name: 'object deleted', message: { kind: 11, seq: 44, at: 1795000000001, type: 'Host', dbid: 2 } },
  { name: 'delete object', message: { kind: 14, id: 9, type: 'Host', dbid: 2 } },
  { name: 'write result', message: { kind: 15, id: 9, seq: 44, dbid: 2 } },
  { name: 'history log expired', message: { kind: 16, lastSeq: 10, oldestSeq: 500, seq: 900, lineage: { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 } } },
  { name: 'addp poll', message: { kind: 17, n: 1 } },
  { name: 'addp reply', message: { kind: 18, n: 1 } },
  { name: 'error', message: { kind: 19, id: 9, code: 'OBJECT_IN_USE', message: 'Host 2 is still referenced by Application:1', details: { referrer: 'Application:1' } } },
  { name: 'load snapshot', message: { kind: 22, id: 4 } },
  {
    name: 'snapshot chunk with credentials',
    message: {
      kind: 4, id: 4, total: 1,
      objects: [{ type: 'Person', dbid: 3, name: 'agent1', tenant: 1, folder: 0, state: 'enabled', props: { isAgent: true }, options: {}, annex: {} }],
      credentials: [[3, 'scrypt$16384$8$1$c2FsdA==$aGFzaA==']],
    },
  },
  { name: 'credential changed', message: { kind: 23, seq: 45, dbid: 3, hash: 'scrypt$16384$8$1$c2FsdA==$aGFzaA==' } },
  { name: 'position', message: { kind: 24, seq: 46 } },
  { name: 'update object on behalf of a person', message: { kind: 13, id: 10, type: 'DN', dbid: 12, delta: { state: 'enabled' }, onBehalfOf: 3, lineage: { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 } } },
  { name: 'cancel', message: { kind: 26, id: 4 } },
  { name: 'backup database', message: { kind: 27, id: 5 } },
  { name: 'backup chunk', message: { kind: 28, id: 5, data: Buffer.from('SQLite format 3\0'), size: 16 } },
  { name: 'backup end', message: { kind: 29, id: 5, size: 16, seq: 46, lineage: { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 } } },
  { name: 'unsubscribe', message: { kind: 7, id: 11, filter: { type: 'Person', folder: 4 } } },
  {
    name: 'object created',
    message: { kind: 9, seq: 47, at: 1795000000002, object: { type: 'Skill', dbid: 8, name: 'Dutch', tenant: 1, folder: 0, state: 'enabled', props: {}, options: {}, annex: {} } },
  },
  { name: 'create object', message: { kind: 12, id: 12, object: { type: 'Skill', name: 'Dutch', tenant: 1 } } },
  { name: 'get server info', message: { kind: 20, id: 13 } },
  {
    name: 'server info of a pool member',
    message: { kind: 21, id: 13, serverName: 'CS_Pool', serverKind: 'proxy', serverRole: 'standalone', softwareVersion: '0.1.0', seq: 47, lineage: { id: '7d4c2a10-5e6f-4a8b-9c0d-1e2f3a4b5c6d', generation: 2 }, uptimeMs: 1000, memberName: 'cs-proxy-1' },
  },
  { name: 'login challenge of a directory account', message: { kind: 31, id: 1, nonce: 'q5JrZ1l0bq1n2hYcQ6m0Vg==Jc3d0kq9T0W2cYQ8gm7lkJ2M', salt: 'c2FsdHNhbHRzYWx0c2FsdA==', n: 16384, r: 8, p: 1, login: 'password' } },
];
