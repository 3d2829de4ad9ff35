// The other process of ring/ring.cross-process.test.ts and ring/crash.test.ts: a plain
// Node process at one end of a ring the test created, using the compiled ring library
// (dist/ring/*.js: run tsc first). Records are the numbered test stream of
// ring/test-records.ts (sequence number, length, checksum, pool bytes).
//
//   node ring/test-producer.mjs stream  <segment> <capacity> <count> <seed> <minBytes> <maxBytes> <wait>
//       writes <count> records, closes its end, prints {"written":N,"bytes":B}, exits 0 by itself
//   node ring/test-producer.mjs flood   <segment> <capacity> <seed> <minBytes> <maxBytes> <wait>
//       prints {"attached":pid}, then writes records as fast as the ring allows until killed:
//       16 sizes drawn once, each payload gathered from 256-byte parts prepared in advance,
//       so that the process spends its time inside RingProducer.tryWrite (copying) and a
//       SIGKILL at a random moment usually lands in the middle of a record
//   node ring/test-producer.mjs beat    <segment> <capacity> <intervalMs>
//       attaches as the producer, prints {"attached":pid}, refreshes its heartbeat every
//       <intervalMs> and writes nothing, until killed
//   node ring/test-producer.mjs consume <segment> <capacity> <count> <seed> <maxBytes> <wait>
//       reads <count> records and checks each, prints {"read":N}, exits 0 (1 on a bad record)
//
// The pool of data bytes is testPool(seed, 2 * maxBytes) on both sides.
const ring = await import(new URL('../dist/ring/index.js', import.meta.url).href);
const records = await import(new URL('../dist/ring/test-records.js', import.meta.url).href);

const [command, segmentName, ...rest] = process.argv.slice(2);
const num = (i) => {
  const value = Number(rest[i]);
  if (!Number.isFinite(value)) throw new Error(`argument ${i + 3} must be a number, got ${String(rest[i])}`);
  return value;
};
const wake = (buffer, byteOffset) => void ring.futexWake(buffer, byteOffset, 1);
const say = (value) => process.stdout.write(`${JSON.stringify(value)}\n`);

/** Writes records until `count` (Infinity: until killed); blocks in the ring's wait strategy when it is full. */
function produce(producer, count, seed, minBytes, maxBytes, policy) {
  const pool = records.testPool(seed, 2 * maxBytes);
  const rand = records.seededRandom(seed ^ 0x5bd1e995);
  let bytes = 0;
  let seq = 0;
  for (; seq < count; seq++) {
    const plan = records.planTestRecord(rand, seq, minBytes, maxBytes, pool.byteLength);
    const parts = records.testRecordParts(plan, pool);
    producer.heartbeat();
    while (!producer.tryWrite(records.TEST_RECORD_TYPE, parts)) {
      ring.waitForSpace(producer, plan.payloadBytes, policy, 1_000);
      producer.heartbeat();
    }
    bytes += plan.payloadBytes;
  }
  return { written: seq, bytes };
}

const commands = {
  stream() {
    const segment = ring.openRingSegment(segmentName, num(0));
    const producer = new ring.RingProducer(segment.buffer, { wake });
    const result = produce(producer, num(1), num(2), num(3), num(4), { strategy: rest[5] });
    producer.close();
    segment.close();
    say(result);
  },
  flood() {
    const segment = ring.openRingSegment(segmentName, num(0));
    const producer = new ring.RingProducer(segment.buffer, { wake });
    const [seed, minBytes, maxBytes] = [num(1), num(2), num(3)];
    const policy = { strategy: rest[4] };
    const pool = records.testPool(seed, 2 * maxBytes);
    const rand = records.seededRandom(seed ^ 0x5bd1e995);
    const shapes = Array.from({ length: 16 }, () => {
      const plan = records.planTestRecord(rand, 0, minBytes, maxBytes, pool.byteLength);
      return { plan, parts: records.testRecordParts(plan, pool, 256) };
    });
    say({ attached: process.pid });
    for (let seq = 0; ; seq++) {
      const { plan, parts } = shapes[seq % shapes.length];
      parts[0] = records.testRecordPrefix({ ...plan, seq });
      producer.heartbeat();
      while (!producer.tryWrite(records.TEST_RECORD_TYPE, parts)) ring.waitForSpace(producer, plan.payloadBytes, policy, 1_000);
    }
  },
  beat() {
    const segment = ring.openRingSegment(segmentName, num(0));
    const producer = new ring.RingProducer(segment.buffer, { wake });
    producer.heartbeat();
    setInterval(() => producer.heartbeat(), num(1));
    say({ attached: process.pid });
  },
  consume() {
    const segment = ring.openRingSegment(segmentName, num(0));
    const consumer = new ring.RingConsumer(segment.buffer, { wake });
    const count = num(1);
    const pool = records.testPool(num(2), 2 * num(3));
    const policy = { strategy: rest[4] };
    let read = 0;
    while (read < count) {
      const record = consumer.tryRead();
      if (record === null) {
        if (consumer.ended) break;
        ring.waitForData(consumer, policy, 1_000);
        continue;
      }
      const problem = records.testRecordProblem(record.payload, read, pool);
      if (problem !== undefined) {
        process.stderr.write(`bad record: ${problem}\n`);
        process.exitCode = 1;
        return;
      }
      consumer.release(record);
      read++;
    }
    consumer.close();
    segment.close();
    say({ read });
  },
};

const run = commands[command];
if (run === undefined) {
  process.stderr.write(`unknown command ${String(command)}; one of ${Object.keys(commands).join(', ')}\n`);
  process.exitCode = 2;
} else {
  run();
}
