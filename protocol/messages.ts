/**
 * Message kinds and their shapes: the wire contract of protocol/PROTOCOL.md.
 * Numbers travel on the wire, names are used in code. This file imports nothing of the project.
 */

/** Protocol versions this implementation speaks, newest last. [PROTO-HELLO-2] */
export const PROTOCOL_VERSIONS = [1] as const;

export const Kind = {
  Register: 1,
  Registered: 2,
  ReadObjects: 3,
  ObjectsChunk: 4,
  ReadEnd: 5,
  Subscribe: 6,
  Unsubscribe: 7,
  Ack: 8,
  ObjectCreated: 9,
  ObjectUpdated: 10,
  ObjectDeleted: 11,
  CreateObject: 12,
  UpdateObject: 13,
  DeleteObject: 14,
  WriteResult: 15,
  HistoryLogExpired: 16,
  AddpPoll: 17,
  AddpReply: 18,
  Error: 19,
  GetServerInfo: 20,
  ServerInfo: 21,
  LoadSnapshot: 22,
  CredentialChanged: 23,
  Position: 24,
  Standby: 25,
  Cancel: 26,
  BackupDatabase: 27,
  BackupChunk: 28,
  BackupEnd: 29,
  LoginStart: 30,
  LoginChallenge: 31,
} as const;

export type KindName = keyof typeof Kind;
export type KindNumber = (typeof Kind)[KindName];

export const KindNames: Readonly<Record<number, KindName>> = Object.fromEntries(
  Object.entries(Kind).map(([name, num]) => [num, name as KindName]),
);

/** Object types of the configuration model. [PROTO-OBJ-1] */
export const OBJECT_TYPES = [
  'Tenant',
  'Folder',
  'Host',
  'Application',
  'Person',
  'AccessGroup',
  'AgentGroup',
  'Place',
  'Switch',
  'DN',
  'AgentLogin',
  'Skill',
] as const;
export type ObjectType = (typeof OBJECT_TYPES)[number];

export type ObjectState = 'enabled' | 'disabled';
/** Named sections of key → string value, as in `options` and `annex`. */
export type Sections = Record<string, Record<string, string>>;
export type PropValue = string | number | boolean | number[] | PermissionGrant[];

/** A grant of read or change access, held by a Person or an AccessGroup. [PROTO-PERM-1] */
export interface PermissionGrant {
  on: 'type' | 'tenant' | 'folder';
  /** An object type name for `type`, a tenant or folder dbid otherwise. */
  target: string | number;
  access: 'read' | 'change';
}

/** A configuration object as it travels on the wire. [PROTO-OBJ-2] */
export interface ConfigObject {
  type: ObjectType;
  dbid: number;
  name: string;
  /** dbid of the owning Tenant, 0 for environment-level objects. */
  tenant: number;
  /** dbid of the Folder the object is filed in, 0 for none. */
  folder: number;
  state: ObjectState;
  props: Record<string, PropValue>;
  options: Sections;
  annex: Sections;
}

/** Sections patch: a section set to null is removed; a key set to null is removed. [PROTO-OBJ-4] */
export type SectionsDelta = Record<string, Record<string, string | null> | null>;

/** A change to an existing object: only what changed. [PROTO-OBJ-4] */
export interface ObjectDelta {
  name?: string;
  tenant?: number;
  folder?: number;
  state?: ObjectState;
  /** A property set to null is removed. */
  props?: Record<string, PropValue | null>;
  options?: SectionsDelta;
  annex?: SectionsDelta;
}

/** What a client creates: an object without its dbid (the server assigns it). */
export interface NewObject {
  type: ObjectType;
  name: string;
  tenant?: number;
  folder?: number;
  state?: ObjectState;
  props?: Record<string, PropValue>;
  options?: Sections;
  annex?: Sections;
}

/** Selects objects (reads) or changes (subscriptions). Empty means everything. [PROTO-READ-2] */
export interface ObjectFilter {
  dbid?: number;
  name?: string;
  tenant?: number;
  folder?: number;
  state?: ObjectState;
  /** Type-specific property equality, e.g. `{ number: '5001', switch: 12 }` for a DN. */
  props?: Record<string, string | number | boolean>;
}

/** A subscription: an object type (or all) and the same keys as a read filter. [PROTO-SUB-1] */
export interface NotificationFilter {
  type?: ObjectType;
  dbid?: number;
  tenant?: number;
  folder?: number;
}

