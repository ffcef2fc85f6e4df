import { Kind, type GetServerInfoMessage } from '../../../protocol/index.js';
import { SOFTWARE_VERSION } from '../../util/version.js';
import type { ClientSession } from '../session.js';

const startedAt = Date.now();

/** GetServerInfo [PROTO-INFO-1]: who answers, in what role, at what seq. */
export function handleGetServerInfo(session: ClientSession, message: GetServerInfoMessage): void {
  const { source } = session.host;
  session.send({
    kind: Kind.ServerInfo,
    id: message.id,
    serverName: source.serverName,
    serverKind: source.serverKind,
    serverRole: source.serverRole(),
    softwareVersion: SOFTWARE_VERSION,
    seq: source.appliedSeq(),
    lineage: source.lineage(),
    uptimeMs: Date.now() - startedAt,
    ...(source.memberName !== undefined ? { memberName: source.memberName } : {}),
  });
}
