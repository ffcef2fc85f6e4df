import { DEFAULT_CONNECTION_LIMITS, DEFAULT_UNAUTHENTICATED_FRAME_BYTES, type ConnectionLimits } from '../net/connection.js';

/** Server-side limits that protect a server from its clients [PROTO-LIMIT-1]. */
export interface ServiceLimits extends ConnectionLimits {
  /** Logged-in connections (registered or standing by); past it, TOO_MANY_CLIENTS. */
  maxClients: number;
  /** Connections not logged in yet, counted apart, so they can never lock real logins out [ARCH-8]. */
  maxPendingConnections: number;
  /** Largest frame accepted before the peer has logged in [ARCH-8]. */
  unauthenticatedFrameBytes: number;
  /** A connection that has not registered by then is closed. */
  registerTimeoutMs: number;
  /**
   * A connection between LoginStart and its Register is mid-login, and not evicted as idle, for
   * this long; past it, it is idle again (a client derives its key in well under a second, and an
   * attacker must not hold places among the pending connections by sending LoginStart) [ARCH-8].
   */
  loginGraceMs: number;
  /** Standby connections one user may hold [PROTO-STANDBY-2]. */
  maxStandbyPerUser: number;
  /** Requests a session may have running at once; past it the session is cut off (TOO_MANY_REQUESTS). */
  maxRequestsInFlight: number;
  /** Objects per ObjectsChunk… */
  readChunkObjects: number;
  /** …and about this many bytes per ObjectsChunk. */
  readChunkBytes: number;
  /** A read pauses while more than this many bytes wait for the client. */
  readHighWaterBytes: number;
  maxSubscriptionsPerSession: number;
  /** Proxies loading a snapshot at once (master `--proxy-load-max`); the others wait. */
  maxSnapshotLoads: number;
  /** How often idle subscribers are told their position (Position frames; 0 = never). */
  positionIntervalMs: number;
  /** A client restoring from a seq this server has not reached yet waits at most this long for it. */
  restoreWaitMs: number;
  /**
   * Refuse a password given in the clear (Register or Standby with `password`): logins by proof
   * only [PROTO-HELLO-5], so no password reaches this server, even on a plain TCP port [ARCH-8].
   */
  refusePasswordLogins: boolean;
  /** Take a directory (LDAP, RADIUS) password over plain TCP too; else TLS_REQUIRED [PROTO-HELLO-7]. */
  externalPasswordsInClear: boolean;
  /** On the UI port (`--ui-port`), the client types let in; others get PERMISSION_DENIED. */
  uiClientTypes: readonly string[];
}

export const DEFAULT_SERVICE_LIMITS: ServiceLimits = {
  ...DEFAULT_CONNECTION_LIMITS,
  maxClients: 20_000,
  maxPendingConnections: 1_000,
  unauthenticatedFrameBytes: DEFAULT_UNAUTHENTICATED_FRAME_BYTES,
  registerTimeoutMs: 10_000,
  loginGraceMs: 2_000,
  maxStandbyPerUser: 4,
  maxRequestsInFlight: 1_000,
  readChunkObjects: 1000,
  readChunkBytes: 4 * 1024 * 1024,
  readHighWaterBytes: 1024 * 1024,
  maxSubscriptionsPerSession: 1024,
  maxSnapshotLoads: 4,
  positionIntervalMs: 2000,
  restoreWaitMs: 10_000,
  refusePasswordLogins: false,
  externalPasswordsInClear: false,
  uiClientTypes: ['ui', 'cli'],
};

/** Queued bytes at which a paced stream (read, replay, snapshot) waits: well under the cut-off. */
export function pacingHighWater(limits: ServiceLimits): number {
  return Math.min(limits.readHighWaterBytes, Math.floor(limits.maxOutboundBytes / 4));
}

/** The default of `--max-object-bytes`: the largest object a write may leave, encoded. */
export const DEFAULT_MAX_OBJECT_BYTES = 1024 * 1024;
