import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { Packr } from 'msgpackr';
import pg from 'pg';
import { CfgError, ErrorCode, type ConfigObject, type Lineage } from '../../protocol/index.js';
import { rowToChange, type ChangeRow } from './change-log.js';
import { nextGeneration } from '../model/lineage.js';
import type { ChangeRecord } from '../model/change.js';
import type { Logger } from '../util/logger.js';
import { Ring } from '../util/ring.js';
import type { ConfigBackend, Leadership, LoadedConfiguration } from './config-backend.js';
import type { WriteBatch } from './config-db.js';
import { LEASE_LOCK, LOCK_CLASS, migrate } from './postgres-schema.js';
import { every, systemClock } from '../util/clock.js';

const packr = new Packr({ useRecords: false });

/** bigint columns come back as numbers: every value we store is below 2^53. */
const types = {
  getTypeParser: ((oid: number, format?: string) => (oid === 20 ? (value: string) => Number(value) : pg.types.getTypeParser(oid, format as 'text'))) as typeof pg.types.getTypeParser,
};

/** Changes a master keeps in memory to replay to clients and proxies that reconnect. */
const RECENT_CHANGES = 100_000;
const RECENT_BYTES = 64 * 1024 * 1024;
/** Changes a standby reads from the log at a time. */
const FOLLOW_BATCH = 5_000;
/**
 * The active master stops committing once its last renewal is this share of the lease old: the
 * lease is counted from when the renewal was sent, so PostgreSQL's own expiry comes later still.
 */
const LEASE_SAFETY = 0.75;
/** Commits sent in one message at most: a lease renewal waits behind no more than these. */
const COMMIT_GROUP = 64;

export interface PostgresOptions {
  /** `postgres://user@host:port/db`; what it leaves out comes from libpq's PG* variables. */
  url: string;
  serverName: string;
  /** Where this master takes clients: standbys name it in their BACKUP_MODE refusals. */
  advertise: string;
  /**
   * How long the active master's lease lasts unrenewed. A standby takes over at most this long
   * after the active master stopped renewing it (a crashed master's session frees it at once).
   */
  leaseMs: number;
  logger: Logger;
}

/**
 * The configuration database on PostgreSQL, shared by several masters: exactly one is active and
 * commits; the others follow the change log by seq, keep a warm copy in memory, and take over
 * when the active one is gone [PROTO-MASTER-PAIR-1].
 *
 * Who is active is PostgreSQL's decision, twice over. The active master holds a session-level
 * advisory lock (freed the moment its session ends, so a crash is noticed at once) and a lease
 * row with an epoch and an expiry on PostgreSQL's clock, renewed every quarter lease. Every
 * commit runs on the lock's session and checks epoch and expiry in its own transaction, so a
 * master that lost the lease can never commit. A standby that finds the lease expired while the
 * lock is still held (the active master cut off, its session alive) ends that session; the lock
 * is then free and the next standby to ask takes it, bumps the epoch, reads the last changes and
 * continues the same seq space.
 */
export class PostgresConfigDatabase extends EventEmitter implements ConfigBackend, Leadership {
  state: 'standby' | 'active' = 'standby';
  private client: pg.Client | null;
  /** Commits waiting to be sent, and whether a group is on its way. */
  private readonly unsent: PendingCommit[] = [];
  private sending = false;
  /** The seq the next commit must carry: one after the last one sent that may commit. */
  private expectedSeq = 1;
  private epoch = 0;
  /** The seq of the last change this master committed or followed. */
  private followed = 0;
  private readonly recent = new Ring<ChangeRecord>(RECENT_CHANGES, { maxBytes: RECENT_BYTES, sizeOf: (change) => change.frame.length + 64 });
  private activeAt: string | undefined;
  /** When the last successful renewal was sent (systemClock.now()). */
  private renewedAt = 0;
  private lastRenewal = 0;
  private ticker: unknown = null;
  private stopWatchdog: (() => void) | null = null;
  private stopped = false;
  private outageLogged = false;
  private reconnectDelayMs = 0;

  private constructor(
    private readonly options: PostgresOptions,
    client: pg.Client,
    readonly lineage: Lineage,
    /** Why this start began a new generation: the database was restored (pg_restore). */
    readonly discontinuity?: string,
  ) {
    super();
    this.client = client;
  }