export interface AddpSettings {
  /** How long the client lets the server be silent before it polls it (0 = off). */
  localTimeoutMs: number;
  /** How long the server lets the client be silent before it polls it (0 = off). */
  remoteTimeoutMs: number;
  trace?: 'off' | 'local' | 'remote' | 'both';
}

/**
 * Which seq space a seq belongs to [PROTO-LINEAGE-1]: the identity of the configuration database
 * (random, made with it) and its generation (raised whenever its seq space was discontinued: a
 * start from a backup copy, a reset by hand). Two seqs compare only within one lineage.
 */
export interface Lineage {
  id: string;
  generation: number;
}

export interface SessionToRestore {
  id: string;
  lastSeq: number;
  /** The lineage `lastSeq` belongs to [PROTO-LINEAGE-3]. */
  lineage: Lineage;
  /** The chain hash at `lastSeq`, when the client knows it: the history it stands on [PROTO-LINEAGE-7]. */
  chain?: string;
  subscriptions: NotificationFilter[];
}

export type ServerRole = 'primary' | 'backup' | 'standalone';
export type ServerKind = 'master' | 'proxy';

export interface RegisterMessage {
  kind: typeof Kind.Register;
  id: number;
  versions: number[];
  clientName: string;
  clientType: string;
  user: string;
  /**
   * The login [PROTO-HELLO-3, -5]: the password in the clear, or `proof` (base64) answering this
   * connection's LoginChallenge. Neither, on a standby connection already logged in as `user`.
   */
  password?: string;
  proof?: string;
  addp?: AddpSettings;
  session?: SessionToRestore;
  /**
   * Restore by id alone [PROTO-RESTORE-5]: the server takes the session's subscriptions and
   * position from its own records. Ignored when `session` is given.
   */
  sessionId?: string;
}

/**
 * Opens a standby connection [PROTO-STANDBY-1]: a client of a pair keeps one, unregistered, to
 * the member it would fail over to, so that a failover costs it a Register on an open connection
 * and no TCP connect. The credentials are checked now, so the Register later finds them verified.
 * Answered with Ack; a later Register on the same connection is as usual.
 */
export interface StandbyMessage {
  kind: typeof Kind.Standby;
  id: number;
  user: string;
  /** The password in the clear, or `proof` answering this connection's LoginChallenge [PROTO-HELLO-5]. */
  password?: string;
  proof?: string;
  /** How long the server lets the standby connection be silent before it polls it (0 = off). */
  remoteTimeoutMs: number;
}

export interface RegisteredMessage {
  kind: typeof Kind.Registered;
  id: number;
  version: number;
  sessionId: string;
  serverName: string;
  serverKind: ServerKind;
  serverRole: ServerRole;
  /** The server's current seq at the moment the session became live. */
  seq: number;
  /** The seq space `seq` belongs to [PROTO-LINEAGE-2]. */
  lineage: Lineage;
  /** The chain hash at `seq` [PROTO-LINEAGE-7] (absent where the server does not know it). */
  chain?: string;
  restored: boolean;
  /** After a login by proof: HMAC(serverKey, authMessage), base64, so the client knows the server held its verifier [PROTO-HELLO-5]. */
  serverProof?: string;
  /** A pool member's own name, when `serverName` is its pool's (`--cluster-name`) [PROTO-POOL-1]. */
  memberName?: string;
}

/**
 * Starts a challenge-response login [PROTO-HELLO-5]: the client names the user and a nonce, and
 * derives its key from the salt and cost the server answers with. The password never travels.
 */
export interface LoginStartMessage {
  kind: typeof Kind.LoginStart;
  id: number;
  user: string;
  /** The client's random nonce, base64. */
  nonce: string;
}

export interface LoginChallengeMessage {
  kind: typeof Kind.LoginChallenge;
  id: number;
  /** The client's nonce followed by the server's. */
  nonce: string;
  /** base64 */
  salt: string;
  /** scrypt's cost: N, r, p. */
  n: number;
  r: number;
  p: number;
  /**
   * `password`: the account logs in with its directory password (LDAP, RADIUS), which the server
   * checks itself; the client sends it in `Register.password`, over TLS only [PROTO-HELLO-7]. The
   * salt and cost are then a decoy's, for clients that do not know this field.
   */
  login?: 'password';
}

export interface ReadObjectsMessage {
  kind: typeof Kind.ReadObjects;
  id: number;
  objectType: ObjectType;
  filter?: ObjectFilter;
}

