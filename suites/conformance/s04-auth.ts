import type { CaseContext, ConformanceCase } from '../../harness/case.js';
import { encodeBody, hmacHex, type ReasonCode, type SignOptions } from '../../protocol/index.js';
import { check, expectAccepted, expectRejected, need, show, verdict } from './expect.js';
import { acceptedPrepare, cleanup, expectUnused, prepareOk, rejectedAndKept } from './flows.js';
import {
  type Envelope,
  envelopeOf,
  freshNonceFor,
  frameOf,
  modes,
  mutatedFrame,
  resign,
  sigField,
  signedDataOf,
  targetSignalOf,
} from './wire.js';

/** docs/SPEC.md §4 Envelope and authentication. */

const MISSING = Symbol('missing');

/** Replaces (or with MISSING deletes) the signature field of the envelope. */
function withSignature(ctx: CaseContext, env: Envelope, make: (valid: string) => unknown): void {
  const field = sigField(ctx);
  const next = make(String(env[field]));
  if (next === MISSING) delete env[field];
  else env[field] = next;
}

/** A valid signature with its last hex digit changed: well-formed, wrong HMAC. */
const flipLastDigit = (sig: string): string => `${sig.slice(0, 63)}${sig.endsWith('0') ? '1' : '0'}`;

/** §4.5 bad signature formats: each must be INVALID_SIGNATURE. */
const BAD_SIGNATURES: ReadonlyArray<{ id: string; what: string; make: (valid: string, ctx: CaseContext, env: Envelope) => unknown }> = [
  { id: 'auth.signature.truncated-63-hex', what: 'the valid signature without its last digit (63 hex digits)', make: (s) => s.slice(0, 63) },
  { id: 'auth.signature.non-hex-character', what: '64 characters, the last one "g" (not hex)', make: (s) => `${s.slice(0, 63)}g` },
  { id: 'auth.signature.trailing-characters', what: 'the valid 64 hex digits followed by "zz"', make: (s) => `${s}zz` },
  { id: 'auth.signature.trailing-whitespace', what: 'the valid 64 hex digits followed by a space', make: (s) => `${s} ` },
  { id: 'auth.signature.trailing-newline', what: 'the valid 64 hex digits followed by "\\n"', make: (s) => `${s}\n` },
  { id: 'auth.signature.leading-whitespace', what: 'a space followed by the valid 64 hex digits', make: (s) => ` ${s}` },
  { id: 'auth.signature.65-hex-digits', what: 'the valid 64 hex digits followed by a 65th hex digit', make: (s) => `${s}0` },
  { id: 'auth.signature.empty-string', what: 'an empty string', make: () => '' },
  { id: 'auth.signature.missing', what: 'no signature field at all', make: () => MISSING },
  { id: 'auth.signature.not-a-string', what: 'a number instead of a string', make: () => 1234567890 },
  { id: 'auth.signature.wrong-hmac', what: 'well-formed hex whose last digit differs from the valid HMAC', make: (s) => flipLastDigit(s) },
  {
    id: 'auth.signature.wrong-key',
    what: 'a well-formed HMAC computed with a different secret',
    make: (_s, ctx, env) => hmacHex(`not-${ctx.mode.secret}`, signedDataOf(ctx, env)),
  },
];