  /** Connects, migrates the schema and reads the database's identity. */
  static async open(options: PostgresOptions): Promise<PostgresConfigDatabase> {
    const client = newClient(options);
    client.on('error', () => undefined); // until the instance takes over the connection
    try {
      await client.connect();
    } catch (error) {
      throw new Error(`cannot connect to the configuration database ${redact(options.url)}: ${(error as Error).message}`, { cause: error });
    }
    try {
      const found = await migrate(client);
      const { lineage, discontinuity } = await readLineage(client);
      const db = new PostgresConfigDatabase(options, client, lineage, discontinuity);
      client.removeAllListeners('error');
      client.on('error', (error: Error) => db.lost(client, error));
      options.logger.info({ db: db.location, schemaFrom: found }, 'configuration database opened (PostgreSQL)');
      return db;
    } catch (error) {
      await client.end().catch(() => undefined);
      throw error;
    }
  }

  get leadership(): Leadership {
    return this;
  }

  get location(): string {
    return redact(this.options.url);
  }

  activeEndpoint(): string | undefined {
    return this.state === 'active' ? this.options.advertise : this.activeAt;
  }

  async upgradeCredentials(upgrades: ReadonlyArray<[number, string, string]>): Promise<number> {
    if (upgrades.length === 0) return 0;
    // Any master may run it: the result is the same whoever does, and a changed row is left alone.
    const result = await this.requireClient().query(
      'UPDATE credentials c SET hash = u.next FROM unnest($1::bigint[], $2::text[], $3::text[]) AS u(dbid, previous, next) WHERE c.dbid = u.dbid AND c.hash = u.previous',
      [upgrades.map((u) => u[0]), upgrades.map((u) => u[1]), upgrades.map((u) => u[2])],
    );
    return result.rowCount ?? 0;
  }

  async decoyKey(fresh: string): Promise<string> {
    const client = this.requireClient();
    await client.query('INSERT INTO credentials (dbid, hash) VALUES (0, $1) ON CONFLICT (dbid) DO NOTHING', [fresh]);
    return (await client.query<{ hash: string }>('SELECT hash FROM credentials WHERE dbid = 0')).rows[0].hash;
  }

  /** One consistent read of everything: objects, credentials, counters, the recent change log. */
  async load(): Promise<LoadedConfiguration> {
    const client = this.requireClient();
    await client.query('BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY');
    try {
      const seq = (await client.query<{ value: number }>("SELECT value FROM counters WHERE name = 'seq'")).rows[0]?.value ?? 0;
      const bodies = await client.query<{ body: Buffer }>('SELECT body FROM objects');
      const credentials = await client.query<{ dbid: number; hash: string }>('SELECT dbid, hash FROM credentials');
      const counters = await client.query<{ name: string; value: number }>("SELECT name, value FROM counters WHERE name LIKE 'dbid:%'");
      const changes = await client.query<ChangeRow>('SELECT * FROM changes WHERE seq > $1 ORDER BY seq', [seq - RECENT_CHANGES]);
      await client.query('COMMIT');
      this.recent.clear();
      for (const row of changes.rows) this.recent.push(rowToChange(row));
      this.followed = seq;
      return {
        objects: bodies.rows.map((row) => packr.unpack(row.body) as ConfigObject),
        credentials: new Map(credentials.rows.map((row) => [row.dbid, row.hash])),
        seq,
        chain: changes.rows.length > 0 ? (changes.rows[changes.rows.length - 1].chain ?? undefined) : undefined,
        dbidCounters: new Map(counters.rows.map((row) => [row.name, row.value])),
      };
    } catch (error) {
      await client.query('ROLLBACK').catch(() => undefined);
      throw error;
    }
  }

  /** Starts following the log and competing for the lease; resolves once the first round settled this master's role. */
  async start(): Promise<void> {
    const pollMs = Math.max(50, Math.round(this.options.leaseMs / 10));
    this.stopWatchdog = every(systemClock, pollMs, () => {
      if (this.state === 'active' && systemClock.now() - this.renewedAt > this.options.leaseMs * LEASE_SAFETY) this.stepDown('the lease could not be renewed in time');
    });
    const round = async (): Promise<void> => {
      await this.tick();
      if (this.stopped) return;
      this.ticker = systemClock.setTimeout(() => void round(), this.client ? pollMs : this.nextReconnectDelay());
    };
    await round();
  }

