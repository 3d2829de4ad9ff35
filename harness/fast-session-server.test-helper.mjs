// A tiny fast-session server (docs/SPEC.md §10) for harness/fast-session-client.test.ts:
// written directly on the compiled ring/ and protocol/ libraries (dist/, so run tsc
// first), in its own process like any server under test. It is a fixture, not the
// thing under test: just enough of §10 to exercise the harness client.
//
// Usage: node harness/fast-session-server.test-helper.mjs SOCKET FRAMING AUTH SECRET [options]
//   --behaviour ready|invalid|refuse|malformed|mute   what a HELLO gets (default ready)
//   --wait spin|spin-then-futex|futex                 the server's wait (default spin-then-futex)
//   --max-message-bytes N                             announced in READY (default 64 MiB)
// Prints {"listening":SOCKET} once it accepts connections, then one JSON line per HELLO
// ({"hello":{...},"verified":true}); exits on SIGTERM.
import { createServer } from 'node:net';
import { rmSync } from 'node:fs';

const protocol = await import(new URL('../dist/protocol/index.js', import.meta.url).href);
const ring = await import(new URL('../dist/ring/index.js', import.meta.url).href);

const [socketPath, framingName, auth, secret, ...rest] = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = rest.indexOf(name);
  return i === -1 ? dflt : rest[i + 1];
};
const behaviour = opt('--behaviour', 'ready');
const wait = opt('--wait', 'spin-then-futex');
const maxMessageBytes = Number(opt('--max-message-bytes', String(64 * 1024 * 1024)));
const framing = protocol.parseFraming(framingName, 16 * 1024 * 1024);

function reply(socket, value) {
  socket.write(protocol.encodeMessage(framing, value));
}

function respond(send, m) {
  if (m.type !== 'request' || m.method === 'hang') return; // notifications get nothing; hang never answers
  const base = { version: 1, type: 'response', id: m.id };
  if (m.method === 'echo') send({ ...base, result: m.params ?? new Uint8Array(0) });
  else if (m.method === 'sink') send({ ...base, result: new Uint8Array(0) });
  else if (m.method === 'signal') send({ ...base, result: protocol.encodeBody(framing.codec, { accepted: true }) });
  else send({ ...base, error: { code: 'UNKNOWN_METHOD', message: `no method ${m.method}` } });
}

function startShm(socket, hello, id) {
  let session;
  try {
    const request = ring.openRingSegment(hello.requestRing, hello.capacityBytes);
    const response = ring.openRingSegment(hello.responseRing, hello.capacityBytes);
    session = ring.RingSession.server(request, response, { wait: { strategy: wait }, maxMessageBytes });
  } catch (err) {
    reply(socket, { id, rejected: true, reason: 'SESSION_REFUSED', error: err.message });
    return false;
  }
  reply(socket, { id, accepted: true, type: 'READY', version: 1, transport: 'shm', maxMessageBytes, wait, serverPid: process.pid });
  const send = (message) => {
    if (!session.send(message)) session.flushAsync(() => socket.destroy());
  };
  session.startReceiving(
    (incoming) => {
      if (!incoming.ok) return;
      const m = incoming.message;
      // echo answers with the bytes in the ring: copy them before releasing.
      const copy = m.params === undefined || m.method !== 'echo' ? m : { ...m, params: Uint8Array.prototype.slice.call(m.params) };
      incoming.release();
      respond(send, copy);
    },
    () => socket.destroy(),
  );
  socket.on('close', () => session.close());
  return true;
}

function startUds(socket) {
  const decoder = protocol.createFrameDecoder(protocol.parseFraming('lp32-msgpack', maxMessageBytes));
  const send = (message) => {
    const body = protocol.encodeFastMessageBytes(message);
    const prefix = Buffer.alloc(4);
    prefix.writeUInt32BE(body.length, 0);
    socket.write(Buffer.concat([prefix, body]));
  };
  return (chunk) => {
    for (const ev of decoder.push(chunk)) {
      if (ev.type === 'error') return socket.destroy();
      const d = protocol.decodeFastMessage(ev.body);
      if (d.ok) respond(send, d.message);
    }
  };
}

const server = createServer((socket) => {
  const decoder = protocol.createFrameDecoder(framing);
  let fast;
  socket.on('error', () => undefined);
  socket.on('data', (chunk) => {
    if (fast !== undefined) return fast(chunk);
    const events = decoder.push(chunk);
    for (const ev of events) {
      if (ev.type !== 'frame') return socket.destroy();
      const body = protocol.decodeBody(framing.codec, ev.body);
      if (!body.ok) return reply(socket, { rejected: true, reason: 'IPC_ERROR', error: body.error });
      const v = protocol.verifyEnvelope(auth, secret, body.value, { nowMs: Date.now(), timestampWindowMs: 30_000 });
      if (!v.ok) return reply(socket, { id: v.id, rejected: true, reason: v.reason, error: v.error });
      const signal = v.v2Body !== undefined ? protocol.decodeV2Body(v.v2Body).value : v.signal;
      process.stdout.write(`${JSON.stringify({ hello: signal, verified: true })}\n`);
      if (behaviour === 'mute') return;
      if (behaviour === 'invalid') return reply(socket, { id: v.id, rejected: true, reason: 'INVALID_SIGNAL', error: 'unknown signal type HELLO' });
      if (behaviour === 'refuse') return reply(socket, { id: v.id, rejected: true, reason: 'SESSION_REFUSED', error: 'segment refused: fixture says no' });
      if (behaviour === 'malformed') return reply(socket, { id: v.id, accepted: true, type: 'READY' });
      const hello = protocol.HelloSchema.safeParse(signal);
      if (!hello.success) return reply(socket, { id: v.id, rejected: true, reason: 'INVALID_SIGNAL', error: protocol.formatIssues(hello.error) });
      if (hello.data.transport === 'shm') {
        startShm(socket, hello.data, v.id);
        fast = () => socket.destroy(); // §10.1.5: any byte ends the session
      } else {
        fast = startUds(socket);
        reply(socket, { id: v.id, accepted: true, type: 'READY', version: 1, transport: 'uds', maxMessageBytes, serverPid: process.pid });
      }
      return;
    }
  });
});

rmSync(socketPath, { force: true });
server.listen(socketPath, () => process.stdout.write(`${JSON.stringify({ listening: socketPath })}\n`));
process.on('SIGTERM', () => {
  server.close();
  process.exit(0);
});
