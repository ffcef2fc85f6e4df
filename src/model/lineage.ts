import { randomUUID } from 'node:crypto';
import { CfgError, ErrorCode, type Lineage } from '../../protocol/index.js';

/** The lineage of a server that has loaded nothing yet: it matches no database. */
export const NO_LINEAGE: Lineage = Object.freeze({ id: 'none', generation: 0 });

/** A new database's lineage: a random identity, generation 1. */
export function newLineage(): Lineage {
  return { id: randomUUID(), generation: 1 };
}

/**
 * The generation after `generation`, when a seq space is discontinued (a start from a backup copy).
 * At least the current time in seconds, so two restores of one copy never share a generation.
 */
export function nextGeneration(generation: number, nowMs = Date.now()): number {
  return Math.max(generation + 1, Math.floor(nowMs / 1000));
}

export function sameLineage(a: Lineage | undefined, b: Lineage | undefined): boolean {
  return a !== undefined && b !== undefined && a.id === b.id && a.generation === b.generation;
}

/** `3f2a9c1e…/2`: short enough for a log line, long enough to tell two databases apart. */
export function describeLineage(lineage: Lineage | undefined): string {
  return lineage ? `${lineage.id.slice(0, 8)}/${lineage.generation}` : 'none';
}

/** Refuses what was made against another seq space [PROTO-LINEAGE-5]. */
export function requireSameLineage(expected: Lineage, presented: Lineage | undefined, what: string): void {
  if (presented === undefined || sameLineage(expected, presented)) return;
  throw new CfgError(
    ErrorCode.LINEAGE_MISMATCH,
    `${what} was made against database ${describeLineage(presented)}, but this server serves ${describeLineage(expected)}; re-read and try again`,
    { details: { expected: describeLineage(expected), presented: describeLineage(presented) } },
  );
}
