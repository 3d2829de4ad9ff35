/*
 * pingpong-client: the native closed-loop client of `fastpath bench`, used to measure
 * the harness's own overhead (DESIGN "Measurement model").
 *
 *   pingpong-client SOCKET_PATH FRAME_FILE COUNT WARMUP
 *
 * Connects to SOCKET_PATH, then WARMUP + COUNT times writes the whole request frame
 * (the bytes of FRAME_FILE) and reads until the same number of bytes came back: one
 * request in flight, as against an echo peer. Each round trip is timed with
 * clock_gettime(CLOCK_MONOTONIC); the WARMUP first ones are discarded. Prints one
 * JSON line to stdout (nearest-rank percentiles of the sorted samples, in ns):
 *
 *   {"count":N,"p50Ns":..,"p90Ns":..,"p99Ns":..,"p999Ns":..,"p9999Ns":..,
 *    "maxNs":..,"minNs":..,"meanNs":..,"durationNs":..}
 *
 * durationNs is the wall time of the measured round trips (warm-up excluded).
 * Errors go to stderr with exit code 1.
 *
 * Built at first use by harness/native-tools.ts: cc -O2 -Wall -pthread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdint.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static void fail(const char *what) {
  fprintf(stderr, "pingpong-client: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail_msg(const char *message) {
  fprintf(stderr, "pingpong-client: %s\n", message);
  exit(1);
}

static uint64_t parse_count(const char *text, const char *name, uint64_t min) {
  char *end = NULL;
  errno = 0;
  unsigned long long value = strtoull(text, &end, 10);
  if (errno != 0 || end == text || *end != '\0' || text[0] == '-' || value < min || value > 1000000000ULL) {
    fprintf(stderr, "pingpong-client: %s must be an integer in [%" PRIu64 ", 1000000000], got \"%s\"\n", name, min, text);
    exit(1);
  }
  return (uint64_t)value;
}

static char *read_frame(const char *path, size_t *len_out) {
  FILE *file = fopen(path, "rb");
  if (file == NULL) {
    fprintf(stderr, "pingpong-client: cannot open the frame file %s: %s\n", path, strerror(errno));
    exit(1);
  }
  struct stat st;
  if (fstat(fileno(file), &st) != 0) fail("cannot stat the frame file");
  if (st.st_size <= 0) fail_msg("the frame file is empty");
  size_t len = (size_t)st.st_size;
  char *buf = malloc(len);
  if (buf == NULL) fail_msg("out of memory for the frame");
  if (fread(buf, 1, len, file) != len) fail_msg("cannot read the whole frame file");
  fclose(file);
  *len_out = len;
  return buf;
}

static uint64_t now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (uint64_t)ts.tv_sec * 1000000000ULL + (uint64_t)ts.tv_nsec;
}

static void write_all(int fd, const char *buf, size_t len, uint64_t round) {
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "pingpong-client: write failed in round trip %" PRIu64 ": %s\n", round, strerror(errno));
      exit(1);
    }
    buf += n;
    len -= (size_t)n;
  }
}

static void read_exactly(int fd, char *buf, size_t len, uint64_t round) {
  size_t got = 0;
  while (got < len) {
    ssize_t n = read(fd, buf + got, len - got);
    if (n < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "pingpong-client: read failed in round trip %" PRIu64 ": %s\n", round, strerror(errno));
      exit(1);
    }
    if (n == 0) {
      fprintf(stderr, "pingpong-client: the peer closed the connection in round trip %" PRIu64 " after %zu of %zu reply bytes\n",
              round, got, len);
      exit(1);
    }
    got += (size_t)n;
  }
}

/*
 * One round trip. Small frames: a blocking write, then a blocking read. A frame larger
 * than the socket buffers would deadlock that way (the echo peer blocks writing back
 * while this side still writes), so large frames interleave writing and reading with
 * poll() and non-blocking send/recv.
 */