  /**
   * Commits one write: its own transaction, fenced by epoch and expiry inside it, acknowledged once
   * committed. Writes in flight together go to the server as one message of consecutive
   * transactions on the lease's session, so one round trip carries many commits while each is
   * still flushed on its own, in seq order.
   */
  commit(batch: WriteBatch): Promise<void> {
    // After a failed commit, writes issued beyond it cannot follow it: they are not made, and the
    // master issues that seq again once they settled.
    if (batch.change.seq !== this.expectedSeq) {
      return Promise.reject(new CfgError(ErrorCode.STORAGE_FAILED, 'a write before this one failed while both were in flight; this one was not made'));
    }
    this.expectedSeq += 1;
    return new Promise((resolve, reject) => {
      this.unsent.push({ batch, resolve, reject });
      if (!this.sending) void this.sendCommits();
    });
  }

  private async sendCommits(): Promise<void> {
    this.sending = true;
    try {
      while (this.unsent.length > 0) {
        const group = this.unsent.splice(0, COMMIT_GROUP);
        // Whatever goes wrong, every write of the group hears of it: none may wait forever.
        await this.commitGroup(group).catch((error: unknown) => rejectAll(group, error as Error));
      }
    } finally {
      this.sending = false;
    }
  }

  private async commitGroup(group: PendingCommit[]): Promise<void> {
    const client = this.client;
    if (this.state !== 'active' || !client) return rejectAll(group, this.notActive());
    if (systemClock.now() - this.renewedAt > this.options.leaseMs * LEASE_SAFETY) {
      this.stepDown('the lease could not be renewed in time');
      return rejectAll(group, this.notActive());
    }
    // The chain hash goes in beside the commit function's row, in the same transaction [PROTO-LINEAGE-7].
    const sql = group.map(({ batch }) => `BEGIN; SELECT cfgproxy_commit(${commitArguments(client, this.epoch, batch)}); ${chainUpdate(client, batch)} COMMIT;`).join('\n');
    try {
      await client.query(sql);
      for (const commit of group) commit.resolve();
      return;
    } catch (error) {
      if (!isStatementError(error)) {
        this.lost(client, error as Error);
        return rejectAll(group, new CfgError(ErrorCode.MASTER_UNAVAILABLE, `the configuration database went away during the commit (${(error as Error).message}); the write may or may not have been made: read before you retry`));
      }
      await this.settleFailedGroup(client, group, error as Error & { code?: string });
    }
  }

  /**
   * A transaction of the group failed, and the server skipped the rest of the message: those before
   * it committed. The counter row says how far; the failed one gets its error, the later ones are
   * not made.
   */
  private async settleFailedGroup(client: pg.Client, group: PendingCommit[], error: Error & { code?: string }): Promise<void> {
    let committed: number;
    try {
      await client.query('ROLLBACK');
      committed = (await client.query<{ value: number }>("SELECT value FROM counters WHERE name = 'seq'")).rows[0]!.value;
    } catch (followUp) {
      this.lost(client, followUp as Error);
      return rejectAll(group, new CfgError(ErrorCode.MASTER_UNAVAILABLE, 'the configuration database went away during the commit; the write may or may not have been made: read before you retry'));
    }
    const failure =
      error.code === 'CP001' || error.code === 'CP002'
        ? new CfgError(ErrorCode.MASTER_UNAVAILABLE, `this master lost the lease (${error.message}); the write was not made`)
        : error; // a full disk, say: STORAGE_FAILED, and this master stays active
    if (error.code === 'CP001' || error.code === 'CP002') this.stepDown(error.message);
    this.expectedSeq = committed + 1;
    group.push(...this.unsent.splice(0)); // issued after the failed one: none of them can be made
    for (const commit of group) {
      const seq = commit.batch.change.seq;
      if (seq <= committed) commit.resolve();
      else if (seq === committed + 1) commit.reject(failure);
      else commit.reject(new CfgError(ErrorCode.STORAGE_FAILED, 'a write before this one failed while both were in flight; this one was not made'));
    }
  }

  /** Commits land in seq order; only then is a change part of what this master replays and has followed. */
  landed(change: ChangeRecord): void {
    this.followed = change.seq;
    this.recent.push(change);
  }

  changesAfter(seq: number): Iterable<ChangeRecord> {
    return this.recent.from(this.recent.firstIndex((change) => change.seq > seq));
  }

  oldestSeq(): number | undefined {
    return this.recent.at(0)?.seq;
  }

