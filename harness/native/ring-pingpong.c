/*
 * ring-pingpong: the native shared-memory ring floor of `fastpath bench --transport`.
 *
 * An independent C implementation of the ring layout of docs/SPEC.md §10.3 (version 1)
 * and of the FastMessage record rules of §10.4.2, between two processes: it creates two
 * segments in /dev/shm (O_EXCL, mode 0600, 320 + CAPACITY bytes, header written with the
 * `ready` word last), maps them, unlinks their names and forks. The parent produces
 * into ring A and consumes ring B; the child the other way round. Both sides spin on
 * the position words (a pause instruction between reads); no futex is needed because
 * nobody sleeps, but a producer still rings the doorbell of a consumer that announced
 * a wait (§10.3.4).
 *
 *   ring-pingpong [--count N] [--warmup N] [--size BYTES] [--transfer BYTES,...]
 *                 [--reps N] [--capacity BYTES] [--cpus PARENT,CHILD]
 *   ring-pingpong --emit NAME COUNT     (test hook: create ring NAME, write COUNT records
 *                                        of 1..COUNT bytes (byte i of record k is
 *                                        (k + i) & 0xff), keep the name, exit)
 *
 * Measures, with clock_gettime(CLOCK_MONOTONIC):
 *  - ping-pong: WARMUP + COUNT round trips of a SIZE-byte record (default 64): the
 *    parent writes it into A, the child echoes its payload into B, the parent reads it;
 *  - transfers: for each size, 2 warm-up + REPS transfers: the parent sends one message
 *    of that size (one MESSAGE record when it fits the record limit, else MESSAGE_START
 *    and MESSAGE_PART records, waiting for space as the child frees it); the child
 *    reassembles chunked messages into its own buffer (a single record is read in place,
 *    as the Node server does) and answers with an empty record; time is from the first
 *    byte written to the answer read.
 *
 * Prints one JSON line (nearest-rank percentiles, ns):
 *   {"capacityBytes":C,"recordLimitBytes":L,"pingpong":{"count":..,"sizeBytes":..,"p50Ns":..,"p90Ns":..,
 *    "p99Ns":..,"p999Ns":..,"maxNs":..,"minNs":..,"meanNs":..,"durationNs":..},
 *    "transfers":[{"sizeBytes":..,"reps":..,"p50Ns":..,"p99Ns":..,"minNs":..,"maxNs":..,"meanNs":..}]}
 * Errors go to stderr with exit code 1. Built at first use by harness/native-tools.ts.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <linux/futex.h>
#include <sched.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

/* §10.3.1: byte offsets of the header words. */
enum {
  OFF_MAGIC = 0,
  OFF_VERSION = 4,
  OFF_HEADER_BYTES = 8,
  OFF_CAPACITY = 12,
  OFF_SEGMENT_BYTES = 16,
  OFF_RECORD_LIMIT = 20,
  OFF_CREATOR_PID = 24,
  OFF_READY = 60,
  OFF_WRITE_POS = 64,
  OFF_PRODUCER_PID = 68,
  OFF_PRODUCER_HEARTBEAT = 72,
  OFF_NEXT_SEQ = 76,
  OFF_PRODUCER_CLOSED = 80,
  OFF_READ_POS = 128,
  OFF_CONSUMER_PID = 132,
  OFF_CONSUMER_HEARTBEAT = 136,
  OFF_CONSUMER_CLOSED = 140,
  OFF_DATA_DOORBELL = 192,
  OFF_CONSUMER_WAITING = 196,
  OFF_SPACE_DOORBELL = 256,
  OFF_PRODUCER_WAITING = 260,
  HEADER_BYTES = 320,
};

#define MAGIC 0x47525046u /* "FPRG" little-endian */
#define LAYOUT_VERSION 1u
#define RECORD_HEADER 16u
#define TYPE_PAD 0u
#define TYPE_MESSAGE 1u
#define TYPE_MESSAGE_START 2u
#define TYPE_MESSAGE_PART 3u
#define TYPE_STOP 9u
#define SPIN_LIMIT_NS 20000000000ULL /* a peer silent for 20 s is a bug: stop */

static const char *prog = "ring-pingpong";

static void die(const char *what) {
  fprintf(stderr, "%s: %s: %s\n", prog, what, strerror(errno));
  exit(1);
}

