import { createHash } from 'node:crypto';
import { LRUCache } from 'lru-cache';
import { CfgError, ErrorCode, Kind, type Message } from '../../protocol/index.js';
import { authMessage, challengeCostRefusal, checkServerProof, clientProof, deriveSalted, newNonce, type KdfParams } from '../model/scram.js';

/**
 * Keys this process derived, by user, password, salt and cost: an application that reconnects,
 * keeps a standby connection or opens several clients pays scrypt once, not per login.
 */
const derived = new LRUCache<string, Promise<Buffer>>({ max: 1000 });

function derive(password: string, params: KdfParams): Promise<Buffer> {
  const key = createHash('sha256').update(`${password}\0${params.salt.toString('base64')}\0${params.N}\0${params.r}\0${params.p}`).digest('base64');
  let salted = derived.get(key);
  if (!salted) {
    salted = deriveSalted(password, params);
    derived.set(key, salted);
    salted.catch(() => derived.delete(key));
  }
  return salted;
}

/** `proof` (the default): challenge-response; `password`: the password in the clear, as servers before [PROTO-HELLO-5] take it. */
export type LoginMode = 'proof' | 'password';

/** What a Register or Standby carries, and the check of the server's answer. */
export interface Login {
  password?: string;
  proof?: string;
  /** Throws unless the server proved it holds the verifier (a login by password has nothing to check). */
  checkServer(serverProof: string | undefined): void;
}

/**
 * The client's half of the challenge-response login [PROTO-HELLO-5]: LoginStart, then the key
 * derived from the answered salt (scrypt, here, once per password and salt) and the proof. A
 * server that does not know LoginStart gets the password as before, but only over TLS: on plain
 * TCP "I do not know LoginStart" is exactly what a man in the middle would say to be sent the
 * password [ARCH-8] (`mode: 'password'` sends it anyway).
 */
export async function login(ask: (message: Record<string, unknown>) => Promise<Message>, user: string, password: string, mode: LoginMode = 'proof', encrypted = false): Promise<Login> {
  if (mode === 'password') return { password, checkServer: () => undefined };
  const clientNonce = newNonce();
  let answer: Message;
  try {
    answer = await ask({ kind: Kind.LoginStart, user, nonce: clientNonce });
  } catch (error) {
    if (!(error instanceof CfgError && error.code === ErrorCode.UNKNOWN_KIND)) throw error;
    if (encrypted) return { password, checkServer: () => undefined };
    throw new CfgError(ErrorCode.AUTH_FAILED, "the server does not take logins by proof, and this connection is not TLS: the password is not sent in the clear (login: 'password' sends it)");
  }
  if (answer.kind !== Kind.LoginChallenge || !answer.nonce.startsWith(clientNonce)) {
    throw new CfgError(ErrorCode.AUTH_FAILED, 'the server answered LoginStart with something other than its challenge');
  }
  if (answer.login === 'password') {
    // A directory account [PROTO-HELLO-7]: its password is checked by the server against LDAP or
    // RADIUS, so it must travel, and only where TLS hides it and proves who receives it.
    if (encrypted) return { password, checkServer: () => undefined };
    throw new CfgError(ErrorCode.TLS_REQUIRED, `'${user}' logs in with a directory (LDAP or RADIUS) password, and this connection is not TLS: the password is not sent in the clear (connect with tls://, or login: 'password' sends it anyway)`);
  }
  const params: KdfParams = { salt: Buffer.from(answer.salt, 'base64'), N: answer.n, r: answer.r, p: answer.p };
  const weak = challengeCostRefusal(params);
  if (weak) {
    // Nothing is derived and no proof sent: a cheap proof is what an impostor would want to capture [PROTO-HELLO-6].
    throw new CfgError(ErrorCode.WEAK_CHALLENGE, `refused the server's login challenge: ${weak}. The server may be an impostor, or something between you and it rewrote its answer; no proof was sent`, {
      details: { n: answer.n, r: answer.r, p: answer.p },
    });
  }
  const salted = await derive(password, params);
  const message = authMessage(user, clientNonce, { nonce: answer.nonce, ...params });
  return {
    proof: clientProof(salted, message).toString('base64'),
    checkServer: (serverProof) => {
      if (serverProof === undefined || !checkServerProof(salted, message, Buffer.from(serverProof, 'base64'))) {
        throw new CfgError(ErrorCode.AUTH_FAILED, 'the server did not prove that it holds this account’s verifier');
      }
    },
  };
}
