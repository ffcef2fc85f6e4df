import type { Socket } from 'node:net';
import {
  CfgError,
  DEFAULT_MAX_FRAME_BYTES,
  DEFAULT_TOO_LARGE_HINT,
  encodeFrame,
  ErrorCode,
  FrameDecoder,
  formatBytes,
  Kind,
  type ErrorCodeName,
  type Message,
  type OversizedFrames,
  type Validator,
  type ProtocolError,
} from '../../protocol/index.js';
import { AddpMonitor } from './addp.js';
import { systemClock, type Clock } from '../util/clock.js';

export interface ConnectionLimits {
  /** Largest frame body accepted from the peer once it has authenticated. */
  maxFrameBytes: number;
  /** Bytes queued towards the peer past which it is cut off as a slow consumer [ARCH-5]. */
  maxOutboundBytes: number;
  /** How long a full socket may stay full before the peer is cut off. */
  drainTimeoutMs: number;
  /** A frame that has started must end within this long (0: no deadline); a slow frame is a slowloris. */
  frameTimeoutMs?: number;
}

export const DEFAULT_CONNECTION_LIMITS: ConnectionLimits = {
  maxFrameBytes: DEFAULT_MAX_FRAME_BYTES,
  maxOutboundBytes: 64 * 1024 * 1024,
  drainTimeoutMs: 30_000,
  frameTimeoutMs: 60_000,
};

/** Largest frame a peer may send before it has authenticated [ARCH-8]. */
export const DEFAULT_UNAUTHENTICATED_FRAME_BYTES = 64 * 1024;

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
  /** The exception behind an INTERNAL close (a bug in a handler), for the log. */
  error?: unknown;
}

/** What a connection delivers to the layer above it: one narrow interface, as nats.js does. */
export interface ConnectionHandler<M = Message> {
  onMessage(message: M): void;
  onInvalidMessage(error: CfgError): void;
  onClose(reason: CloseReason): void;
}

export interface ConnectionOptions<M> {
  limits?: ConnectionLimits;
  validate?: Validator<M>;
  /** A server closes on an oversized frame; a client skips it and reports it. */
  oversized?: OversizedFrames;
  /** Until `authenticated()`, frames above this many bytes are refused (a server's first frames). */
  unauthenticatedFrameBytes?: number;
  clock?: Clock;
}

/**
 * A framed connection: one decoder on the way in, one batched write path on the way out, and the
 * link's keepalive. Frames written in one event-loop turn leave joined in one socket write, so a
 * burst of changes costs each subscriber one syscall, not one per change [ARCH-4]. It answers the
 * peer's AddpPoll itself and polls a silent peer when asked to [PROTO-ADDP-2]; polls and replies
 * never reach the handler. A handler that throws closes this connection with INTERNAL (the error
 * travels in the close reason) and nothing else: the process and every other connection go on.
 */
export class Connection<M extends { kind: number } = Message> {
  /** When bytes last arrived, on the connection's clock; any frame counts as activity [PROTO-ADDP-3]. */
  lastReceivedAt: number;

  /** How long the peer has sent nothing, on the connection's clock. */
  silentForMs(): number {
    return this.clock.now() - this.lastReceivedAt;
  }

  /** Whether a whole frame ever arrived: a peer that closes before one may not speak this protocol at all. */
  heardFrame = false;
  readonly remoteAddress: string;
  private handler: ConnectionHandler<M> | null = null;
  private readonly decoder: FrameDecoder<M>;
  private readonly limits: ConnectionLimits;
  private readonly clock: Clock;
  private outbox: Buffer[] = [];
  private outboxBytes = 0;
  private flushScheduled = false;
  private drainTimer: unknown = null;
  private drainWaiters: Array<() => void> = [];
  private state: 'open' | 'closing' | 'closed' = 'open';
  private keepalive: AddpMonitor | null = null;
  private frameTimer: unknown = null;

  constructor(
    readonly socket: Socket,
    options: ConnectionOptions<M> = {},
  ) {
    this.limits = options.limits ?? DEFAULT_CONNECTION_LIMITS;
    this.clock = options.clock ?? systemClock;
    this.lastReceivedAt = this.clock.now();
    this.remoteAddress = `${socket.remoteAddress ?? '?'}:${socket.remotePort ?? '?'}`;
    socket.setNoDelay(true);
    this.decoder = new FrameDecoder<M>(
      {
        // Alive means frames arrive, not bytes: a link that carries bytes but completes no frame
        // within the keepalive timeout (a middlebox losing data mid-frame) is dead [PROTO-ADDP-5].
        onMessage: (message) => {
          this.lastReceivedAt = this.clock.now();
          this.heardFrame = true;
          this.dispatch(message);
        },
        onInvalidMessage: (error) => {
          this.lastReceivedAt = this.clock.now();
          this.handler?.onInvalidMessage(error);
        },
        onProtocolError: (error: ProtocolError) => this.close({ code: error.code, message: error.message }),
      },
      options.unauthenticatedFrameBytes ?? this.limits.maxFrameBytes,
      options.validate,
      options.oversized ?? 'fatal',
    );
    if (options.unauthenticatedFrameBytes !== undefined) this.decoder.tooLargeHint = 'log in first (Register, Standby or the HA Hello): until then frames are this small';
    socket.on('data', (chunk: Buffer) => this.receive(chunk));
    socket.on('drain', () => this.onDrain());
    socket.on('error', (error) => this.finish({ message: error.message, local: false, code: ErrorCode.CONNECTION_LOST }));
    socket.on('close', () => this.finish({ message: 'connection closed by peer', local: false }));
  }

