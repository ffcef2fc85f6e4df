import type { Socket } from 'node:net';
import {
  CfgError,
  DEFAULT_MAX_FRAME_BYTES,
  encodeFrame,
  ErrorCode,
  FrameDecoder,
  formatBytes,
  Kind,
  type ErrorCodeName,
  type Message,
  type Validator,
  type ProtocolError,
} from '../../protocol/index.js';

export interface ConnectionLimits {
  /** Largest frame body accepted from the peer. */
  maxFrameBytes: number;
  /** Bytes queued towards the peer past which it is cut off as a slow consumer [ARCH-5]. */
  maxOutboundBytes: number;
  /** How long a full socket may stay full before the peer is cut off. */
  drainTimeoutMs: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxOutboundBytes: 64 * 1024 * 1024,
  drainTimeoutMs: 30_000,
};

/**
 * Connections with frames queued this turn, flushed together by one setImmediate: fan-out to
 * thousands of sockets schedules one callback, not one per socket [ARCH-4].
 */
let dirty: Array<{ flush(): void }> = [];

function scheduleFlush(connection: { flush(): void }): void {
  if (dirty.length === 0) setImmediate(flushDirty);
  dirty.push(connection);
}

function flushDirty(): void {
  const connections = dirty;
  dirty = [];
  for (const connection of connections) connection.flush();
}

/** Writes every connection's queued frames now (the fan-out calls it after a batch). */
export function flushPendingWrites(): void {
  if (dirty.length > 0) flushDirty();
}

/** Why a connection ended; `code` is absent for an orderly close by either side. */
export interface CloseReason {
  code?: ErrorCodeName;
  message: string;
  /** True when this side decided to close. */
  local: boolean;
}

/** What a connection delivers to the layer above it: one narrow interface, as nats.js does. */
export interface ConnectionHandler<M = Message> {
  onMessage(message: M): void;
  onInvalidMessage(error: CfgError): void;
  onClose(reason: CloseReason): void;
}

/**
 * A framed connection: one decoder on the way in, one batched write path on the way out.
 * Frames written in one event-loop turn leave joined in one socket write, so a burst of
 * changes costs each subscriber one syscall, not one per change [ARCH-4].
 */
export class Connection<M extends { kind: number } = Message> {
  /** performance.now() of the last bytes received; any frame counts as activity [PROTO-ADDP-3]. */
  lastReceivedAt = performance.now();
  readonly remoteAddress: string;
  private handler: ConnectionHandler<M> | null = null;
  private readonly decoder: FrameDecoder<M>;
  private outbox: Buffer[] = [];
  private outboxBytes = 0;
  private flushScheduled = false;
  private drainTimer: NodeJS.Timeout | null = null;
  private drainWaiters: Array<() => void> = [];
  private state: 'open' | 'closing' | 'closed' = 'open';

  constructor(
    readonly socket: Socket,
    private readonly limits: ConnectionLimits = DEFAULT_CONNECTION_LIMITS,
    validate?: Validator<M>,
  ) {
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    this.decoder = new FrameDecoder<M>(
      {
        onMessage: (message) => this.handler?.onMessage(message),
        onInvalidMessage: (error) => this.handler?.onInvalidMessage(error),
        onProtocolError: (error: ProtocolError) => this.close({ code: error.code, message: error.message }),
      },
      limits.maxFrameBytes,
      validate,
    );
    socket.on('data', (chunk: Buffer) => {
      this.lastReceivedAt = performance.now();
      this.decoder.push(chunk);
    });
    socket.on('drain', () => this.onDrain());
    socket.on('error', (error) => this.finish({ message: error.message, local: false, code: ErrorCode.CONNECTION_LOST }));
    socket.on('close', () => this.finish({ message: 'connection closed by peer', local: false }));
  }

  get isOpen(): boolean {
    return this.state === 'open';
  }

  /** Bytes written but not yet accepted by the kernel. */
  get queuedBytes(): number {
    return this.outboxBytes + this.socket.writableLength;
  }