export interface ObjectsChunkMessage {
  kind: typeof Kind.ObjectsChunk;
  id: number;
  objects: ConfigObject[];
  /** Only in answers to LoadSnapshot: `[personDbid, passwordHash]` of the persons in this chunk. */
  credentials?: Array<[number, string]>;
  /** Only in answers to LoadSnapshot: how many objects the whole snapshot holds (for progress). */
  total?: number;
}

export interface ReadEndMessage {
  kind: typeof Kind.ReadEnd;
  id: number;
  total: number;
  /** The seq the read is a snapshot of. */
  seq: number;
  /** The seq space of `seq` [PROTO-LINEAGE-2]. */
  lineage: Lineage;
  /** The chain hash at `seq` [PROTO-LINEAGE-7]. */
  chain?: string;
}

export interface SubscribeMessage {
  kind: typeof Kind.Subscribe;
  id: number;
  filter: NotificationFilter;
  /**
   * Live from just after this seq, not from now [PROTO-SUB-5]: the server first sends what the
   * filter selects after it (a reader that loaded a snapshot at this seq follows on from it).
   * Only for a session's first subscription; `lineage` (and `chain`) say what history the seq is in.
   */
  afterSeq?: number;
  lineage?: Lineage;
  chain?: string;
}

export interface UnsubscribeMessage {
  kind: typeof Kind.Unsubscribe;
  id: number;
  filter: NotificationFilter;
}

export interface AckMessage {
  kind: typeof Kind.Ack;
  id: number;
  /** The server's seq when the request took effect. */
  seq: number;
}

export interface ObjectCreatedMessage {
  kind: typeof Kind.ObjectCreated;
  seq: number;
  /** Commit time, milliseconds since the epoch. */
  at: number;
  object: ConfigObject;
  /** The chain hash at `seq`, over the previous one and this frame without it [PROTO-LINEAGE-7]. */
  chain?: string;
}

export interface ObjectUpdatedMessage {
  kind: typeof Kind.ObjectUpdated;
  seq: number;
  at: number;
  type: ObjectType;
  dbid: number;
  delta: ObjectDelta;
  /**
   * The whole object after the change, present only when the update moved it to another tenant
   * or folder: a subscriber that only now sees the object has no base to apply the delta to.
   */
  object?: ConfigObject;
  /** The chain hash at `seq` [PROTO-LINEAGE-7]. */
  chain?: string;
}

export interface ObjectDeletedMessage {
  kind: typeof Kind.ObjectDeleted;
  seq: number;
  at: number;
  type: ObjectType;
  dbid: number;
  /** The object still exists but moved where this session may not read it [PROTO-SUB-2]. */
  outOfView?: boolean;
  /** The chain hash at `seq` [PROTO-LINEAGE-7]. */
  chain?: string;
}

export interface CreateObjectMessage {
  kind: typeof Kind.CreateObject;
  id: number;
  object: NewObject;
  /** From a proxy only: the person the proxy forwards the write for [PROTO-PROXY-4]. */
  onBehalfOf?: number;
  /** The lineage the write was made against; a server of another lineage refuses it [PROTO-LINEAGE-5]. */
  lineage?: Lineage;
}

export interface UpdateObjectMessage {
  kind: typeof Kind.UpdateObject;
  id: number;
  type: ObjectType;
  dbid: number;
  delta: ObjectDelta;
  /** From a proxy only: the person the proxy forwards the write for [PROTO-PROXY-4]. */
  onBehalfOf?: number;
  /** The lineage the write was made against; a server of another lineage refuses it [PROTO-LINEAGE-5]. */
  lineage?: Lineage;
}

export interface DeleteObjectMessage {
  kind: typeof Kind.DeleteObject;
  id: number;
  type: ObjectType;
  dbid: number;
  /** From a proxy only: the person the proxy forwards the write for [PROTO-PROXY-4]. */
  onBehalfOf?: number;
  /** The lineage the write was made against; a server of another lineage refuses it [PROTO-LINEAGE-5]. */
  lineage?: Lineage;
}

export interface WriteResultMessage {
  kind: typeof Kind.WriteResult;
  id: number;
  seq: number;
  dbid: number;
}

export interface HistoryLogExpiredMessage {
  kind: typeof Kind.HistoryLogExpired;
  /** The position the client asked to resume from. */
  lastSeq: number;
  /** The oldest seq the server can still replay from (lastSeq must be at least oldestSeq - 1). */
  oldestSeq: number;
  seq: number;
  /** The seq space the client is in from now on (it may differ from the one it presented). */
  lineage: Lineage;
  /** The chain hash at `seq` [PROTO-LINEAGE-7]. */
  chain?: string;
}