static void die_msg(const char *message) {
  fprintf(stderr, "%s: %s\n", prog, message);
  exit(1);
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static inline void cpu_relax(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_ia32_pause();
#elif defined(__aarch64__)
  __asm__ __volatile__("yield");
#endif
}

static inline uint32_t *word(uint8_t *seg, uint32_t offset) { return (uint32_t *)(seg + offset); }
static inline uint32_t load_acquire(uint8_t *seg, uint32_t offset) { return __atomic_load_n(word(seg, offset), __ATOMIC_ACQUIRE); }
static inline uint32_t load_relaxed(uint8_t *seg, uint32_t offset) { return __atomic_load_n(word(seg, offset), __ATOMIC_RELAXED); }
static inline void store_release(uint8_t *seg, uint32_t offset, uint32_t v) { __atomic_store_n(word(seg, offset), v, __ATOMIC_RELEASE); }

/* The record check of §10.3.3 (the mix of ring/layout.ts recordCheck). */
static uint32_t record_check(uint32_t payload_bytes, uint32_t type_and_flags, uint32_t seq, uint32_t position) {
  uint32_t h = (payload_bytes ^ 0x9e3779b9u) * 0x85ebca6bu;
  h = (h ^ type_and_flags ^ (h >> 13)) * 0xc2b2ae35u;
  h = (h ^ seq ^ (h >> 16)) * 0x85ebca6bu;
  h = (h ^ position ^ (h >> 13)) * 0xc2b2ae35u;
  return h ^ (h >> 16);
}

static inline uint32_t record_bytes(uint32_t payload) { return (RECORD_HEADER + payload + 15u) & ~15u; }

/* One end of a ring. */
typedef struct {
  uint8_t *seg;
  uint8_t *data;
  uint32_t capacity;
  uint32_t mask;
  uint32_t limit;
  uint32_t pos;      /* producer: writePos; consumer: read cursor */
  uint32_t seq;      /* producer: next seq; consumer: expected seq */
  uint32_t release;  /* consumer: end of the record being held */
} ring_end;

static uint8_t *create_segment(const char *name, uint32_t capacity) {
  char path[256];
  snprintf(path, sizeof path, "/%s", name);
  int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) die("shm_open");
  if (fchmod(fd, 0600) != 0) die("fchmod");
  size_t size = HEADER_BYTES + (size_t)capacity;
  if (ftruncate(fd, (off_t)size) != 0) {
    shm_unlink(path);
    die("ftruncate");
  }
  uint8_t *seg = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd, 0);
  if (seg == MAP_FAILED) {
    shm_unlink(path);
    die("mmap");
  }
  close(fd);
  /* §10.3.1 header; the ready word last (§10.2.2). */
  memset(seg, 0, HEADER_BYTES);
  *word(seg, OFF_MAGIC) = MAGIC;
  *word(seg, OFF_VERSION) = LAYOUT_VERSION;
  *word(seg, OFF_HEADER_BYTES) = HEADER_BYTES;
  *word(seg, OFF_CAPACITY) = capacity;
  *word(seg, OFF_SEGMENT_BYTES) = (uint32_t)size;
  *word(seg, OFF_RECORD_LIMIT) = capacity / 2;
  *word(seg, OFF_CREATOR_PID) = (uint32_t)getpid();
  store_release(seg, OFF_READY, 1);
  return seg;
}

static void attach(ring_end *r, uint8_t *seg, int producer) {
  if (load_acquire(seg, OFF_READY) != 1 || *word(seg, OFF_MAGIC) != MAGIC || *word(seg, OFF_VERSION) != LAYOUT_VERSION ||
      *word(seg, OFF_HEADER_BYTES) != HEADER_BYTES)
    die_msg("segment is not a ready version-1 ring");
  r->seg = seg;
  r->data = seg + HEADER_BYTES;
  r->capacity = *word(seg, OFF_CAPACITY);
  r->mask = r->capacity - 1;
  r->limit = *word(seg, OFF_RECORD_LIMIT);
  r->pos = load_acquire(seg, producer ? OFF_WRITE_POS : OFF_READ_POS);
  r->seq = load_relaxed(seg, OFF_NEXT_SEQ);
  r->release = r->pos;
}

