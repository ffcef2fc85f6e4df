import { CfgError, ErrorCode, Kind, PROTOCOL_VERSIONS, type RegisteredMessage, type RegisterMessage, type SessionToRestore } from '../../../protocol/index.js';
import { describeLineage, NO_LINEAGE, sameLineage } from '../../model/lineage.js';
import type { ClientSession } from '../session.js';
import { replay, sameHistory } from './replay.js';
import { systemClock } from '../../util/clock.js';

/**
 * Register [PROTO-HELLO-1..4, PROTO-RESTORE-1..4]: negotiate the version, authenticate, start
 * ADDP, then either open a new session or restore the presented one by replaying what it missed.
 * Everything after authentication runs in one synchronous step, so no change can slip between
 * the replay and the live stream.
 */
export async function handleRegister(session: ClientSession, message: RegisterMessage): Promise<void> {
  // A standby connection registers like a fresh one [PROTO-STANDBY-3]; a refusal leaves it as it was.
  const before = session.state;
  if (before !== 'awaiting-register' && before !== 'standby') throw new CfgError(ErrorCode.ALREADY_REGISTERED, 'this connection is already registered');
  const version = Math.max(...message.versions.filter((v) => (PROTOCOL_VERSIONS as readonly number[]).includes(v)));
  if (!Number.isFinite(version)) {
    throw new CfgError(ErrorCode.UNSUPPORTED_VERSION, `no common protocol version: client offers [${message.versions.join(', ')}], server speaks [${PROTOCOL_VERSIONS.join(', ')}]`);
  }
  const { source } = session.host;
  session.state = 'registering';
  let admitted: { serverProof?: string } | false;
  try {
    admitted = await admit(session, message);
  } finally {
    if (session.state === 'registering') session.state = before;
  }
  if (!admitted || session.state !== before) return; // closed while it waited
  const restore = sessionToRestore(session, message);
  const { serverProof } = admitted;
  session.loggedIn('active');

  const addp = message.addp;
  if (addp && addp.remoteTimeoutMs > 0) session.startAddp(addp.remoteTimeoutMs, addp.trace === 'remote' || addp.trace === 'both');

  const seq = source.appliedSeq();
  const lineage = source.lineage();
  const chain = source.chain();
  // Built whole, not spread: msgpackr encodes a spread copy several times slower, and a failover
  // sends a thousand of these at once.
  const registered = (restored: boolean): RegisteredMessage => ({
    kind: Kind.Registered,
    id: message.id,
    version,
    sessionId: session.id,
    serverName: source.serverName,
    serverKind: source.serverKind,
    serverRole: source.serverRole(),
    seq,
    lineage,
    ...(chain !== undefined ? { chain } : {}),
    restored,
    ...(serverProof !== undefined ? { serverProof } : {}),
    ...(source.memberName !== undefined ? { memberName: source.memberName } : {}),
  });
  session.lastDeliveredSeq = restore ? restore.lastSeq : seq;
  if (!restore) {
    session.state = 'active';
    session.host.activate(session);
    session.send(registered(false));
    return;
  }

  session.id = restore.id;
  for (const filter of restore.subscriptions.slice(0, session.host.limits.maxSubscriptionsPerSession)) session.addSubscription(filter);
  // A position in another seq space means nothing here: never replay unrelated seqs [PROTO-LINEAGE-3].
  const ownLineage = sameLineage(restore.lineage, lineage);
  if (!ownLineage && restore.lineage !== NO_LINEAGE) {
    session.logger.info({ session: restore.id, client: message.clientName, presented: describeLineage(restore.lineage), lineage: describeLineage(lineage) }, 'session of another database lineage: the client re-reads');
  }
  // The same name is not the same history: a position also proves the changes under it [PROTO-LINEAGE-7].
  const otherHistory = ownLineage && restore.lastSeq <= seq && !sameHistory(source, restore);
  if (otherHistory) {
    session.logger.warn({ event: 'LINEAGE-001', session: restore.id, client: message.clientName, lastSeq: restore.lastSeq, lineage: describeLineage(lineage) }, 'session position of another history at the same seq (a restored or copied database): the client re-reads');
  }
  const history = !ownLineage || otherHistory || restore.lastSeq > seq ? ({ kind: 'expired', oldestSeq: seq + 1 } as const) : source.changesAfter(restore.lastSeq);
  session.state = 'active';
  // A restored session joins the live stream only once its replay has caught up.
  session.catchingUp = history.kind !== 'expired';
  session.host.activate(session);
  if (history.kind === 'expired') {
    // [PROTO-RESTORE-3] the client must re-read; its subscriptions are live from now on.
    session.send(registered(false));
    session.send({ kind: Kind.HistoryLogExpired, lastSeq: restore.lastSeq, oldestSeq: history.oldestSeq, seq, lineage, ...(chain !== undefined ? { chain } : {}) });
    return;
  }
  session.send(registered(true));
  const restoreStartedAt = systemClock.now();
  const replayed = await replay(session, restore.lastSeq);
  session.host.metrics.restoreSeconds.observe((systemClock.now() - restoreStartedAt) / 1000);
  session.logger.debug({ session: session.id, lastSeq: restore.lastSeq, replayed }, 'session restored');
}

