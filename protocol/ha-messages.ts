/**
 * The HA sync port's message set (protocol/PROTOCOL.md "HA sync link"): the same framing as the
 * client protocol, its own kinds (100+), plus the shared AddpPoll, AddpReply and Error.
 * This file imports nothing of the project beyond protocol/.
 */
import { CfgError, ErrorCode } from './errors.js';
import { Kind, type AddpPollMessage, type AddpReplyMessage, type ChangeMessage, type ErrorMessage, type Lineage, type NotificationFilter } from './messages.js';
import { validateMessage } from './validate.js';

export const HA_PROTOCOL_VERSIONS = [1] as const;

export const HaKind = {
  Hello: 100,
  Welcome: 101,
  Records: 102,
  Ack: 103,
  StreamStart: 104,
  Switchover: 105,
  SwitchoverDone: 106,
  TakeBack: 107,
  BackupReloaded: 108,
  Challenge: 109,
  Status: 110,
} as const;

/** How far one side has received the other's journal: a stream resumes after `lastRecord`. */
export interface JournalPosition {
  journalId: string;
  lastRecord: number;
}

export type HaRole = 'primary' | 'backup';

/** Backup → primary, first frame [PROTO-HA-1]. */
export interface HaHelloMessage {
  kind: typeof HaKind.Hello;
  versions: number[];
  pairName: string;
  /** The masters the sender is configured with, in its order. */
  masters: string[];
  /** The dialer's nonce (hex), for the listener's proof in Welcome [PROTO-HA-9]. */
  nonce: string;
  /** HMAC-SHA256 over the listener's Challenge nonce and `nonce`, keyed by the pair secret (hex): the secret never travels. */
  proof: string;
  /** The role the sender holds now (a promoted backup says primary). */
  role: HaRole;
  /** The sender's term: raised by every promotion, persisted; the higher wins [PROTO-HA-12]. */
  term?: number;
  /** Where clients reach the sender (probed by the other side when the link is down). */
  clientEndpoint: string;
  /** How far the sender got in the other side's journal, so only what it missed is sent. */
  received?: JournalPosition;
  /** The database lineage of the sender's cache, once loaded; members of two lineages never pair [PROTO-LINEAGE-6]. */
  lineage?: Lineage;
}

/** Listener → dialer: the pair is accepted [PROTO-HA-2]. The same facts as Hello, from the other side. */
export interface HaWelcomeMessage {
  kind: typeof HaKind.Welcome;
  version: number;
  /** The listener's HMAC over the dialer's nonce and its own: the dialer knows it reached its pair [PROTO-HA-9]. */
  proof: string;
  role: HaRole;
  /** The listener's term after it settled its role [PROTO-HA-12]. */
  term?: number;
  clientEndpoint: string;
  received?: JournalPosition;
  lineage?: Lineage;
}

/** From whichever side is primary, before its records: which journal, and whether it resumes. */
export interface HaStreamStartMessage {
  kind: typeof HaKind.StreamStart;
  journalId: string;
  /** True: the records continue after the receiver's position; false: a sessions snapshot follows. */
  resumed: boolean;
}

/** Primary → backup: take over once you have applied `seq` [PROTO-HA-6]. */
export interface HaSwitchoverMessage {
  kind: typeof HaKind.Switchover;
  seq: number;
}

export interface HaSwitchoverDoneMessage {
  kind: typeof HaKind.SwitchoverDone;
  ok: boolean;
  message: string;
}

/** One entry of the session journal [PROTO-HA-3]; `r` numbers the records of one HA session. */
export type JournalRecord =
  | { r: number; k: 'open'; id: string; person: number; clientName: string; clientType: string; subs: NotificationFilter[]; pos: number }
  | { r: number; k: 'subs'; id: string; subs: NotificationFilter[] }
  | { r: number; k: 'pos'; positions: Array<[string, number]> }
  | { r: number; k: 'close'; id: string }
  | { r: number; k: 'change'; change: ChangeMessage; credential?: string }
  /** Starts a full snapshot of the sessions: the backup forgets the sessions it had. */
  | { r: number; k: 'reset' };

export interface HaRecordsMessage {
  kind: typeof HaKind.Records;
  records: JournalRecord[];
}

/** Backup → primary: every record up to `upTo` is stored. */
export interface HaAckMessage {
  kind: typeof HaKind.Ack;
  upTo: number;
}

/** Listener → dialer, first frame: the nonce the dialer's proof must cover [PROTO-HA-9]. */
export interface HaChallengeMessage {
  kind: typeof HaKind.Challenge;
  nonce: string;
}

