/**
 * docs/SPEC.md §9: the golden vectors of fixtures/vectors/*.json, written by
 * scripts/gen-vectors.py without the TypeScript codecs, are reproduced byte for byte
 * by the encoder and decoded back to the same signal by the decoder, whatever the
 * chunking (§3.1.3).
 */
import { spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { decodeV2Body, hmacHex, parseAuthMode, signEnvelope, v2SignedBytes, verifyEnvelope, type SignOptions } from './auth.js';
import { decodeBody, encodeBody } from './body-codec.js';
import { createFrameDecoder, type DecodeEvent } from './frame-decoder.js';
import { framingName, parseFraming, type FramingSpec } from './framing.js';
import { encodeMessage, encodeRequest } from './message-codec.js';

interface Vector {
  name: string;
  envelope: Record<string, unknown>;
  signal: Record<string, unknown>;
  frameHex: string;
  signedBytesHex?: string;
  signature: string | null;
}
interface VectorFile {
  description: string;
  framing: string;
  auth: string;
  secret: string;
  vectors: Vector[];
}

const dir = new URL('../fixtures/vectors/', import.meta.url);
const files = readdirSync(dir)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ file: f, doc: JSON.parse(readFileSync(new URL(f, dir), 'utf8')) as VectorFile }));

/** The JSON view of a decoded envelope used by the vector files: bytes become {"$bin": hex}. */
function toJsonView(value: unknown): unknown {
  if (value instanceof Uint8Array) return { $bin: Buffer.from(value).toString('hex') };
  if (Array.isArray(value)) return value.map(toJsonView);
  if (typeof value === 'object' && value !== null) {
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, toJsonView(v)]));
  }
  return value;
}

function binOf(value: unknown): Buffer | undefined {
  if (typeof value === 'object' && value !== null && '$bin' in value) return Buffer.from(String((value as { $bin: string }).$bin), 'hex');
  return undefined;
}

function signOptions(v: Vector): SignOptions {
  const env = v.envelope;
  const opts: SignOptions = {};
  if ('id' in env) opts.id = env.id as string | number;
  if ('ts' in env) opts.ts = env.ts as number;
  if ('nonce' in env) opts.nonce = env.nonce as string;
  const bin = binOf(env.body);
  if (bin !== undefined) opts.binaryBody = bin;
  return opts;
}

function decodeAll(spec: FramingSpec, chunks: Buffer[]): DecodeEvent[] {
  const dec = createFrameDecoder(spec);
  const events = chunks.flatMap((c) => dec.push(c));
  expect(dec.midFrame).toBe(false);
  return events;
}

function splitAt(bytes: Buffer, points: number[]): Buffer[] {
  const cuts = [...new Set(points)].sort((a, b) => a - b);
  const out: Buffer[] = [];
  let prev = 0;
  for (const c of cuts) {
    out.push(bytes.subarray(prev, c));
    prev = c;
  }
  out.push(bytes.subarray(prev));
  return out;
}

describe('golden vector files', () => {
  it('cover every preset × auth mode and some lp strings', () => {
    const pairs = new Set(files.map(({ doc }) => `${doc.framing} ${doc.auth}`));
    for (const framing of ['ndjson', 'lp32-json', 'lp32-msgpack']) {
      for (const auth of ['none', 'hmac-json', 'hmac-v2']) expect(pairs).toContain(`${framing} ${auth}`);
    }
    expect(files.some(({ doc }) => doc.framing.startsWith('lp:2:le:frame:'))).toBe(true);
    expect(files.some(({ doc }) => /^lp:\d:\w+:\w+:[0-9a-f]+:msgpack$/.test(doc.framing))).toBe(true);
    for (const { doc } of files) expect(doc.vectors.length).toBeGreaterThanOrEqual(4);
  });

  const python = spawnSync('python3', ['--version']).status === 0;
  it.skipIf(!python)('are what scripts/gen-vectors.py generates (no hand edits, no drift)', () => {
    const script = fileURLToPath(new URL('../scripts/gen-vectors.py', import.meta.url));
    const res = spawnSync('python3', [script, '--check'], { encoding: 'utf8' });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
  });

  it('each hold a bin-bodied hmac-v2 vector when the codec is MessagePack', () => {
    for (const { doc } of files.filter(({ doc }) => doc.auth === 'hmac-v2' && doc.framing.endsWith('msgpack'))) {
      expect(doc.vectors.some((v) => binOf(v.envelope.body) !== undefined)).toBe(true);
    }
  });
});

