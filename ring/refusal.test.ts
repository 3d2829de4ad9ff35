import { chmodSync, chownSync, mkdirSync, rmdirSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it, onTestFinished } from 'vitest';
import { FastPathError } from '../protocol/index.js';
import { RING_HEADER_BYTES, RingWord, initRingHeader, readRingHeader, ringSegmentBytes } from './layout.js';
import { SHM_DIR } from './native.js';
import { RingConsumer, RingProducer } from './ring.js';
import { createSegment, openSegment, unlinkSegment, type SharedSegment } from './segment.js';
import { newRingPairNames, openRingSegment } from './session.js';

/**
 * An opener refuses a segment it must not use, with an error naming the field
 * (docs/SPEC.md §10.2.2, §10.2.3): real segments in /dev/shm made wrong on purpose,
 * opened with `openRingSegment` as a server opens a client's rings.
 */

const CAPACITY = 4096;

/**
 * Creates `/dev/shm/<fresh name>` of `sizeBytes` (default: a ring of CAPACITY), lets
 * `damage` spoil a freshly initialised ring header, unmaps it, and registers the unlink.
 */
function preparedSegment(options: { mode?: number; sizeBytes?: number; init?: boolean; damage?: (words: Uint32Array) => void } = {}): string {
  const name = newRingPairNames().requestRing;
  const segment = createSegment(name, options.sizeBytes ?? ringSegmentBytes(CAPACITY), options.mode === undefined ? {} : { mode: options.mode });
  onTestFinished(() => void unlinkSegment(name));
  if (options.init !== false) initRingHeader(segment.buffer, CAPACITY, process.pid);
  options.damage?.(new Uint32Array(segment.buffer, 0, RING_HEADER_BYTES / 4));
  segment.close();
  return name;
}

/** The FastPathError `openRingSegment(name, capacity)` throws; fails when it opens the segment. */
function refusal(name: string, capacityBytes: number = CAPACITY): FastPathError {
  let opened: SharedSegment | undefined;
  try {
    opened = openRingSegment(name, capacityBytes);
  } catch (err) {
    if (err instanceof FastPathError) return err;
    throw err;
  }
  opened.close();
  throw new Error(`openRingSegment(${name}) accepted the segment`);
}

