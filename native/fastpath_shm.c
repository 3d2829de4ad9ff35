/*
 * fastpath_shm: the native half of the shared-memory ring transport.
 *
 * POSIX shared-memory segments (shm_open, /dev/shm/<name>) mapped MAP_SHARED into
 * external ArrayBuffers, process-shared futex wait/wake and a CPU-pause spin wait on
 * 32-bit words of those buffers, and doorbell watchers (one pthread each) that call a
 * JS function through a thread-safe function when a word changes.
 *
 * Plain C11, Node-API 8. The typed wrapper is ring/segment.ts; JS code calls that, not
 * this file. Every error thrown here is a JS Error whose `code` property is one of the
 * FP_SHM_* codes of protocol/errors.ts; the wrapper re-throws it as a FastPathError
 * with the same code and message.
 *
 * Memory safety rules kept here:
 *  - every word access is bounds-checked (offset + 4 <= byteLength), 4-byte aligned and
 *    refused on detached buffers before the address is formed;
 *  - a mapping is unmapped exactly once: by unmap() (which detaches the ArrayBuffer
 *    first, so JS views become empty instead of dangling) or by the ArrayBuffer's
 *    finalizer, whichever comes first;
 *  - a doorbell watcher thread only reads a live mapping: it holds a reference to the
 *    ArrayBuffer, and unmap() / the finalizer / environment teardown stop and join every
 *    watcher of the mapping before munmap.
 */
#ifndef NAPI_VERSION
#define NAPI_VERSION 8
#endif
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif

#include <node_api.h>

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Bumped whenever the exported functions change; ring/native.ts refuses another value. */
#define FASTPATH_SHM_ABI 1

#if defined(__linux__)

#include <fcntl.h>
#include <limits.h>
#include <linux/futex.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__) || defined(__i386__)
#define CPU_RELAX() __builtin_ia32_pause()
#elif defined(__aarch64__)
#define CPU_RELAX() __asm__ __volatile__("yield" ::: "memory")
#else
#define CPU_RELAX() ((void)0)
#endif

#define NAME_MAX_CHARS 200
#define MAX_SIZE_BYTES 2147483647.0 /* 2^31 - 1 */
#define MAX_TIMEOUT_MS 2147483647.0 /* about 24.8 days; Infinity means no timeout */
#define WATCHER_RECHECK_NS 50000000L /* 50 ms: how long close() can wait for a watcher */
#define NS_PER_S 1000000000LL

#define FUTEX_RESULT_WOKEN 0
#define FUTEX_RESULT_NOT_EQUAL 1
#define FUTEX_RESULT_TIMED_OUT 2

/* ------------------------------------------------------------------------------------ */
/* Errors                                                                               */
/* ------------------------------------------------------------------------------------ */

/* Throws `new Error(message)` with `code` set; returns NULL so callers can `return throw_code(...)`. */
static napi_value throw_code(napi_env env, const char *code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static napi_value throw_code(napi_env env, const char *code, const char *fmt, ...) {
  char message[768];
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(message, sizeof message, fmt, ap);
  va_end(ap);
  bool pending = false;
  if (napi_is_exception_pending(env, &pending) == napi_ok && pending) return NULL;
  napi_throw_error(env, code, message);
  return NULL;
}

static const char *errno_name(int err) {
  switch (err) {
    case EPERM: return "EPERM";
    case ENOENT: return "ENOENT";
    case EINTR: return "EINTR";
    case EIO: return "EIO";
    case EBADF: return "EBADF";
    case EAGAIN: return "EAGAIN";
    case ENOMEM: return "ENOMEM";
    case EACCES: return "EACCES";
    case EFAULT: return "EFAULT";
    case EBUSY: return "EBUSY";
    case EEXIST: return "EEXIST";
    case ENODEV: return "ENODEV";
    case ENOTDIR: return "ENOTDIR";
    case EISDIR: return "EISDIR";
    case EINVAL: return "EINVAL";
    case ENFILE: return "ENFILE";
    case EMFILE: return "EMFILE";
    case EFBIG: return "EFBIG";
    case ENOSPC: return "ENOSPC";
    case EROFS: return "EROFS";
    case ENAMETOOLONG: return "ENAMETOOLONG";
    case ENOSYS: return "ENOSYS";
    case ELOOP: return "ELOOP";
    case EOVERFLOW: return "EOVERFLOW";
    case EOPNOTSUPP: return "EOPNOTSUPP";
    case ETIMEDOUT: return "ETIMEDOUT";
    case ENXIO: return "ENXIO";
    case ETXTBSY: return "ETXTBSY";
    default: return "errno";
  }
}

/* FP_SHM_SYSTEM for a failed system call: "<what> failed: ENOSPC (No space left on device)". */
static napi_value throw_errno(napi_env env, int err, const char *what) {
  return throw_code(env, "FP_SHM_SYSTEM", "%s failed: %s %d (%s)", what, errno_name(err), err, strerror(err));
}

/* A printable, truncated copy of a user string for messages (never trusted as a name). */
static void printable(const char *in, size_t len, char *out, size_t out_size) {
  size_t o = 0;
  for (size_t i = 0; i < len && o + 4 < out_size; i++) {
    unsigned char c = (unsigned char)in[i];
    out[o++] = (c >= 0x20 && c < 0x7f) ? (char)c : '?';
  }
  if (len > 0 && o + 4 >= out_size) {
    out[o++] = '.';
    out[o++] = '.';
    out[o++] = '.';
  }
  out[o] = '\0';
}

/* ------------------------------------------------------------------------------------ */
/* Argument checks                                                                      */
/* ------------------------------------------------------------------------------------ */

/*
 * Reads a segment name and writes "/<name>" into path (size NAME_MAX_CHARS + 2).
 * Names match ^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$ (no slash, no leading dot), so the
 * file is /dev/shm/<name> and nothing else. Throws FP_SHM_NAME_INVALID.
 */
static bool get_name(napi_env env, napi_value value, char path[NAME_MAX_CHARS + 2]) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_string) {
    throw_code(env, "FP_SHM_NAME_INVALID", "segment name must be a string");
    return false;
  }
  size_t len = 0;
  if (napi_get_value_string_utf8(env, value, NULL, 0, &len) != napi_ok) {
    throw_code(env, "FP_SHM_NAME_INVALID", "segment name could not be read as UTF-8");
    return false;
  }
  char buf[NAME_MAX_CHARS + 64];
  size_t copied = 0;
  napi_get_value_string_utf8(env, value, buf, sizeof buf, &copied);
  if (len == 0) {
    throw_code(env, "FP_SHM_NAME_INVALID", "segment name is empty; use 1 to %d characters [A-Za-z0-9._-], starting with a letter or digit",
               NAME_MAX_CHARS);
    return false;
  }
  char shown[80];
  printable(buf, copied, shown, sizeof shown);
  if (len > NAME_MAX_CHARS) {
    throw_code(env, "FP_SHM_NAME_INVALID", "segment name \"%s\" is %zu bytes long; the limit is %d", shown, len, NAME_MAX_CHARS);
    return false;
  }
  for (size_t i = 0; i < len; i++) {
    char c = buf[i];
    bool alnum = (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
    bool ok = i == 0 ? alnum : (alnum || c == '.' || c == '_' || c == '-');
    if (!ok) {
      throw_code(env, "FP_SHM_NAME_INVALID",
                 "segment name \"%s\" has a forbidden character at index %zu; names are [A-Za-z0-9][A-Za-z0-9._-]{0,%d} (no slash, no leading dot)",
                 shown, i, NAME_MAX_CHARS - 1);
      return false;
    }
  }
  path[0] = '/';
  memcpy(path + 1, buf, len);
  path[len + 1] = '\0';
  return true;
}