  /** The active master applies the retention to the shared log; the newest change always stays. */
  async prune(maxChanges: number, maxAgeMs: number): Promise<number> {
    const client = this.client;
    if (this.state !== 'active' || !client) return 0;
    const newest = this.followed;
    const { rows } = await client.query<{ removed: number; through: number | null }>(
      'WITH pruned AS (DELETE FROM changes WHERE seq < $1 AND (seq <= $2 OR at < $3) RETURNING seq) SELECT count(*)::int AS removed, max(seq) AS through FROM pruned',
      [newest, newest - maxChanges, Date.now() - maxAgeMs],
    );
    const { removed, through } = rows[0]!;
    // What the log no longer holds, this master no longer replays either: as with SQLite.
    if (through !== null) this.recent.dropWhile((change) => change.seq <= through);
    return removed;
  }

  /** Stops; an active master ends its session, so a standby takes over at once. */
  async close(): Promise<void> {
    this.stopped = true;
    if (this.ticker) systemClock.clearTimeout(this.ticker);
    this.stopWatchdog?.();
    const client = this.client;
    this.client = null;
    this.state = 'standby';
    await client?.end().catch(() => undefined);
  }

  /** One round: reconnect if needed; as active renew the lease; as standby follow the log and try for the lease. */
  private async tick(): Promise<void> {
    if (this.stopped) return;
    let client = this.client;
    try {
      if (!client) client = await this.reconnect();
      if (this.state === 'active') await this.renewIfDue(client);
      else {
        await this.followLog(client);
        await this.tryTakeOver(client);
      }
    } catch (error) {
      if (client) this.lost(client, error as Error);
      else if (!this.outageLogged) {
        this.outageLogged = true;
        this.options.logger.warn({ event: 'MASTER-005', err: (error as Error).message, db: this.location }, 'cannot reach the configuration database; retrying');
      }
    }
  }

  private async reconnect(): Promise<pg.Client> {
    const client = newClient(this.options);
    client.on('error', (error: Error) => this.lost(client, error));
    await client.connect().catch(async (error: unknown) => {
      await client.end().catch(() => undefined);
      throw error;
    });
    if (this.stopped) {
      await client.end();
      throw new Error('stopping');
    }
    this.client = client;
    this.reconnectDelayMs = 0;
    if (this.outageLogged) this.options.logger.info({ db: this.location }, 'reconnected to the configuration database');
    this.outageLogged = false;
    return client;
  }

  private nextReconnectDelay(): number {
    this.reconnectDelayMs = Math.min(1_000, Math.max(50, this.reconnectDelayMs * 2));
    return this.reconnectDelayMs;
  }

  private async renewIfDue(client: pg.Client): Promise<void> {
    const now = systemClock.now();
    if (now - this.lastRenewal < this.options.leaseMs / 4) return;
    this.lastRenewal = now;
    const result = await client.query("UPDATE lease SET expires_at = clock_timestamp() + $1 * interval '1 millisecond' WHERE id = 1 AND epoch = $2", [this.options.leaseMs, this.epoch]);
    if (result.rowCount === 0) this.stepDown('another master took the lease');
    else if (this.state === 'active') this.renewedAt = now;
  }

  /** A standby reads what the active master committed since, in seq order. */
  private async followLog(client: pg.Client): Promise<void> {
    for (;;) {
      const { rows } = await client.query<ChangeRow>('SELECT * FROM changes WHERE seq > $1 ORDER BY seq LIMIT $2', [this.followed, FOLLOW_BATCH]);
      if (rows.length === 0) return;
      if (rows[0]!.seq !== this.followed + 1) {
        // The retention removed changes this standby had not read: it loads everything again.
        this.options.logger.warn({ event: 'MASTER-006', followed: this.followed, oldest: rows[0]!.seq }, 'the change log no longer reaches back to this standby: loading the configuration again');
        this.emit('reload', await this.load());
        return;
      }
      for (const row of rows) {
        const change = rowToChange(row);
        this.followed = change.seq;
        this.recent.push(change);
        this.emit('change', change);
      }
      if (rows.length < FOLLOW_BATCH) return;
    }
  }