/** Backup → primary every heartbeat: how far it is, for the primary's readiness [PROTO-HA-11]. */
export interface HaStatusMessage {
  kind: typeof HaKind.Status;
  loaded: boolean;
  appliedSeq: number;
  /** It serves reads and subscriptions while backup (`--accept-clients-in-backup-mode`): protected mode's first condition. */
  acceptsClients: boolean;
  /** It is connected to a master, or lost it moments ago and is reconnecting, so it can reload itself: protected mode's second condition. */
  canReload: boolean;
}

/** Configured primary (serving as backup) → primary: hand the role back (`--auto-restore-primary`). */
export interface HaTakeBackMessage {
  kind: typeof HaKind.TakeBack;
}

/** Backup → primary, in protected mode: the backup has reloaded; the primary may hand over and reload. */
export interface HaBackupReloadedMessage {
  kind: typeof HaKind.BackupReloaded;
  seq: number;
}

export type HaMessage =
  | HaChallengeMessage
  | HaStatusMessage
  | HaHelloMessage
  | HaWelcomeMessage
  | HaStreamStartMessage
  | HaRecordsMessage
  | HaAckMessage
  | HaSwitchoverMessage
  | HaSwitchoverDoneMessage
  | HaTakeBackMessage
  | HaBackupReloadedMessage
  | AddpPollMessage
  | AddpReplyMessage
  | ErrorMessage;

function invalid(message: string): CfgError {
  return new CfgError(ErrorCode.INVALID_MESSAGE, message);
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function uint(raw: Record<string, unknown>, field: string, where: string): number {
  const value = raw[field];
  if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) throw invalid(`${where}.${field} must be a non-negative integer`);
  return value;
}

function str(raw: Record<string, unknown>, field: string, where: string, max = 4096): string {
  const value = raw[field];
  if (typeof value !== 'string' || value.length > max) throw invalid(`${where}.${field} must be a string of at most ${max} characters`);
  return value;
}

function role(raw: Record<string, unknown>, where: string): HaRole {
  const value = raw.role;
  if (value !== 'primary' && value !== 'backup') throw invalid(`${where}.role must be 'primary' or 'backup'`);
  return value;
}

function filters(value: unknown, where: string): NotificationFilter[] {
  if (!Array.isArray(value) || value.length > 1024) throw invalid(`${where} must be an array of at most 1024 filters`);
  // A Subscribe frame validates filters; reuse it rather than a second copy of the rules.
  return value.map((filter) => (validateMessage({ kind: Kind.Subscribe, id: 0, filter }) as { filter: NotificationFilter }).filter);
}

function journalPosition(raw: unknown, where: string): JournalPosition | undefined {
  if (raw === undefined) return undefined;
  if (!isRecord(raw)) throw invalid(`${where} must be a map`);
  return { journalId: str(raw, 'journalId', where, 64), lastRecord: uint(raw, 'lastRecord', where) };
}

function journalRecord(raw: unknown, i: number): JournalRecord {
  const where = `Records.records[${i}]`;
  if (!isRecord(raw)) throw invalid(`${where} must be a map`);
  const r = uint(raw, 'r', where);
  switch (raw.k) {
    case 'open':
      return {
        r,
        k: 'open',
        id: str(raw, 'id', where, 64),
        person: uint(raw, 'person', where),
        clientName: str(raw, 'clientName', where, 255),
        clientType: str(raw, 'clientType', where, 64),
        subs: filters(raw.subs, `${where}.subs`),
        pos: uint(raw, 'pos', where),
      };
    case 'subs':
      return { r, k: 'subs', id: str(raw, 'id', where, 64), subs: filters(raw.subs, `${where}.subs`) };
    case 'pos': {
      const positions = raw.positions;
      if (!Array.isArray(positions) || !positions.every((p) => Array.isArray(p) && p.length === 2 && typeof p[0] === 'string' && Number.isSafeInteger(p[1]))) {
        throw invalid(`${where}.positions must hold [sessionId, seq] pairs`);
      }
      return { r, k: 'pos', positions: positions as Array<[string, number]> };
    }
    case 'close':
      return { r, k: 'close', id: str(raw, 'id', where, 64) };
    case 'change': {
      const change = validateMessage(raw.change);
      if (change.kind !== Kind.ObjectCreated && change.kind !== Kind.ObjectUpdated && change.kind !== Kind.ObjectDeleted) throw invalid(`${where}.change must be a change notification`);
      return { r, k: 'change', change, ...(raw.credential !== undefined ? { credential: str(raw, 'credential', where, 1024) } : {}) };
    }
    case 'reset':
      return { r, k: 'reset' };
    default:
      throw invalid(`${where}.k is not a journal record kind`);
  }
}