/* A number argument (typeof number, not NaN). Throws FP_SHM_ARGUMENT naming `what`. */
static bool get_number(napi_env env, napi_value value, const char *what, double *out) {
  napi_valuetype type;
  if (napi_typeof(env, value, &type) != napi_ok || type != napi_number) {
    throw_code(env, "FP_SHM_ARGUMENT", "%s must be a number", what);
    return false;
  }
  napi_get_value_double(env, value, out);
  if (isnan(*out)) {
    throw_code(env, "FP_SHM_ARGUMENT", "%s must be a number, got NaN", what);
    return false;
  }
  return true;
}

/* An integer in [min, max]. Throws FP_SHM_ARGUMENT naming the value and the limits. */
static bool get_integer(napi_env env, napi_value value, const char *what, double min, double max, double *out) {
  if (!get_number(env, value, what, out)) return false;
  if (!isfinite(*out) || floor(*out) != *out || *out < min || *out > max) {
    throw_code(env, "FP_SHM_ARGUMENT", "%s must be an integer from %.0f to %.0f, got %.17g", what, min, max, *out);
    return false;
  }
  return true;
}

/*
 * The data pointer and length of an ArrayBuffer argument. Throws FP_SHM_ARGUMENT for
 * anything else (typed arrays, SharedArrayBuffer, ...) and for a detached buffer.
 */
static bool get_buffer(napi_env env, napi_value value, uint8_t **data, size_t *len) {
  bool is_ab = false;
  napi_is_arraybuffer(env, value, &is_ab);
  if (!is_ab) {
    bool is_view = false;
    napi_is_typedarray(env, value, &is_view);
    if (!is_view) napi_is_dataview(env, value, &is_view);
    if (is_view)
      throw_code(env, "FP_SHM_ARGUMENT", "buffer must be an ArrayBuffer, got a typed array or DataView: pass view.buffer and add view.byteOffset to the offset");
    else
      throw_code(env, "FP_SHM_ARGUMENT", "buffer must be an ArrayBuffer (a SharedSegment's buffer)");
    return false;
  }
  bool detached = false;
  napi_is_detached_arraybuffer(env, value, &detached);
  void *ptr = NULL;
  napi_get_arraybuffer_info(env, value, &ptr, len);
  if (detached || ptr == NULL) {
    throw_code(env, "FP_SHM_ARGUMENT", "buffer is detached (byteLength 0): its segment was closed");
    return false;
  }
  *data = ptr;
  return true;
}

/*
 * The address of the 32-bit word at byteOffset of buffer: a non-negative integer,
 * a multiple of 4, with byteOffset + 4 <= byteLength. Throws FP_SHM_ARGUMENT (not an
 * integer, misaligned) or FP_SHM_OUT_OF_BOUNDS (negative, past the end).
 */
static uint32_t *get_word(napi_env env, napi_value buffer, napi_value offset) {
  uint8_t *data;
  size_t len;
  if (!get_buffer(env, buffer, &data, &len)) return NULL;
  double off;
  if (!get_number(env, offset, "byteOffset", &off)) return NULL;
  if (!isfinite(off) || floor(off) != off) {
    throw_code(env, "FP_SHM_ARGUMENT", "byteOffset must be an integer, got %.17g", off);
    return NULL;
  }
  if (off < 0 || off + 4 > (double)len) {
    throw_code(env, "FP_SHM_OUT_OF_BOUNDS", "byteOffset %.0f + 4 is outside the buffer of byteLength %zu (the last word is at %lld)", off, len,
               (long long)len - 4);
    return NULL;
  }
  size_t o = (size_t)off;
  if (o % 4 != 0 || ((uintptr_t)(data + o)) % 4 != 0) {
    throw_code(env, "FP_SHM_ARGUMENT", "byteOffset %zu is not 4-byte aligned (futex words are 32-bit)", o);
    return NULL;
  }
  return (uint32_t *)(data + o);
}

