/**
 * Stable error codes: the table of PROTOCOL.md [PROTO-ERR-1]. Clients match on the code, never on
 * the message text. `fatal` codes mean the stream itself is unusable and the connection closes.
 */
export const ErrorCode = {
  // stream-fatal
  FRAME_TOO_LARGE: 'FRAME_TOO_LARGE',
  UNDECODABLE_FRAME: 'UNDECODABLE_FRAME',
  ADDP_TIMEOUT: 'ADDP_TIMEOUT',
  SLOW_CONSUMER: 'SLOW_CONSUMER',
  SERVER_SHUTTING_DOWN: 'SERVER_SHUTTING_DOWN',
  FRAME_TIMEOUT: 'FRAME_TIMEOUT',
  SEQ_GAP: 'SEQ_GAP',
  // handshake
  UNSUPPORTED_VERSION: 'UNSUPPORTED_VERSION',
  AUTH_FAILED: 'AUTH_FAILED',
  NOT_REGISTERED: 'NOT_REGISTERED',
  ALREADY_REGISTERED: 'ALREADY_REGISTERED',
  TOO_MANY_CLIENTS: 'TOO_MANY_CLIENTS',
  // request-scoped
  UNKNOWN_KIND: 'UNKNOWN_KIND',
  INVALID_MESSAGE: 'INVALID_MESSAGE',
  INVALID_OBJECT: 'INVALID_OBJECT',
  OBJECT_TOO_LARGE: 'OBJECT_TOO_LARGE',
  UNKNOWN_OBJECT: 'UNKNOWN_OBJECT',
  MISSING_REFERENCE: 'MISSING_REFERENCE',
  OBJECT_IN_USE: 'OBJECT_IN_USE',
  NAME_IN_USE: 'NAME_IN_USE',
  PERMISSION_DENIED: 'PERMISSION_DENIED',
  TOO_MANY_SUBSCRIPTIONS: 'TOO_MANY_SUBSCRIPTIONS',
  TOO_MANY_REQUESTS: 'TOO_MANY_REQUESTS',
  LOGIN_THROTTLED: 'LOGIN_THROTTLED',
  WEAK_CHALLENGE: 'WEAK_CHALLENGE',
  /** The account's directory (LDAP, RADIUS) could not be asked: not a wrong password [PROTO-HELLO-7]. */
  AUTH_UNAVAILABLE: 'AUTH_UNAVAILABLE',
  /** A directory password would travel over plain TCP [PROTO-HELLO-7]. */
  TLS_REQUIRED: 'TLS_REQUIRED',
  // proxy
  PROXY_LOADING: 'PROXY_LOADING',
  READ_ONLY: 'READ_ONLY',
  MASTER_UNAVAILABLE: 'MASTER_UNAVAILABLE',
  // warm-standby pair
  BACKUP_MODE: 'BACKUP_MODE',
  HA_MISMATCH: 'HA_MISMATCH',
  HA_AUTH_FAILED: 'HA_AUTH_FAILED',
  // one seq space [PROTO-LINEAGE-5]
  LINEAGE_MISMATCH: 'LINEAGE_MISMATCH',
  STORAGE_FAILED: 'STORAGE_FAILED',
  INTERNAL: 'INTERNAL',
  // client-side conditions, reported by the SDK
  CONNECTION_LOST: 'CONNECTION_LOST',
  REQUEST_TIMEOUT: 'REQUEST_TIMEOUT',
  CLIENT_CLOSED: 'CLIENT_CLOSED',
} as const;

export type ErrorCodeName = (typeof ErrorCode)[keyof typeof ErrorCode];

/** The one base error of the project: a stable code, a name, an optional cause. */
export class CfgError extends Error {
  override readonly name: string = 'CfgError';
  readonly code: ErrorCodeName;
  readonly details?: Record<string, string | number | boolean>;

  constructor(
    code: ErrorCodeName,
    message: string,
    options?: { cause?: unknown; details?: Record<string, string | number | boolean> },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.details = options?.details;
  }
}

/** A frame that cannot be read: the stream is unusable past it. */
export class ProtocolError extends CfgError {
  override readonly name = 'ProtocolError';
}