/* Records this process as the producer or consumer of the ring (§10.6.1). */
static void claim(ring_end *r, int producer) {
  store_release(r->seg, producer ? OFF_PRODUCER_PID : OFF_CONSUMER_PID, (uint32_t)getpid());
  uint32_t beat = (uint32_t)((uint64_t)time(NULL) * 1000ULL);
  store_release(r->seg, producer ? OFF_PRODUCER_HEARTBEAT : OFF_CONSUMER_HEARTBEAT, beat);
}

static void ring_doorbell(uint8_t *seg, uint32_t doorbell, uint32_t waiting) {
  if (load_acquire(seg, waiting) != 0) {
    __atomic_fetch_add(word(seg, doorbell), 1, __ATOMIC_RELEASE);
    syscall(SYS_futex, word(seg, doorbell), FUTEX_WAKE, 1, NULL, NULL, 0); /* shared: no FUTEX_PRIVATE_FLAG */
  }
}

static void write_header(ring_end *r, uint32_t offset, uint32_t payload, uint32_t type_and_flags, uint32_t seq, uint32_t position) {
  uint32_t *h = (uint32_t *)(r->data + offset);
  h[0] = payload;
  h[1] = type_and_flags;
  h[2] = seq;
  h[3] = record_check(payload, type_and_flags, seq, position);
}

/* Spins until `need` bytes are free; a consumer that closed or stays silent is fatal. */
static void wait_space(ring_end *r, uint32_t need) {
  uint64_t started = 0;
  for (uint32_t spins = 0;; spins++) {
    uint32_t used = r->pos - load_acquire(r->seg, OFF_READ_POS);
    if (r->capacity - used >= need) return;
    cpu_relax();
    if ((spins & 0xfffff) == 0xfffff) {
      if (load_relaxed(r->seg, OFF_CONSUMER_CLOSED) != 0) die_msg("consumer closed the ring");
      uint64_t t = now_ns();
      if (started == 0) started = t;
      else if (t - started > SPIN_LIMIT_NS) die_msg("no room in the ring for 20 s: the consumer stopped");
    }
  }
}

/* Publishes one record made of `a` (len_a) followed by `b` (len_b). */
static void produce(ring_end *r, uint32_t type, const void *a, uint32_t len_a, const void *b, uint32_t len_b) {
  uint32_t payload = len_a + len_b;
  uint32_t size = record_bytes(payload);
  if (size > r->limit) die_msg("record larger than the record limit");
  uint32_t offset = r->pos & r->mask;
  uint32_t contiguous = r->capacity - offset;
  uint32_t pad = contiguous < size ? contiguous : 0;
  wait_space(r, size + pad);
  if (pad > 0) {
    write_header(r, offset, pad - RECORD_HEADER, TYPE_PAD, 0, r->pos);
    r->pos += pad;
    offset = 0;
  }
  write_header(r, offset, payload, type, r->seq, r->pos);
  if (len_a > 0) memcpy(r->data + offset + RECORD_HEADER, a, len_a);
  if (len_b > 0) memcpy(r->data + offset + RECORD_HEADER + len_a, b, len_b);
  r->seq++;
  r->pos += size;
  __atomic_store_n(word(r->seg, OFF_NEXT_SEQ), r->seq, __ATOMIC_RELAXED);
  store_release(r->seg, OFF_WRITE_POS, r->pos);
  ring_doorbell(r->seg, OFF_DATA_DOORBELL, OFF_CONSUMER_WAITING);
}

static void corrupt(const char *what, uint32_t pos) {
  fprintf(stderr, "%s: corrupt ring at position %u: %s\n", prog, pos, what);
  exit(1);
}

/*
 * Spins until a record is published, validates it (§10.3.3) and returns its payload
 * in place; the caller releases it with consume_release. Padding is skipped.
 */