static void round_trip(int fd, const char *frame, size_t len, char *reply, uint64_t round) {
  if (len <= 65536) {
    write_all(fd, frame, len, round);
    read_exactly(fd, reply, len, round);
    return;
  }
  size_t sent = 0, got = 0;
  while (got < len) {
    struct pollfd pfd = {.fd = fd, .events = POLLIN | (sent < len ? POLLOUT : 0), .revents = 0};
    if (poll(&pfd, 1, -1) < 0) {
      if (errno == EINTR) continue;
      fprintf(stderr, "pingpong-client: poll failed in round trip %" PRIu64 ": %s\n", round, strerror(errno));
      exit(1);
    }
    if (sent < len && (pfd.revents & POLLOUT)) {
      ssize_t n = send(fd, frame + sent, len - sent, MSG_NOSIGNAL | MSG_DONTWAIT);
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        fprintf(stderr, "pingpong-client: write failed in round trip %" PRIu64 ": %s\n", round, strerror(errno));
        exit(1);
      }
      if (n > 0) sent += (size_t)n;
    }
    if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
      ssize_t n = recv(fd, reply + got, len - got, MSG_DONTWAIT);
      if (n == 0) {
        fprintf(stderr, "pingpong-client: the peer closed the connection in round trip %" PRIu64 " after %zu of %zu reply bytes\n",
                round, got, len);
        exit(1);
      }
      if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR) {
        fprintf(stderr, "pingpong-client: read failed in round trip %" PRIu64 ": %s\n", round, strerror(errno));
        exit(1);
      }
      if (n > 0) got += (size_t)n;
    }
  }
}

static int compare_u64(const void *a, const void *b) {
  uint64_t x = *(const uint64_t *)a;
  uint64_t y = *(const uint64_t *)b;
  return (x > y) - (x < y);
}

/*
 * Nearest rank: the smallest sample such that at least p of the samples are <= it,
 * with p in basis points (5000 = p50, 9990 = p99.9): rank = ceil(p * count / 10000).
 */
static uint64_t percentile(const uint64_t *sorted, uint64_t count, uint64_t basis_points) {
  uint64_t rank = (basis_points * count + 9999) / 10000;
  if (rank < 1) rank = 1;
  if (rank > count) rank = count;
  return sorted[rank - 1];
}

int main(int argc, char **argv) {
  if (argc != 5) fail_msg("usage: pingpong-client SOCKET_PATH FRAME_FILE COUNT WARMUP");
  const char *socket_path = argv[1];
  uint64_t count = parse_count(argv[3], "COUNT", 1);
  uint64_t warmup = parse_count(argv[4], "WARMUP", 0);
  size_t frame_len = 0;
  char *frame = read_frame(argv[2], &frame_len);
  char *reply = malloc(frame_len);
  uint64_t *samples = malloc(sizeof(uint64_t) * count);
  if (reply == NULL || samples == NULL) fail_msg("out of memory for the samples");
  signal(SIGPIPE, SIG_IGN);

  struct sockaddr_un addr;
  if (strlen(socket_path) == 0 || strlen(socket_path) >= sizeof addr.sun_path) {
    fprintf(stderr, "pingpong-client: invalid socket path (empty or longer than %zu bytes): %s\n", sizeof addr.sun_path - 1,
            socket_path);
    return 1;
  }
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, socket_path, strlen(socket_path));
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  int rc;
  do {
    rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) {
    fprintf(stderr, "pingpong-client: cannot connect to %s: %s\n", socket_path, strerror(errno));
    return 1;
  }

  for (uint64_t i = 0; i < warmup; i++) {
    round_trip(fd, frame, frame_len, reply, i + 1);
  }
  uint64_t measured_start = now_ns();
  for (uint64_t i = 0; i < count; i++) {
    uint64_t start = now_ns();
    round_trip(fd, frame, frame_len, reply, warmup + i + 1);
    samples[i] = now_ns() - start;
  }
  uint64_t duration = now_ns() - measured_start;
  close(fd);

  long double sum = 0;
  for (uint64_t i = 0; i < count; i++) sum += samples[i];
  qsort(samples, count, sizeof(uint64_t), compare_u64);
  printf("{\"count\":%" PRIu64 ",\"p50Ns\":%" PRIu64 ",\"p90Ns\":%" PRIu64 ",\"p99Ns\":%" PRIu64 ",\"p999Ns\":%" PRIu64
         ",\"p9999Ns\":%" PRIu64 ",\"maxNs\":%" PRIu64 ",\"minNs\":%" PRIu64 ",\"meanNs\":%.1Lf,\"durationNs\":%" PRIu64 "}\n",
         count, percentile(samples, count, 5000), percentile(samples, count, 9000), percentile(samples, count, 9900),
         percentile(samples, count, 9990), percentile(samples, count, 9999), samples[count - 1], samples[0],
         sum / (long double)count, duration);
  if (fflush(stdout) != 0) fail("cannot write the result");
  free(samples);
  free(reply);
  free(frame);
  return 0;
}