/* A value compared as uint32: an integer from -2^31 to 2^32-1 (negatives wrap, like Int32Array values). */
static bool get_u32(napi_env env, napi_value value, const char *what, uint32_t *out) {
  double d;
  if (!get_integer(env, value, what, -2147483648.0, 4294967295.0, &d)) return false;
  *out = d < 0 ? (uint32_t)(int32_t)d : (uint32_t)d;
  return true;
}

static int64_t monotonic_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * NS_PER_S + ts.tv_nsec;
}

static long futex_wait_raw(uint32_t *word, uint32_t expected, const struct timespec *timeout) {
  return syscall(SYS_futex, word, FUTEX_WAIT, expected, timeout, NULL, 0);
}

static long futex_wake_raw(uint32_t *word, int count) {
  return syscall(SYS_futex, word, FUTEX_WAKE, count, NULL, NULL, 0);
}

/* ------------------------------------------------------------------------------------ */
/* Mappings and watchers                                                                */
/* ------------------------------------------------------------------------------------ */

typedef struct watcher watcher_t;

/* One mmap of a segment, owned by the external ArrayBuffer that exposes it. */
typedef struct mapping {
  void *addr;
  size_t len;
  bool unmapped;
  watcher_t *watchers; /* running watchers on this mapping; touched on the owning JS thread only */
  struct mapping *next; /* registry link, under registry_lock */
} mapping_t;

/* A doorbell watcher: one thread that FUTEX_WAITs on a word and calls onRing on change. */
struct watcher {
  napi_env env;
  mapping_t *mapping;
  uint32_t *word;
  uint32_t initial;
  int stop; /* __atomic; set by the JS thread, read by the watcher thread */
  bool closed;
  pthread_t thread;
  napi_threadsafe_function tsfn;
  napi_ref buffer_ref; /* keeps the ArrayBuffer (so the mapping) alive while running */
  napi_ref self_ref;   /* keeps the handle alive while running, like an (unref'd) timer */
  watcher_t *next;     /* in mapping->watchers */
};

/* Live (not yet unmapped) mappings of every environment (main thread and workers). */
static pthread_mutex_t registry_lock = PTHREAD_MUTEX_INITIALIZER;
static mapping_t *registry = NULL;

static void registry_add(mapping_t *m) {
  pthread_mutex_lock(&registry_lock);
  m->next = registry;
  registry = m;
  pthread_mutex_unlock(&registry_lock);
}

/* The live mapping that starts at addr, or NULL. With `take`, it is also removed. */
static mapping_t *registry_find(void *addr, bool take) {
  pthread_mutex_lock(&registry_lock);
  mapping_t **link = &registry;
  mapping_t *found = NULL;
  for (; *link != NULL; link = &(*link)->next) {
    if ((*link)->addr == addr) {
      found = *link;
      if (take) *link = found->next;
      break;
    }
  }
  pthread_mutex_unlock(&registry_lock);
  return found;
}

static void watcher_cleanup_hook(void *arg);

/*
 * Stops the thread (woken at once; at worst it notices within its 50 ms recheck), joins it and aborts the
 * thread-safe function so no queued onRing runs afterwards. With `release_refs`, also
 * drops the JS references and the cleanup hook (not during environment teardown from
 * inside that hook or a finalizer). Idempotent.
 */
static void watcher_shutdown(watcher_t *w, bool release_refs) {
  if (w->closed) return;
  w->closed = true;
  __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
  /* Wake the thread now rather than at its next recheck. This also wakes any other
     waiter on the word (any process): a spurious wake-up, which futex waiters must
     tolerate anyway. The mapping is still live here: shutdown always precedes munmap. */
  futex_wake_raw(w->word, INT_MAX);
  pthread_join(w->thread, NULL);
  napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
  w->tsfn = NULL;
  if (w->mapping != NULL) {
    watcher_t **link = &w->mapping->watchers;
    while (*link != NULL && *link != w) link = &(*link)->next;
    if (*link == w) *link = w->next;
    w->mapping = NULL;
  }
  if (release_refs) {
    napi_delete_reference(w->env, w->buffer_ref);
    napi_delete_reference(w->env, w->self_ref);
    napi_remove_env_cleanup_hook(w->env, watcher_cleanup_hook, w);
  }
  w->buffer_ref = NULL;
  w->self_ref = NULL;
}

/* Environment teardown (worker exit, process exit): stop the thread before anything is unmapped. */
static void watcher_cleanup_hook(void *arg) {
  watcher_shutdown((watcher_t *)arg, false);
}

/* Stops every watcher of m; called before m is unmapped. */
static void mapping_stop_watchers(mapping_t *m, bool release_refs) {
  while (m->watchers != NULL) watcher_shutdown(m->watchers, release_refs);
}

/* Finalizer of the external ArrayBuffer: munmap unless unmap() already did. */
static void mapping_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)data;
  mapping_t *m = hint;
  if (!m->unmapped) {
    registry_find(m->addr, true);
    mapping_stop_watchers(m, false);
    munmap(m->addr, m->len);
    m->unmapped = true;
  }
  free(m);
}

