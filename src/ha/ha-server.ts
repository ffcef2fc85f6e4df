import type { Server, Socket } from 'node:net';
import { ErrorCode, HA_PROTOCOL_VERSIONS, HaKind, validateHaMessage, type HaHelloMessage, type HaMessage, type Lineage } from '../../protocol/index.js';
import { describeLineage, sameLineage } from '../model/lineage.js';
import { helloProof, newNonce, sameProof, welcomeProof } from './handshake.js';
import { Connection, DEFAULT_UNAUTHENTICATED_FRAME_BYTES } from '../net/connection.js';
import { boundPort, listen } from '../net/listener.js';
import type { TlsFiles } from '../net/tls-options.js';
import type { Logger } from '../util/logger.js';
import { HandshakeThrottle, REFUSAL_LOG_INTERVAL_MS, SummedLog } from './handshake-throttle.js';
import { systemClock } from '../util/clock.js';

/** What both sides must agree on before anything else [PROTO-HA-1]. */
export interface PairIdentity {
  pairName: string;
  masters: string[];
  secret: string;
}

/**
 * Two members whose caches are of different database lineages cannot share sessions: their seqs
 * mean different things [PROTO-LINEAGE-6]. A member that has loaded nothing yet says no lineage.
 * Refusals name the two members by their place on the link, not as "this" and "the peer": the
 * member that receives one logs it, and would read the roles the wrong way round.
 */
export function lineageRefusal(listening: Lineage | undefined, dialing: Lineage | undefined): Refusal | undefined {
  if (listening === undefined || dialing === undefined || sameLineage(listening, dialing)) return undefined;
  return {
    code: ErrorCode.HA_MISMATCH,
    message: `database lineages differ: the member on the HA port has a cache of ${describeLineage(listening)}, the member dialing it of ${describeLineage(dialing)}; do both follow the same masters?`,
  };
}

export type Refusal = { code: typeof ErrorCode.HA_MISMATCH | typeof ErrorCode.HA_AUTH_FAILED | typeof ErrorCode.UNSUPPORTED_VERSION; message: string };

/**
 * Checks a peer's Hello against this member's identity and the challenge it was sent; undefined
 * when they are one pair.
 */
export function checkHello(hello: HaHelloMessage, identity: PairIdentity, challengeNonce: string, lineage?: Lineage): Refusal | undefined {
  if (!hello.versions.some((v) => (HA_PROTOCOL_VERSIONS as readonly number[]).includes(v))) {
    return { code: ErrorCode.UNSUPPORTED_VERSION, message: `no common HA protocol version (peer: ${hello.versions.join(', ')})` };
  }
  // Authenticated first (the proof covers the pair name the peer says), compared after: a stranger learns nothing.
  if (!sameProof(helloProof(identity.secret, hello.pairName, challengeNonce, hello.nonce), hello.proof)) {
    return { code: ErrorCode.HA_AUTH_FAILED, message: 'the peer could not prove it knows the pair secret (--ha-secret differs?)' };
  }
  if (hello.pairName !== identity.pairName) {
    return { code: ErrorCode.HA_MISMATCH, message: `pair name differs: the member on the HA port is in pair '${identity.pairName}', the member dialing it in '${hello.pairName}' (--pair-name)` };
  }
  if ([...hello.masters].sort().join(',') !== [...identity.masters].sort().join(',')) {
    return { code: ErrorCode.HA_MISMATCH, message: `masters differ: the member on the HA port uses ${identity.masters.join(',')}, the member dialing it ${hello.masters.join(',')} (--master must list the same masters)` };
  }
  return lineageRefusal(lineage, hello.lineage);
}

/**
 * The HA sync port: takes the peer's connection, checks its Hello, and hands an accepted
 * connection to the pair member (which answers Welcome and builds the link) [PROTO-HA-1, -2].
 */
export class HaServer {
  /** Peers refused at the Hello (wrong pair, masters, secret or version). */
  refusals = 0;
  private server: Server | null = null;
  private readonly throttle = new HandshakeThrottle();
  /** The last refusal, for the next summed log line. */
  private lastRefusal: { peer: string | undefined; code: string; reason: string } | undefined;
  private readonly refusalLog = new SummedLog((count) => {
    const last = this.lastRefusal;
    this.options.logger.error({ event: 'HA-020', refused: count, peer: last?.peer, code: last?.code, reason: last?.reason }, count === 1 ? 'HA peer refused' : `HA peers refused: ${count} since the last report`);
  }, REFUSAL_LOG_INTERVAL_MS);

  constructor(
    private readonly options: { host: string; port: number; tls?: TlsFiles; identity: PairIdentity; lineage: () => Lineage | undefined; logger: Logger },
    /** An authenticated peer; `proof` is what the Welcome must carry. Returns a refusal to close it with instead. */
    private readonly onPeer: (connection: Connection<HaMessage>, hello: HaHelloMessage, proof: string) => Refusal | undefined,
  ) {}

  get port(): number {
    if (!this.server) throw new Error('HA port is not listening');
    return boundPort(this.server);
  }

  async start(): Promise<void> {
    this.server = await listen({ host: this.options.host, port: this.options.port, tls: this.options.tls, flag: '--ha-port' }, (socket) => this.accept(socket));
  }

  private accept(socket: Socket): void {
    if (this.throttle.blocked(socket.remoteAddress)) {
      // Too many wrong Hellos from this range: not even a challenge [PROTO-HA-13].
      this.refusals += 1;
      socket.destroy();
      return;
    }
    // Until its Hello is accepted a peer is a stranger: small frames only [ARCH-8].
    const connection = new Connection<HaMessage>(socket, { validate: validateHaMessage, unauthenticatedFrameBytes: DEFAULT_UNAUTHENTICATED_FRAME_BYTES });
    const helloTimer = systemClock.setTimeout(() => connection.close({ code: ErrorCode.NOT_REGISTERED, message: 'no Hello within 10 s' }), 10_000);
    const challenge = newNonce();
    connection.setHandler({
      onMessage: (message) => {
        systemClock.clearTimeout(helloTimer);
        if (message.kind !== HaKind.Hello) {
          connection.close({ code: ErrorCode.NOT_REGISTERED, message: 'send Hello first' });
          return;
        }
        const refusal = checkHello(message, this.options.identity, challenge, this.options.lineage());
        if (refusal) {
          this.refusals += 1;
          if (refusal.code === ErrorCode.HA_AUTH_FAILED) this.throttle.failed(socket.remoteAddress);
          this.lastRefusal = { peer: connection.remoteAddress, code: refusal.code, reason: refusal.message };
          this.refusalLog.note();
          connection.close(refusal);
          return;
        }
        connection.authenticated();
        const taken = this.onPeer(connection, message, welcomeProof(this.options.identity.secret, this.options.identity.pairName, message.nonce, challenge));
        if (taken) {
          this.refusals += 1;
          this.options.logger.warn({ peer: connection.remoteAddress, code: taken.code, reason: taken.message }, 'HA peer refused');
          connection.close(taken);
        }
      },
      onInvalidMessage: (error) => connection.close({ code: error.code, message: error.message }),
      onClose: () => systemClock.clearTimeout(helloTimer),
    });
    connection.send({ kind: HaKind.Challenge, nonce: challenge });
  }

  async stop(): Promise<void> {
    const server = this.server;
    this.server = null;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }
}
