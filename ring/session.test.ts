import { existsSync } from 'node:fs';
import { describe, expect, it, onTestFinished } from 'vitest';
import { type FastMessage } from '../protocol/index.js';
import { RingWord } from './layout.js';
import { type IncomingMessage } from './message-channel.js';
import { type CreatedRingPair, RingSession, createRingPair, openRingSegment } from './session.js';

/** Both ends of a session in one process, over real /dev/shm segments. */
function sessionPair(capacityBytes = 1 << 16): { pair: CreatedRingPair; client: RingSession; server: RingSession } {
  const pair = createRingPair(capacityBytes);
  const request = openRingSegment(pair.names.requestRing, capacityBytes);
  const response = openRingSegment(pair.names.responseRing, capacityBytes);
  const client = RingSession.client(pair, { wait: { strategy: 'futex' } });
  const server = RingSession.server(request, response, { wait: { strategy: 'futex' } });
  return { pair, client, server };
}

function closeAll(s: { pair: CreatedRingPair; client: RingSession; server: RingSession }): void {
  s.client.close();
  s.server.close();
  s.pair.unlink();
}

describe('ring session', () => {
  it('creates both segments as /dev/shm files and removes the names on unlink', () => {
    const s = sessionPair();
    onTestFinished(() => closeAll(s));
    expect(s.pair.names.requestRing).toMatch(new RegExp(`^fastpath-${process.pid}-[0-9a-z]+-req$`));
    expect(existsSync(`/dev/shm/${s.pair.names.requestRing}`)).toBe(true);
    s.pair.unlink();
    expect(existsSync(`/dev/shm/${s.pair.names.requestRing}`)).toBe(false);
    expect(existsSync(`/dev/shm/${s.pair.names.responseRing}`)).toBe(false);
  });

  it('carries a request larger than the ring and its response, byte-exact', () => {
    const s = sessionPair();
    onTestFinished(() => closeAll(s));
    const params = new Uint8Array(300_000).map((_, i) => i % 251);
    s.client.send({ version: 1, type: 'request', id: 9, method: 'echo', params });
    let request: IncomingMessage | null = null;
    while (request === null) {
      s.client.flush();
      request = s.server.tryReceive();
    }
    expect(request.ok && request.message.id).toBe(9);
    if (!request.ok) return;
    expect(Buffer.compare(request.message.params!, params)).toBe(0);
    s.server.send({ version: 1, type: 'response', id: 9, result: request.message.params! });
    request.release();
    let response: IncomingMessage | null = null;
    while (response === null) {
      s.server.flush();
      response = s.client.tryReceive();
    }
    expect(response.ok && Buffer.compare(response.message.result!, params)).toBe(0);
  });

  it('delivers messages on the event loop with futex waits, in order', async () => {
    const s = sessionPair();
    onTestFinished(() => closeAll(s));
    const got: number[] = [];
    const done = new Promise<void>((resolve, reject) => {
      s.server.startReceiving((m) => {
        if (m.ok) got.push(m.message.id!);
        if (m.ok) m.release();
        if (got.length === 100) resolve();
      }, reject);
    });
    for (let i = 0; i < 100; i++) {
      s.client.send({ version: 1, type: 'request', id: i, method: 'sink', params: new Uint8Array(10) } satisfies FastMessage);
      if (i % 10 === 0) await new Promise((r) => setTimeout(r, 1));
    }
    await done;
    expect(got).toEqual([...Array(100).keys()]);
  });

  it('reports the peer gone once it closed its end', () => {
    const s = sessionPair();
    onTestFinished(() => closeAll(s));
    expect(() => s.client.checkPeer()).not.toThrow();
    s.server.close();
    expect(() => s.client.checkPeer()).toThrow(expect.objectContaining({ code: 'FP_RING_PEER_DEAD' }));
    expect(s.client.receiveSync(50)).toBeNull(); // the response ring ended: no waiting for the full timeout
  });

  it('refreshes both heartbeats on start', () => {
    const s = sessionPair();
    onTestFinished(() => closeAll(s));
    const words = new Int32Array(s.pair.request.buffer, 0, 80);
    const beat = Atomics.load(words, RingWord.producerHeartbeatMs) >>> 0;
    expect(Math.abs((Date.now() % 2 ** 32) - beat)).toBeLessThan(10_000);
  });
});