/*
 * Wraps a fresh MAP_SHARED mapping into { buffer, sizeBytes, mode, ownerUid }. On
 * failure the mapping is unmapped and NULL is returned with an exception pending.
 */
static napi_value wrap_mapping(napi_env env, void *addr, size_t len, const struct stat *st) {
  mapping_t *m = calloc(1, sizeof *m);
  if (m == NULL) {
    munmap(addr, len);
    return throw_errno(env, ENOMEM, "allocating the mapping record");
  }
  m->addr = addr;
  m->len = len;
  napi_value buffer;
  if (napi_create_external_arraybuffer(env, addr, len, mapping_finalize, m, &buffer) != napi_ok) {
    munmap(addr, len);
    free(m);
    return throw_code(env, "FP_SHM_SYSTEM", "napi_create_external_arraybuffer failed for a %zu-byte mapping", len);
  }
  registry_add(m);
  napi_value result, v;
  napi_create_object(env, &result);
  napi_set_named_property(env, result, "buffer", buffer);
  napi_create_double(env, (double)len, &v);
  napi_set_named_property(env, result, "sizeBytes", v);
  napi_create_uint32(env, (uint32_t)(st->st_mode & 07777), &v);
  napi_set_named_property(env, result, "mode", v);
  napi_create_uint32(env, (uint32_t)st->st_uid, &v);
  napi_set_named_property(env, result, "ownerUid", v);
  return result;
}

static napi_value get_args(napi_env env, napi_callback_info info, size_t want, napi_value *argv) {
  size_t argc = want;
  napi_value this_arg;
  if (napi_get_cb_info(env, info, &argc, argv, &this_arg, NULL) != napi_ok) return NULL;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  for (size_t i = argc; i < want; i++) argv[i] = undefined;
  return this_arg;
}

/* ------------------------------------------------------------------------------------ */
/* Exported functions                                                                   */
/* ------------------------------------------------------------------------------------ */

/*
 * create(name: string, sizeBytes: number, mode: number)
 *   -> { buffer: ArrayBuffer, sizeBytes: number, mode: number, ownerUid: number }
 *
 * Creates /dev/shm/<name> with shm_open(O_CREAT | O_EXCL | O_RDWR), sets its mode with
 * fchmod (so the umask can neither widen nor narrow it), sizes it with ftruncate,
 * reserves its pages with posix_fallocate (so a full /dev/shm fails here with ENOSPC
 * instead of SIGBUS at first write), and maps the whole file MAP_SHARED read-write.
 * The file is created with mode 0600 and only then changed to `mode`, so it is never
 * readable by others before the requested mode is set. `buffer` is an external
 * ArrayBuffer over the mapping, unmapped by unmap() or when it is garbage-collected;
 * `mode` and `ownerUid` are read back with fstat.
 *
 * Arguments: name matches ^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$; sizeBytes an integer
 * 1..2^31-1; mode an integer 0..0o777.
 * Errors: FP_SHM_NAME_INVALID (name), FP_SHM_ARGUMENT (size, mode), FP_SHM_EXISTS (the
 * name exists), FP_SHM_ACCESS (EACCES/EPERM), FP_SHM_SYSTEM (any other failure, with the
 * call and errno: e.g. ENOSPC when /dev/shm is full). After the file was created, every
 * failure unlinks it again and releases the descriptor and mapping.
 */
static napi_value shm_create(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, 3, argv);
  char path[NAME_MAX_CHARS + 2];
  if (!get_name(env, argv[0], path)) return NULL;
  double size_d, mode_d;
  if (!get_integer(env, argv[1], "sizeBytes", 1, MAX_SIZE_BYTES, &size_d)) return NULL;
  if (!get_number(env, argv[2], "mode", &mode_d)) return NULL;
  if (!isfinite(mode_d) || floor(mode_d) != mode_d || mode_d < 0 || mode_d > 0777)
    return throw_code(env, "FP_SHM_ARGUMENT", "mode must be an integer from 0 to 0o777 (permission bits only), got %.17g", mode_d);
  size_t size = (size_t)size_d;
  mode_t mode = (mode_t)mode_d;

  int fd = shm_open(path, O_CREAT | O_EXCL | O_RDWR | O_CLOEXEC, 0600);
  if (fd < 0) {
    int err = errno;
    if (err == EEXIST)
      return throw_code(env, "FP_SHM_EXISTS", "shared-memory segment /dev/shm%s already exists; unlink it first if it is stale", path);
    if (err == EACCES || err == EPERM)
      return throw_code(env, "FP_SHM_ACCESS", "creating /dev/shm%s was denied: %s (%s)", path, errno_name(err), strerror(err));
    char what[NAME_MAX_CHARS + 64];
    snprintf(what, sizeof what, "shm_open(/dev/shm%s, O_CREAT|O_EXCL|O_RDWR)", path);
    return throw_errno(env, err, what);
  }
  const char *step = NULL;
  int err = 0;
  void *addr = MAP_FAILED;
  struct stat st;
  if (fchmod(fd, mode) != 0) {
    step = "fchmod";
    err = errno;
  } else if (ftruncate(fd, (off_t)size) != 0) {
    step = "ftruncate";
    err = errno;
  } else {
    int fa = posix_fallocate(fd, 0, (off_t)size);
    /* Filesystems without fallocate keep the sparse file (EOPNOTSUPP / EINVAL). */
    if (fa != 0 && fa != EOPNOTSUPP && fa != EINVAL && fa != ENOSYS) {
      step = "posix_fallocate";
      err = fa;
    }
  }
  if (step == NULL && fstat(fd, &st) != 0) {
    step = "fstat";
    err = errno;
  }
  if (step == NULL) {
    addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    if (addr == MAP_FAILED) {
      step = "mmap";
      err = errno;
    }
  }
  close(fd);
  if (step != NULL) {
    shm_unlink(path);
    char what[NAME_MAX_CHARS + 96];
    if (err == ENOSPC || err == ENOMEM)
      return throw_code(env, "FP_SHM_SYSTEM", "%s(/dev/shm%s, %zu bytes) failed: %s (%s): /dev/shm has no room for the segment (see df /dev/shm)",
                        step, path, size, errno_name(err), strerror(err));
    snprintf(what, sizeof what, "%s(/dev/shm%s, %zu bytes)", step, path, size);
    return throw_errno(env, err, what);
  }
  napi_value result = wrap_mapping(env, addr, size, &st);
  if (result == NULL) shm_unlink(path);
  return result;
}