  private async tryTakeOver(client: pg.Client): Promise<void> {
    const got = (await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1, $2) AS got', [LOCK_CLASS, LEASE_LOCK])).rows[0]!.got;
    if (!got) {
      const lease = (await client.query<{ endpoint: string; expired: boolean }>('SELECT endpoint, clock_timestamp() > expires_at AS expired FROM lease WHERE id = 1')).rows[0]!;
      this.activeAt = lease.endpoint || undefined;
      if (lease.expired) await this.endExpiredHolder(client);
      return;
    }
    // Holding the lock: no session of another master lives that could commit. Claim the lease
    // (the new epoch fences anything stale), then read the last changes: none can follow them.
    const startedAt = systemClock.now();
    const epoch = (
      await client.query<{ epoch: number }>(
        "UPDATE lease SET epoch = epoch + 1, holder = $1, endpoint = $2, pid = pg_backend_pid(), expires_at = clock_timestamp() + $3 * interval '1 millisecond' WHERE id = 1 RETURNING epoch",
        [`${this.options.serverName} ${randomUUID()}`, this.options.advertise, this.options.leaseMs],
      )
    ).rows[0]!.epoch;
    await this.followLog(client);
    const seq = (await client.query<{ value: number }>("SELECT value FROM counters WHERE name = 'seq'")).rows[0]?.value ?? 0;
    if (seq !== this.followed) throw new Error(`the change log ends at seq ${this.followed} but the counter says ${seq}`);
    const counters = await client.query<{ name: string; value: number }>("SELECT name, value FROM counters WHERE name LIKE 'dbid:%'");
    this.epoch = epoch;
    this.expectedSeq = seq + 1;
    this.renewedAt = startedAt;
    this.lastRenewal = startedAt;
    this.state = 'active';
    this.activeAt = this.options.advertise;
    this.options.logger.info({ event: 'MASTER-002', epoch, seq, takeoverMs: Math.round(systemClock.now() - startedAt) }, 'this master is now the active one');
    this.emit('active', new Map(counters.rows.map((row) => [row.name, row.value])));
  }

  /**
   * The lease expired while another session still holds the lock: the active master is cut off
   * from PostgreSQL (or hung) but its session lives on. Ending that session frees the lock and
   * aborts anything it still had in flight.
   */
  private async endExpiredHolder(client: pg.Client): Promise<void> {
    const { rows } = await client.query<{ pid: number; ended: boolean }>(
      "SELECT pid, pg_terminate_backend(pid) AS ended FROM pg_locks WHERE locktype = 'advisory' AND classid = $1 AND objid = $2 AND objsubid = 2 AND granted AND pid <> pg_backend_pid()",
      [LOCK_CLASS, LEASE_LOCK],
    );
    for (const row of rows) this.options.logger.warn({ event: 'MASTER-004', pid: row.pid, ended: row.ended }, "the active master's lease expired: ended its database session so a standby can take over");
  }

  /** Gives up the active role: no commit is accepted from now on, and the session (and its lock) is ended. */
  private stepDown(reason: string): void {
    const wasActive = this.state === 'active';
    this.state = 'standby';
    this.activeAt = undefined;
    if (this.client) this.drop(this.client);
    if (!wasActive) return;
    this.options.logger.warn({ event: 'MASTER-003', reason }, 'this master is no longer the active one: it takes no writes and follows as a standby');
    this.emit('standby', reason);
  }

  private lost(client: pg.Client, error: Error): void {
    if (this.client !== client) return;
    if (!this.outageLogged) {
      this.outageLogged = true;
      this.options.logger.warn({ event: 'MASTER-005', err: error.message, db: this.location }, 'lost the configuration database; reconnecting');
    }
    this.stepDown(`lost the configuration database: ${error.message}`);
    this.drop(client);
  }

  /** Ends the session (and its lock): whatever it had in flight fails now. */
  private drop(client: pg.Client): void {
    if (this.client === client) this.client = null;
    destroyClient(client);
  }

  private requireClient(): pg.Client {
    if (!this.client) throw new CfgError(ErrorCode.MASTER_UNAVAILABLE, 'the configuration database is not connected');
    return this.client;
  }

  private notActive(): CfgError {
    const active = this.activeEndpoint();
    return new CfgError(ErrorCode.MASTER_UNAVAILABLE, `this master is not the active one${active ? ` (the active master is at ${active})` : ''}; the write was not made`, active ? { details: { primary: active } } : undefined);
  }
}

interface PendingCommit {
  batch: WriteBatch;
  resolve(): void;
  reject(error: Error): void;
}