static uint8_t *consume(ring_end *r, uint32_t *type, uint32_t *payload_bytes) {
  uint64_t started = 0;
  for (uint32_t spins = 0;; spins++) {
    uint32_t write_pos = load_acquire(r->seg, OFF_WRITE_POS);
    uint32_t available = write_pos - r->pos;
    if (available == 0) {
      cpu_relax();
      if ((spins & 0xfffff) == 0xfffff) {
        if (load_relaxed(r->seg, OFF_PRODUCER_CLOSED) != 0) die_msg("producer closed the ring");
        uint64_t t = now_ns();
        if (started == 0) started = t;
        else if (t - started > SPIN_LIMIT_NS) die_msg("nothing in the ring for 20 s: the producer stopped");
      }
      continue;
    }
    if (available > r->capacity) corrupt("published bytes exceed the capacity", r->pos);
    uint32_t offset = r->pos & r->mask;
    const uint32_t *h = (const uint32_t *)(r->data + offset);
    uint32_t len = h[0], tf = h[1], seq = h[2];
    if (h[3] != record_check(len, tf, seq, r->pos)) corrupt("header fails its check", r->pos);
    uint32_t size = record_bytes(len);
    if ((tf & 0xffff) == TYPE_PAD) {
      if (tf != TYPE_PAD || offset + size != r->capacity || size > available) corrupt("padding does not end at the region's end", r->pos);
      r->pos += size;
      store_release(r->seg, OFF_READ_POS, r->pos);
      continue;
    }
    if (size > available || offset + size > r->capacity || size > r->limit) corrupt("record runs past the published data", r->pos);
    if (seq != r->seq) corrupt("sequence number skipped", r->pos);
    r->seq++;
    r->pos += size;
    r->release = r->pos;
    *type = tf & 0xffff;
    *payload_bytes = len;
    return r->data + offset + RECORD_HEADER;
  }
}

static void consume_release(ring_end *r) {
  store_release(r->seg, OFF_READ_POS, r->release);
  ring_doorbell(r->seg, OFF_SPACE_DOORBELL, OFF_PRODUCER_WAITING);
}

/* Sends a message of `len` bytes per §10.4.2: one MESSAGE record, or MESSAGE_START + MESSAGE_PARTs. */
static void send_message(ring_end *r, const uint8_t *msg, uint32_t len) {
  uint32_t max_payload = r->limit - RECORD_HEADER;
  if (len <= max_payload) {
    produce(r, TYPE_MESSAGE, msg, len, NULL, 0);
    return;
  }
  uint32_t first = max_payload - 4;
  uint32_t total_le = len; /* x86-64 and aarch64 are little-endian */
  produce(r, TYPE_MESSAGE_START, &total_le, 4, msg, first);
  for (uint32_t done = first; done < len;) {
    uint32_t n = len - done < max_payload ? len - done : max_payload;
    produce(r, TYPE_MESSAGE_PART, msg + done, n, NULL, 0);
    done += n;
  }
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

static uint64_t percentile(const uint64_t *sorted, uint64_t count, uint64_t basis_points) {
  uint64_t rank = (basis_points * count + 9999) / 10000;
  if (rank < 1) rank = 1;
  if (rank > count) rank = count;
  return sorted[rank - 1];
}

static uint64_t parse_u64(const char *text, const char *name, uint64_t min, uint64_t max) {
  char *end = NULL;
  errno = 0;
  unsigned long long v = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || v < min || v > max) {
    fprintf(stderr, "%s: %s must be an integer in [%" PRIu64 ", %" PRIu64 "], got \"%s\"\n", prog, name, min, max, text);
    exit(1);
  }
  return (uint64_t)v;
}

static void pin(int cpu) {
  if (cpu < 0) return;
  cpu_set_t set;
  CPU_ZERO(&set);
  CPU_SET(cpu, &set);
  if (sched_setaffinity(0, sizeof set, &set) != 0) die("sched_setaffinity");
}

static int emit(const char *name, uint64_t count) {
  uint8_t *seg = create_segment(name, 1u << 16);
  ring_end r;
  attach(&r, seg, 1);
  claim(&r, 1);
  uint8_t buf[4096];
  for (uint64_t k = 0; k < count; k++) {
    uint32_t len = (uint32_t)(k + 1);
    for (uint32_t i = 0; i < len; i++) buf[i] = (uint8_t)((k + i) & 0xff);
    produce(&r, TYPE_MESSAGE, buf, len, NULL, 0);
  }
  printf("{\"emitted\":%" PRIu64 ",\"name\":\"%s\"}\n", count, name);
  return 0;
}

