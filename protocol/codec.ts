/**
 * Framing [PROTO-FRAME-1..4]: `u32 big-endian body length | msgpack body`. Pure: no sockets,
 * timers or state beyond the decoder's partial frame.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { CfgError, ErrorCode, ProtocolError } from './errors.js';
import type { Message } from './messages.js';
import { validateMessage } from './validate.js';

export const FRAME_HEADER_BYTES = 4;
/** Default largest body accepted [PROTO-FRAME-2]. */
export const DEFAULT_MAX_FRAME_BYTES = 16 * 1024 * 1024;

// One Packr/Unpackr per process; records off so every frame stands alone and any msgpack
// implementation can read it [PROTO-FRAME-3].
const packr = new Packr({ useRecords: false, moreTypes: false, encodeUndefinedAsNil: false, variableMapSize: true });
const unpackr = new Unpackr({ useRecords: false, mapsAsObjects: true, int64AsType: 'number' });

/**
 * Encodes one message as a complete frame. The returned buffer is never reused by the encoder,
 * so it can be written to any number of sockets (encode once, [ARCH-4]).
 */
export function encodeFrame(message: Message | Record<string, unknown>): Buffer {
  // msgpackr leaves 4 bytes in front of the body, so the header costs no copy.
  const frame = packr.pack(message, RESERVE_START_SPACE | FRAME_HEADER_BYTES) as Buffer;
  frame.writeUInt32BE(frame.length - FRAME_HEADER_BYTES, 0);
  return frame;
}

/**
 * Decodes a msgpack body. Throws CfgError UNDECODABLE_FRAME: the framing is intact, so only this
 * frame is lost and the stream goes on [PROTO-FRAME-4].
 */
export function decodeBody(body: Uint8Array): unknown {
  try {
    return unpackr.unpack(body);
  } catch (error) {
    throw new CfgError(ErrorCode.UNDECODABLE_FRAME, `frame body is not valid msgpack: ${(error as Error).message}`, { cause: error });
  }
}

/** Decodes and validates one whole frame (header included). For tests and tools. */
export function decodeFrame(frame: Uint8Array): Message {
  if (frame.length < FRAME_HEADER_BYTES) throw new ProtocolError(ErrorCode.UNDECODABLE_FRAME, 'frame shorter than its header');
  const length = Buffer.from(frame.buffer, frame.byteOffset, frame.length).readUInt32BE(0);
  if (length !== frame.length - FRAME_HEADER_BYTES) {
    throw new CfgError(ErrorCode.UNDECODABLE_FRAME, `frame header says ${length} bytes, body has ${frame.length - FRAME_HEADER_BYTES}`);
  }
  return validateMessage(decodeBody(frame.subarray(FRAME_HEADER_BYTES)));
}

/** Turns a decoded body into a typed message of one message set, or throws CfgError. */
export type Validator<M> = (body: unknown) => M;

/** Where a FrameDecoder delivers what it reads. */
export interface FrameSink<M = Message> {
  onMessage(message: M): void;
  /** A frame was read but is not a valid message: the stream goes on; answer the request. */
  onInvalidMessage(error: CfgError): void;
  /** The stream is unusable (a frame too large to read past); nothing more will be delivered. */
  onProtocolError(error: ProtocolError): void;
}

/**
 * Incremental frame decoder. The size is checked from the header before the body is buffered,
 * so an oversized frame costs four bytes of memory [PROTO-FRAME-2]. Frames are first split, then
 * dispatched: an exception thrown by the sink propagates to the caller of `push` but cannot leave
 * the decoder in the middle of a frame.
 */
export class FrameDecoder<M = Message> {
  private pending: Buffer | null = null;
  private failed = false;

  constructor(
    private readonly sink: FrameSink<M>,
    private readonly maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    private readonly validate: Validator<M> = validateMessage as unknown as Validator<M>,
  ) {}

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.pending?.length ?? 0;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    const data = this.pending ? Buffer.concat([this.pending, chunk]) : chunk;
    this.pending = null;
    const bodies: Buffer[] = [];
    let offset = 0;
    let fatal: ProtocolError | null = null;
    while (data.length - offset >= FRAME_HEADER_BYTES) {
      const length = data.readUInt32BE(offset);
      if (length > this.maxFrameBytes) {
        fatal = new ProtocolError(
          ErrorCode.FRAME_TOO_LARGE,
          `frame of ${formatBytes(length)} exceeds maxFrameBytes (${formatBytes(this.maxFrameBytes)}): raise --max-frame-bytes or split the request`,
          { details: { length, maxFrameBytes: this.maxFrameBytes } },
        );
        break;
      }
      if (data.length - offset - FRAME_HEADER_BYTES < length) break;
      bodies.push(data.subarray(offset + FRAME_HEADER_BYTES, offset + FRAME_HEADER_BYTES + length));
      offset += FRAME_HEADER_BYTES + length;
    }
    if (!fatal && offset < data.length) {
      // Copy the tail so a large socket chunk is not kept alive by a small partial frame.
      this.pending = Buffer.from(data.subarray(offset));
    }
    for (const body of bodies) {
      let message: M;
      try {
        message = this.validate(decodeBody(body));
      } catch (error) {
        if (!(error instanceof CfgError)) throw error;
        this.sink.onInvalidMessage(error);
        if (this.failed) return;
        continue;
      }
      this.sink.onMessage(message);
      if (this.failed) return;
    }
    if (fatal) {
      this.failed = true;
      this.pending = null;
      this.sink.onProtocolError(fatal);
    }
  }

  /** Stops delivering: used when the connection is being closed. */
  stop(): void {
    this.failed = true;
    this.pending = null;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(bytes % 1024 === 0 ? 0 : 1)} KB`;
  return `${bytes} B`;
}