export interface AddpPollMessage {
  kind: typeof Kind.AddpPoll;
  n: number;
}

export interface AddpReplyMessage {
  kind: typeof Kind.AddpReply;
  n: number;
}

export interface ErrorMessage {
  kind: typeof Kind.Error;
  /** The request this answers; 0 when the error is about the stream itself. */
  id: number;
  code: string;
  message: string;
  /** True when the server closes the connection after this frame. */
  fatal?: boolean;
  details?: Record<string, string | number | boolean>;
}

export interface GetServerInfoMessage {
  kind: typeof Kind.GetServerInfo;
  id: number;
}

export interface ServerInfoMessage {
  kind: typeof Kind.ServerInfo;
  id: number;
  serverName: string;
  serverKind: ServerKind;
  serverRole: ServerRole;
  softwareVersion: string;
  seq: number;
  lineage: Lineage;
  uptimeMs: number;
  /** As in Registered [PROTO-POOL-1]. */
  memberName?: string;
}

/** A proxy loads the whole configuration it may see, with password hashes [PROTO-PROXY-2]. */
export interface LoadSnapshotMessage {
  kind: typeof Kind.LoadSnapshot;
  id: number;
}

/** To proxies only, just before the change of the same seq: a person's new password hash. */
export interface CredentialChangedMessage {
  kind: typeof Kind.CredentialChanged;
  seq: number;
  dbid: number;
  hash: string;
}

/**
 * To subscribers that received nothing lately while the server's seq moved on: every change up
 * to `seq` that the session selects has been sent, so its position (lastSeq) is `seq`.
 */
export interface PositionMessage {
  kind: typeof Kind.Position;
  seq: number;
  /** The chain hash at `seq` [PROTO-LINEAGE-7]. */
  chain?: string;
}

/**
 * Withdraws a request the client no longer waits for (a LoadSnapshot it gave up on) [PROTO-CANCEL-1].
 * No answer; a request already finished or unknown is ignored.
 */
export interface CancelMessage {
  kind: typeof Kind.Cancel;
  /** The id of the request to withdraw. */
  id: number;
}

/** Admin only: an online copy of the master's database, streamed back [PROTO-BACKUP-1]. */
export interface BackupDatabaseMessage {
  kind: typeof Kind.BackupDatabase;
  id: number;
}

export interface BackupChunkMessage {
  kind: typeof Kind.BackupChunk;
  id: number;
  /** The next bytes of the database file, in order. */
  data: Uint8Array;
  /** The file's size in bytes (for progress). */
  size: number;
}

export interface BackupEndMessage {
  kind: typeof Kind.BackupEnd;
  id: number;
  /** Bytes sent in all. */
  size: number;
  /** The seq and lineage the copy holds. */
  seq: number;
  lineage: Lineage;
}

export type Message =
  | RegisterMessage
  | RegisteredMessage
  | ReadObjectsMessage
  | ObjectsChunkMessage
  | ReadEndMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | AckMessage
  | ObjectCreatedMessage
  | ObjectUpdatedMessage
  | ObjectDeletedMessage
  | CreateObjectMessage
  | UpdateObjectMessage
  | DeleteObjectMessage
  | WriteResultMessage
  | HistoryLogExpiredMessage
  | AddpPollMessage
  | AddpReplyMessage
  | ErrorMessage
  | GetServerInfoMessage
  | ServerInfoMessage
  | LoadSnapshotMessage
  | CredentialChangedMessage
  | PositionMessage
  | StandbyMessage
  | CancelMessage
  | BackupDatabaseMessage
  | BackupChunkMessage
  | BackupEndMessage
  | LoginStartMessage
  | LoginChallengeMessage;

export type MessageOf<K extends KindNumber> = Extract<Message, { kind: K }>;

export type ChangeMessage = ObjectCreatedMessage | ObjectUpdatedMessage | ObjectDeletedMessage;
export type RequestMessage =
  | RegisterMessage
  | ReadObjectsMessage
  | SubscribeMessage
  | UnsubscribeMessage
  | CreateObjectMessage
  | UpdateObjectMessage
  | DeleteObjectMessage
  | GetServerInfoMessage
  | LoadSnapshotMessage
  | StandbyMessage
  | CancelMessage
  | BackupDatabaseMessage
  | LoginStartMessage;
