import type { HaRole } from '../../protocol/index.js';
import type { TlsFiles } from '../net/tls-options.js';

/** How one proxy takes part in a warm-standby pair: the pair options of the CLI, resolved. */
export interface HaOptions {
  /** The role this proxy is configured for; the role it holds can change. */
  role: HaRole;
  pairName: string;
  /** Shared secret both proxies present on the HA link. */
  secret: string;
  /** This member's HA sync port (the configured primary has one; the backup connects to it). */
  haPort?: number;
  haHost?: string;
  haTls?: TlsFiles;
  /** The peer's HA port, `host:port` or `tls://host:port` (the configured backup dials it). */
  peer?: string;
  peerTls?: TlsFiles;
  addpTimeoutMs: number;
  heartbeatIntervalMs: number;
  failuresToSwitch: number;
  acceptClientsInBackupMode: boolean;
  /** `--auto-restore-primary`: the configured primary takes the role back once healthy for failuresToSwitch heartbeats. */
  autoRestorePrimary?: boolean;
  /** `--config-reload-delay-if-primary` (protected mode): on history-expired the backup reloads first, then the pair switches over. */
  configReloadDelayIfPrimary?: boolean;
  /** Protected mode's deadline: past it (or with the link down) the primary reloads itself. */
  protectedModeTimeoutMs?: number;
  /** A pair is ready for a switchover only after its link has been up this long (`--ready-after`, default 60 s). */
  readyAfterMs?: number;
  chunkSize: number;
  chunkTimeoutMs: number;
  maxSessionsSyncAtOnce: number;
  journalCapacity: number;
}

export const HA_DEFAULTS = {
  pairName: 'cfgproxy',
  addpTimeoutMs: 10_000,
  heartbeatIntervalMs: 1_000,
  failuresToSwitch: 3,
  chunkSize: 500,
  chunkTimeoutMs: 100,
  maxSessionsSyncAtOnce: 1_000,
  journalCapacity: 100_000,
} as const;

/** The default of `--ready-after`. */
export const DEFAULT_READY_AFTER_MS = 60_000;

/** The default of `--protected-mode-timeout`. */
export const DEFAULT_PROTECTED_MODE_TIMEOUT_MS = 120_000;
