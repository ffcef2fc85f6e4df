import { EventEmitter } from 'node:events';
import { ErrorCode, type HaRole, type JournalRecord } from '../../protocol/index.js';
import type { HistoryLog, SessionRecord } from '../history/history-log.js';
import type { TlsFiles } from '../net/tls-options.js';
import type { PairRole, ProxySource } from '../proxy/proxy-source.js';
import type { SessionObserver } from '../service/config-service.js';
import type { ClientSession } from '../service/session.js';
import type { Logger } from '../util/logger.js';
import { BackupLink } from './backup-link.js';
import { HaServer } from './ha-server.js';
import { Journal } from './journal.js';
import { RoleMachine, type RoleEvent } from './role-machine.js';

export interface HaOptions {
  /** The role this proxy is configured for; the role it holds can change. */
  role: HaRole;
  pairName: string;
  /** Shared secret both proxies present on the HA link. */
  secret: string;
  /** The primary listens for its backup here. */
  haPort?: number;
  haHost?: string;
  haTls?: TlsFiles;
  /** The backup connects to the primary's HA port here (`host:port` or `tls://host:port`). */
  peer?: string;
  peerTls?: TlsFiles;
  addpTimeoutMs: number;
  heartbeatIntervalMs: number;
  failuresToSwitch: number;
  acceptClientsInBackupMode: boolean;
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

interface HaNodeDeps {
  history: HistoryLog;
  masters: string[];
  clientEndpoint(): string;
  sessions(): Iterable<ClientSession>;
  disconnectClients(error: { code: typeof ErrorCode.BACKUP_MODE; message: string }): void;
  logger: Logger;
}

/**
 * One proxy's part in a warm-standby pair: its role (the pure RoleMachine), the session journal it
 * writes as primary and streams from its HA port, and the link over which it follows its primary
 * as backup, storing the sessions in its history log and applying the forwarded changes.
 */
export class HaNode implements PairRole {
  /** `role-event` (RoleEvent) and `records` (a journal chunk stored), for observers and tests. */
  readonly events = new EventEmitter();
  readonly machine: RoleMachine;
  readonly journal: Journal;
  readonly server: HaServer | undefined;
  readonly link: BackupLink | undefined;
  /** The primary's sessions as the backup knows them. */
  readonly mirroredSessions = new Map<string, SessionRecord>();
  private readonly journaledPositions = new Map<string, number>();
  private positionTimer: NodeJS.Timeout | null = null;
  private stopApplied: (() => void) | null = null;
  /** Given at start: the source is made after the node, since it asks the node for its role. */
  private source: ProxySource | undefined;

  constructor(
    private readonly options: HaOptions,
    private readonly deps: HaNodeDeps,
  ) {
    this.machine = new RoleMachine(options.role, options.failuresToSwitch);
    this.journal = new Journal(options.journalCapacity);
    const identity = { pairName: options.pairName, masters: deps.masters, secret: options.secret };
    if (options.haPort !== undefined) {
      this.server = new HaServer(this.journal, {
        host: options.haHost ?? '127.0.0.1',
        port: options.haPort,
        tls: options.haTls,
        identity,
        chunkSize: options.chunkSize,
        chunkTimeoutMs: options.chunkTimeoutMs,
        maxSessionsSyncAtOnce: options.maxSessionsSyncAtOnce,
        addpTimeoutMs: options.addpTimeoutMs,
        clientEndpoint: () => deps.clientEndpoint(),
        role: () => this.machine.role,
        sessionsSnapshot: () => [...deps.sessions()].filter((s) => s.state === 'active').map((s) => openRecord(s, 0)),
        logger: deps.logger,
      });
    }
    if (options.peer !== undefined) {
      this.link = new BackupLink({
        peer: options.peer,
        tls: options.peerTls,
        identity,
        addpTimeoutMs: options.addpTimeoutMs,
        heartbeatIntervalMs: options.heartbeatIntervalMs,
        machine: this.machine,
        onRecords: (records) => this.onRecords(records),
        onRoleEvents: (events) => this.onRoleEvents(events),
        logger: deps.logger,
      });
    }
  }

  role(): HaRole {
    return this.machine.role;
  }



  get acceptClientsInBackupMode(): boolean {
    return this.options.acceptClientsInBackupMode;
  }

  primaryEndpoint(): string | undefined {
    return this.link?.primaryClientEndpoint;
  }

  async start(source: ProxySource): Promise<void> {
    this.source = source;
    await this.server?.start();
    this.link?.start();
    this.stopApplied = source.onApplied((change, credential) => {
      if (this.machine.role === 'primary') this.journal.append({ k: 'change', change, ...(credential !== undefined ? { credential } : {}) });
    });
    this.positionTimer = setInterval(() => this.journalPositions(), this.options.chunkTimeoutMs);
    this.positionTimer.unref();
    this.deps.logger.info({ event: 'HA-000', role: this.machine.role, configured: this.options.role, pair: this.options.pairName, haPort: this.server?.port, peer: this.options.peer }, 'pair member started');
  }

