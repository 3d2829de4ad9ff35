// The other process of reference-impl/fast-session.test.ts: a plain Node process using
// the compiled reference implementation (dist/, so run tsc first).
// Usage:
//   node reference-impl/fast-session-child.test-helper.mjs client <socket>
//     opens a shm fast session (auth none, ndjson), echoes once, prints one JSON line
//     {"transport", "echoed"} and idles until killed.
//   node reference-impl/fast-session-child.test-helper.mjs server <socket>
//     runs a reference server (auth none, ndjson), prints {"listening": true} and serves
//     until killed.
const { FastClient, FastPathServer } = await import(new URL('../dist/reference-impl/index.js', import.meta.url).href);
const [role, socketPath] = process.argv.slice(2);

if (role === 'client') {
  const client = await FastClient.connect({ socketPath, framing: 'ndjson', auth: 'none', transport: 'shm' });
  const echoed = await client.request('echo', Uint8Array.of(1, 2, 3));
  console.log(JSON.stringify({ transport: client.transport, echoed: [...echoed] }));
  setInterval(() => undefined, 1_000);
} else if (role === 'server') {
  const server = new FastPathServer({ socketPath, framing: 'ndjson', auth: 'none', log: () => undefined });
  await server.start();
  console.log(JSON.stringify({ listening: true }));
  setInterval(() => undefined, 1_000);
} else {
  console.error(`unknown role ${role}: use client or server`);
  process.exitCode = 2;
}
