/**
 * Byte-at-a-time traces of the frame decoder state machine (docs/SPEC.md §3), in the
 * style of the nats.js parser tests: after every single byte, the state, the bytes
 * held, `midFrame` and the events completed by that byte.
 */
import { describe, expect, it } from 'vitest';
import { createFrameDecoder, DecoderState, type FrameDecoder } from './frame-decoder.js';
import { parseFraming } from './framing.js';

const { Head, Body, Failed } = DecoderState;

type Step = [state: DecoderState, bufferedBytes: number, midFrame: boolean, events: string[]];

/** Pushes `bytes` one at a time and records a step per byte; events as `frame:<utf8>` or `<KIND>!` (fatal) / `<KIND>`. */
function trace(dec: FrameDecoder, bytes: Buffer | number[]): Step[] {
  return [...bytes].map((b) => {
    const events = dec.push(Buffer.from([b])).map((e) =>
      e.type === 'frame' ? `frame:${e.body.toString('utf8')}` : `${e.kind}${e.fatal ? '!' : ''}`,
    );
    return [dec.state, dec.bufferedBytes, dec.midFrame, events];
  });
}

describe('ndjson decoder, one byte at a time', () => {
  it('starts in Head holding nothing', () => {
    const dec = createFrameDecoder(parseFraming('ndjson'));
    expect([dec.state, dec.bufferedBytes, dec.midFrame]).toEqual([Head, 0, false]);
  });

  it('accumulates a line in Head and emits it on the newline', () => {
    expect(trace(createFrameDecoder(parseFraming('ndjson')), Buffer.from('{}\n'))).toEqual([
      [Head, 1, true, []],
      [Head, 2, true, []],
      [Head, 0, false, ['frame:{}']],
    ]);
  });

  it('keeps a carriage return in the body (it is JSON whitespace, not a terminator)', () => {
    expect(trace(createFrameDecoder(parseFraming('ndjson')), Buffer.from('1\r\n')).at(-1)).toEqual([Head, 0, false, ['frame:1\r']]);
  });

  it('ignores empty and whitespace-only lines (§3.2.1) but counts them as mid-frame until the newline', () => {
    expect(trace(createFrameDecoder(parseFraming('ndjson')), Buffer.from('\n \t\r\n'))).toEqual([
      [Head, 0, false, []],
      [Head, 1, true, []],
      [Head, 2, true, []],
      [Head, 3, true, []],
      [Head, 0, false, []],
    ]);
  });

  it('moves to Failed on byte maxFrameBytes + 1 of a line and then ignores everything (§3.1.1)', () => {
    expect(trace(createFrameDecoder(parseFraming('ndjson', 2)), Buffer.from('abc\n{}\n'))).toEqual([
      [Head, 1, true, []],
      [Head, 2, true, []],
      [Failed, 0, false, ['FRAME_TOO_LARGE!']],
      [Failed, 0, false, []],
      [Failed, 0, false, []],
      [Failed, 0, false, []],
      [Failed, 0, false, []],
    ]);
  });

  it('accepts a line of exactly maxFrameBytes', () => {
    expect(trace(createFrameDecoder(parseFraming('ndjson', 2)), Buffer.from('ab\n')).at(-1)).toEqual([Head, 0, false, ['frame:ab']]);
  });
});