  /** The peer has authenticated: its frames may now be as large as the limits allow. */
  authenticated(): void {
    this.decoder.maxFrameBytes = this.limits.maxFrameBytes;
    this.decoder.tooLargeHint = DEFAULT_TOO_LARGE_HINT;
  }

  /**
   * Polls the peer after `timeoutMs` of silence and drops it when a poll goes unanswered for as
   * long [PROTO-ADDP-2, -3]; 0 turns it off. `trace` receives a line per poll [PROTO-ADDP-4].
   */
  startKeepalive(timeoutMs: number, trace?: (line: string) => void, isAlive?: () => boolean): void {
    this.keepalive?.stop();
    this.keepalive = null;
    if (timeoutMs <= 0 || this.state !== 'open') return;
    this.keepalive = new AddpMonitor(
      timeoutMs,
      {
        // A reader that paused the socket cannot see the peer's frames: it counts as alive.
        lastReceivedAt: () => (isAlive?.() ? this.clock.now() : this.lastReceivedAt),
        sendPoll: (n) => this.send({ kind: Kind.AddpPoll, n } as unknown as M),
        onTimeout: (silentForMs) => this.destroy({ code: ErrorCode.ADDP_TIMEOUT, message: `peer silent for ${Math.round(silentForMs)} ms`, local: true }),
        trace,
      },
      this.clock,
    );
    this.keepalive.start();
  }

  private receive(chunk: Buffer): void {
    try {
      this.decoder.push(chunk);
    } catch (error) {
      this.destroy({ code: ErrorCode.INTERNAL, message: `internal error while handling a frame: ${(error as Error).message}`, local: true, error });
      return;
    }
    this.watchFrameDeadline();
  }

  /** A frame that started must end in time: a peer trickling one frame forever holds its buffer. */
  private watchFrameDeadline(): void {
    const deadlineMs = this.limits.frameTimeoutMs ?? 0;
    if (!this.decoder.inFrame || this.state !== 'open') {
      if (this.frameTimer !== null) this.clock.clearTimeout(this.frameTimer);
      this.frameTimer = null;
      return;
    }
    if (deadlineMs <= 0 || this.frameTimer !== null) return;
    this.frameTimer = this.clock.setTimeout(() => {
      this.frameTimer = null;
      if (this.decoder.inFrame) this.destroy({ code: ErrorCode.FRAME_TIMEOUT, message: `a frame did not complete within ${deadlineMs} ms`, local: true });
    }, deadlineMs);
  }

  private dispatch(message: M): void {
    if (message.kind === Kind.AddpPoll) {
      this.send({ kind: Kind.AddpReply, n: (message as unknown as { n: number }).n } as unknown as M);
      return;
    }
    if (message.kind === Kind.AddpReply) return; // its arrival already counted as activity
    this.handler?.onMessage(message);
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
    if (this.outboxBytes + frame.length + this.socket.writableLength > this.limits.maxOutboundBytes) {
      this.cutOff(`more than ${formatBytes(this.limits.maxOutboundBytes)} queued for this client`);
      return false;
    }
    this.enqueue(frame);
    return true;
  }

  /** The one way into the outbox: the frame list and its byte count move together. */
  private enqueue(frame: Buffer): void {
    this.outbox.push(frame);
    this.outboxBytes += frame.length;
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      scheduleFlush(this);
    }
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
    if (error) this.enqueue(encodeFrame({ kind: Kind.Error, id: 0, code: error.code, message: error.message, fatal: true }));
    this.flush();
    this.state = 'closing';
    this.stopTimers();
    this.decoder.stop();
    this.socket.end();
    // A peer that never reads would hold the socket half-open forever.
    systemClock.setTimeout(() => this.socket.destroy(), 2000);
    this.finish({ code: error?.code, message: error?.message ?? 'closed', local: true });
  }

  /** Drops the connection at once, without flushing (the peer is gone or hopelessly behind). */
  destroy(reason: CloseReason): void {
    this.stopTimers();
    this.decoder.stop();
    this.outbox = [];
    this.outboxBytes = 0;
    this.socket.destroy();
    this.finish(reason);
  }

  /**
   * A slow consumer: what is still queued here is dropped (it is restorable from the history
   * log), and the SLOW_CONSUMER frame goes out alone so the client learns why; one that does not
   * even read that is dropped shortly after.
   */
  private cutOff(why: string): void {
    const message = `slow consumer cut off: ${why}`;
    this.outbox = [];
    this.outboxBytes = 0;
    this.state = 'closing';
    this.stopTimers();
    this.decoder.stop();
    this.socket.end(encodeFrame({ kind: Kind.Error, id: 0, code: ErrorCode.SLOW_CONSUMER, message, fatal: true }));
    systemClock.setTimeout(() => this.socket.destroy(), 2000);
    this.finish({ code: ErrorCode.SLOW_CONSUMER, message, local: true });
  }

  private stopTimers(): void {
    this.keepalive?.stop();
    this.keepalive = null;
    if (this.frameTimer !== null) this.clock.clearTimeout(this.frameTimer);
    this.frameTimer = null;
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
      this.drainTimer = systemClock.setTimeout(
        () => this.cutOff(`socket stayed full for ${this.limits.drainTimeoutMs} ms`),
        this.limits.drainTimeoutMs,
      );
    }
  }

  private onDrain(): void {
    if (this.drainTimer) {
      systemClock.clearTimeout(this.drainTimer);
      this.drainTimer = null;
    }
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const waiter of waiters) waiter();
  }

  private finish(reason: CloseReason): void {
    if (this.state === 'closed') return;
    this.state = 'closed';
    this.stopTimers();
    if (this.drainTimer) systemClock.clearTimeout(this.drainTimer);
    this.drainTimer = null;
    this.onDrain();
    const handler = this.handler;
    this.handler = null;
    handler?.onClose(reason);
  }
}