/** §4.4.4 malformed hmac-v2 envelopes: each must be IPC_ERROR. `resign`: re-sign so only the shape is wrong. */
const MALFORMED_V2: ReadonlyArray<{ id: string; what: string; resign: boolean; mutate: (env: Envelope) => void }> = [
  { id: 'auth.hmac-v2.ts-missing', what: 'an envelope without "ts"', resign: false, mutate: (e) => delete e.ts },
  { id: 'auth.hmac-v2.ts-string', what: '"ts" as a decimal string (signed as such)', resign: true, mutate: (e) => (e.ts = String(e.ts)) },
  { id: 'auth.hmac-v2.ts-fractional', what: '"ts" with a fractional part (signed as such)', resign: true, mutate: (e) => (e.ts = Number(e.ts) + 0.5) },
  { id: 'auth.hmac-v2.ts-negative', what: '"ts" = -1 (signed as such)', resign: true, mutate: (e) => (e.ts = -1) },
  { id: 'auth.hmac-v2.nonce-missing', what: 'an envelope without "nonce"', resign: false, mutate: (e) => delete e.nonce },
  { id: 'auth.hmac-v2.nonce-too-short', what: 'a 7-character nonce (signed as such)', resign: true, mutate: (e) => (e.nonce = 'abc1234') },
  { id: 'auth.hmac-v2.nonce-too-long', what: 'a 65-character nonce (signed as such)', resign: true, mutate: (e) => (e.nonce = 'n'.repeat(65)) },
  { id: 'auth.hmac-v2.nonce-bad-characters', what: 'a nonce with "." and "!" (signed as such)', resign: true, mutate: (e) => (e.nonce = 'bad.nonce!x') },
  { id: 'auth.hmac-v2.nonce-not-a-string', what: 'a numeric nonce', resign: false, mutate: (e) => (e.nonce = 12345678) },
  { id: 'auth.hmac-v2.body-missing', what: 'an envelope without "body"', resign: false, mutate: (e) => delete e.body },
  { id: 'auth.hmac-v2.body-not-string-or-bytes', what: '"body" as an object instead of text or bytes', resign: false, mutate: (e) => (e.body = { type: 'PREPARE' }) },
];

/** A PREPARE whose hmac-v2 envelope uses `opts`, expected to be rejected with `reason` and leave no signal. */
async function v2Rejected(ctx: CaseContext, opts: SignOptions, reason: ReasonCode, what: string, corrupt = false): Promise<string> {
  const p = ctx.prepare();
  const frame = corrupt ? mutatedFrame(ctx, p, (env) => withSignature(ctx, env, flipLastDigit), opts) : ctx.encode(p, opts);
  return rejectedAndKept(ctx, frame, reason, what, p.signal_id);
}

/** A PREPARE signed with `ts` offset by `offsetMs` from now. */
const tsOffset = (offsetMs: number): SignOptions => ({ ts: Date.now() + offsetMs });

const windowOf = (ctx: CaseContext): number => need(ctx.capabilities.timestampWindowMs, 'timestampWindowMs');
/** How far inside the window the edge cases stay: covers our own latency, not the server's rounding. */
const edgeMargin = (windowMs: number): number => Math.min(1_000, Math.floor(windowMs / 2));

/**
 * Sends a PREPARE with nonce N (accepted), then `second` signed with the same N,
 * expecting `reason`; the second signal must be left unused.
 */
async function reuseNonce(
  ctx: CaseContext,
  reason: ReasonCode,
  what: string,
  second: (nonce: string) => { signal: Record<string, unknown> & { signal_id: string }; opts: SignOptions },
  otherConnection = false,
): Promise<string> {
  const nonce = freshNonceFor();
  const conn = await ctx.connect();
  const first = await prepareOk(ctx, conn, {}, `first PREPARE with nonce ${nonce}`, { nonce });
  const conn2 = otherConnection ? await ctx.connect() : conn;
  const { signal, opts } = second(nonce);
  try {
    const rej = expectRejected(await conn2.request(signal, opts), reason, what);
    await expectUnused(ctx, conn2, signal.signal_id, what);
    return `${what}: rejected ${reason}${rej.error !== undefined ? ` (${show(rej.error, 100)})` : ''}; the second signal_id stayed unused`;
  } finally {
    await cleanup(ctx, conn, [first.signalId]);
  }
}

