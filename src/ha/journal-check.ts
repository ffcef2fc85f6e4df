import { isDeepStrictEqual } from 'node:util';
import type { ChangeMessage } from '../../protocol/index.js';

/** Changes remembered on each side for the comparison; older ones are forgotten. */
const REMEMBERED = 10_000;

/**
 * A backup's check of the primary's journal against its own master link [PROTO-HA-10]: the
 * backup applies changes only from its own master stream, and every change record the primary
 * forwards must be the very change that stream brings (or brought) under the same seq. A record
 * that disagrees is refused and reported: a primary that knows the secret still cannot make the
 * backup apply, skip or drop a change.
 */
export class JournalCheck {
  /** What the own master stream applied, by seq. */
  private readonly applied = new Map<number, ChangeMessage>();
  /** What the primary forwarded ahead of the own stream, by seq. */
  private readonly forwarded = new Map<number, ChangeMessage>();

  constructor(private readonly onDisagreement: (seq: number, why: string) => void) {}

  /** A change the own master stream applied. */
  ownApplied(change: ChangeMessage): void {
    const forwarded = this.forwarded.get(change.seq);
    if (forwarded) {
      this.forwarded.delete(change.seq);
      this.compare(change.seq, change, forwarded);
    }
    remember(this.applied, change.seq, change);
  }

  /** A change record from the primary's journal. */
  forwardedChange(change: ChangeMessage): void {
    const own = this.applied.get(change.seq);
    if (own) this.compare(change.seq, own, change);
    else remember(this.forwarded, change.seq, change);
  }

  private compare(seq: number, own: ChangeMessage, forwarded: ChangeMessage): void {
    if (!isDeepStrictEqual(own, forwarded)) this.onDisagreement(seq, 'the primary forwarded another change under this seq than the master sent this member');
  }
}

function remember(map: Map<number, ChangeMessage>, seq: number, change: ChangeMessage): void {
  map.set(seq, change);
  if (map.size > REMEMBERED) map.delete(map.keys().next().value!);
}
