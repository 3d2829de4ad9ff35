/*
 * echo-peer: the native echo floor of `fastpath bench` (DESIGN "Measurement model").
 *
 *   echo-peer SOCKET_PATH
 *
 * Listens on a Unix stream socket (mode 0600) and writes back exactly the bytes it
 * reads on each connection: no framing, no parsing, no protocol work. A request frame
 * therefore comes back unchanged, and the client counts it as the reply.
 *
 * - A stale socket file (nobody accepting on it) is removed; a live one is refused.
 * - One thread per connection (small stacks), so hundreds of connections are fine.
 * - SIGTERM / SIGINT: unlink the socket file and exit 0.
 * - Prints nothing on success; errors go to stderr with exit code 1.
 *
 * Built at first use by harness/native-tools.ts: cc -O2 -Wall -pthread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define BUFFER_BYTES (64 * 1024)
#define THREAD_STACK_BYTES (256 * 1024)

static const char *socket_path;

static void fail(const char *what) {
  fprintf(stderr, "echo-peer: %s: %s\n", what, strerror(errno));
  exit(1);
}

static void fail_msg(const char *message) {
  fprintf(stderr, "echo-peer: %s\n", message);
  exit(1);
}

/* Writes all of buf; returns 0, or -1 when the peer is gone. */
static int write_all(int fd, const char *buf, size_t len) {
  while (len > 0) {
    ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);
    if (n < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    buf += n;
    len -= (size_t)n;
  }
  return 0;
}

static void *serve_connection(void *arg) {
  int fd = (int)(intptr_t)arg;
  char *buf = malloc(BUFFER_BYTES);
  if (buf != NULL) {
    for (;;) {
      ssize_t n = read(fd, buf, BUFFER_BYTES);
      if (n < 0) {
        if (errno == EINTR) continue;
        break; /* ECONNRESET and friends: the client is gone */
      }
      if (n == 0) break; /* EOF */
      if (write_all(fd, buf, (size_t)n) != 0) break;
    }
    free(buf);
  }
  close(fd);
  return NULL;
}

/* 1 when something accepts connections on path. */
static int socket_is_live(const char *path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd < 0) fail("socket");
  struct sockaddr_un addr;
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, path, strlen(path));
  int rc;
  do {
    rc = connect(fd, (struct sockaddr *)&addr, sizeof addr);
  } while (rc != 0 && errno == EINTR);
  close(fd);
  return rc == 0;
}

static void remove_stale_socket(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) {
    if (errno == ENOENT) return;
    fail("cannot stat the socket path");
  }
  if (!S_ISSOCK(st.st_mode)) {
    fprintf(stderr, "echo-peer: %s exists and is not a socket; refusing to remove it\n", path);
    exit(1);
  }
  if (socket_is_live(path)) {
    fprintf(stderr, "echo-peer: socket %s is in use by a live server\n", path);
    exit(1);
  }
  if (unlink(path) != 0 && errno != ENOENT) fail("cannot remove the stale socket file");
}

static void *accept_loop(void *arg) {
  int listener = (int)(intptr_t)arg;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_attr_setstacksize(&attr, THREAD_STACK_BYTES);
  for (;;) {
    int fd = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    if (fd < 0) {
      if (errno == EINTR || errno == ECONNABORTED) continue;
      if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
        /* Out of descriptors or memory: wait for connections to close. */
        struct timespec pause = {0, 10 * 1000 * 1000};
        nanosleep(&pause, NULL);
        continue;
      }
      int saved = errno;
      unlink(socket_path);
      errno = saved;
      fail("accept");
    }
    pthread_t thread;
    int rc = pthread_create(&thread, &attr, serve_connection, (void *)(intptr_t)fd);
    if (rc != 0) {
      fprintf(stderr, "echo-peer: cannot start a connection thread: %s\n", strerror(rc));
      close(fd);
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc != 2 || argv[1][0] == '\0') fail_msg("usage: echo-peer SOCKET_PATH");
  socket_path = argv[1];
  struct sockaddr_un addr;
  if (strlen(socket_path) >= sizeof addr.sun_path) {
    fprintf(stderr, "echo-peer: socket path is too long (%zu bytes, at most %zu): %s\n", strlen(socket_path),
            sizeof addr.sun_path - 1, socket_path);
    return 1;
  }

  /* SIGTERM/SIGINT are taken by sigwait in the main thread; every other thread inherits the mask. */
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  if (pthread_sigmask(SIG_BLOCK, &stop_signals, NULL) != 0) fail_msg("cannot block SIGTERM/SIGINT");
  signal(SIGPIPE, SIG_IGN);

  remove_stale_socket(socket_path);

  int listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (listener < 0) fail("socket");
  memset(&addr, 0, sizeof addr);
  addr.sun_family = AF_UNIX;
  memcpy(addr.sun_path, socket_path, strlen(socket_path));
  mode_t old_umask = umask(0177); /* the socket file is born 0600 */
  if (bind(listener, (struct sockaddr *)&addr, sizeof addr) != 0) fail("cannot bind the socket");
  umask(old_umask);
  if (chmod(socket_path, 0600) != 0) {
    int saved = errno;
    unlink(socket_path);
    errno = saved;
    fail("cannot chmod 0600 the socket file");
  }
  if (listen(listener, SOMAXCONN) != 0) {
    int saved = errno;
    unlink(socket_path);
    errno = saved;
    fail("listen");
  }

  pthread_t acceptor;
  int rc = pthread_create(&acceptor, NULL, accept_loop, (void *)(intptr_t)listener);
  if (rc != 0) {
    unlink(socket_path);
    fprintf(stderr, "echo-peer: cannot start the accept thread: %s\n", strerror(rc));
    return 1;
  }

  int sig = 0;
  while (sigwait(&stop_signals, &sig) != 0) {
  }
  unlink(socket_path);
  /* Connection threads may be blocked in read(); do not wait for them. */
  _exit(0);
}
