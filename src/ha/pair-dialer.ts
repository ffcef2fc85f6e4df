import { ErrorCode, HA_PROTOCOL_VERSIONS, HaKind, Kind, validateHaMessage, type HaHelloMessage, type HaMessage, type HaWelcomeMessage, type Lineage } from '../../protocol/index.js';
import { Connection, DEFAULT_CONNECTION_LIMITS } from '../net/connection.js';
import { dial } from '../net/dial.js';
import { parseEndpoint } from '../net/endpoint.js';
import type { TlsFiles } from '../net/tls-options.js';
import { helloProof, newNonce, sameProof, welcomeProof } from './handshake.js';
import { lineageRefusal } from './ha-server.js';
import { systemClock } from '../util/clock.js';

export type DialOutcome =
  | { kind: 'linked' }
  | { kind: 'refused'; code: string; message: string }
  /** `reason`: what the operator may have got wrong (a --peer that is not an HA port). */
  | { kind: 'failed'; reason?: string };

export interface DialOptions {
  peer: string;
  tls?: TlsFiles;
  connectTimeoutMs: number;
  /** A peer that takes the connection but never answers must not leave the dialer waiting. */
  welcomeTimeoutMs: number;
  pairName: string;
  masters: string[];
  secret: string;
  /** What this member says of itself, read when the Challenge arrives. */
  hello(): Pick<HaHelloMessage, 'role' | 'term' | 'clientEndpoint' | 'received' | 'lineage'>;
  /** The lineage of this member's cache, to check the listener's against. */
  lineage(): Lineage | undefined;
  /**
   * The handshake succeeded: called at once, inside the Welcome's delivery, so the frames the
   * listener sends right after it (StreamStart, Records) reach the handler set here.
   */
  onLinked(connection: Connection<HaMessage>, welcome: HaWelcomeMessage): void;
}

/**
 * The dialing side of the HA handshake [PROTO-HA-1, PROTO-HA-9]: connect, answer the listener's
 * Challenge with a Hello proving the secret, and accept a Welcome only when it proves the secret
 * in turn and its lineage matches. Hands the authenticated connection to `onLinked`; resolves with
 * what happened: linked, a refusal, or a failure the next heartbeat retries.
 */
export async function dialPair(options: DialOptions): Promise<DialOutcome> {
  let connection: Connection<HaMessage>;
  try {
    const socket = await dial(parseEndpoint(options.peer, false), options.tls, options.connectTimeoutMs);
    connection = new Connection<HaMessage>(socket, { limits: { ...DEFAULT_CONNECTION_LIMITS, drainTimeoutMs: 0 }, validate: validateHaMessage });
  } catch {
    return { kind: 'failed' };
  }
  return new Promise((resolve) => {
    const notHaPort = `${options.peer} took the connection but did not speak the HA protocol (no Challenge): is --peer the primary's --ha-port, not its client port?`;
    const timer = systemClock.setTimeout(() => {
      if (challenge === undefined) finish({ kind: 'failed', reason: notHaPort });
      connection.destroy({ message: 'no Welcome from the peer', local: true });
    }, options.welcomeTimeoutMs);
    const nonce = newNonce();
    let challenge: string | undefined;
    let settled = false;
    const finish = (outcome: DialOutcome): void => {
      systemClock.clearTimeout(timer);
      if (settled) return;
      settled = true;
      resolve(outcome);
    };
    const refuse = (code: string, message: string): void => {
      finish({ kind: 'refused', code, message });
      connection.close({ code: code as typeof ErrorCode.HA_MISMATCH, message });
    };
    connection.setHandler({
      onMessage: (message) => {
        if (message.kind === HaKind.Challenge && challenge === undefined) {
          // The secret itself never travels: only proofs over both sides' nonces.
          challenge = message.nonce;
          const self = options.hello();
          connection.send({
            kind: HaKind.Hello,
            versions: [...HA_PROTOCOL_VERSIONS],
            pairName: options.pairName,
            masters: options.masters,
            nonce,
            proof: helloProof(options.secret, options.pairName, challenge, nonce),
            ...definedFields(self),
          } as HaHelloMessage);
          return;
        }
        if (message.kind === HaKind.Welcome) {
          if (challenge === undefined || !sameProof(welcomeProof(options.secret, options.pairName, nonce, challenge), message.proof)) {
            refuse(ErrorCode.HA_AUTH_FAILED, 'the listener could not prove it knows the pair secret: not our primary');
            return;
          }
          const mismatch = lineageRefusal(message.lineage, options.lineage());
          if (mismatch) {
            refuse(mismatch.code, mismatch.message);
            return;
          }
          finish({ kind: 'linked' });
          options.onLinked(connection, message);
        } else if (message.kind === Kind.Error) {
          // A client port's own refusal (it waited for a Register): the wrong port, not a refusing peer.
          if (challenge === undefined && message.code === ErrorCode.NOT_REGISTERED) finish({ kind: 'failed', reason: notHaPort });
          else finish({ kind: 'refused', code: message.code, message: message.message });
        }
      },
      onInvalidMessage: (error) => connection.close({ code: error.code, message: error.message }),
      onClose: () => finish({ kind: 'failed' }),
    });
  });
}

function definedFields<T extends object>(value: T): Partial<T> {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as Partial<T>;
}