for (const { file, doc } of files) {
  describe(`${file} (${doc.framing}, ${doc.auth})`, () => {
    const framing = parseFraming(doc.framing);
    const auth = parseAuthMode(doc.auth);
    const mode = { framing, auth, secret: doc.secret };

    it('names its framing canonically', () => {
      expect(parseFraming(framingName(framing))).toEqual(framing);
    });

    for (const v of doc.vectors) {
      describe(v.name, () => {
        const frame = Buffer.from(v.frameHex, 'hex');

        it('encodeRequest reproduces frameHex', () => {
          expect(encodeRequest(mode, v.signal, signOptions(v)).toString('hex')).toBe(v.frameHex);
        });

        it('signEnvelope emits the envelope with its key order, and encodeMessage frames it to frameHex', () => {
          const env = signEnvelope(auth, doc.secret, v.signal, signOptions(v));
          expect(Object.keys(env)).toEqual(Object.keys(v.envelope));
          expect(toJsonView(env)).toEqual(v.envelope);
          expect(encodeMessage(framing, env).toString('hex')).toBe(v.frameHex);
        });

        it('signs exactly signedBytesHex', () => {
          if (auth === 'none') {
            expect(v.signature).toBeNull();
            expect(v.signedBytesHex).toBeUndefined();
            return;
          }
          const env = v.envelope;
          const signed =
            auth === 'hmac-json'
              ? Buffer.from(JSON.stringify(v.signal), 'utf8')
              : v2SignedBytes(env.ts as number, env.nonce as string, binOf(env.body) ?? (env.body as string));
          expect(signed.toString('hex')).toBe(v.signedBytesHex);
          expect(hmacHex(doc.secret, signed)).toBe(v.signature);
          expect(env[auth === 'hmac-json' ? 'signature' : 'sig']).toBe(v.signature);
          const bin = binOf(env.body);
          if (bin !== undefined) expect(encodeBody('msgpack', v.signal).equals(bin)).toBe(true);
        });

        it('decodes and verifies back to the signal', () => {
          const events = decodeAll(framing, [frame]);
          expect(events).toHaveLength(1);
          const ev = events[0]!;
          if (ev.type !== 'frame') throw new Error(`expected a frame, got ${ev.kind}: ${ev.message}`);
          const body = decodeBody(framing.codec, ev.body);
          if (!body.ok) throw new Error(body.error);
          expect(toJsonView(body.value)).toEqual(v.envelope);
          const ts = typeof v.envelope.ts === 'number' ? v.envelope.ts : 0;
          const res = verifyEnvelope(auth, doc.secret, body.value, { nowMs: ts, timestampWindowMs: 30_000 });
          if (!res.ok) throw new Error(`${res.reason}: ${res.error}`);
          expect(res.id).toEqual(v.envelope.id);
          let signal = res.signal;
          if (auth === 'hmac-v2') {
            expect(res.nonce).toBe(v.envelope.nonce);
            const decoded = decodeV2Body(res.v2Body!);
            if (!decoded.ok) throw new Error(decoded.error);
            signal = decoded.value;
          }
          expect(signal).toEqual(v.signal);
        });

        it('decodes to the same single frame one byte at a time', () => {
          const whole = decodeAll(framing, [frame]);
          expect(whole).toEqual([{ type: 'frame', body: expect.any(Buffer) }]);
          expect(decodeAll(framing, [...frame].map((b) => Buffer.from([b])))).toEqual(whole);
        });

        it('decodes to the same single frame in any chunking', () => {
          const [whole] = decodeAll(framing, [frame]);
          fc.assert(
            fc.property(fc.array(fc.integer({ min: 1, max: frame.length - 1 }), { maxLength: 12 }), (points) => {
              expect(decodeAll(framing, splitAt(frame, points))).toEqual([whole]);
            }),
            { numRuns: 40 },
          );
        });
      });
    }
  });
}
