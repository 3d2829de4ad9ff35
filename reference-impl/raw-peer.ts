import net from 'node:net';
import { DEFAULT_MAX_FRAME_BYTES, type FrameDecoder, type FramingSpec, createFrameDecoder, decodeBody, encodeMessage, fpError } from '../protocol/index.js';

/**
 * A raw-bytes peer for the reference implementation's own tests: writes exact
 * bytes, reads frames with the protocol decoder, and reports a close or a
 * timeout as an event instead of throwing. Not part of the public API.
 */

/** What waiting for the next frame observed. */
export type PeerEvent =
  | { readonly type: 'frame'; readonly body: Buffer }
  | { readonly type: 'closed' }
  | { readonly type: 'timeout'; readonly afterMs: number };

export class RawPeer {
  /** Every byte received, in order. */
  readonly received: Buffer[] = [];
  /** Socket errors seen (e.g. ECONNRESET), by code. */
  readonly errors: string[] = [];
  private readonly frames: Buffer[] = [];
  private readonly decoder: FrameDecoder;
  private closed = false;
  private wake: (() => void) | undefined;

  private constructor(
    readonly socket: net.Socket,
    readonly framing: FramingSpec,
  ) {
    // Replies may be longer than the server's request limit (e.g. a FRAME_TOO_LARGE reply with maxFrameBytes 64).
    this.decoder = createFrameDecoder({ ...framing, maxFrameBytes: Math.max(framing.maxFrameBytes, DEFAULT_MAX_FRAME_BYTES) });
    socket.on('data', (chunk: Buffer) => {
      this.received.push(chunk);
      for (const ev of this.decoder.push(chunk)) if (ev.type === 'frame') this.frames.push(ev.body);
      this.notify();
    });
    socket.on('error', (err: NodeJS.ErrnoException) => this.errors.push(err.code ?? err.message));
    socket.on('close', () => {
      this.closed = true;
      this.notify();
    });
  }

  /** Connects to `socketPath`; rejects with the socket error. */
  static connect(socketPath: string, framing: FramingSpec): Promise<RawPeer> {
    return new Promise((resolve, reject) => {
      const socket = net.createConnection(socketPath);
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(new RawPeer(socket, framing));
      });
    });
  }

  /** True once the server closed the connection (or it was destroyed). */
  get isClosed(): boolean {
    return this.closed;
  }

  /** All bytes received so far. */
  get receivedBytes(): Buffer {
    return Buffer.concat(this.received);
  }

  /** Writes raw bytes. */
  write(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Encodes `value` as one frame of this peer's framing and writes it. */
  sendValue(value: unknown): void {
    this.socket.write(encodeMessage(this.framing, value));
  }

  /** The next complete frame, or `closed` / `timeout`. */
  async next(timeoutMs = 2_000): Promise<PeerEvent> {
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const body = this.frames.shift();
      if (body !== undefined) return { type: 'frame', body };
      if (this.closed) return { type: 'closed' };
      const left = deadline - Date.now();
      if (left <= 0) return { type: 'timeout', afterMs: timeoutMs };
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, left);
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
      this.wake = undefined;
    }
  }

  /** The next frame decoded as an object; throws on close or timeout. */
  async reply(timeoutMs = 2_000): Promise<Record<string, unknown>> {
    const ev = await this.next(timeoutMs);
    if (ev.type !== 'frame') throw fpError('FP_TIMEOUT', `expected a reply frame, got ${ev.type}`);
    const decoded = decodeBody(this.framing.codec, ev.body);
    if (!decoded.ok || typeof decoded.value !== 'object' || decoded.value === null) {
      throw fpError('FP_ENCODE', `reply frame did not decode to an object: ${decoded.ok ? typeof decoded.value : decoded.error}`);
    }
    return decoded.value as Record<string, unknown>;
  }

  /** Resolves true once the connection is closed, false after `timeoutMs`. */
  async waitClosed(timeoutMs = 2_000): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) return false;
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, Math.min(left, 20));
        this.wake = () => {
          clearTimeout(t);
          resolve();
        };
      });
    }
    return true;
  }

  /** Half-closes (FIN) the write side. */
  end(): void {
    this.socket.end();
  }

  /** Destroys the connection. */
  destroy(): void {
    this.socket.destroy();
  }

  private notify(): void {
    this.wake?.();
  }
}
