import * as fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { makeMode } from '../../harness/targets.js';
import { isHex64, type LengthPrefixedFraming } from '../../protocol/index.js';
import { evenPieces, piecesOf } from './exchange.js';
import { applySignatureVariant, lengthFieldFor, MAX_SPLIT_PIECES, signatureVariantArb, splitPieces } from './frames.js';

const SIG = 'ab'.repeat(32);

describe('signature variants (§4.5)', () => {
  it('every variant but upper-case leaves something that is not the original signature', () => {
    fc.assert(
      fc.property(signatureVariantArb(), (v) => {
        const env: Record<string, unknown> = { sig: SIG };
        applySignatureVariant(env, 'sig', v, 'secret');
        if (v.kind === 'uppercase') expect(isHex64(env.sig) && (env.sig as string).toLowerCase() === SIG).toBe(true);
        else if (v.kind === 'other-mac') expect(isHex64(env.sig) && env.sig !== SIG).toBe(true);
        else expect(env.sig === SIG).toBe(false);
      }),
    );
  });

  it('suffix keeps the 64 digits and adds characters after them', () => {
    const env: Record<string, unknown> = { signature: SIG };
    applySignatureVariant(env, 'signature', { kind: 'suffix', text: 'zz' }, 's');
    expect(env.signature).toBe(`${SIG}zz`);
    applySignatureVariant(env, 'signature', { kind: 'missing' }, 's');
    expect('signature' in env).toBe(false);
  });
});

describe('length prefix variants (§3.3.1)', () => {
  const be4 = makeMode('lp32-json', 'none', 's').framing as LengthPrefixedFraming;
  const le2 = makeMode('lp:2:le:frame:01:msgpack', 'none', 's').framing as LengthPrefixedFraming;

  it('computes 0, one less, one more, the largest value and the other byte order', () => {
    expect(lengthFieldFor(be4, 100, { kind: 'zero' })).toEqual({ value: 0, endian: 'be' });
    expect(lengthFieldFor(be4, 100, { kind: 'one-less' })).toEqual({ value: 99, endian: 'be' });
    expect(lengthFieldFor(be4, 100, { kind: 'one-more' })).toEqual({ value: 101, endian: 'be' });
    expect(lengthFieldFor(be4, 100, { kind: 'max' })).toEqual({ value: 0xffffffff, endian: 'be' });
    expect(lengthFieldFor(be4, 100, { kind: 'swapped-endian' })).toEqual({ value: 100, endian: 'le' });
    expect(lengthFieldFor(le2, 100, { kind: 'max' })).toEqual({ value: 0xffff, endian: 'le' });
    expect(lengthFieldFor(le2, 100, { kind: 'swapped-endian' })).toEqual({ value: 100, endian: 'be' });
    expect(lengthFieldFor(le2, 10, { kind: 'delta', by: -64 })).toEqual({ value: 0, endian: 'le' });
    expect(lengthFieldFor(le2, 10, { kind: 'value', value: 0x12345 })).toEqual({ value: 0x2345, endian: 'le' });
  });
});

describe('write plans (§3.1.3)', () => {
  it('pieces always concatenate back to the input', () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 500 }), fc.array(fc.nat(), { maxLength: 12 }), fc.integer({ min: 1, max: 9 }), (bytes, cuts, size) => {
        const buf = Buffer.from(bytes);
        expect(Buffer.concat(piecesOf(buf, cuts))).toEqual(buf);
        expect(Buffer.concat(evenPieces(buf, size))).toEqual(buf);
        expect(Buffer.concat(splitPieces(buf, { kind: 'every', pieceBytes: size }))).toEqual(buf);
        for (const p of piecesOf(buf, cuts)) expect(p.length).toBeGreaterThan(0);
      }),
    );
  });

  it('splits one byte at a time, up to a bounded number of pieces', () => {
    expect(splitPieces(Buffer.from('abc'), { kind: 'every', pieceBytes: 1 }).map((p) => p.toString())).toEqual(['a', 'b', 'c']);
    expect(splitPieces(Buffer.alloc(10_000), { kind: 'every', pieceBytes: 1 }).length).toBeLessThanOrEqual(MAX_SPLIT_PIECES);
    expect(piecesOf(Buffer.from('abcd'), [2, 2, 0, 4, 7]).map((p) => p.toString())).toEqual(['ab', 'cd']);
  });
});
