/**
 * Framing [PROTO-FRAME-1..4]: `u32 big-endian body length | msgpack body`. Pure: no sockets,
 * timers or state beyond the decoder's partial frame.
 */
import { Packr, RESERVE_START_SPACE, Unpackr } from 'msgpackr';
import { CfgError, ErrorCode, ProtocolError } from './errors.js';
import type { Message } from './messages.js';
import { DEFAULT_SHAPE_LIMITS, msgpackShapeError, type ShapeLimits } from './msgpack-shape.js';
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
  // The frame is a view into msgpackr's buffer, which grows to four times the largest message it
  // ever packed and is then shared by the frames after it: a kept frame (the history log keeps
  // thousands) would pin megabytes. Once that buffer has grown, frames get their own memory.
  return frame.buffer.byteLength > SHARED_TARGET_BYTES ? Buffer.from(frame) : frame;
}

/** msgpackr starts with 8 KiB; a larger buffer means a large message passed through. */
const SHARED_TARGET_BYTES = 64 * 1024;

/**
 * Decodes a msgpack body, after a walk that refuses extension types, unsafe integers and bodies
 * too deep or too many-valued to decode cheaply (msgpack-shape.ts). Throws CfgError
 * UNDECODABLE_FRAME: the framing is intact, so only this frame is lost and the stream goes on
 * [PROTO-FRAME-3, PROTO-FRAME-4].
 */