/*
 * open(name: string)
 *   -> { buffer: ArrayBuffer, sizeBytes: number, mode: number, ownerUid: number }
 *
 * Opens the existing /dev/shm/<name> with shm_open(O_RDWR) (glibc adds O_NOFOLLOW),
 * checks with fstat that it is a regular file of 1..2^31-1 bytes, and maps the whole
 * file MAP_SHARED read-write. It does not judge mode or owner: it reports them (st_mode
 * & 07777, st_uid) for the caller to decide.
 *
 * Errors: FP_SHM_NAME_INVALID (name), FP_SHM_NOT_FOUND (ENOENT), FP_SHM_ACCESS
 * (EACCES/EPERM), FP_SHM_ARGUMENT (a directory, symbolic link or other non-regular file,
 * an empty file - e.g. its creator has not sized it yet - or one larger than 2^31-1
 * bytes), FP_SHM_SYSTEM (any other failure, with the call and errno).
 */
static napi_value shm_open_existing(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  char path[NAME_MAX_CHARS + 2];
  if (!get_name(env, argv[0], path)) return NULL;
  int fd = shm_open(path, O_RDWR | O_CLOEXEC, 0);
  if (fd < 0) {
    int err = errno;
    if (err == ENOENT) return throw_code(env, "FP_SHM_NOT_FOUND", "shared-memory segment /dev/shm%s does not exist", path);
    if (err == EACCES || err == EPERM)
      return throw_code(env, "FP_SHM_ACCESS", "opening /dev/shm%s read-write was denied: %s (%s)", path, errno_name(err), strerror(err));
    /* glibc's shm_open turns EISDIR into EINVAL: tell the two apart with lstat. */
    if (err == EISDIR || err == EINVAL) {
      char full[NAME_MAX_CHARS + 16];
      struct stat lst;
      snprintf(full, sizeof full, "/dev/shm%s", path);
      if (lstat(full, &lst) == 0 && !S_ISREG(lst.st_mode))
        return throw_code(env, "FP_SHM_ARGUMENT", "%s is %s, not a shared-memory segment", full, S_ISDIR(lst.st_mode) ? "a directory" : "not a regular file");
    }
    if (err == ELOOP) return throw_code(env, "FP_SHM_ARGUMENT", "/dev/shm%s is a symbolic link; segments are never opened through links", path);
    char what[NAME_MAX_CHARS + 64];
    snprintf(what, sizeof what, "shm_open(/dev/shm%s, O_RDWR)", path);
    return throw_errno(env, err, what);
  }
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int err = errno;
    close(fd);
    char what[NAME_MAX_CHARS + 32];
    snprintf(what, sizeof what, "fstat(/dev/shm%s)", path);
    return throw_errno(env, err, what);
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return throw_code(env, "FP_SHM_ARGUMENT", "/dev/shm%s is not a regular file (st_mode 0%o)", path, (unsigned)st.st_mode);
  }
  if (st.st_size <= 0) {
    close(fd);
    return throw_code(env, "FP_SHM_ARGUMENT", "/dev/shm%s is empty (0 bytes): its creator has not sized it yet, or it is not a segment", path);
  }
  if ((double)st.st_size > MAX_SIZE_BYTES) {
    close(fd);
    return throw_code(env, "FP_SHM_ARGUMENT", "/dev/shm%s is %lld bytes; the limit is %.0f", path, (long long)st.st_size, MAX_SIZE_BYTES);
  }
  size_t size = (size_t)st.st_size;
  void *addr = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  int err = errno;
  close(fd);
  if (addr == MAP_FAILED) {
    char what[NAME_MAX_CHARS + 64];
    snprintf(what, sizeof what, "mmap(/dev/shm%s, %zu bytes)", path, size);
    return throw_errno(env, err, what);
  }
  return wrap_mapping(env, addr, size, &st);
}

/*
 * unlink(name: string) -> boolean
 *
 * shm_unlink(/dev/shm/<name>): true if it was removed, false if it did not exist.
 * Existing mappings stay valid until they are closed.
 * Errors: FP_SHM_NAME_INVALID, FP_SHM_ACCESS (EACCES/EPERM), FP_SHM_SYSTEM (other errno).
 */
static napi_value shm_unlink_name(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  char path[NAME_MAX_CHARS + 2];
  if (!get_name(env, argv[0], path)) return NULL;
  napi_value result;
  if (shm_unlink(path) == 0) {
    napi_get_boolean(env, true, &result);
    return result;
  }
  int err = errno;
  if (err == ENOENT) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  if (err == EACCES || err == EPERM)
    return throw_code(env, "FP_SHM_ACCESS", "unlinking /dev/shm%s was denied: %s (%s)", path, errno_name(err), strerror(err));
  char what[NAME_MAX_CHARS + 32];
  snprintf(what, sizeof what, "shm_unlink(/dev/shm%s)", path);
  return throw_errno(env, err, what);
}

