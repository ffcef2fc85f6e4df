import { DEFAULT_CONNECTION_LIMITS, type ConnectionLimits } from '../net/connection.js';

/** Server-side limits that protect a server from its clients [PROTO-LIMIT-1]. */
export interface ServiceLimits extends ConnectionLimits {
  maxClients: number;
  /** A connection that has not registered by then is closed. */
  registerTimeoutMs: number;
  /** Objects per ObjectsChunk. */
  readChunkObjects: number;
  /** A read pauses while more than this many bytes wait for the client. */
  readHighWaterBytes: number;
  maxSubscriptionsPerSession: number;
  /** Proxies loading a snapshot at once (master `--proxy-load-max`); the others wait. */
  maxSnapshotLoads: number;
  /** How often idle subscribers are told their position (Position frames; 0 = never). */
  positionIntervalMs: number;
  /** A client restoring from a seq this server has not reached yet waits at most this long for it. */
  restoreWaitMs: number;
}

export const DEFAULT_SERVICE_LIMITS: ServiceLimits = {
  ...DEFAULT_CONNECTION_LIMITS,
  maxClients: 20_000,
  registerTimeoutMs: 30_000,
  readChunkObjects: 1000,
  readHighWaterBytes: 1024 * 1024,
  maxSubscriptionsPerSession: 1024,
  maxSnapshotLoads: 4,
  positionIntervalMs: 2000,
  restoreWaitMs: 10_000,
};

/** Queued bytes at which a paced stream (read, replay, snapshot) waits: well under the cut-off. */
export function pacingHighWater(limits: ServiceLimits): number {
  return Math.min(limits.readHighWaterBytes, Math.floor(limits.maxOutboundBytes / 4));
}