  /** Session events go to the journal while this proxy is the primary. */
  sessionObserver(): SessionObserver {
    const journaling = (): boolean => this.machine.role === 'primary';
    return {
      sessionOpened: (session) => {
        if (!journaling()) return;
        this.journal.append(openRecord(session));
        this.journaledPositions.set(session.id, session.lastDeliveredSeq);
      },
      sessionChanged: (session) => {
        if (journaling()) this.journal.append({ k: 'subs', id: session.id, subs: [...session.subscriptions.values()] });
      },
      sessionClosed: (session) => {
        if (!journaling()) return;
        this.journal.append({ k: 'close', id: session.id });
        this.journaledPositions.delete(session.id);
      },
    };
  }

  /** Positions are batched: one record per tick for the sessions whose position moved. */
  private journalPositions(): void {
    if (this.machine.role !== 'primary') return;
    const positions: Array<[string, number]> = [];
    for (const session of this.deps.sessions()) {
      if (session.state !== 'active') continue;
      const journaled = this.journaledPositions.get(session.id);
      if (journaled === session.lastDeliveredSeq) continue;
      this.journaledPositions.set(session.id, session.lastDeliveredSeq);
      positions.push([session.id, session.lastDeliveredSeq]);
    }
    if (positions.length > 0) this.journal.append({ k: 'pos', positions });
  }

  private onRecords(records: JournalRecord[]): void {
    const { history } = this.deps;
    for (const record of records) {
      switch (record.k) {
        case 'reset':
          this.mirroredSessions.clear();
          history.clearSessions();
          break;
        case 'open': {
          const session: SessionRecord = { id: record.id, personDbid: record.person, clientName: record.clientName, clientType: record.clientType, subscriptions: record.subs, lastSeq: record.pos, closed: false };
          this.mirroredSessions.set(record.id, session);
          history.recordSession(session);
          break;
        }
        case 'subs': {
          const session = this.mirroredSessions.get(record.id);
          if (session) history.recordSession(Object.assign(session, { subscriptions: record.subs }));
          break;
        }
        case 'pos':
          for (const [id, seq] of record.positions) {
            const session = this.mirroredSessions.get(id);
            if (session) history.recordSession(Object.assign(session, { lastSeq: seq }));
          }
          break;
        case 'close': {
          const session = this.mirroredSessions.get(record.id);
          if (session) history.recordSession({ ...session, closed: true });
          this.mirroredSessions.delete(record.id);
          break;
        }
        case 'change':
          this.source?.applyForwarded(record.change, record.credential);
          break;
      }
    }
    this.events.emit('records', records.length);
  }

  private onRoleEvents(events: RoleEvent[]): void {
    for (const event of events) {
      const { id, what, ...fields } = event;
      this.deps.logger.info({ event: id, role: this.machine.role, ...fields }, what);
      this.events.emit('role-event', event);
      if (id === 'HA-006') {
        // Back to backup: clients go to the primary, which restores their sessions.
        const primary = this.primaryEndpoint();
        this.deps.disconnectClients({ code: ErrorCode.BACKUP_MODE, message: `this proxy stepped down to backup; ${primary ? `the primary is at ${primary}` : 'connect to the primary'}` });
      }
    }
  }

  /** The pair's state for /ha and `cfgproxy status`. */
  status(): Record<string, unknown> {
    const role = this.machine.role;
    const linkUp = this.server ? this.server.stats.connected : (this.link?.stats.connected ?? false);
    const lag = this.server && role === 'primary' ? this.server.lag : 0;
    return {
      role,
      configuredRole: this.options.role,
      pairName: this.options.pairName,
      link: linkUp ? 'up' : 'down',
      peer: this.options.peer ?? null,
      primaryEndpoint: role === 'backup' ? (this.primaryEndpoint() ?? null) : this.deps.clientEndpoint(),
      journal: {
        lastRecord: this.journal.lastRecord,
        lag,
        ...(this.server ? { recordsSent: this.server.stats.recordsSent, bytesSent: this.server.stats.bytesSent, snapshots: this.server.stats.snapshots } : {}),
        ...(this.link ? { recordsReceived: this.link.stats.recordsReceived, bytesReceived: this.link.stats.bytesReceived, mirroredSessions: this.mirroredSessions.size } : {}),
      },
      readyForSwitchover: linkUp && lag === 0 ? 1 : 0,
      readyForUpgrade: role === 'backup' ? 1 : 0,
    };
  }

  async stop(): Promise<void> {
    if (this.positionTimer) clearInterval(this.positionTimer);
    this.stopApplied?.();
    this.link?.stop();
    await this.server?.stop();
  }
}

function openRecord(session: ClientSession, r?: number): Extract<JournalRecord, { k: 'open' }> {
  return {
    r: r ?? 0,
    k: 'open',
    id: session.id,
    person: session.personDbid,
    clientName: session.clientName,
    clientType: session.clientType,
    subs: [...session.subscriptions.values()],
    pos: session.lastDeliveredSeq,
  };
}
