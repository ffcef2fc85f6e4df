import { EventEmitter } from 'node:events';
import type { BackupChunkMessage, BackupEndMessage, ConfigObject, Lineage, Message, NewObject, NotificationFilter, ObjectDelta, ObjectFilter, ObjectType } from '../../protocol/index.js';
import { ClientCore, type CoreEvents, type CoreOptions, type Notification, type WriteOutcome } from './client-core.js';

export type { Notification, WriteOutcome };

/** How an application connects: endpoints, login, TLS, keepalive, reconnect and standby. */
export type ConnectOptions = Omit<CoreOptions, 'resume' | 'gapless'>;

/**
 * The client's events and what each listener receives: a map type, so a misspelt event name or a
 * wrong listener does not compile.
 */
export type CfgClientEvents = Omit<CoreEvents, 'credential'>;

const EVENTS: ReadonlySet<string> = new Set<keyof CfgClientEvents>(['notification', 'reset', 'position', 'connected', 'disconnected', 'standby', 'server-error', 'error', 'closed']);

/**
 * The SDK: a connection to a master or a proxy, kept alive across failures (reconnect, standby,
 * restore), with reads, subscriptions and writes. Its events are `CfgClientEvents`. It is the
 * shared connection core (`client-core.ts`) with only what an application needs; the proxy's
 * master link and the CLI use the core itself, which the package does not export.
 */
export class CfgClient extends EventEmitter<CfgClientEvents> {
  readonly #core: ClientCore;

  private constructor(options: ConnectOptions) {
    super();
    this.#core = ClientCore.create(options);
    // An event reaches the application once it listens for it: the core emits nothing for nobody
    // (and an 'error' with no listener is still thrown, as EventEmitter does).
    const forwarded = new Set<string | symbol>();
    (this as EventEmitter).on('newListener', (event: string | symbol) => {
      if (forwarded.has(event) || typeof event !== 'string' || !EVENTS.has(event)) return;
      forwarded.add(event);
      const name = event as keyof CfgClientEvents;
      this.#core.on(name, (...args: unknown[]) => (this.emit as (event: string, ...args: unknown[]) => boolean)(name, ...args));
    });
  }

  /** Connects and registers; rejects if no endpoint accepts the first time. */
  static async connect(options: ConnectOptions): Promise<CfgClient> {
    const client = new CfgClient(options);
    await client.open();
    return client;
  }

  /** A client not connected yet, so that listeners are in place before the first Register; `open()` connects it. */
  static create(options: ConnectOptions): CfgClient {
    return new CfgClient(options);
  }

  open(): Promise<void> {
    return this.#core.open();
  }

  /** The seq of the last notification delivered (or of the session start). */
  get lastSeq(): number {
    return this.#core.lastSeq;
  }

  /** The seq space of `lastSeq`: which database (and generation of it) the position counts in. */
  get lineage(): Lineage | undefined {
    return this.#core.lineage;
  }

  get connected(): boolean {
    return this.#core.connected;
  }

  /** The server of the last Registered: its name, kind (master or proxy), role, version and pool member name. */
  get server(): ClientCore['server'] {
    return this.#core.server;
  }

  /** Reads objects of a type, chunk by chunk, as the server streams them. */
  read(type: ObjectType, filter?: ObjectFilter): AsyncGenerator<ConfigObject> {
    return this.#core.read(type, filter);
  }

  /** Reads every matching object into an array. */
  readAll(type: ObjectType, filter?: ObjectFilter): Promise<ConfigObject[]> {
    return this.#core.readAll(type, filter);
  }

  /** Subscribes to changes; they arrive as `notification` events (and through `notifications()`). */
  subscribe(filter: NotificationFilter = {}): Promise<void> {
    return this.#core.subscribe(filter);
  }

  unsubscribe(filter: NotificationFilter = {}): Promise<void> {
    return this.#core.unsubscribe(filter);
  }

  /** Notifications as an async iterator; ends when the client closes. */
  notifications(): AsyncGenerator<Notification> {
    return this.#core.notifications();
  }

  create(object: NewObject): Promise<WriteOutcome> {
    return this.#core.create(object);
  }

  update(type: ObjectType, dbid: number, delta: ObjectDelta): Promise<WriteOutcome> {
    return this.#core.update(type, dbid, delta);
  }

  delete(type: ObjectType, dbid: number): Promise<WriteOutcome> {
    return this.#core.delete(type, dbid);
  }

  /** An administrator's online backup of the master's database, streamed in chunks [PROTO-BACKUP-1]. */
  backup(onChunk: (chunk: BackupChunkMessage) => void): Promise<BackupEndMessage> {
    return this.#core.backup(onChunk);
  }

  serverInfo(): Promise<Message> {
    return this.#core.serverInfo();
  }

  /** Closes the connection and stops reconnecting. */
  close(): Promise<void> {
    return this.#core.close();
  }
}

export const connect = CfgClient.connect;