/**
 * The session to restore: as the client presents it, or by its id alone from this server's records
 * [PROTO-RESTORE-5] (subscriptions and the position written to the client's socket: frames lost in
 * flight when the connection broke are not sent again, so a client that tracks its own position
 * should present it). A session recorded for another user is refused. An id this server has no
 * record of starts a session under that id that must re-read.
 */
function sessionToRestore(session: ClientSession, message: RegisterMessage): SessionToRestore | undefined {
  const id = message.session?.id ?? message.sessionId;
  if (id === undefined) return undefined;
  const { source } = session.host;
  const record = source.sessionRecord?.(id);
  if (record && record.personDbid !== session.personDbid) {
    throw new CfgError(ErrorCode.PERMISSION_DENIED, 'that session belongs to another user');
  }
  if (message.session) return message.session;
  if (!record) return { id, lastSeq: 0, lineage: NO_LINEAGE, subscriptions: [] };
  return { id, lastSeq: record.lastSeq, lineage: source.lineage(), subscriptions: record.subscriptions };
}

/**
 * Everything a session waits for before it may start, while the connection stays in
 * 'registering': a failover in progress (a backup about to be promoted), the password check, and a
 * server behind the client's position catching up [ARCH-3]. Throws the refusal; false when the
 * connection closed meanwhile; else the server's proof after a login by proof [PROTO-HELLO-5].
 */
async function admit(session: ClientSession, message: RegisterMessage): Promise<{ serverProof?: string } | false> {
  const { source, limits } = session.host;
  session.requireUiClient(message.clientType);
  // Who a standby connection logged in as, before anything below can change the session.
  const standbyPerson = session.state === 'registering' && session.seat === 'standby' ? session.personDbid : undefined;
  const heldSince = systemClock.now();
  await source.untilServing();
  const heldMs = systemClock.now() - heldSince;
  if (heldMs > 5) session.logger.debug({ client: message.clientName, heldMs: Math.round(heldMs) }, 'register held during a failover');
  if (session.state !== 'registering') return false;
  const refusal = source.notServingReason();
  if (refusal) throw refusal;

  const { personDbid, serverProof } = await loginOf(session, message, standbyPerson);
  if (session.state !== 'registering') return false;
  session.personDbid = personDbid;
  session.clientName = message.clientName;
  session.clientType = message.clientType;
  const principal = session.principal;
  if (!principal) throw new CfgError(ErrorCode.AUTH_FAILED, 'unknown user or wrong password');
  if (message.clientType === 'proxy') {
    if (!principal.mayProxy) {
      throw new CfgError(ErrorCode.PERMISSION_DENIED, `account '${message.user}' may not register as a proxy (it needs isProxy or isAdmin)`);
    }
    session.isProxy = true;
  }

  const restore = message.session;
  if (restore && sameLineage(restore.lineage, source.lineage()) && restore.lastSeq > source.appliedSeq()) {
    // A server behind the client's position never presents a stale view as current.
    session.logger.debug({ client: message.clientName, lastSeq: restore.lastSeq, appliedSeq: source.appliedSeq() }, 'restore waits for this server to catch up');
    await source.waitForSeq(restore.lastSeq, limits.restoreWaitMs);
    if (session.state !== 'registering') return false;
  }
  return serverProof === undefined ? {} : { serverProof };
}

/**
 * The person a Register logs in: by password or proof, or, with neither, the person a standby
 * connection already logged in as [PROTO-STANDBY-3] (a failover then costs no new login).
 */
async function loginOf(session: ClientSession, message: RegisterMessage, standbyPerson: number | undefined): Promise<{ personDbid: number; serverProof?: string }> {
  if (message.password !== undefined || message.proof !== undefined) return session.authenticate(message.user, message);
  const { source } = session.host;
  const person = source.store.findByName('Person', 0, message.user);
  if (standbyPerson === undefined || person?.dbid !== standbyPerson) {
    throw new CfgError(ErrorCode.AUTH_FAILED, 'give a password or a proof (only a standby connection registers without, as the user it logged in as)');
  }
  return { personDbid: standbyPerson };
}