/*
 * unmap(buffer: ArrayBuffer) -> boolean
 *
 * Unmaps a buffer returned by create() or open() now: stops and joins its doorbell
 * watchers, detaches the ArrayBuffer (napi_detach_arraybuffer: byteLength becomes 0 and
 * every view over it becomes empty instead of dangling), then munmaps. Returns true if it
 * unmapped now, false if the buffer was already detached (idempotent).
 * Errors: FP_SHM_ARGUMENT (not an ArrayBuffer, or an ArrayBuffer that is not a live
 * mapping of this addon), FP_SHM_SYSTEM (the buffer could not be detached).
 */
static napi_value shm_unmap(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  bool is_ab = false;
  napi_is_arraybuffer(env, argv[0], &is_ab);
  if (!is_ab) return throw_code(env, "FP_SHM_ARGUMENT", "unmap needs the ArrayBuffer of a SharedSegment");
  napi_value result;
  bool detached = false;
  napi_is_detached_arraybuffer(env, argv[0], &detached);
  void *data = NULL;
  size_t len = 0;
  napi_get_arraybuffer_info(env, argv[0], &data, &len);
  if (detached || data == NULL) {
    napi_get_boolean(env, false, &result);
    return result;
  }
  mapping_t *m = registry_find(data, false);
  if (m == NULL || m->len != len)
    return throw_code(env, "FP_SHM_ARGUMENT", "this ArrayBuffer (byteLength %zu) is not a shared-memory mapping made by createSegment/openSegment", len);
  mapping_stop_watchers(m, true);
  if (napi_detach_arraybuffer(env, argv[0]) != napi_ok)
    return throw_code(env, "FP_SHM_SYSTEM", "napi_detach_arraybuffer failed; the mapping stays in place");
  registry_find(data, true);
  munmap(m->addr, m->len);
  m->unmapped = true; /* the finalizer (run when V8 drops the backing store) frees m */
  napi_get_boolean(env, true, &result);
  return result;
}

/*
 * futexWait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutMs: number)
 *   -> 0 (woken) | 1 (not-equal) | 2 (timed-out)
 *
 * Blocks the calling thread in FUTEX_WAIT (process-shared, not FUTEX_PRIVATE, so it
 * pairs with FUTEX_WAKE from any process mapping the same file) while the 32-bit word at
 * byteOffset equals `expected` (compared as uint32; -2^31..2^32-1 accepted), for at most
 * timeoutMs (fractional allowed, e.g. 0.05; 0 returns at once; Infinity waits without
 * limit). Returns 1 without sleeping if the word differs; 2 when the time is up; 0 when
 * woken by FUTEX_WAKE (which may be spurious: re-check the word). EINTR is retried with
 * the remaining time.
 * Errors: FP_SHM_ARGUMENT / FP_SHM_OUT_OF_BOUNDS (see get_word; expected out of range;
 * timeoutMs negative, NaN or above 2^31-1 but finite), FP_SHM_SYSTEM (other futex errno).
 */
static napi_value shm_futex_wait(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  get_args(env, info, 4, argv);
  uint32_t *word = get_word(env, argv[0], argv[1]);
  if (word == NULL) return NULL;
  uint32_t expected;
  if (!get_u32(env, argv[2], "expected", &expected)) return NULL;
  double timeout_ms;
  if (!get_number(env, argv[3], "timeoutMs", &timeout_ms)) return NULL;
  bool forever = isinf(timeout_ms) && timeout_ms > 0;
  if (!forever && (timeout_ms < 0 || timeout_ms > MAX_TIMEOUT_MS))
    return throw_code(env, "FP_SHM_ARGUMENT", "timeoutMs must be from 0 to %.0f or Infinity, got %.17g", MAX_TIMEOUT_MS, timeout_ms);

  int outcome;
  if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected) {
    outcome = FUTEX_RESULT_NOT_EQUAL;
  } else if (timeout_ms == 0) {
    outcome = FUTEX_RESULT_TIMED_OUT;
  } else {
    int64_t deadline = forever ? 0 : monotonic_ns() + (int64_t)ceil(timeout_ms * 1e6);
    for (;;) {
      struct timespec ts, *tsp = NULL;
      if (!forever) {
        int64_t remaining = deadline - monotonic_ns();
        if (remaining <= 0) {
          outcome = FUTEX_RESULT_TIMED_OUT;
          break;
        }
        ts.tv_sec = (time_t)(remaining / NS_PER_S);
        ts.tv_nsec = (long)(remaining % NS_PER_S);
        tsp = &ts;
      }
      if (futex_wait_raw(word, expected, tsp) == 0) {
        outcome = FUTEX_RESULT_WOKEN;
        break;
      }
      int err = errno;
      if (err == EINTR) continue;
      if (err == EAGAIN) {
        outcome = FUTEX_RESULT_NOT_EQUAL;
        break;
      }
      if (err == ETIMEDOUT) {
        outcome = FUTEX_RESULT_TIMED_OUT;
        break;
      }
      return throw_errno(env, err, "futex(FUTEX_WAIT)");
    }
  }
  napi_value result;
  napi_create_int32(env, outcome, &result);
  return result;
}