function optionalLineage(value: unknown, where: string): Lineage | undefined {
  if (value === undefined) return undefined;
  if (!isRecord(value) || typeof value.id !== 'string' || value.id.length > 64 || !Number.isSafeInteger(value.generation) || (value.generation as number) < 0) {
    throw invalid(`${where} must be {id: string, generation: integer}`);
  }
  return { id: value.id, generation: value.generation as number };
}

/** Turns a decoded body into a typed HA message, or throws CfgError. */
export function validateHaMessage(body: unknown): HaMessage {
  if (!isRecord(body)) throw invalid('a frame body must be a map');
  switch (body.kind) {
    case HaKind.Hello: {
      const versions = body.versions;
      const masters = body.masters;
      if (!Array.isArray(versions) || !versions.every((v) => Number.isSafeInteger(v))) throw invalid('Hello.versions must hold integers');
      if (!Array.isArray(masters) || masters.length > 16 || !masters.every((m) => typeof m === 'string')) throw invalid('Hello.masters must hold at most 16 strings');
      const message: HaHelloMessage = {
        kind: HaKind.Hello,
        versions: versions as number[],
        pairName: str(body, 'pairName', 'Hello', 255),
        masters: masters as string[],
        nonce: str(body, 'nonce', 'Hello', 128),
        proof: str(body, 'proof', 'Hello', 128),
        role: role(body, 'Hello'),
        ...(body.term !== undefined ? { term: uint(body, 'term', 'Hello') } : {}),
        clientEndpoint: str(body, 'clientEndpoint', 'Hello', 300),
      };
      const received = journalPosition(body.received, 'Hello.received');
      if (received) message.received = received;
      const lineage = optionalLineage(body.lineage, 'Hello.lineage');
      if (lineage) message.lineage = lineage;
      return message;
    }
    case HaKind.Welcome: {
      const message: HaWelcomeMessage = {
        kind: HaKind.Welcome,
        version: uint(body, 'version', 'Welcome'),
        proof: str(body, 'proof', 'Welcome', 128),
        role: role(body, 'Welcome'),
        ...(body.term !== undefined ? { term: uint(body, 'term', 'Welcome') } : {}),
        clientEndpoint: str(body, 'clientEndpoint', 'Welcome', 300),
      };
      const received = journalPosition(body.received, 'Welcome.received');
      if (received) message.received = received;
      const lineage = optionalLineage(body.lineage, 'Welcome.lineage');
      if (lineage) message.lineage = lineage;
      return message;
    }
    case HaKind.Status:
      return { kind: HaKind.Status, loaded: body.loaded === true, appliedSeq: uint(body, 'appliedSeq', 'Status'), acceptsClients: body.acceptsClients === true, canReload: body.canReload === true };
    case HaKind.Challenge:
      return { kind: HaKind.Challenge, nonce: str(body, 'nonce', 'Challenge', 128) };
    case HaKind.StreamStart:
      return { kind: HaKind.StreamStart, journalId: str(body, 'journalId', 'StreamStart', 64), resumed: body.resumed === true };
    case HaKind.Switchover:
      return { kind: HaKind.Switchover, seq: uint(body, 'seq', 'Switchover') };
    case HaKind.TakeBack:
      return { kind: HaKind.TakeBack };
    case HaKind.BackupReloaded:
      return { kind: HaKind.BackupReloaded, seq: uint(body, 'seq', 'BackupReloaded') };
    case HaKind.SwitchoverDone:
      return { kind: HaKind.SwitchoverDone, ok: body.ok === true, message: str(body, 'message', 'SwitchoverDone', 4096) };
    case HaKind.Records: {
      const records = body.records;
      if (!Array.isArray(records) || records.length > 100_000) throw invalid('Records.records must be an array of at most 100000 records');
      return { kind: HaKind.Records, records: records.map(journalRecord) };
    }
    case HaKind.Ack:
      return { kind: HaKind.Ack, upTo: uint(body, 'upTo', 'Ack') };
    case Kind.AddpPoll:
    case Kind.AddpReply:
    case Kind.Error:
      return validateMessage(body) as HaMessage;
    default:
      throw new CfgError(ErrorCode.UNKNOWN_KIND, `unknown HA message kind ${String(body.kind)}`);
  }
}