export function decodeBody(body: Uint8Array, limits: ShapeLimits = DEFAULT_SHAPE_LIMITS): unknown {
  const refusal = msgpackShapeError(body, limits);
  if (refusal) throw new CfgError(ErrorCode.UNDECODABLE_FRAME, `frame body refused: ${refusal}`);
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

export const DEFAULT_TOO_LARGE_HINT = 'raise --max-frame-bytes or split the request';

/** What a decoder does with a frame above its limit. */
export type OversizedFrames = 'fatal' | 'skip';

/**
 * Incremental frame decoder. The size is checked from the header before the body is buffered
 * [PROTO-FRAME-2]: a server closes the stream ('fatal'); a client, which trusts its server's
 * framing, skips the frame's bytes without holding them and reports it ('skip'), so one
 * oversized notification cannot make it loop reconnecting. A body is assembled in one buffer that
 * grows by doubling up to the declared length, so a frame costs time linear in its size and a
 * stalled partial frame holds at most twice what arrived. Frames are split first, then dispatched:
 * an exception thrown by the sink cannot leave the decoder in the middle of a frame, and the other
 * frames of the chunk are still delivered; the first exception is rethrown after them.
 */
export class FrameDecoder<M = Message> {
  private readonly header = Buffer.alloc(FRAME_HEADER_BYTES);
  private headerFill = 0;
  private body: Buffer | null = null;
  private bodyLength = 0;
  private bodyFill = 0;
  private skipLeft = 0;
  private failed = false;
  /** Largest body accepted; a connection raises it once its peer has authenticated. */
  maxFrameBytes: number;
  /** What the FRAME_TOO_LARGE message tells the sender to do. */
  tooLargeHint = DEFAULT_TOO_LARGE_HINT;
  shapeLimits: ShapeLimits = DEFAULT_SHAPE_LIMITS;

  constructor(
    private readonly sink: FrameSink<M>,
    maxFrameBytes = DEFAULT_MAX_FRAME_BYTES,
    private readonly validate: Validator<M> = validateMessage as unknown as Validator<M>,
    private readonly oversized: OversizedFrames = 'fatal',
  ) {
    this.maxFrameBytes = maxFrameBytes;
  }

  /** Bytes held for an incomplete frame. */
  get bufferedBytes(): number {
    return this.body?.length ?? 0;
  }

  /** True while a frame has started and not ended (for a deadline on slow frames). */
  get inFrame(): boolean {
    return this.headerFill > 0 || this.body !== null || this.skipLeft > 0;
  }

  push(chunk: Buffer): void {
    if (this.failed) return;
    const bodies: Buffer[] = [];
    const problems: CfgError[] = [];
    let fatal: ProtocolError | null = null;
    let offset = 0;
    while (offset < chunk.length && !fatal) {
      if (this.skipLeft > 0) {
        const skipped = Math.min(this.skipLeft, chunk.length - offset);
        this.skipLeft -= skipped;
        offset += skipped;
        continue;
      }
      if (this.body === null) {
        const take = Math.min(FRAME_HEADER_BYTES - this.headerFill, chunk.length - offset);
        chunk.copy(this.header, this.headerFill, offset, offset + take);
        this.headerFill += take;
        offset += take;
        if (this.headerFill < FRAME_HEADER_BYTES) break;
        this.headerFill = 0;
        const length = this.header.readUInt32BE(0);
        if (length > this.maxFrameBytes) {
          const error = new ProtocolError(
            ErrorCode.FRAME_TOO_LARGE,
            `frame of ${formatBytes(length)} exceeds maxFrameBytes (${formatBytes(this.maxFrameBytes)}): ${this.tooLargeHint}`,
            { details: { length, maxFrameBytes: this.maxFrameBytes } },
          );
          if (this.oversized === 'fatal') fatal = error;
          else {
            this.skipLeft = length;
            problems.push(error);
          }
          continue;
        }
        // A whole body in this chunk is used in place; otherwise it is assembled in its own buffer.
        if (chunk.length - offset >= length) {
          bodies.push(chunk.subarray(offset, offset + length));
          offset += length;
          continue;
        }
        this.bodyLength = length;
        this.bodyFill = 0;
        this.body = Buffer.allocUnsafe(Math.min(length, Math.max(64 * 1024, (chunk.length - offset) * 2)));
      }
      const take = Math.min(this.bodyLength - this.bodyFill, chunk.length - offset);
      if (this.bodyFill + take > this.body.length) {
        const grown = Buffer.allocUnsafe(Math.min(this.bodyLength, Math.max(this.body.length * 2, this.bodyFill + take)));
        this.body.copy(grown, 0, 0, this.bodyFill);
        this.body = grown;
      }
      chunk.copy(this.body, this.bodyFill, offset, offset + take);
      this.bodyFill += take;
      offset += take;
      if (this.bodyFill === this.bodyLength) {
        bodies.push(this.body.subarray(0, this.bodyLength));
        this.body = null;
      }
    }
    // Bodies that point into `chunk` are decoded now, before the socket reuses nothing of ours.
    let thrown: { error: unknown } | undefined;
    const deliver = (action: () => void): void => {
      try {
        action();
      } catch (error) {
        thrown ??= { error };
      }
    };
    for (const problem of problems) deliver(() => this.sink.onInvalidMessage(problem));
    for (const body of bodies) {
      if (this.failed) break;
      let message: M;
      try {
        message = this.validate(decodeBody(body, this.shapeLimits));
      } catch (error) {
        if (!(error instanceof CfgError)) throw error;
        deliver(() => this.sink.onInvalidMessage(error));
        continue;
      }
      deliver(() => this.sink.onMessage(message));
    }
    if (fatal && !this.failed) {
      this.failed = true;
      this.body = null;
      deliver(() => this.sink.onProtocolError(fatal!));
    }
    if (thrown) throw thrown.error;
  }

  /** Stops delivering: used when the connection is being closed. */
  stop(): void {
    this.failed = true;
    this.body = null;
  }
}

export function formatBytes(bytes: number): string {
  if (bytes >= 1024 * 1024) return `${(bytes / (1024 * 1024)).toFixed(bytes % (1024 * 1024) === 0 ? 0 : 1)} MB`;
  if (bytes >= 1024) return `${(bytes / 1024).toFixed(bytes % 1024 === 0 ? 0 : 1)} KB`;
  return `${bytes} B`;
}
