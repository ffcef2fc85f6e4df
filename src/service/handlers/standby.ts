import { CfgError, ErrorCode, Kind, type StandbyMessage } from '../../../protocol/index.js';
import type { ClientSession } from '../session.js';

const MIN_STANDBY_KEEPALIVE_MS = 1_000;
const MAX_STANDBY_KEEPALIVE_MS = 120_000;

/**
 * Standby [PROTO-STANDBY-1..3]: the connection stays open unregistered, on any server role (a
 * backup included), without the register deadline; ADDP guards it instead. The client registers
 * on it when it loses its live connection, so a failover needs no accept (a busy Node server
 * accepts one connection per event-loop turn: a thousand took seconds) and no password hash (it
 * was verified here, ahead of time; a thousand users' scrypts would take seconds too).
 */
export async function handleStandby(session: ClientSession, message: StandbyMessage): Promise<void> {
  if (session.state !== 'awaiting-register') throw new CfgError(ErrorCode.ALREADY_REGISTERED, 'Standby is only for a connection that has not registered');
  // Standby names no client type: the UI port cannot tell it is a UI tool, so it takes none.
  session.requireUiClient(undefined);
  // A parked connection nobody polls could be held forever: the keepalive is not optional here.
  if (message.remoteTimeoutMs < MIN_STANDBY_KEEPALIVE_MS || message.remoteTimeoutMs > MAX_STANDBY_KEEPALIVE_MS) {
    throw new CfgError(ErrorCode.INVALID_MESSAGE, `a standby connection must keep ADDP on: remoteTimeoutMs between ${MIN_STANDBY_KEEPALIVE_MS} and ${MAX_STANDBY_KEEPALIVE_MS}`);
  }
  // A backup takes standby connections (that is what they are for); a proxy still loading cannot
  // check credentials yet, and says so rather than AUTH_FAILED, so the client asks again later.
  const refusal = session.host.source.notServingReason();
  if (refusal?.code === ErrorCode.PROXY_LOADING) throw refusal;
  session.state = 'registering';
  let personDbid: number;
  try {
    ({ personDbid } = await session.authenticate(message.user, message));
  } catch (error) {
    if (session.state === 'registering') session.state = 'awaiting-register';
    throw error;
  }
  if (session.state !== 'registering') return; // closed meanwhile
  session.personDbid = personDbid;
  try {
    session.standBy(message.remoteTimeoutMs);
  } catch (error) {
    session.state = 'awaiting-register';
    throw error;
  }
  session.send({ kind: Kind.Ack, id: message.id, seq: session.host.source.appliedSeq() });
}