/*
 * futexWake(buffer: ArrayBuffer, byteOffset: number, count: number) -> number
 *
 * FUTEX_WAKE (process-shared) on the word at byteOffset: wakes up to `count` waiters
 * (an integer 1..2^31-1; the wrapper passes 2^31-1 for "all") in any process, and
 * returns how many were woken.
 * Errors: FP_SHM_ARGUMENT / FP_SHM_OUT_OF_BOUNDS (see get_word; count), FP_SHM_SYSTEM.
 */
static napi_value shm_futex_wake(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, 3, argv);
  uint32_t *word = get_word(env, argv[0], argv[1]);
  if (word == NULL) return NULL;
  double count;
  if (!get_integer(env, argv[2], "count", 1, 2147483647.0, &count)) return NULL;
  long woken = futex_wake_raw(word, (int)count);
  if (woken < 0) return throw_errno(env, errno, "futex(FUTEX_WAKE)");
  napi_value result;
  napi_create_int32(env, (int32_t)woken, &result);
  return result;
}

/*
 * spinWait(buffer: ArrayBuffer, byteOffset: number, expected: number, timeoutNs: number)
 *   -> boolean
 *
 * Busy-waits on the calling thread, with a CPU pause between reads (pause on x86, yield
 * on arm64), while the 32-bit word at byteOffset equals `expected` (as uint32), for at
 * most timeoutNs of CLOCK_MONOTONIC (the clock is read every 16 reads). Returns true as
 * soon as the word differs (including at once), false on timeout (timeoutNs 0: one read).
 * Errors: FP_SHM_ARGUMENT / FP_SHM_OUT_OF_BOUNDS (see get_word; expected; timeoutNs
 * negative, NaN or not finite).
 */
static napi_value shm_spin_wait(napi_env env, napi_callback_info info) {
  napi_value argv[4];
  get_args(env, info, 4, argv);
  uint32_t *word = get_word(env, argv[0], argv[1]);
  if (word == NULL) return NULL;
  uint32_t expected;
  if (!get_u32(env, argv[2], "expected", &expected)) return NULL;
  double timeout_ns;
  if (!get_number(env, argv[3], "timeoutNs", &timeout_ns)) return NULL;
  if (timeout_ns < 0 || !isfinite(timeout_ns))
    return throw_code(env, "FP_SHM_ARGUMENT", "timeoutNs must be a finite number >= 0, got %.17g", timeout_ns);
  bool changed = __atomic_load_n(word, __ATOMIC_ACQUIRE) != expected;
  if (!changed && timeout_ns > 0) {
    /* 9.2e18 ns is about 292 years: clamp instead of overflowing int64. */
    int64_t span = timeout_ns > 9.2e18 ? INT64_MAX / 2 : (int64_t)timeout_ns;
    int64_t deadline = monotonic_ns() + span;
    for (unsigned i = 1;; i++) {
      CPU_RELAX();
      if (__atomic_load_n(word, __ATOMIC_ACQUIRE) != expected) {
        changed = true;
        break;
      }
      if ((i & 15) == 0 && monotonic_ns() >= deadline) break;
    }
  }
  napi_value result;
  napi_get_boolean(env, changed, &result);
  return result;
}

/* Runs on the JS thread for each (coalesced) ring: onRing(); a throw becomes an uncaught exception. */
static void watcher_call_js(napi_env env, napi_value js_cb, void *context, void *data) {
  (void)context;
  (void)data;
  if (env == NULL || js_cb == NULL) return;
  napi_value undefined;
  napi_get_undefined(env, &undefined);
  if (napi_call_function(env, undefined, js_cb, 0, NULL, NULL) == napi_pending_exception) {
    napi_value err;
    if (napi_get_and_clear_last_exception(env, &err) == napi_ok) napi_fatal_exception(env, err);
  }
}

/*
 * The watcher thread: whenever the word differs from the last value it saw, queue one
 * onRing call (non-blocking, queue size 1: while one call is queued and not yet started,
 * further rings are dropped, and the queued call, which starts later, sees them). Between
 * changes it sleeps in FUTEX_WAIT for at most 50 ms so that close() is prompt.
 */
static void *watcher_main(void *arg) {
  watcher_t *w = arg;
  uint32_t last = w->initial;
  const struct timespec recheck = {0, WATCHER_RECHECK_NS};
  while (!__atomic_load_n(&w->stop, __ATOMIC_ACQUIRE)) {
    uint32_t now = __atomic_load_n(w->word, __ATOMIC_ACQUIRE);
    if (now != last) {
      last = now;
      if (napi_call_threadsafe_function(w->tsfn, NULL, napi_tsfn_nonblocking) == napi_closing) break;
      continue; /* napi_queue_full is fine: the queued call has not started and will see this */
    }
    futex_wait_raw(w->word, last, &recheck);
  }
  return NULL;
}

/* Finalizer of a watcher handle: runs after close() (or at teardown); frees the record. */
static void watcher_finalize(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  watcher_t *w = data;
  watcher_shutdown(w, false);
  free(w);
}

/*
 * watcherStart(buffer: ArrayBuffer, byteOffset: number, onRing: () => void) -> handle
 *
 * Starts a doorbell watcher on the 32-bit word at byteOffset of a SharedSegment's buffer:
 * a dedicated pthread (all signals blocked) that calls onRing() on this JS thread, through
 * a thread-safe function, whenever the word's value differs from the last value it saw
 * (the first comparison is against the value read here). Rings coalesce (see
 * watcher_main). The thread-safe function is unref'd, so a watcher never keeps the event
 * loop alive. The handle (an external) must be passed to watcherClose(); until then the
 * watcher keeps the buffer alive. unmap() of the buffer stops its watchers first.
 * Errors: FP_SHM_ARGUMENT (buffer not a live mapping of this addon, e.g. a plain
 * ArrayBuffer - its memory could be released under the thread; onRing not a function),
 * FP_SHM_ARGUMENT / FP_SHM_OUT_OF_BOUNDS (byteOffset), FP_SHM_SYSTEM (thread or
 * thread-safe function creation failed).
 */