int main(int argc, char **argv) {
  uint64_t count = 100000, warmup = 10000, size = 64, reps = 50;
  uint64_t capacity = 4u << 20;
  int parent_cpu = -1, child_cpu = -1;
  uint64_t transfers[16];
  int n_transfers = 0;
  transfers[n_transfers++] = 1u << 20;

  static const struct option long_opts[] = {
      {"count", required_argument, 0, 'n'}, {"warmup", required_argument, 0, 'w'}, {"size", required_argument, 0, 's'},
      {"transfer", required_argument, 0, 't'}, {"reps", required_argument, 0, 'r'}, {"capacity", required_argument, 0, 'c'},
      {"cpus", required_argument, 0, 'p'}, {"emit", required_argument, 0, 'e'}, {0, 0, 0, 0},
  };
  int opt;
  while ((opt = getopt_long(argc, argv, "", long_opts, NULL)) != -1) {
    switch (opt) {
      case 'n': count = parse_u64(optarg, "--count", 1, 100000000); break;
      case 'w': warmup = parse_u64(optarg, "--warmup", 0, 100000000); break;
      case 's': size = parse_u64(optarg, "--size", 1, 65536); break;
      case 'r': reps = parse_u64(optarg, "--reps", 1, 100000); break;
      case 'c': capacity = parse_u64(optarg, "--capacity", 4096, 1u << 30); break;
      case 't': {
        n_transfers = 0;
        char *list = strdup(optarg);
        for (char *tok = strtok(list, ","); tok != NULL; tok = strtok(NULL, ",")) {
          if (n_transfers == 16) die_msg("at most 16 transfer sizes");
          if (strcmp(tok, "-") != 0) transfers[n_transfers++] = parse_u64(tok, "--transfer", 1, 1u << 30);
        }
        free(list);
        break;
      }
      case 'p': {
        if (sscanf(optarg, "%d,%d", &parent_cpu, &child_cpu) != 2 || parent_cpu < 0 || child_cpu < 0) die_msg("--cpus takes PARENT,CHILD (two CPU numbers)");
        break;
      }
      case 'e': {
        if (optind >= argc) die_msg("--emit NAME COUNT");
        return emit(optarg, parse_u64(argv[optind], "COUNT", 1, 4096));
      }
      default: die_msg("usage: ring-pingpong [--count N] [--warmup N] [--size BYTES] [--transfer BYTES,...] [--reps N] [--capacity BYTES] [--cpus P,C]");
    }
  }
  if ((capacity & (capacity - 1)) != 0) die_msg("--capacity must be a power of two");
  if (record_bytes((uint32_t)size) > capacity / 2) die_msg("--size does not fit one record of this capacity");
  uint64_t biggest = size;
  for (int i = 0; i < n_transfers; i++) if (transfers[i] > biggest) biggest = transfers[i];

  char name_a[64], name_b[64];
  snprintf(name_a, sizeof name_a, "fastpath-%d-cfloor-req", (int)getpid());
  snprintf(name_b, sizeof name_b, "fastpath-%d-cfloor-rsp", (int)getpid());
  uint8_t *seg_a = create_segment(name_a, (uint32_t)capacity);
  uint8_t *seg_b = create_segment(name_b, (uint32_t)capacity);
  /* Both processes keep the mappings across fork; nothing is left in /dev/shm (§10.1.3). */
  char path[80];
  snprintf(path, sizeof path, "/%s", name_a);
  shm_unlink(path);
  snprintf(path, sizeof path, "/%s", name_b);
  shm_unlink(path);

  /* Every end is set up before the fork, on fresh rings, so neither side can publish a
     record before the other has taken its starting position. */
  ring_end parent_out, parent_in, child_in, child_out;
  attach(&parent_out, seg_a, 1);
  attach(&parent_in, seg_b, 0);
  attach(&child_in, seg_a, 0);
  attach(&child_out, seg_b, 1);
  uint8_t *buf = malloc(biggest + 64);
  if (buf == NULL) die_msg("out of memory");
  memset(buf, 0xa5, biggest + 64);
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) die("fork");
  if (child == 0) {
    prog = "ring-pingpong (child)";
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    pin(child_cpu);
    ring_end in = child_in, out = child_out;
    claim(&in, 0);
    claim(&out, 1);
    for (;;) {
      uint32_t type, len;
      uint8_t *p = consume(&in, &type, &len);
      if (type == TYPE_STOP) {
        consume_release(&in);
        _exit(0);
      }
      if (type == TYPE_MESSAGE && len <= 65536 && len == size) {
        /* ping-pong: echo the payload (read in place) into the other ring */
        produce(&out, TYPE_MESSAGE, p, len, NULL, 0);
        consume_release(&in);
        continue;
      }
      if (type == TYPE_MESSAGE) {
        consume_release(&in); /* a transfer that fits one record: read in place */
      } else if (type == TYPE_MESSAGE_START) {
        uint32_t total;
        memcpy(&total, p, 4);
        uint32_t got = len - 4;
        memcpy(buf, p + 4, got);
        consume_release(&in);
        while (got < total) {
          p = consume(&in, &type, &len);
          if (type != TYPE_MESSAGE_PART || got + len > total) corrupt("bad MESSAGE_PART", in.pos);
          memcpy(buf + got, p, len);
          got += len;
          consume_release(&in);
        }
      } else {
        corrupt("unexpected record type", in.pos);
      }
      produce(&out, TYPE_MESSAGE, NULL, 0, NULL, 0);
    }
  }

  pin(parent_cpu);
  ring_end out = parent_out, in = parent_in;
  claim(&out, 1);
  claim(&in, 0);
  uint64_t *samples = malloc(sizeof(uint64_t) * (count > reps ? count : reps));
  if (samples == NULL) die_msg("out of memory for the samples");
  uint8_t record[65536];
  memset(record, 0x5a, sizeof record);

  for (uint64_t i = 0; i < warmup + count; i++) {
    uint64_t t0 = now_ns();
    produce(&out, TYPE_MESSAGE, record, (uint32_t)size, NULL, 0);
    uint32_t type, len;
    consume(&in, &type, &len);
    consume_release(&in);
    uint64_t t1 = now_ns();
    if (len != size) die_msg("echo of the wrong size");
    if (i >= warmup) samples[i - warmup] = t1 - t0;
  }
  uint64_t duration = 0;
  long double sum = 0;
  for (uint64_t i = 0; i < count; i++) {
    duration += samples[i];
    sum += samples[i];
  }
  qsort(samples, count, sizeof(uint64_t), compare_u64);
  printf("{\"capacityBytes\":%" PRIu64 ",\"recordLimitBytes\":%" PRIu64 ",\"pingpong\":{\"count\":%" PRIu64 ",\"sizeBytes\":%" PRIu64 ",\"p50Ns\":%" PRIu64
         ",\"p90Ns\":%" PRIu64 ",\"p99Ns\":%" PRIu64 ",\"p999Ns\":%" PRIu64 ",\"maxNs\":%" PRIu64 ",\"minNs\":%" PRIu64 ",\"meanNs\":%.1Lf,\"durationNs\":%" PRIu64 "},\"transfers\":[",
         capacity, capacity / 2, count, size, percentile(samples, count, 5000), percentile(samples, count, 9000), percentile(samples, count, 9900),
         percentile(samples, count, 9990), samples[count - 1], samples[0], sum / (long double)count, duration);

  for (int t = 0; t < n_transfers; t++) {
    uint32_t len = (uint32_t)transfers[t];
    for (uint64_t i = 0; i < reps + 2; i++) {
      buf[i % len] = (uint8_t)i;
      uint64_t t0 = now_ns();
      send_message(&out, buf, len);
      uint32_t type, ack;
      consume(&in, &type, &ack);
      consume_release(&in);
      uint64_t t1 = now_ns();
      if (i >= 2) samples[i - 2] = t1 - t0;
    }
    long double s = 0;
    for (uint64_t i = 0; i < reps; i++) s += samples[i];
    qsort(samples, reps, sizeof(uint64_t), compare_u64);
    printf("%s{\"sizeBytes\":%u,\"reps\":%" PRIu64 ",\"p50Ns\":%" PRIu64 ",\"p99Ns\":%" PRIu64 ",\"minNs\":%" PRIu64 ",\"maxNs\":%" PRIu64 ",\"meanNs\":%.1Lf}",
           t == 0 ? "" : ",", len, reps, percentile(samples, reps, 5000), percentile(samples, reps, 9900), samples[0], samples[reps - 1], s / (long double)reps);
  }
  printf("]}\n");
  produce(&out, TYPE_STOP, NULL, 0, NULL, 0);
  store_release(seg_a, OFF_PRODUCER_CLOSED, 1);
  int status = 0;
  if (waitpid(child, &status, 0) < 0) die("waitpid");
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) die_msg("the child process failed");
  if (fflush(stdout) != 0) die("cannot write the result");
  return 0;
}