  setHandler(handler: ConnectionHandler<M>): void {
    this.handler = handler;
  }

  send(message: M): boolean {
    return this.writeFrame(encodeFrame(message));
  }

  /**
   * Queues an encoded frame; the same buffer may go to many connections. Returns false when the
   * connection is closed or was just cut off for being too far behind.
   */
  writeFrame(frame: Buffer): boolean {
    if (this.state !== 'open') return false;
    this.outboxBytes += frame.length;
    if (this.outboxBytes + this.socket.writableLength > this.limits.maxOutboundBytes) {
      this.cutOff(`more than ${formatBytes(this.limits.maxOutboundBytes)} queued for this client`);
      return false;
    }
    this.outbox.push(frame);
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      scheduleFlush(this);
    }
    return true;
  }

  /** Resolves once queued bytes fall below `bytes` (for paced streams such as big reads). */
  waitUntilQueuedBelow(bytes: number): Promise<void> {
    if (this.queuedBytes < bytes || this.state !== 'open') return Promise.resolve();
    return new Promise((resolve) => {
      const check = (): void => {
        if (this.queuedBytes < bytes || this.state !== 'open') resolve();
        else this.drainWaiters.push(check);
      };
      this.drainWaiters.push(check);
    });
  }

  /**
   * Closes the connection. With an error, a best-effort Error frame (id 0, fatal) goes first
   * [PROTO-ERR-2]; queued frames are flushed before the socket ends.
   */
  close(error?: { code: ErrorCodeName; message: string }): void {
    if (this.state !== 'open') return;
    if (error) {
      this.outbox.push(encodeFrame({ kind: Kind.Error, id: 0, code: error.code, message: error.message, fatal: true }));
    }
    this.flush();
    this.state = 'closing';
    this.decoder.stop();
    this.socket.end();
    // A peer that never reads would hold the socket half-open forever.
    const timer = setTimeout(() => this.socket.destroy(), 2000);
    timer.unref();
    this.finish({ code: error?.code, message: error?.message ?? 'closed', local: true });
  }

  /** Drops the connection at once, without flushing (the peer is gone or hopelessly behind). */
  destroy(reason: CloseReason): void {
    this.decoder.stop();
    this.outbox = [];
    this.outboxBytes = 0;
    this.socket.destroy();
    this.finish(reason);
  }

  private cutOff(why: string): void {
    this.destroy({ code: ErrorCode.SLOW_CONSUMER, message: `slow consumer cut off: ${why}`, local: true });
  }

  /** Writes what the turn queued: one socket write, whatever the number of frames. */
  flush(): void {
    this.flushScheduled = false;
    if (this.state === 'closed' || this.outbox.length === 0) return;
    const frames = this.outbox;
    const bytes = this.outboxBytes;
    this.outbox = [];
    this.outboxBytes = 0;
    // One write of a joined buffer costs far less than a write per frame: the copy of a few
    // hundred bytes per frame is cheap next to the per-write work of the stream and the kernel.
    const accepted = this.socket.write(frames.length === 1 ? frames[0] : Buffer.concat(frames, bytes));
    // The kernel took it all: a paced stream waiting for room can go on (no 'drain' will come).
    if (accepted && this.drainWaiters.length > 0) this.onDrain();
    if (!accepted && this.drainTimer === null && this.limits.drainTimeoutMs > 0) {
      this.drainTimer = setTimeout(
        () => this.cutOff(`socket stayed full for ${this.limits.drainTimeoutMs} ms`),
        this.limits.drainTimeoutMs,
      );
      this.drainTimer.unref();
    }
  }

  private onDrain(): void {
    if (this.drainTimer) {
      clearTimeout(this.drainTimer);
      this.drainTimer = null;
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private finish(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    if (this.drainTimer) clearTimeout(this.drainTimer);
    this.drainTimer = null;
    this.onDrain();
    const handler = this.handler;
    this.handler = null;
    handler?.onClose(reason);
  }
}