describe('length-prefixed decoder, one byte at a time', () => {
  it('lp32-json: Head for the 4 prefix bytes, Body for the body, back to Head with the frame', () => {
    expect(trace(createFrameDecoder(parseFraming('lp32-json')), [0, 0, 0, 2, 0x7b, 0x7d])).toEqual([
      [Head, 1, true, []],
      [Head, 2, true, []],
      [Head, 3, true, []],
      [Body, 0, true, []],
      [Body, 1, true, []],
      [Head, 0, false, ['frame:{}']],
    ]);
  });

  it('lp:2:le:frame:01:json: little-endian length counting itself and the header byte', () => {
    // length 5 = 2 (prefix) + 1 (header) + 2 (body)
    expect(trace(createFrameDecoder(parseFraming('lp:2:le:frame:01:json')), [5, 0, 1, 0x7b, 0x7d])).toEqual([
      [Head, 1, true, []],
      [Body, 0, true, []],
      [Body, 1, true, []],
      [Body, 2, true, []],
      [Head, 0, false, ['frame:{}']],
    ]);
  });

  it('EMPTY_BODY without a header is reported right after the prefix and stays in Head (§3.3.2)', () => {
    expect(trace(createFrameDecoder(parseFraming('lp:2:be:body:-:json')), [0, 0, 0, 1, 0x31])).toEqual([
      [Head, 1, true, []],
      [Head, 0, false, ['EMPTY_BODY']],
      [Head, 1, true, []],
      [Body, 0, true, []],
      [Head, 0, false, ['frame:1']],
    ]);
  });

  it('EMPTY_BODY with a header is reported after the header bytes', () => {
    expect(trace(createFrameDecoder(parseFraming('lp:2:be:body:ab:json')), [0, 1, 0xab])).toEqual([
      [Head, 1, true, []],
      [Body, 0, true, []],
      [Head, 0, false, ['EMPTY_BODY']],
    ]);
  });

  it('BAD_HEADER is reported when the frame is complete and the next frame decodes (§3.3.3)', () => {
    expect(trace(createFrameDecoder(parseFraming('lp:2:be:body:ab:json')), [0, 2, 0xac, 0x31, 0, 2, 0xab, 0x32])).toEqual([
      [Head, 1, true, []],
      [Body, 0, true, []],
      [Body, 1, true, []],
      [Head, 0, false, ['BAD_HEADER']],
      [Head, 1, true, []],
      [Body, 0, true, []],
      [Body, 1, true, []],
      [Head, 0, false, ['frame:2']],
    ]);
  });

  it('BAD_LENGTH: a frame-inclusive length smaller than the prefix is fatal (§3.3.1)', () => {
    expect(trace(createFrameDecoder(parseFraming('lp:2:be:frame:-:json')), [0, 1, 0, 3, 0x31])).toEqual([
      [Head, 1, true, []],
      [Failed, 0, false, ['BAD_LENGTH!']],
      [Failed, 0, false, []],
      [Failed, 0, false, []],
      [Failed, 0, false, []],
    ]);
  });

  it('BAD_LENGTH: a body length smaller than the header is fatal', () => {
    expect(trace(createFrameDecoder(parseFraming('lp:2:be:body:abcd:json')), [0, 1]).at(-1)).toEqual([Failed, 0, false, ['BAD_LENGTH!']]);
  });

  it('FRAME_TOO_LARGE: fails on the last prefix byte, before any body byte (§3.1.1)', () => {
    expect(trace(createFrameDecoder(parseFraming('lp32-msgpack', 3)), [0, 0, 0, 4, 1, 2, 3, 4])).toEqual([
      [Head, 1, true, []],
      [Head, 2, true, []],
      [Head, 3, true, []],
      [Failed, 0, false, ['FRAME_TOO_LARGE!']],
      [Failed, 0, false, []],
      [Failed, 0, false, []],
      [Failed, 0, false, []],
      [Failed, 0, false, []],
    ]);
  });

  it('maxFrameBytes bounds the body, not the header: a max-size body with a header is accepted', () => {
    const dec = createFrameDecoder(parseFraming('lp:2:be:frame:0102:json', 1));
    expect(trace(dec, [0, 5, 1, 2, 0x37]).at(-1)).toEqual([Head, 0, false, ['frame:7']]);
  });

  it('reports the error text of each failure', () => {
    const bad = createFrameDecoder(parseFraming('lp:2:be:frame:01:json')).push(Buffer.from([0, 2]));
    expect(bad).toEqual([{ type: 'error', kind: 'BAD_LENGTH', fatal: true, message: 'length 2 is smaller than the frame overhead (3 bytes)' }]);
    const hdr = createFrameDecoder(parseFraming('lp:2:be:body:01:json')).push(Buffer.from([0, 2, 9, 0x31]));
    expect(hdr).toEqual([{ type: 'error', kind: 'BAD_HEADER', fatal: false, message: 'fixed header bytes 09 differ from the expected 01' }]);
  });
});
