/**
 * Shape validation of decoded frames [PROTO-FRAME-4]: a body becomes a typed message only after
 * every field has the type PROTOCOL.md gives it. Semantic checks (type-specific properties,
 * references) belong to the model, not here.
 */
import { isChain } from './chain.js';
import { CfgError, ErrorCode } from './errors.js';
import {
  Kind,
  KindNames,
  OBJECT_TYPES,
  type ConfigObject,
  type Message,
  type NewObject,
  type NotificationFilter,
  type ObjectFilter,
  type ObjectType,
  type Lineage,
} from './messages.js';

type Raw = Record<string, unknown>;

const objectTypes: ReadonlySet<string> = new Set(OBJECT_TYPES);

function invalid(id: number, message: string): CfgError {
  return new CfgError(ErrorCode.INVALID_MESSAGE, message, { details: { id } });
}

function isPlainObject(value: unknown): value is Raw {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

function isUint(value: unknown): value is number {
  return typeof value === 'number' && Number.isSafeInteger(value) && value >= 0;
}

/** Reads the fields of one message, collecting the first error with its field path. */
class Fields {
  constructor(
    private readonly raw: Raw,
    private readonly id: number,
    private readonly where: string,
  ) {}

  private fail(field: string, expected: string): never {
    throw invalid(this.id, `${this.where}.${field} must be ${expected}`);
  }

  uint(field: string): number {
    const value = this.raw[field];
    if (!isUint(value)) this.fail(field, 'a non-negative integer');
    return value;
  }

  optionalUint(field: string): number | undefined {
    return this.raw[field] === undefined ? undefined : this.uint(field);
  }

  string(field: string, maxLength = 4096): string {
    const value = this.raw[field];
    if (typeof value !== 'string' || value.length > maxLength) this.fail(field, `a string of at most ${maxLength} characters`);
    return value;
  }

  optionalString(field: string, maxLength = 4096): string | undefined {
    return this.raw[field] === undefined ? undefined : this.string(field, maxLength);
  }

  boolean(field: string): boolean {
    const value = this.raw[field];
    if (typeof value !== 'boolean') this.fail(field, 'a boolean');
    return value;
  }

  objectType(field: string): ObjectType {
    const value = this.raw[field];
    if (typeof value !== 'string' || !objectTypes.has(value)) this.fail(field, `one of ${OBJECT_TYPES.join(', ')}`);
    return value as ObjectType;
  }

  map(field: string): Raw {
    const value = this.raw[field];
    if (!isPlainObject(value)) this.fail(field, 'a map');
    return value;
  }

  optionalMap(field: string): Raw | undefined {
    return this.raw[field] === undefined ? undefined : this.map(field);
  }

  array(field: string, maxLength: number): unknown[] {
    const value = this.raw[field];
    if (!Array.isArray(value) || value.length > maxLength) this.fail(field, `an array of at most ${maxLength} items`);
    return value;
  }

  state(field: string): 'enabled' | 'disabled' | undefined {
    const value = this.raw[field];
    if (value === undefined) return undefined;
    if (value !== 'enabled' && value !== 'disabled') this.fail(field, "'enabled' or 'disabled'");
    return value;
  }
}

/** An optional `chain` field [PROTO-LINEAGE-7]: 32 lowercase hex characters. */
function chainField(raw: Raw, id: number, where: string): { chain?: string } {
  const value = raw.chain;
  if (value === undefined) return {};
  if (!isChain(value)) throw invalid(id, `${where}.chain must be 32 lowercase hex characters`);
  return { chain: value };
}

/** Upper bound on subscriptions a session may present or hold [PROTO-LIMIT-1]. */
export const MAX_SUBSCRIPTIONS = 1024;

function notificationFilter(raw: unknown, id: number, where: string): NotificationFilter {
  if (!isPlainObject(raw)) throw invalid(id, `${where} must be a map`);
  const fields = new Fields(raw, id, where);
  const filter: NotificationFilter = {};
  if (raw.type !== undefined) filter.type = fields.objectType('type');
  if (raw.dbid !== undefined) filter.dbid = fields.uint('dbid');
  if (raw.tenant !== undefined) filter.tenant = fields.uint('tenant');
  if (raw.folder !== undefined) filter.folder = fields.uint('folder');
  return filter;
}

function objectFilter(raw: unknown, id: number): ObjectFilter {
  if (!isPlainObject(raw)) throw invalid(id, 'filter must be a map');
  const fields = new Fields(raw, id, 'filter');
  const filter: ObjectFilter = {};
  if (raw.dbid !== undefined) filter.dbid = fields.uint('dbid');
  if (raw.name !== undefined) filter.name = fields.string('name', 255);
  if (raw.tenant !== undefined) filter.tenant = fields.uint('tenant');
  if (raw.folder !== undefined) filter.folder = fields.uint('folder');
  if (raw.state !== undefined) filter.state = fields.state('state');
  if (raw.props !== undefined) {
    const props = fields.map('props');
    for (const [key, value] of Object.entries(props)) {
      if (typeof value !== 'string' && typeof value !== 'number' && typeof value !== 'boolean') {
        throw invalid(id, `filter.props.${key} must be a string, number or boolean`);
      }
    }
    filter.props = props as Record<string, string | number | boolean>;
  }
  return filter;
}

function lineage(raw: unknown, id: number, where: string): Lineage {
  if (!isPlainObject(raw)) throw invalid(id, `${where} must be a map`);
  const fields = new Fields(raw, id, where);
  return { id: fields.string('id', 64), generation: fields.uint('generation') };
}

/** The optional fields of a write: whom a proxy writes for, and the lineage it wrote against. */
function writeContext(f: Fields, body: Raw, id: number, where: string): { onBehalfOf?: number; lineage?: Lineage } {
  const person = f.optionalUint('onBehalfOf');
  const context: { onBehalfOf?: number; lineage?: Lineage } = person === undefined ? {} : { onBehalfOf: person };
  if (body.lineage !== undefined) context.lineage = lineage(body.lineage, id, `${where}.lineage`);
  return context;
}

/** A login's secret: the password, a proof [PROTO-HELLO-5], or neither (a standby connection's Register); never both. */
function loginSecret(f: Fields, id: number, where: string): { password?: string; proof?: string } {
  const password = f.optionalString('password', 1024);
  const proof = f.optionalString('proof', 64);
  if (password !== undefined && proof !== undefined) throw invalid(id, `${where}: give password or proof, not both`);
  return { ...(password !== undefined ? { password } : {}), ...(proof !== undefined ? { proof } : {}) };
}

/**
 * Turns a decoded body into a typed message. Throws CfgError UNKNOWN_KIND or INVALID_MESSAGE with
 * `details.id` set to the request id when one could be read, so the error reply can name it.
 */
export function validateMessage(body: unknown): Message {
  if (!isPlainObject(body)) throw invalid(0, 'a frame body must be a map');
  const kind = body.kind;
  const id = isUint(body.id) ? body.id : 0;
  if (typeof kind !== 'number' || KindNames[kind] === undefined) {
    throw new CfgError(ErrorCode.UNKNOWN_KIND, `unknown message kind ${String(kind)}`, { details: { id } });
  }
  const f = new Fields(body, id, KindNames[kind]);
  switch (kind) {
    case Kind.Register: {
      const versions = f.array('versions', 16);
      if (!versions.every(isUint)) throw invalid(id, 'Register.versions must hold integers');
      const message: Message = {
        kind,
        id: f.uint('id'),
        versions: versions as number[],
        clientName: f.string('clientName', 255),
        clientType: f.string('clientType', 64),
        user: f.string('user', 255),
        ...loginSecret(f, id, 'Register'),
      };
      const addp = f.optionalMap('addp');
      if (addp) {
        const a = new Fields(addp, id, 'Register.addp');
        const trace = addp.trace;
        if (trace !== undefined && trace !== 'off' && trace !== 'local' && trace !== 'remote' && trace !== 'both') {
          throw invalid(id, "Register.addp.trace must be 'off', 'local', 'remote' or 'both'");
        }
        message.addp = { localTimeoutMs: a.uint('localTimeoutMs'), remoteTimeoutMs: a.uint('remoteTimeoutMs'), trace };
      }
      const sessionId = f.optionalString('sessionId', 64);
      if (sessionId !== undefined) message.sessionId = sessionId;
      const session = f.optionalMap('session');
      if (session) {
        const s = new Fields(session, id, 'Register.session');
        message.session = {
          id: s.string('id', 64),
          lastSeq: s.uint('lastSeq'),
          lineage: lineage(session.lineage, id, 'Register.session.lineage'),
          ...chainField(session, id, 'Register.session'),
          subscriptions: s.array('subscriptions', MAX_SUBSCRIPTIONS).map((sub, i) => notificationFilter(sub, id, `Register.session.subscriptions[${i}]`)),
        };
      }
      return message;
    }
    case Kind.Registered:
      return {
        kind,
        id: f.uint('id'),
        version: f.uint('version'),
        sessionId: f.string('sessionId'),
        serverName: f.string('serverName'),
        serverKind: f.string('serverKind') as 'master' | 'proxy',
        serverRole: f.string('serverRole') as 'primary' | 'backup' | 'standalone',
        seq: f.uint('seq'),
        lineage: lineage(body.lineage, id, 'Registered.lineage'),
        ...chainField(body, id, 'Registered'),
        restored: f.boolean('restored'),
        ...(body.serverProof !== undefined ? { serverProof: f.string('serverProof', 64) } : {}),
        ...(body.memberName !== undefined ? { memberName: f.string('memberName', 255) } : {}),
      };
    case Kind.ReadObjects: {
      const message: Message = { kind, id: f.uint('id'), objectType: f.objectType('objectType') };
      if (body.filter !== undefined) message.filter = objectFilter(body.filter, id);
      return message;
    }
    case Kind.ObjectsChunk: {
      const message: Message = { kind, id: f.uint('id'), objects: f.array('objects', 1_000_000) as ConfigObject[] };
      if (body.credentials !== undefined) {
        const credentials = f.array('credentials', 1_000_000);
        if (!credentials.every((c) => Array.isArray(c) && c.length === 2 && isUint(c[0]) && typeof c[1] === 'string')) {
          throw invalid(id, 'ObjectsChunk.credentials must hold [dbid, hash] pairs');
        }
        message.credentials = credentials as Array<[number, string]>;
      }
      if (body.total !== undefined) message.total = f.uint('total');
      return message;
    }
    case Kind.ReadEnd:
      return { kind, id: f.uint('id'), total: f.uint('total'), seq: f.uint('seq'), lineage: lineage(body.lineage, id, 'ReadEnd.lineage'), ...chainField(body, id, 'ReadEnd') };
    case Kind.Subscribe: {
      const afterSeq = f.optionalUint('afterSeq');
      if (afterSeq === undefined) return { kind, id: f.uint('id'), filter: notificationFilter(body.filter, id, 'filter') };
      if (body.lineage === undefined) throw invalid(id, 'Subscribe with afterSeq needs the lineage that seq counts in');
      return { kind, id: f.uint('id'), filter: notificationFilter(body.filter, id, 'filter'), afterSeq, lineage: lineage(body.lineage, id, 'Subscribe.lineage'), ...chainField(body, id, 'Subscribe') };
    }
    case Kind.Unsubscribe:
      return { kind, id: f.uint('id'), filter: notificationFilter(body.filter, id, 'filter') };
    case Kind.Ack:
      return { kind, id: f.uint('id'), seq: f.uint('seq') };
    case Kind.Standby:
      return { kind, id: f.uint('id'), user: f.string('user', 255), ...loginSecret(f, id, 'Standby'), remoteTimeoutMs: f.uint('remoteTimeoutMs') };
    case Kind.ObjectCreated:
      return { kind, seq: f.uint('seq'), at: f.uint('at'), object: f.map('object') as unknown as ConfigObject, ...chainField(body, 0, 'ObjectCreated') };
    case Kind.ObjectUpdated: {
      const message: Message = { kind, seq: f.uint('seq'), at: f.uint('at'), type: f.objectType('type'), dbid: f.uint('dbid'), delta: f.map('delta') };
      if (body.object !== undefined) message.object = f.map('object') as unknown as ConfigObject;
      if (body.chain !== undefined) message.chain = chainField(body, 0, 'ObjectUpdated').chain;
      return message;
    }
    case Kind.ObjectDeleted: {
      const message: Message = { kind, seq: f.uint('seq'), at: f.uint('at'), type: f.objectType('type'), dbid: f.uint('dbid') };
      if (body.outOfView !== undefined) message.outOfView = f.boolean('outOfView');
      if (body.chain !== undefined) message.chain = chainField(body, 0, 'ObjectDeleted').chain;
      return message;
    }
    case Kind.CreateObject:
      return { kind, id: f.uint('id'), object: f.map('object') as unknown as NewObject, ...writeContext(f, body, id, 'CreateObject') };
    case Kind.UpdateObject:
      return { kind, id: f.uint('id'), type: f.objectType('type'), dbid: f.uint('dbid'), delta: f.map('delta'), ...writeContext(f, body, id, 'UpdateObject') };
    case Kind.DeleteObject:
      return { kind, id: f.uint('id'), type: f.objectType('type'), dbid: f.uint('dbid'), ...writeContext(f, body, id, 'DeleteObject') };
    case Kind.WriteResult:
      return { kind, id: f.uint('id'), seq: f.uint('seq'), dbid: f.uint('dbid') };
    case Kind.HistoryLogExpired:
      return { kind, lastSeq: f.uint('lastSeq'), oldestSeq: f.uint('oldestSeq'), seq: f.uint('seq'), lineage: lineage(body.lineage, 0, 'HistoryLogExpired.lineage'), ...chainField(body, 0, 'HistoryLogExpired') };
    case Kind.AddpPoll:
    case Kind.AddpReply:
      return { kind, n: f.uint('n') };
    case Kind.Error: {
      const message: Message = { kind, id: f.uint('id'), code: f.string('code', 64), message: f.string('message', 65536) };
      if (body.fatal !== undefined) message.fatal = f.boolean('fatal');
      if (body.details !== undefined) message.details = f.map('details') as Record<string, string | number | boolean>;
      return message;
    }
    case Kind.GetServerInfo:
      return { kind, id: f.uint('id') };
    case Kind.ServerInfo:
      return {
        kind,
        id: f.uint('id'),
        serverName: f.string('serverName'),
        serverKind: f.string('serverKind') as 'master' | 'proxy',
        serverRole: f.string('serverRole') as 'primary' | 'backup' | 'standalone',
        softwareVersion: f.string('softwareVersion'),
        seq: f.uint('seq'),
        lineage: lineage(body.lineage, id, 'ServerInfo.lineage'),
        uptimeMs: f.uint('uptimeMs'),
        ...(body.memberName !== undefined ? { memberName: f.string('memberName', 255) } : {}),
      };
    case Kind.LoadSnapshot:
      return { kind, id: f.uint('id') };
    case Kind.Position:
      return { kind, seq: f.uint('seq'), ...chainField(body, 0, 'Position') };
    case Kind.CredentialChanged:
      return { kind, seq: f.uint('seq'), dbid: f.uint('dbid'), hash: f.string('hash', 1024) };
    case Kind.Cancel:
    case Kind.BackupDatabase:
      return { kind, id: f.uint('id') };
    case Kind.BackupChunk: {
      const data = body.data;
      if (!(data instanceof Uint8Array)) throw invalid(id, 'BackupChunk.data must be binary');
      return { kind, id: f.uint('id'), data, size: f.uint('size') };
    }
    case Kind.BackupEnd:
      return { kind, id: f.uint('id'), size: f.uint('size'), seq: f.uint('seq'), lineage: lineage(body.lineage, id, 'BackupEnd.lineage') };
    case Kind.LoginStart:
      return { kind, id: f.uint('id'), user: f.string('user', 255), nonce: f.string('nonce', 64) };
    case Kind.LoginChallenge:
    {
      const message: Message = { kind, id: f.uint('id'), nonce: f.string('nonce', 128), salt: f.string('salt', 128), n: f.uint('n'), r: f.uint('r'), p: f.uint('p') };
      if (body.login !== undefined) {
        if (body.login !== 'password') throw invalid(id, "LoginChallenge.login must be 'password'");
        message.login = 'password';
      }
      return message;
    }
    default:
      throw new CfgError(ErrorCode.UNKNOWN_KIND, `unknown message kind ${kind}`, { details: { id } });
  }
}