describe('openRingSegment refuses a segment', () => {
  it('with mode 0644, naming the mode', () => {
    const name = preparedSegment({ mode: 0o644 });
    const err = refusal(name);
    expect(err.code).toBe('FP_RING_INVALID');
    expect(err.message).toBe(`segment ${name} refused: mode 0644, expected 0600 (owner read-write only)`);
  });

  it('whose mode was widened after creation (0660), naming the mode', () => {
    const name = preparedSegment();
    chmodSync(join(SHM_DIR, name), 0o660);
    const err = refusal(name);
    expect(err.code).toBe('FP_RING_INVALID');
    expect(err.message).toMatch(/mode 0660, expected 0600/);
  });

  // Giving a file away takes root; as any other user this is skipped.
  it.skipIf(process.getuid?.() !== 0)('owned by another user, naming the owner (run as root)', () => {
    const name = preparedSegment();
    chownSync(join(SHM_DIR, name), 65534, 65534);
    const err = refusal(name);
    expect(err.code).toBe('FP_RING_INVALID');
    expect(err.message).toMatch(/owned by uid 65534, expected this user's uid 0/);
  });

  it('with a wrong magic, naming the magic', () => {
    const name = preparedSegment({ damage: (w) => void (w[RingWord.magic] = 0x47525047) });
    const err = refusal(name);
    expect(err.code).toBe('FP_RING_INVALID');
    expect(err.message).toMatch(new RegExp(`^segment ${name} refused: .*magic is 0x47525047, expected 0x47525046 \\("FPRG"\\)`));
  });

  it('with a wrong layout version, naming the layout version', () => {
    const name = preparedSegment({ damage: (w) => void (w[RingWord.layoutVersion] = 2) });
    const err = refusal(name);
    expect(err.code).toBe('FP_RING_INVALID');
    expect(err.message).toMatch(/layout version 2, this implementation speaks 1/);
  });

  it('with a wrong header size, naming the header size', () => {
    const name = preparedSegment({ damage: (w) => void (w[RingWord.headerBytes] = 256) });
    expect(refusal(name).message).toMatch(/header size 256, expected 320/);
  });

  it('whose file size differs from the size its header announces, naming the size', () => {
    const name = preparedSegment({ sizeBytes: ringSegmentBytes(CAPACITY) + 4096 });
    const err = refusal(name);
    expect(err.code).toBe('FP_RING_INVALID');
    expect(err.message).toBe(`segment ${name} refused: size ${ringSegmentBytes(CAPACITY) + 4096} bytes, expected ${ringSegmentBytes(CAPACITY)} (320 + capacity ${CAPACITY})`);
  });

  it('whose segment size field is wrong, naming the segment size', () => {
    const name = preparedSegment({ damage: (w) => void (w[RingWord.segmentBytes] = ringSegmentBytes(CAPACITY) - 64) });
    expect(refusal(name).message).toMatch(/segment size field 4352 does not equal header \+ capacity \(4416\)/);
  });

  it('whose capacity differs from the one announced in the HELLO, naming the capacity', () => {
    const name = preparedSegment();
    const err = refusal(name, 2 * CAPACITY);
    expect(err.code).toBe('FP_RING_INVALID');
    expect(err.message).toMatch(/size 4416 bytes, expected 8512 \(320 \+ capacity 8192\)/);
    // The header check on its own, as an end of a ring applies it to an announced capacity:
    const segment = openSegment(name);
    onTestFinished(() => segment.close());
    const byHeader = (fn: () => unknown): string => {
      try {
        fn();
      } catch (e) {
        return (e as FastPathError).code + ': ' + (e as Error).message;
      }
      return 'accepted';
    };
    expect(byHeader(() => readRingHeader(segment.buffer, { capacityBytes: 2 * CAPACITY }))).toMatch(/^FP_RING_INVALID: .*capacity 4096 differs from the announced 8192/);
    expect(byHeader(() => new RingConsumer(segment.buffer, { expectCapacityBytes: 2 * CAPACITY }))).toMatch(/^FP_RING_INVALID: .*capacity 4096 differs from the announced 8192/);
  });

  it('whose capacity field is not a power of two, naming the capacity', () => {
    const name = preparedSegment({ damage: (w) => void (w[RingWord.capacityBytes] = 4000) });
    expect(refusal(name).message).toMatch(/capacity 4000 is not a power of two/);
  });

  it('whose record limit is not half the capacity, naming the record limit', () => {
    const name = preparedSegment({ damage: (w) => void (w[RingWord.maxRecordBytes] = CAPACITY) });
    expect(refusal(name).message).toMatch(/record limit 4096, expected 2048/);
  });

  it('that is not ready (ready word 0: the creator has not finished), naming the ready flag', () => {
    const name = preparedSegment({ damage: (w) => void (w[RingWord.ready] = 0) });
    const err = refusal(name);
    expect(err.code).toBe('FP_RING_INVALID');
    expect(err.message).toMatch(/ready flag is 0, expected 1/);
  });

  it('that is all zeros (created and sized, header never written), naming the ready flag', () => {
    const name = preparedSegment({ init: false });
    expect(refusal(name).message).toMatch(/ready flag is 0/);
  });

  it('that does not exist, with FP_SHM_NOT_FOUND naming it', () => {
    const name = newRingPairNames().requestRing;
    const err = refusal(name);
    expect(err.code).toBe('FP_SHM_NOT_FOUND');
    expect(err.message).toContain(name);
  });

  it('that is a directory, not a regular file, naming what it is', () => {
    const name = newRingPairNames().requestRing;
    mkdirSync(join(SHM_DIR, name), { mode: 0o700 });
    onTestFinished(() => rmdirSync(join(SHM_DIR, name)));
    const err = refusal(name);
    expect(err.code).toBe('FP_SHM_ARGUMENT');
    expect(err.message).toMatch(/is a directory, not a shared-memory segment/);
  });

  it('accepts the same segment when nothing is wrong (the refusals above are about the damage)', () => {
    const name = preparedSegment();
    const segment = openRingSegment(name, CAPACITY);
    onTestFinished(() => segment.close());
    expect(segment.mode).toBe(0o600);
    expect(new RingProducer(segment.buffer).capacityBytes).toBe(CAPACITY);
  });
});
