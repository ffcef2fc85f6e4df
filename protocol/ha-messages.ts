/**
 * The HA sync port's message set (protocol/PROTOCOL.md "HA sync link"): the same framing as the
 * client protocol, its own kinds (100+), plus the shared AddpPoll, AddpReply and Error.
 * This file imports nothing of the project beyond protocol/.
 */
import { CfgError, ErrorCode } from './errors.js';
import { Kind, type AddpPollMessage, type AddpReplyMessage, type ChangeMessage, type ErrorMessage, type NotificationFilter } from './messages.js';
import { validateMessage } from './validate.js';

export const HA_PROTOCOL_VERSIONS = [1] as const;

export const HaKind = {
  Hello: 100,
  Welcome: 101,
  Records: 102,
  Ack: 103,
} as const;

export type HaRole = 'primary' | 'backup';

/** Backup → primary, first frame [PROTO-HA-1]. */
export interface HaHelloMessage {
  kind: typeof HaKind.Hello;
  versions: number[];
  pairName: string;
  /** The masters the sender is configured with, in its order. */
  masters: string[];
  secret: string;
  /** The role the sender holds now (a promoted backup says primary). */
  role: HaRole;
  /** The HA session to resume: the primary sends only the records after `lastRecord`. */
  resume?: { id: string; lastRecord: number };
}

/** Primary → backup: the pair is accepted [PROTO-HA-2]. */
export interface HaWelcomeMessage {
  kind: typeof HaKind.Welcome;
  version: number;
  sessionId: string;
  /** True when the records continue after the presented lastRecord; false: a session snapshot follows. */
  resumed: boolean;
  role: HaRole;
  /** Where clients reach the primary (told to clients that reach the backup). */
  clientEndpoint: string;
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

export type HaMessage = HaHelloMessage | HaWelcomeMessage | HaRecordsMessage | HaAckMessage | AddpPollMessage | AddpReplyMessage | ErrorMessage;

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
        secret: str(body, 'secret', 'Hello', 1024),
        role: role(body, 'Hello'),
      };
      if (body.resume !== undefined) {
        if (!isRecord(body.resume)) throw invalid('Hello.resume must be a map');
        message.resume = { id: str(body.resume, 'id', 'Hello.resume', 64), lastRecord: uint(body.resume, 'lastRecord', 'Hello.resume') };
      }
      return message;
    }
    case HaKind.Welcome:
      return {
        kind: HaKind.Welcome,
        version: uint(body, 'version', 'Welcome'),
        sessionId: str(body, 'sessionId', 'Welcome', 64),
        resumed: body.resumed === true,
        role: role(body, 'Welcome'),
        clientEndpoint: str(body, 'clientEndpoint', 'Welcome', 300),
      };
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