function rejectAll(group: PendingCommit[], error: Error): void {
  for (const commit of group) commit.reject(error);
}

/** The arguments of cfgproxy_commit as SQL literals: a message of several statements takes no parameters. */
function commitArguments(client: pg.Client, epoch: number, batch: WriteBatch): string {
  const { change } = batch;
  const body = batch.object ? (batch.objectBody ?? packr.pack(batch.object)) : undefined;
  const text = (value: string | undefined): string => (value === undefined ? 'NULL' : client.escapeLiteral(value));
  const bytes = (value: Buffer | undefined): string => (value === undefined ? 'NULL' : `'\\x${value.toString('hex')}'::bytea`);
  const int = (value: number | undefined): string => (value === undefined ? 'NULL' : String(Math.trunc(value)));
  return [
    int(epoch), int(change.seq), int(change.at), text(change.op), text(change.type), int(change.dbid), int(change.tenant), int(change.folder),
    int(change.previous?.tenant), int(change.previous?.folder), bytes(change.frame), bytes(change.proxyFrame),
    bytes(body), text(batch.credential), text(batch.dbidCounter ? `dbid:${batch.dbidCounter.type}` : undefined), int(batch.dbidCounter?.next),
  ].join(', ');
}

function chainUpdate(client: pg.Client, batch: WriteBatch): string {
  const { chain, seq } = batch.change;
  return chain === undefined ? '' : `UPDATE changes SET chain = ${client.escapeLiteral(chain)} WHERE seq = ${Math.trunc(seq)};`;
}

/** end() waits for a reply a cut-off server never sends: the socket goes at once. */
function destroyClient(client: pg.Client): void {
  (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy();
  void client.end().catch(() => undefined);
}

function newClient(options: PostgresOptions): pg.Client {
  return new pg.Client({
    connectionString: options.url,
    types,
    keepAlive: true,
    connectionTimeoutMillis: Math.max(1_000, options.leaseMs),
    application_name: `cfgproxy master ${options.serverName}`.slice(0, 63),
  });
}

/**
 * The database's lineage: made once, by whichever master creates the schema's identity first. A
 * changes table that is not the one the identity names was made anew: the database was restored
 * (pg_restore drops and creates its tables), its history is not the one every proxy and client
 * followed, so the generation is raised [PROTO-LINEAGE-1]. Under a row lock: of two masters starting
 * on a restored database, one raises it.
 */
async function readLineage(client: pg.Client): Promise<{ lineage: Lineage; discontinuity?: string }> {
  await client.query('BEGIN');
  try {
    await client.query("INSERT INTO identity (name, value) VALUES ('lineage_id', $1), ('generation', '1'), ('changes_oid', 'changes'::regclass::oid::text) ON CONFLICT (name) DO NOTHING", [randomUUID()]);
    const { rows } = await client.query<{ name: string; value: string }>('SELECT name, value FROM identity FOR UPDATE');
    const get = (name: string): string => rows.find((row) => row.name === name)!.value;
    const oid = (await client.query<{ oid: string }>("SELECT 'changes'::regclass::oid::text AS oid")).rows[0]!.oid;
    let lineage: Lineage = { id: get('lineage_id'), generation: Number(get('generation')) };
    let discontinuity: string | undefined;
    if (get('changes_oid') !== oid) {
      lineage = { id: lineage.id, generation: nextGeneration(lineage.generation) };
      discontinuity = 'the database was restored (its tables were made anew, as pg_restore does)';
      await client.query("UPDATE identity SET value = $1 WHERE name = 'generation'", [String(lineage.generation)]);
      await client.query("UPDATE identity SET value = $1 WHERE name = 'changes_oid'", [oid]);
    }
    await client.query('COMMIT');
    return { lineage, ...(discontinuity ? { discontinuity } : {}) };
  } catch (error) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw error;
  }
}

/**
 * Errors of one statement (a constraint, a full disk) leave the session usable; anything else (the
 * server restarting, a terminated session, a broken socket) means the session is gone.
 */
function isStatementError(error: unknown): boolean {
  if (!(error instanceof pg.DatabaseError)) return false;
  const sqlState = error.code ?? '';
  return !sqlState.startsWith('08') && !sqlState.startsWith('57');
}

/** A connection URL without its password, for logs. */
export function redact(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.password) parsed.password = '***';
    return parsed.toString();
  } catch {
    return 'postgres://(unparsable URL)';
  }
}
