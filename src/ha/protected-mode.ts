import { systemClock, type Clock } from '../net/clock.js';
import type { Logger } from '../util/logger.js';
import { probe } from './probe.js';
import type { PeerStatus } from './readiness.js';
import type { ReplicaUpstream } from './replica.js';

/** What protected mode needs of the pair member it belongs to. */
export interface ProtectedModeHost {
  isPrimary(): boolean;
  linkUp(): boolean;
  /** The backup's last Status. */
  peerStatus(): PeerStatus | undefined;
  /** Where the backup takes clients, learned at the handshake. */
  peerClientEndpoint(): string | undefined;
  /** Tells the primary that this backup has reloaded. */
  notifyReloaded(seq: number): void;
  switchover(options: { force: boolean }): Promise<{ ok: boolean; message: string }>;
  logger: Logger;
}

export interface ProtectedModeOptions {
  /** `--protected-mode-timeout`: past it (or with the link down) the primary reloads anyway. */
  timeoutMs: number;
  /** How long a probe of the backup's client port may take. */
  probeTimeoutMs: number;
}

/**
 * Protected mode (`--config-reload-delay-if-primary`, the Stat Server seed): when the master's
 * history has expired, the primary keeps serving its cache instead of reloading, the backup
 * reloads first, the pair switches over, and the former primary reloads as backup, so clients
 * never wait on a reload. The primary defers only when that can work: the backup is linked,
 * accepts clients in backup mode, can reload itself (it is connected to a master, or lost it only moments ago), has loaded,
 * and its client port answers the primary's probe. A deadline bounds how long the primary may
 * serve stale data; while it waits the upstream holds none of the master's stream.
 * Events logged: HA-011 starts (by the upstream), HA-013 ends in a switchover, HA-017 ends
 * without one, HA-019 protected mode was not entered and why.
 */
export class ProtectedMode {
  private peerReloaded = false;
  private deadline: unknown = null;
  /** The backup's client port answered the last probe. */
  private backupAnswers = false;
  private lastRefusal: string | undefined;

  constructor(
    private readonly upstream: ReplicaUpstream,
    private readonly host: ProtectedModeHost,
    private readonly options: ProtectedModeOptions,
    private readonly clock: Clock = systemClock,
  ) {
    upstream.setReloadGate(() => this.mayReload());
    upstream.on('reload-deferred', () => {
      if (this.peerReloaded) void this.switchToReloadedBackup();
      else this.startDeadline();
    });
    upstream.on('loaded', ({ first, seq }) => {
      if (!first && !host.isPrimary()) host.notifyReloaded(seq);
    });
  }

  /** Each heartbeat, as primary: is the backup's client port there for our clients? */
  async checkBackup(): Promise<void> {
    const endpoint = this.host.peerClientEndpoint();
    if (!this.host.isPrimary() || !this.host.linkUp() || !endpoint) {
      this.backupAnswers = false;
      return;
    }
    this.backupAnswers = await probe(endpoint, this.options.probeTimeoutMs, 'answer', this.clock);
  }

  /** Why the primary cannot defer its reload now, or undefined when it can. */
  whyNotDefer(): string | undefined {
    if (!this.host.linkUp()) return 'the HA link is down';
    const peer = this.host.peerStatus();
    if (!peer) return 'the backup has not reported its status';
    if (!peer.acceptsClients) return 'the backup does not accept clients in backup mode';
    if (!peer.canReload) return 'the backup has been cut off from every master, so it cannot reload soon';
    if (!peer.loaded) return 'the backup has not loaded the configuration';
    if (!this.backupAnswers) return "the backup's client port did not answer";
    return undefined;
  }

  /** For /ha: whether an expired history would be deferred now, and if not why. */
  describe(): string {
    if (!this.host.isPrimary()) return 'backup: reloads when its history expires, then tells the primary';
    const why = this.whyNotDefer();
    return why === undefined ? 'armed' : `not armed: ${why}`;
  }

  /** The upstream's gate: true lets a reload start now. */
  private mayReload(): boolean {
    if (!this.host.isPrimary()) return true;
    const why = this.whyNotDefer();
    if (why === undefined) return false;
    if (why !== this.lastRefusal) this.host.logger.warn({ event: 'HA-019', reason: why }, 'protected mode not entered: reloading now');
    this.lastRefusal = why;
    return true;
  }

  /** The backup says it reloaded: a deferred reload follows a switchover to it. */
  onBackupReloaded(): void {
    this.peerReloaded = true;
    if (this.upstream.hasDeferredReload) void this.switchToReloadedBackup();
  }

  onLinkDown(): void {
    this.end('the HA link went down');
  }

  stop(): void {
    this.clearDeadline();
  }

  private async switchToReloadedBackup(): Promise<void> {
    this.peerReloaded = false;
    this.clearDeadline();
    // The backup has just reloaded: it is fresher than this member, whatever the readiness says.
    const outcome = await this.host.switchover({ force: true });
    this.host.logger.info({ event: 'HA-013', ok: outcome.ok, reason: outcome.message }, 'protected mode: switched over to the reloaded backup');
    this.upstream.releaseDeferredReload(!outcome.ok);
  }

  private startDeadline(): void {
    if (this.deadline !== null) return;
    const { timeoutMs } = this.options;
    this.deadline = this.clock.setTimeout(() => {
      this.deadline = null;
      this.end(`the backup did not reload within ${timeoutMs} ms`);
    }, timeoutMs);
  }

  private clearDeadline(): void {
    if (this.deadline !== null) this.clock.clearTimeout(this.deadline);
    this.deadline = null;
  }

  private end(reason: string): void {
    this.clearDeadline();
    if (!this.upstream.hasDeferredReload) return;
    this.host.logger.warn({ event: 'HA-017', reason }, 'protected mode ended: reloading now');
    this.upstream.releaseDeferredReload(true);
  }
}
