// The other process of reference-impl/queue.crash.test.ts and queue.test.ts: a plain
// Node process using the compiled queue (dist/reference-impl/queue.js: run tsc first).
//
//   node reference-impl/queue-child.test-helper.mjs enqueue <path> <full|normal> <seed>
//       enqueues until killed: single enqueues and batches of 2–8 (one transaction
//       each), payloads of 0 B to 64 KiB; after each enqueue or enqueueBatch RETURNS it
//       prints the committed ids as one line, separated by spaces. Ids are
//       `${seed}-${n}`; each payload is {"id":id,"size":n,"pad":c.repeat(n)} with c
//       the letter of (n mod 26), so the reader can check it whole.
//   node reference-impl/queue-child.test-helper.mjs open <path> <busyTimeoutMs>
//       constructs a SqliteQueue on <path>, enqueues one message, closes; prints
//       {"ok":true} or {"code":...,"message":...}; exits 0 (the read-only cases, run
//       as an unprivileged user when the tests run as root)
//
// stdout is a pipe, and writes to pipes are synchronous on Linux: once `say` returns,
// the line is in the kernel's pipe buffer and survives the SIGKILL.
const { SqliteQueue } = await import(new URL('../dist/reference-impl/queue.js', import.meta.url).href);
const { seededRandom } = await import(new URL('../dist/ring/test-records.js', import.meta.url).href);

const [command, path, ...rest] = process.argv.slice(2);
const say = (line) => process.stdout.write(`${line}\n`);

/** The payload of message `n` (the parent checks it with the same rule). */
function crashPayload(id, size) {
  return { id, size, pad: String.fromCharCode(97 + (size % 26)).repeat(size) };
}

const commands = {
  enqueue() {
    const seed = Number(rest[1]);
    const queue = new SqliteQueue({ path, synchronous: rest[0] });
    const rand = seededRandom(seed);
    const size = () => {
      const r = rand();
      if (r < 0.7) return Math.floor(rand() * 200);
      if (r < 0.95) return Math.floor(rand() * 4096);
      return Math.floor(rand() * 65536);
    };
    const message = (n) => {
      const id = `${seed}-${n}`;
      return { id, producer: `p${n % 3}`, type: 'crash', payload: crashPayload(id, size()) };
    };
    for (let n = 0; ; ) {
      if (rand() < 0.5) {
        const m = message(n++);
        queue.enqueue(m);
        say(m.id);
      } else {
        const batch = Array.from({ length: 2 + Math.floor(rand() * 7) }, () => message(n++));
        queue.enqueueBatch(batch);
        say(batch.map((m) => m.id).join(' '));
      }
    }
  },
  open() {
    try {
      const queue = new SqliteQueue({ path, busyTimeoutMs: Number(rest[0] ?? 1000) });
      queue.enqueue({ id: 'probe', type: 'probe', payload: null });
      queue.close();
      say(JSON.stringify({ ok: true }));
    } catch (err) {
      say(JSON.stringify({ code: err.code ?? 'not a FastPathError', message: err.message }));
    }
  },
};

const run = commands[command];
if (run === undefined) {
  process.stderr.write(`unknown command ${String(command)}; one of ${Object.keys(commands).join(', ')}\n`);
  process.exitCode = 2;
} else {
  run();
}