static napi_value shm_watcher_start(napi_env env, napi_callback_info info) {
  napi_value argv[3];
  get_args(env, info, 3, argv);
  uint32_t *word = get_word(env, argv[0], argv[1]);
  if (word == NULL) return NULL;
  void *data = NULL;
  size_t len = 0;
  napi_get_arraybuffer_info(env, argv[0], &data, &len);
  mapping_t *m = registry_find(data, false);
  if (m == NULL || m->len != len)
    return throw_code(env, "FP_SHM_ARGUMENT", "a DoorbellWatcher needs the buffer of an open SharedSegment (createSegment/openSegment), not another ArrayBuffer");
  napi_valuetype type;
  napi_typeof(env, argv[2], &type);
  if (type != napi_function) return throw_code(env, "FP_SHM_ARGUMENT", "onRing must be a function");

  watcher_t *w = calloc(1, sizeof *w);
  if (w == NULL) return throw_errno(env, ENOMEM, "allocating a doorbell watcher");
  w->env = env;
  w->word = word;
  w->initial = __atomic_load_n(word, __ATOMIC_ACQUIRE);
  napi_value name;
  napi_create_string_utf8(env, "fastpath DoorbellWatcher", NAPI_AUTO_LENGTH, &name);
  if (napi_create_threadsafe_function(env, argv[2], NULL, name, 1, 1, NULL, NULL, NULL, watcher_call_js, &w->tsfn) != napi_ok) {
    free(w);
    return throw_code(env, "FP_SHM_SYSTEM", "napi_create_threadsafe_function failed for a doorbell watcher");
  }
  napi_unref_threadsafe_function(env, w->tsfn);

  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  int rc = pthread_create(&w->thread, NULL, watcher_main, w);
  pthread_sigmask(SIG_SETMASK, &old, NULL);
  if (rc != 0) {
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    free(w);
    return throw_errno(env, rc, "pthread_create (doorbell watcher)");
  }

  napi_value handle;
  if (napi_create_external(env, w, watcher_finalize, NULL, &handle) != napi_ok) {
    /* No handle to close it through: stop it here. */
    __atomic_store_n(&w->stop, 1, __ATOMIC_RELEASE);
    pthread_join(w->thread, NULL);
    napi_release_threadsafe_function(w->tsfn, napi_tsfn_abort);
    free(w);
    return throw_code(env, "FP_SHM_SYSTEM", "napi_create_external failed for a doorbell watcher");
  }
  napi_create_reference(env, argv[0], 1, &w->buffer_ref);
  napi_create_reference(env, handle, 1, &w->self_ref);
  napi_add_env_cleanup_hook(env, watcher_cleanup_hook, w);
  w->mapping = m;
  w->next = m->watchers;
  m->watchers = w;
  return handle;
}

/*
 * watcherClose(handle) -> undefined
 *
 * Stops a watcher: signals and wakes its thread (FUTEX_WAKE on the word, which other
 * waiters on that word see as a spurious wake-up), joins it, aborts the
 * thread-safe function (no onRing call runs after this returns, even one already
 * queued) and drops the watcher's references. Idempotent.
 * Errors: FP_SHM_ARGUMENT (not a watcher handle).
 */
static napi_value shm_watcher_close(napi_env env, napi_callback_info info) {
  napi_value argv[1];
  get_args(env, info, 1, argv);
  napi_valuetype type;
  napi_typeof(env, argv[0], &type);
  if (type != napi_external) return throw_code(env, "FP_SHM_ARGUMENT", "watcherClose needs a handle returned by watcherStart");
  void *w = NULL;
  napi_get_value_external(env, argv[0], &w);
  if (w != NULL) watcher_shutdown((watcher_t *)w, true);
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
      {"create", NULL, shm_create, NULL, NULL, NULL, napi_enumerable, NULL},
      {"open", NULL, shm_open_existing, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unlink", NULL, shm_unlink_name, NULL, NULL, NULL, napi_enumerable, NULL},
      {"unmap", NULL, shm_unmap, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWait", NULL, shm_futex_wait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"futexWake", NULL, shm_futex_wake, NULL, NULL, NULL, napi_enumerable, NULL},
      {"spinWait", NULL, shm_spin_wait, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watcherStart", NULL, shm_watcher_start, NULL, NULL, NULL, napi_enumerable, NULL},
      {"watcherClose", NULL, shm_watcher_close, NULL, NULL, NULL, napi_enumerable, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value abi;
  napi_create_int32(env, FASTPATH_SHM_ABI, &abi);
  napi_set_named_property(env, exports, "abi", abi);
  return exports;
}

#else /* not Linux */

/*
 * Elsewhere the addon still builds (so `npm install` does not fail) but exports only
 * `abi` and `unsupported`, the reason ring/native.ts reports through shmSupport().
 */
NAPI_MODULE_INIT() {
  napi_value abi, reason;
  napi_create_int32(env, FASTPATH_SHM_ABI, &abi);
  napi_set_named_property(env, exports, "abi", abi);
  napi_create_string_utf8(env, "the shared-memory transport needs Linux (futex, /dev/shm)", NAPI_AUTO_LENGTH, &reason);
  napi_set_named_property(env, exports, "unsupported", reason);
  return exports;
}

#endif
