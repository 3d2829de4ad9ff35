import { describe, expect, it } from 'vitest';
import {
  CODEC_MATRIX_MODES,
  CODEC_OPERATIONS,
  CODEC_SAMPLE_NONCE,
  CODEC_SAMPLE_SIGNAL,
  CODEC_SAMPLE_TS_MS,
  formatCodecMatrix,
  runCodecMatrix,
} from './codec-matrix.js';

const SIG64 = 'a'.repeat(64);
const signalJson = JSON.stringify(CODEC_SAMPLE_SIGNAL);

/** Size of a MessagePack string (fixstr, str8, str16), written out from the format spec. */
function msgpackStrBytes(s: string): number {
  const n = Buffer.byteLength(s, 'utf8');
  return n < 32 ? 1 + n : n < 256 ? 2 + n : 3 + n;
}

/**
 * Frame sizes computed from the formats by hand, not with the protocol's encoders:
 * ndjson = JSON text + newline; lp32 = 4-byte prefix + body.
 */
function expectedFrameBytes(mode: string): number {
  switch (mode) {
    case 'ndjson/hmac-json':
      return Buffer.byteLength(JSON.stringify({ signal: CODEC_SAMPLE_SIGNAL, signature: SIG64 })) + 1;
    case 'lp32-json/hmac-v2':
      return 4 + Buffer.byteLength(JSON.stringify({ ts: CODEC_SAMPLE_TS_MS, nonce: CODEC_SAMPLE_NONCE, body: signalJson, sig: SIG64 }));
    case 'lp32-msgpack/hmac-v2':
      return (
        4 +
        1 + // fixmap of 4 entries
        msgpackStrBytes('ts') +
        9 + // the ms timestamp needs more than 32 bits: int64 (0xd3 + 8 bytes)
        msgpackStrBytes('nonce') +
        msgpackStrBytes(CODEC_SAMPLE_NONCE) +
        msgpackStrBytes('body') +
        msgpackStrBytes(signalJson) +
        msgpackStrBytes('sig') +
        msgpackStrBytes(SIG64)
      );
    default:
      throw new Error(`no expectation for ${mode}`);
  }
}

describe('codec matrix', () => {
  it('measures encode, decode, sign and verify in every mode with finite positive per-message figures', async () => {
    const started = performance.now();
    const rows = await runCodecMatrix({ timeMs: 15, warmupMs: 5 });
    const elapsedMs = performance.now() - started;
    expect(elapsedMs).toBeLessThan(5_000);

    expect(rows).toHaveLength(CODEC_MATRIX_MODES.length * CODEC_OPERATIONS.length);
    for (const mode of CODEC_MATRIX_MODES) {
      for (const operation of CODEC_OPERATIONS) {
        const row = rows.find((r) => r.mode === mode && r.operation === operation);
        expect(row, `${mode} ${operation}`).toBeDefined();
        for (const value of [row!.meanNs, row!.p50Ns, row!.p99Ns, row!.opsPerSec]) {
          expect(Number.isFinite(value) && value > 0, `${mode} ${operation}: ${value}`).toBe(true);
        }
        expect(row!.p99Ns).toBeGreaterThanOrEqual(row!.p50Ns);
        expect(row!.samples).toBeGreaterThanOrEqual(64);
        expect(Number.isInteger(row!.samples)).toBe(true);
        // Units: one message costs between 10 ns and 10 ms; a ms/ns mix-up lands outside by 10^6.
        expect(row!.meanNs).toBeGreaterThan(10);
        expect(row!.meanNs).toBeLessThan(10_000_000);
        // opsPerSec is the reciprocal of the mean cost, within timer-correction rounding.
        expect(row!.opsPerSec * row!.meanNs).toBeGreaterThan(0.99e9);
        expect(row!.opsPerSec * row!.meanNs).toBeLessThan(1.01e9);
      }
    }
  });

  it('reports the size of the frame actually put on the wire', async () => {
    const rows = await runCodecMatrix({ timeMs: 1, warmupMs: 0 });
    for (const mode of CODEC_MATRIX_MODES) {
      const sizes = new Set(rows.filter((r) => r.mode === mode).map((r) => r.frameBytes));
      expect([...sizes], mode).toEqual([expectedFrameBytes(mode)]);
    }
    // The binary envelope is smaller than the JSON one for the same v2 content.
    const size = (mode: string) => rows.find((r) => r.mode === mode)!.frameBytes;
    expect(size('lp32-msgpack/hmac-v2')).toBeLessThan(size('lp32-json/hmac-v2'));
  });

  it('measures a subset of modes and rejects a bad time budget', async () => {
    const rows = await runCodecMatrix({ timeMs: 1, warmupMs: 0, modes: ['lp32-msgpack/hmac-v2'] });
    expect(rows.map((r) => `${r.mode} ${r.operation}`)).toEqual(CODEC_OPERATIONS.map((op) => `lp32-msgpack/hmac-v2 ${op}`));
    await expect(runCodecMatrix({ timeMs: 0 })).rejects.toMatchObject({ code: 'FP_USAGE' });
    await expect(runCodecMatrix({ timeMs: 10, warmupMs: Number.NaN })).rejects.toMatchObject({ code: 'FP_USAGE' });
  });

  it('formats the matrix as an aligned table with units in the header', () => {
    const text = formatCodecMatrix([
      { mode: 'ndjson/hmac-json', operation: 'encode', meanNs: 1234.4, p50Ns: 1200, p99Ns: 3000.6, opsPerSec: 810_000.2, samples: 1000, frameBytes: 177 },
    ]);
    expect(text).toContain('mean ns');
    expect(text).toMatch(/ndjson\/hmac-json\s+encode\s+1234\s+1200\s+3001\s+810000\s+1000\s+177/);
  });
});