export const authCases: readonly ConformanceCase[] = [
  // §4.1 "Unknown envelope fields MUST be ignored."
  {
    id: 'auth.envelope.unknown-fields-ignored',
    section: '4.1',
    level: 'MUST',
    description: 'A valid PREPARE envelope with two extra top-level fields ("trace" object, "client" string) is accepted.',
    expected: 'Unknown envelope fields are ignored.',
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const frame = mutatedFrame(ctx, p, (env) => {
        env.trace = { span: 'abc', depth: 2 };
        env.client = 'conformance';
      });
      return acceptedPrepare(ctx, frame, p.signal_id, 'an envelope with unknown fields');
    }),
  },
  // §4.2 "none. Envelope { "id"?, "signal": {…} }. No authentication."
  {
    id: 'auth.none.unsigned-signal-accepted',
    section: '4.2',
    level: 'MUST',
    description: 'In auth mode none, an envelope carrying only the signal (no signature fields) is accepted.',
    expected: 'An unsigned PREPARE is accepted.',
    appliesTo: modes.none,
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const env = envelopeOf(ctx, p);
      check(!('signature' in env) && !('sig' in env), `internal: our none-mode envelope carries a signature: ${show(env)}`);
      return acceptedPrepare(ctx, ctx.encode(p), p.signal_id, 'an unsigned PREPARE');
    }),
  },
  // §4.1 "Unknown envelope fields MUST be ignored." — in mode none a "signature"
  // field is just an unknown field.
  {
    id: 'auth.none.signature-field-ignored',
    section: '4.1',
    level: 'MUST',
    description: 'In auth mode none, a PREPARE envelope that also carries a bogus "signature" string is accepted (the field is unknown in this mode and ignored).',
    expected: 'The bogus signature field is ignored; the PREPARE is accepted.',
    appliesTo: modes.none,
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const frame = mutatedFrame(ctx, p, (env) => (env.signature = 'not a signature'));
      return acceptedPrepare(ctx, frame, p.signal_id, 'an unsigned PREPARE with a bogus "signature" field');
    }),
  },
  // §4.2/§4.3 the envelope carries "signal": {…}; §5.5 IPC_ERROR for a "malformed envelope".
  {
    id: 'auth.envelope.signal-not-object',
    section: '4.2',
    level: 'MUST',
    description: 'An envelope whose "signal" is a string (correctly signed as such in hmac-json) is rejected with IPC_ERROR and the connection keeps serving.',
    expected: 'IPC_ERROR; connection kept.',
    appliesTo: modes.signalEnvelope,
    run: verdict(async (ctx) => {
      const frame = mutatedFrame(ctx, ctx.prepare(), (env) => {
        env.signal = 'PREPARE BTCUSDT Buy 1';
        resign(ctx, env);
      });
      return rejectedAndKept(ctx, frame, 'IPC_ERROR', 'an envelope whose signal is a string');
    }),
  },
  // §5.5 IPC_ERROR: "undecodable frame or body, malformed envelope, internal error"
  {
    id: 'auth.envelope.signal-missing',
    section: '4.2',
    level: 'MUST',
    description: 'An envelope without a "signal" field is rejected with IPC_ERROR and the connection keeps serving.',
    expected: 'IPC_ERROR; connection kept.',
    appliesTo: modes.signalEnvelope,
    run: verdict(async (ctx) => {
      const frame = mutatedFrame(ctx, ctx.prepare(), (env) => delete env.signal);
      return rejectedAndKept(ctx, frame, 'IPC_ERROR', 'an envelope without "signal"');
    }),
  },
  // §4.5 "In both HMAC modes the signature MUST be a string of exactly 64
  // hexadecimal digits (0-9a-fA-F)."
  {
    id: 'auth.signature.valid-accepted',
    section: '4.5',
    level: 'MUST',
    description: 'A PREPARE signed correctly (lowercase hex) is accepted.',
    expected: 'A correct signature is accepted.',
    appliesTo: modes.hmac,
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      return acceptedPrepare(ctx, ctx.encode(p), p.signal_id, 'a correctly signed PREPARE');
    }),
  },
  // §4.5 "… exactly 64 hexadecimal digits (0-9a-fA-F)."
  {
    id: 'auth.signature.uppercase-hex-accepted',
    section: '4.5',
    level: 'MUST',
    description: 'A PREPARE whose correct signature is written in uppercase hex digits (A-F) is accepted: the format allows 0-9a-fA-F.',
    expected: 'Uppercase hex is a valid signature format.',
    appliesTo: modes.hmac,
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const frame = mutatedFrame(ctx, p, (env) => withSignature(ctx, env, (s) => s.toUpperCase()));
      return acceptedPrepare(ctx, frame, p.signal_id, 'a PREPARE with an uppercase-hex signature');
    }),
  },
  // §4.5 "Anything else — missing, not a string, shorter, longer, trailing
  // characters or whitespace after 64 digits, non-hex characters — MUST be rejected
  // with INVALID_SIGNATURE without computing a comparison."
  ...BAD_SIGNATURES.map(
    (b): ConformanceCase => ({
      id: b.id,
      section: '4.5',
      level: 'MUST',
      description: `A PREPARE whose signature is ${b.what} is rejected with INVALID_SIGNATURE, not processed (its signal_id stays unused), and the connection keeps serving.`,
      expected: 'INVALID_SIGNATURE; connection kept; signal not created.',
      appliesTo: modes.hmac,
      run: verdict(async (ctx) => {
        const p = ctx.prepare();
        const frame = mutatedFrame(ctx, p, (env) => withSignature(ctx, env, (s) => b.make(s, ctx, env)));
        return rejectedAndKept(ctx, frame, 'INVALID_SIGNATURE', `a signature that is ${b.what}`, p.signal_id);
      }),
    }),
  ),
  // §4.3.1 "The server MUST compute the HMAC over JSON.stringify of the decoded
  // signal value and compare it with signature (§4.5)."
  {
    id: 'auth.hmac-json.signal-tampered',
    section: '4.3.1',
    level: 'MUST',
    description: 'A PREPARE whose signal was changed after signing (qty 0.02 instead of the signed 0.01) is rejected with INVALID_SIGNATURE and its signal_id stays unused.',
    expected: 'INVALID_SIGNATURE for a signal that is not the signed one.',
    appliesTo: modes.hmacJson,
    run: verdict(async (ctx) => {
      const signed = ctx.prepare({ qty: 0.01 });
      const sent = { ...signed, qty: 0.02 };
      const frame = mutatedFrame(ctx, signed, (env) => (env.signal = envelopeOf(ctx, sent).signal));
      return rejectedAndKept(ctx, frame, 'INVALID_SIGNATURE', 'a signal altered after signing', signed.signal_id);
    }),
  },
  // §4.3 "signature = hex(HMAC-SHA256(secret, JSON.stringify(signal)))"
  {
    id: 'auth.hmac-json.nested-unicode-signal',
    section: '4.3',
    level: 'MUST',
    description: 'A PREPARE carrying an extra nested field with arrays, booleans and non-ASCII text (é, ☃, 😀, 日本) signed over JSON.stringify(signal) is accepted.',
    expected: 'The HMAC of JSON.stringify(signal) matches for nested and non-ASCII values.',
    appliesTo: modes.hmacJson,
    run: verdict(async (ctx) => {
      const p = ctx.prepare({ meta: { z: 1, a: { list: [1, 'two', { deep: true }] }, text: 'naïve café ☃ 😀 日本', empty: {} } });
      return acceptedPrepare(ctx, ctx.encode(p), p.signal_id, 'a PREPARE with a nested, non-ASCII field');
    }),
  },
  // §4.3 "… and JSON.stringify is the ECMAScript function applied to the signal as
  // decoded by the server." §4.3.1.
  {
    id: 'auth.hmac-json.signed-over-decoded-value',
    section: '4.3.1',
    level: 'MUST',
    description:
      'A PREPARE whose wire JSON differs from JSON.stringify of its decoded value (an integer-like key after others, 2.50, 1e2, \\u0041, \\/) and whose signature is the HMAC of JSON.stringify(decoded signal) is accepted: the server must not sign the wire bytes.',
    expected: 'The HMAC is computed over JSON.stringify of the decoded signal, not over the received text.',
    appliesTo: (m) => modes.hmacJson(m) && modes.json(m),
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const text = JSON.stringify(targetSignalOf(ctx, p));
      const wire = `{"zz_meta":{"b":1,"10":2.50,"c":1e2,"s":"\\u0041\\/x"},${text.slice(1)}`;
      const canonical = JSON.stringify(JSON.parse(wire) as unknown);
      check(canonical !== wire, 'internal: the wire text should differ from its JSON.stringify form');
      const envText = `{"signal":${wire},"signature":"${hmacHex(ctx.mode.secret, canonical)}"}`;
      return acceptedPrepare(ctx, frameOf(ctx, Buffer.from(envText, 'utf8')), p.signal_id, 'a PREPARE signed over JSON.stringify of the decoded signal');
    }),
  },
  // §4.4 "sig = hex(HMAC-SHA256(secret, ascii(ts) + "." + nonce + "." + body))";
  // "body is carried verbatim". §4.4.1 "The server MUST verify sig over the body
  // bytes exactly as received, before decoding body."
  {
    id: 'auth.hmac-v2.body-verbatim',
    section: '4.4.1',
    level: 'MUST',
    description: 'A PREPARE whose body text is pretty-printed JSON (indentation, newlines, trailing space), signed over exactly that text, is accepted.',
    expected: 'The signature is verified over the body bytes as received.',
    appliesTo: modes.hmacV2,
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const bodyText = `${JSON.stringify(targetSignalOf(ctx, p), null, 2)} `;
      return acceptedPrepare(ctx, ctx.encode(p, { bodyText }), p.signal_id, 'a PREPARE with a pretty-printed body');
    }),
  },
  // §4.4.1 "The server MUST verify sig over the body bytes exactly as received, before decoding body."
  {
    id: 'auth.hmac-v2.body-tampered',
    section: '4.4.1',
    level: 'MUST',
    description: 'A PREPARE whose body was replaced after signing (the same signal with qty 0.02) is rejected with INVALID_SIGNATURE and its signal_id stays unused.',
    expected: 'INVALID_SIGNATURE for a body that is not the signed one.',
    appliesTo: modes.hmacV2,
    run: verdict(async (ctx) => {
      const signed = ctx.prepare({ qty: 0.01 });
      const sent = { ...signed, qty: 0.02 };
      const frame = mutatedFrame(ctx, signed, (env) => (env.body = envelopeOf(ctx, sent).body));
      return rejectedAndKept(ctx, frame, 'INVALID_SIGNATURE', 'a body altered after signing', signed.signal_id);
    }),
  },
  // §4.4 "… MessagePack bytes (bin) contribute themselves. The signal is … the
  // MessagePack value in body (bytes)."
  {
    id: 'auth.hmac-v2.msgpack-bin-body',
    section: '4.4',
    level: 'MUST',
    description: 'In a MessagePack framing, a PREPARE whose hmac-v2 body is MessagePack bytes (bin) signed over those bytes is accepted.',
    expected: 'A bin body is verified over its bytes and decoded as MessagePack.',
    appliesTo: (m) => modes.hmacV2(m) && modes.msgpack(m),
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const binaryBody = encodeBody('msgpack', targetSignalOf(ctx, p));
      return acceptedPrepare(ctx, ctx.encode(p, { binaryBody }), p.signal_id, 'a PREPARE with a MessagePack bin body');
    }),
  },
  // §4.4.2 "The server MUST reject with STALE_TIMESTAMP a request whose ts differs
  // from the server's clock by more than timestampWindowMs, in either direction."
  {
    id: 'auth.hmac-v2.ts-stale',
    section: '4.4.2',
    level: 'MUST',
    description: 'A correctly signed PREPARE whose ts is timestampWindowMs + 5 s in the past is rejected with STALE_TIMESTAMP and its signal_id stays unused.',
    expected: 'STALE_TIMESTAMP.',
    requires: ['timestampWindowMs'],
    appliesTo: modes.hmacV2,
    run: verdict((ctx) => v2Rejected(ctx, tsOffset(-(windowOf(ctx) + 5_000)), 'STALE_TIMESTAMP', `ts ${windowOf(ctx) + 5_000} ms in the past`)),
  },
  // §4.4.2 "… by more than timestampWindowMs, in either direction."
  {
    id: 'auth.hmac-v2.ts-future',
    section: '4.4.2',
    level: 'MUST',
    description: 'A correctly signed PREPARE whose ts is timestampWindowMs + 5 s in the future is rejected with STALE_TIMESTAMP and its signal_id stays unused.',
    expected: 'STALE_TIMESTAMP.',
    requires: ['timestampWindowMs'],
    appliesTo: modes.hmacV2,
    run: verdict((ctx) => v2Rejected(ctx, tsOffset(windowOf(ctx) + 5_000), 'STALE_TIMESTAMP', `ts ${windowOf(ctx) + 5_000} ms in the future`)),
  },
  // §4.4.2 only a ts differing "by more than timestampWindowMs" is STALE_TIMESTAMP.
  {
    id: 'auth.hmac-v2.ts-edge-past-accepted',
    section: '4.4.2',
    level: 'MUST',
    description: 'A PREPARE whose ts is just inside the window in the past (timestampWindowMs minus min(1 s, window/2)) is accepted.',
    expected: 'A timestamp inside the window is accepted.',
    requires: ['timestampWindowMs'],
    appliesTo: modes.hmacV2,
    run: verdict(async (ctx) => {
      const w = windowOf(ctx);
      const p = ctx.prepare();
      return acceptedPrepare(ctx, ctx.encode(p, tsOffset(-(w - edgeMargin(w)))), p.signal_id, `ts ${w - edgeMargin(w)} ms in the past`);
    }),
  },
  // §4.4.2 "… in either direction."
  {
    id: 'auth.hmac-v2.ts-edge-future-accepted',
    section: '4.4.2',
    level: 'MUST',
    description: 'A PREPARE whose ts is just inside the window in the future (timestampWindowMs minus min(1 s, window/2)) is accepted.',
    expected: 'A timestamp inside the window is accepted.',
    requires: ['timestampWindowMs'],
    appliesTo: modes.hmacV2,
    run: verdict(async (ctx) => {
      const w = windowOf(ctx);
      const p = ctx.prepare();
      return acceptedPrepare(ctx, ctx.encode(p, tsOffset(w - edgeMargin(w))), p.signal_id, `ts ${w - edgeMargin(w)} ms in the future`);
    }),
  },
  // §4.4.3 "The server MUST remember each accepted nonce for at least
  // timestampWindowMs and MUST reject a second request with the same nonce within
  // that time with REPLAY_DETECTED."
  {
    id: 'auth.hmac-v2.replay-same-frame',
    section: '4.4.3',
    level: 'MUST',
    description: 'The exact bytes of an accepted PREPARE sent again on the same connection are rejected with REPLAY_DETECTED (not DUPLICATE_SIGNAL: replay is checked before semantics).',
    expected: 'REPLAY_DETECTED for a replayed frame.',
    appliesTo: modes.hmacV2,
    run: verdict(async (ctx) => {
      const p = ctx.prepare();
      const frame = ctx.encode(p);
      const conn = await ctx.connect();
      try {
        await conn.write(frame);
        expectAccepted(await conn.read(), 'the original PREPARE');
        await conn.write(frame);
        const rej = expectRejected(await conn.read(), 'REPLAY_DETECTED', 'the same frame sent again');
        return `original accepted; the replayed frame was rejected REPLAY_DETECTED${rej.error !== undefined ? ` (${show(rej.error, 80)})` : ''}`;
      } finally {
        await cleanup(ctx, conn, [p.signal_id]);
      }
    }),
  },
  // §4.4.3 "… MUST reject a second request with the same nonce within that time with REPLAY_DETECTED."
  {
    id: 'auth.hmac-v2.replay-other-signal',
    section: '4.4.3',
    level: 'MUST',
    description: 'After a PREPARE with nonce N is accepted, a different, correctly signed PREPARE reusing N is rejected with REPLAY_DETECTED and its signal_id stays unused.',
    expected: 'REPLAY_DETECTED for a reused nonce.',
    appliesTo: modes.hmacV2,
    run: verdict((ctx) => reuseNonce(ctx, 'REPLAY_DETECTED', 'another PREPARE reusing the nonce', (nonce) => ({ signal: ctx.prepare(), opts: { nonce } }))),
  },
  // §4.4.3 "… a second request with the same nonce …" (on any connection).
  {
    id: 'auth.hmac-v2.replay-across-connections',
    section: '4.4.3',
    level: 'MUST',
    description: 'A nonce accepted on one connection is rejected with REPLAY_DETECTED when reused by a correctly signed PREPARE on another connection.',
    expected: 'The nonce cache is shared by all connections.',
    appliesTo: modes.hmacV2,
    run: verdict((ctx) =>
      reuseNonce(ctx, 'REPLAY_DETECTED', 'a PREPARE reusing the nonce on another connection', (nonce) => ({ signal: ctx.prepare(), opts: { nonce } }), true),
    ),
  },
  // §4.4.3 "Nonces of requests that failed verification MUST NOT be remembered
  // (they would let anyone poison the cache)."
  {
    id: 'auth.hmac-v2.failed-verification-keeps-nonce-free',
    section: '4.4.3',
    level: 'MUST',
    description: 'A PREPARE with nonce N and a wrong sig is rejected INVALID_SIGNATURE; then the same PREPARE correctly signed with nonce N is accepted (N was not burnt).',
    expected: 'A nonce is remembered only once its request passed verification.',
    appliesTo: modes.hmacV2,
    run: verdict(async (ctx) => {
      const nonce = freshNonceFor();
      const p = ctx.prepare();
      const conn = await ctx.connect();
      await conn.write(mutatedFrame(ctx, p, (env) => withSignature(ctx, env, flipLastDigit), { nonce }));
      expectRejected(await conn.read(), 'INVALID_SIGNATURE', `a wrongly signed PREPARE with nonce ${nonce}`);
      await conn.write(ctx.encode(p, { nonce }));
      const reply = expectAccepted(await conn.read(), `the correctly signed PREPARE with the same nonce ${nonce}`);
      await cleanup(ctx, conn, [p.signal_id]);
      return `INVALID_SIGNATURE, then the same nonce correctly signed was accepted (state ${show(reply.fields.state)})`;
    }),
  },
  // §4.4.4 "ts that is not a non-negative integer, a missing or malformed nonce, or a
  // missing body MUST be answered with IPC_ERROR."
  ...MALFORMED_V2.map(
    (m): ConformanceCase => ({
      id: m.id,
      section: '4.4.4',
      level: 'MUST',
      description: `A PREPARE in an hmac-v2 envelope with ${m.what} is rejected with IPC_ERROR, not processed (its signal_id stays unused), and the connection keeps serving.`,
      expected: 'IPC_ERROR; connection kept.',
      appliesTo: modes.hmacV2,
      run: verdict(async (ctx) => {
        const p = ctx.prepare();
        const frame = mutatedFrame(ctx, p, (env) => {
          m.mutate(env);
          if (m.resign) resign(ctx, env);
        });
        return rejectedAndKept(ctx, frame, 'IPC_ERROR', m.what, p.signal_id);
      }),
    }),
  ),
  // §4.6 "A server MUST apply, in this order: frame (§3) → rate limit (§6.7) →
  // envelope shape (§4.2–4.4.4) → signature (§4.5) → timestamp (§4.4.2) → replay
  // (§4.4.3) → signal schema (§6.1) → signal semantics (§6.2–6.6). The first failing
  // check determines the reason."
  {
    id: 'auth.order.shape-before-signature',
    section: '4.6',
    level: 'MUST',
    description: 'An envelope that is both malformed (hmac-json: signal is a string; hmac-v2: nonce missing) and wrongly signed is rejected with IPC_ERROR, not INVALID_SIGNATURE.',
    expected: 'The envelope shape is checked before the signature.',
    appliesTo: modes.hmac,
    run: verdict(async (ctx) => {
      const frame = mutatedFrame(ctx, ctx.prepare(), (env) => {
        withSignature(ctx, env, flipLastDigit);
        if (ctx.mode.auth === 'hmac-v2') delete env.nonce;
        else env.signal = 'not an object';
      });
      return rejectedAndKept(ctx, frame, 'IPC_ERROR', 'a malformed, wrongly signed envelope');
    }),
  },
  // §4.6 "… signature (§4.5) → … → signal schema (§6.1) …"
  {
    id: 'auth.order.signature-before-schema',
    section: '4.6',
    level: 'MUST',
    description: 'A PREPARE that violates the schema (qty -1) and is wrongly signed is rejected with INVALID_SIGNATURE, not INVALID_SIGNAL.',
    expected: 'The signature is checked before the signal schema.',
    appliesTo: modes.hmac,
    run: verdict(async (ctx) => {
      const frame = mutatedFrame(ctx, ctx.prepare({ qty: -1 }), (env) => withSignature(ctx, env, flipLastDigit));
      return rejectedAndKept(ctx, frame, 'INVALID_SIGNATURE', 'an invalid, wrongly signed signal');
    }),
  },
  // §4.6 "… signature (§4.5) → timestamp (§4.4.2) …"
  {
    id: 'auth.order.signature-before-timestamp',
    section: '4.6',
    level: 'MUST',
    description: 'A PREPARE with a stale ts (window + 5 s in the past) and a wrong sig is rejected with INVALID_SIGNATURE, not STALE_TIMESTAMP.',
    expected: 'The signature is checked before the timestamp.',
    requires: ['timestampWindowMs'],
    appliesTo: modes.hmacV2,
    run: verdict((ctx) => v2Rejected(ctx, tsOffset(-(windowOf(ctx) + 5_000)), 'INVALID_SIGNATURE', 'a stale, wrongly signed PREPARE', true)),
  },
  // §4.6 "… timestamp (§4.4.2) → replay (§4.4.3) …"
  {
    id: 'auth.order.timestamp-before-replay',
    section: '4.6',
    level: 'MUST',
    description: 'After nonce N was accepted, a correctly signed PREPARE reusing N with a stale ts is rejected with STALE_TIMESTAMP, not REPLAY_DETECTED.',
    expected: 'The timestamp is checked before the replay cache.',
    requires: ['timestampWindowMs'],
    appliesTo: modes.hmacV2,
    run: verdict((ctx) =>
      reuseNonce(ctx, 'STALE_TIMESTAMP', 'a stale PREPARE reusing the nonce', (nonce) => ({
        signal: ctx.prepare(),
        opts: { nonce, ts: Date.now() - (windowOf(ctx) + 5_000) },
      })),
    ),
  },
  // §4.6 "… replay (§4.4.3) → signal schema (§6.1) …"
  {
    id: 'auth.order.replay-before-schema',
    section: '4.6',
    level: 'MUST',
    description: 'After nonce N was accepted, a correctly signed but schema-invalid PREPARE (qty 0) reusing N is rejected with REPLAY_DETECTED, not INVALID_SIGNAL.',
    expected: 'The replay cache is checked before the signal schema.',
    appliesTo: modes.hmacV2,
    run: verdict((ctx) =>
      reuseNonce(ctx, 'REPLAY_DETECTED', 'an invalid PREPARE reusing the nonce', (nonce) => ({ signal: ctx.prepare({ qty: 0 }), opts: { nonce } })),
    ),
  },
];
