import { CfgError, ErrorCode, Kind, type LoginStartMessage } from '../../../protocol/index.js';
import { authMessage, newNonce } from '../../model/scram.js';
import { externalAccountOf } from '../../model/external-account.js';
import type { ClientSession } from '../session.js';
import { systemClock } from '../../util/clock.js';

/**
 * LoginStart [PROTO-HELLO-5]: answers the salt and cost of the user's verifier (a decoy for a name
 * without one) and a nonce of this server's, and remembers the exchange for the Register or
 * Standby that brings the proof. No scrypt runs here: the client derives its key.
 */
export function handleLoginStart(session: ClientSession, message: LoginStartMessage): void {
  if (session.state !== 'awaiting-register' && session.state !== 'standby') throw new CfgError(ErrorCode.ALREADY_REGISTERED, 'this connection is already registered');
  const { source, logins } = session.host;
  // A proxy still loading has no verifiers yet: it says so rather than hand out a decoy salt.
  const refusal = source.notServingReason();
  if (refusal?.code === ErrorCode.PROXY_LOADING) throw refusal;
  // Only the source range is refused here: an account under attack still answers its owner [PROTO-LIMIT-4].
  logins.checkSource(session.connection.socket.remoteAddress ?? 'unknown');
  const params = source.credentials.challengeFor(source.store, message.user);
  const nonce = message.nonce + newNonce();
  session.challenge = { user: message.user, authMessage: authMessage(message.user, message.nonce, { nonce, ...params }), at: systemClock.now() };
  // An account of a directory cannot be checked by proof: the client is told to send its password [PROTO-HELLO-7].
  const person = source.store.findByName('Person', 0, message.user);
  const external = person && person.state !== 'disabled' && externalAccountOf(person) !== undefined;
  session.send({ kind: Kind.LoginChallenge, id: message.id, nonce, salt: params.salt.toString('base64'), n: params.N, r: params.r, p: params.p, ...(external ? { login: 'password' as const } : {}) });
}
