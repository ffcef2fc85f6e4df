import { Kind, OBJECT_TYPES, type ConfigObject, type HistoryLogExpiredMessage } from '../../protocol/index.js';
import type { CfgClient, Notification } from '../../src/client/client.js';
import { applyDelta } from '../../src/model/validate-object.js';

/**
 * What an application built on the SDK holds: everything it read, plus every notification, and a
 * full re-read on every reset. Tests compare it with the server's data, so a lost, duplicated or
 * foreign notification shows up as a difference.
 */
export class Mirror {
  readonly objects = new Map<string, ConfigObject>();
  readonly seqs: number[] = [];
  resets = 0;
  /** Notifications that did not apply (an update or delete of an object the mirror does not hold). */
  readonly misfits: Notification[] = [];
  private rereading: Promise<void> = Promise.resolve();

  private constructor(readonly client: CfgClient) {}

  /** Reads everything, subscribes to everything, and follows from then on. */
  static async follow(client: CfgClient): Promise<Mirror> {
    const mirror = new Mirror(client);
    client.on('notification', (n: Notification) => mirror.apply(n));
    client.on('reset', (_m: HistoryLogExpiredMessage) => {
      mirror.resets += 1;
      mirror.rereading = mirror.rereading.then(() => mirror.readAll());
    });
    await mirror.readAll();
    await client.subscribe({});
    return mirror;
  }

  /** Resolves once every re-read a reset asked for is done. */
  settled(): Promise<void> {
    return this.rereading;
  }

  private async readAll(): Promise<void> {
    const fresh = new Map<string, ConfigObject>();
    for (const type of OBJECT_TYPES) for (const object of await this.client.readAll(type)) fresh.set(`${type}:${object.dbid}`, object);
    this.objects.clear();
    for (const [key, object] of fresh) this.objects.set(key, object);
  }

  private apply(n: Notification): void {
    this.seqs.push(n.seq);
    if (n.kind === Kind.ObjectCreated) {
      this.objects.set(`${n.object.type}:${n.object.dbid}`, n.object);
      return;
    }
    const key = `${n.type}:${n.dbid}`;
    const held = this.objects.get(key);
    if (n.kind === Kind.ObjectDeleted) {
      if (!held) this.misfits.push(n);
      this.objects.delete(key);
      return;
    }
    if (n.object) this.objects.set(key, n.object);
    else if (held) this.objects.set(key, applyDelta(held, n.delta));
    else this.misfits.push(n);
  }

  /** The objects by `type:dbid`, sorted, for comparison with `snapshotOf`. */
  sorted(): Array<[string, ConfigObject]> {
    return [...this.objects].sort(([a], [b]) => a.localeCompare(b));
  }
}

/** Every object a client may read at a server, by `type:dbid`, sorted. */
export async function snapshotOf(client: CfgClient): Promise<Array<[string, ConfigObject]>> {
  const all: Array<[string, ConfigObject]> = [];
  for (const type of OBJECT_TYPES) for (const object of await client.readAll(type)) all.push([`${type}:${object.dbid}`, object]);
  return all.sort(([a], [b]) => a.localeCompare(b));
}
