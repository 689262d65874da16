/*
 * Batched UDP receive for Breakwater's flow collector, Linux.
 *
 * node:dgram calls into JavaScript once per datagram and gives each one its
 * own Buffer, rinfo object and address string: about 3 µs of CPU per datagram
 * on this class of machine before any decoding, which caps a receive thread at
 * some 300 k datagrams/s. This Node-API addon binds the socket itself, waits
 * for it on the calling thread's own event loop (uv_poll), takes up to `slots`
 * datagrams per recvmmsg(2) into ONE ArrayBuffer the JavaScript side owns, and
 * calls back once per batch with the count. The JavaScript side decodes the
 * batch synchronously, before the next recvmmsg overwrites the slots.
 *
 *   udpOpen(host, port, reusePort, receiveBufferBytes) -> { fd, port, family, dualStack, receiveBufferBytes }
 *       host "" or "::" = every IPv4 and IPv6 address on one socket (IPV6_V6ONLY
 *       off; IPv4 "0.0.0.0" if IPv6 is unavailable). SO_REUSEPORT when asked,
 *       SO_RXQ_OVFL always (the kernel's count of datagrams dropped because the
 *       receive buffer was full). Throws an Error whose `code` is the errno name.
 *   udpStart(fd, data, meta, slots, slotBytes, onBatch) -> handle
 *       data: ArrayBuffer of slots * slotBytes; meta: ArrayBuffer of
 *       (1 + slots) * 32 bytes. Per batch, meta word 0 = datagrams, word 1 = the
 *       kernel's drop count (cumulative, u32: the socket's live counter read after
 *       the recvmmsg, SO_MEMINFO, else the last SO_RXQ_OVFL), word 2 = 1 when
 *       known; then per datagram i, at word 8 * (i + 1):
 *         length, flags (1 = truncated: longer than slotBytes), family (4 | 6),
 *         source port, source address (4 or 16 bytes, network order, words 4..7).
 *       onBatch(n) is called with the number of datagrams in the batch.
 *   udpStop(handle) -> undefined
 *       stops polling and closes the socket; onBatch is never called again.
 *
 * Fairness: one poll wake-up reads at most MAX_ROUNDS batches, then lets the
 * event loop run (timers, messages from the main thread) before the next.
 *
 * No global state; registered with NAPI_MODULE_INIT, so Node treats it as
 * context-aware and each collector worker thread loads its own instance. A
 * worker that ends without udpStop() has its sockets closed by the
 * environment's cleanup hook.
 *
 *   npm run build:native   (scripts/build-native.ts: cc -shared -fPIC ... -o dist/udp_recv.node)
 */
#define _GNU_SOURCE
#define NAPI_VERSION 8
#include <node_api.h>
#include <uv.h>
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_SLOTS 1024
#define MAX_ROUNDS 16
#define META_WORDS 8

#ifndef SO_RXQ_OVFL
#define SO_RXQ_OVFL 40
#endif
#ifndef SO_MEMINFO
#define SO_MEMINFO 55
#endif
#define SK_MEMINFO_DROPS_IDX 8 /* linux/sock_diag.h SK_MEMINFO_DROPS */
#define SK_MEMINFO_WORDS 9

typedef struct {
  napi_env env;
  uv_poll_t poll;
  int fd;
  int slots;
  size_t slot_bytes;
  uint8_t *data;
  uint32_t *meta;
  napi_ref data_ref, meta_ref, cb_ref;
  napi_async_context actx;
  struct mmsghdr *msgs;
  struct iovec *iov;
  struct sockaddr_in6 *addrs;
  char *ctrl;
  size_t ctrl_len;
  int stopped;
  int hooked;
  int poll_closed; /* libuv has closed the poll handle */
  int handle_live; /* the JavaScript handle (external) still points here */
} receiver;

static napi_value throw_errno(napi_env env, const char *what, int err) {
  char msg[256];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(err));
  napi_value code, text, e;
  const char *name = err == EADDRINUSE ? "EADDRINUSE" : err == EACCES ? "EACCES" : err == EADDRNOTAVAIL ? "EADDRNOTAVAIL" : err == EAFNOSUPPORT ? "EAFNOSUPPORT" : err == EINVAL ? "EINVAL" : "ESYSCALL";
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &code);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &text);
  napi_create_error(env, code, text, &e);
  napi_set_named_property(env, e, "code", code);
  napi_value n;
  napi_create_int32(env, err, &n);
  napi_set_named_property(env, e, "errno", n);
  napi_throw(env, e);
  return NULL;
}

static int get_string(napi_env env, napi_value v, char *out, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, out, cap, &len) != napi_ok) return -1;
  return len < cap - 1 ? 0 : -1;
}

static napi_value set_num(napi_env env, napi_value obj, const char *k, double v) {
  napi_value n;
  napi_create_double(env, v, &n);
  napi_set_named_property(env, obj, k, n);
  return obj;
}

/* udpOpen(host, port, reusePort, receiveBufferBytes) */
static napi_value udp_open(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  char host[64];
  int32_t port = 0, rcvbuf = 0;
  bool reuse = false;
  if (argc < 4 || get_string(env, argv[0], host, sizeof host) != 0 || napi_get_value_int32(env, argv[1], &port) != napi_ok || napi_get_value_bool(env, argv[2], &reuse) != napi_ok || napi_get_value_int32(env, argv[3], &rcvbuf) != napi_ok || port < 0 || port > 65535) {
    napi_throw_type_error(env, "EINVAL", "udpOpen(host: string, port: number, reusePort: boolean, receiveBufferBytes: number)");
    return NULL;
  }
  int any = host[0] == 0 || strcmp(host, "::") == 0;
  int v6 = any || strchr(host, ':') != NULL;
  struct sockaddr_storage ss;
  socklen_t sl;
  memset(&ss, 0, sizeof ss);
  int fd = -1, dual = 0;
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)&ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((uint16_t)port);
    if (!any && inet_pton(AF_INET6, host, &a->sin6_addr) != 1) return throw_errno(env, "udpOpen: not an address", EINVAL);
    sl = sizeof *a;
    fd = socket(AF_INET6, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0 && any && errno == EAFNOSUPPORT) v6 = 0; /* no IPv6 here: fall back to 0.0.0.0 */
    else if (fd < 0) return throw_errno(env, "socket", errno);
    else {
      int off = any ? 0 : 1;
      setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
      dual = any;
    }
  }
  if (!v6) {
    struct sockaddr_in *a = (struct sockaddr_in *)&ss;
    memset(&ss, 0, sizeof ss);
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    if (!any && strcmp(host, "0.0.0.0") != 0 && inet_pton(AF_INET, host, &a->sin_addr) != 1) return throw_errno(env, "udpOpen: not an address", EINVAL);
    sl = sizeof *a;
    fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) return throw_errno(env, "socket", errno);
  }
  int one = 1;
  if (reuse && setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, sizeof one) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "SO_REUSEPORT", e);
  }
  setsockopt(fd, SOL_SOCKET, SO_RXQ_OVFL, &one, sizeof one);
  if (rcvbuf > 0) setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf); /* capped at net.core.rmem_max */
  if (bind(fd, (struct sockaddr *)&ss, sl) != 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, "bind", e);
  }
  struct sockaddr_storage got;
  socklen_t gl = sizeof got;
  getsockname(fd, (struct sockaddr *)&got, &gl);
  int granted = 0;
  socklen_t il = sizeof granted;
  getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &granted, &il);
  napi_value res;
  napi_create_object(env, &res);
  set_num(env, res, "fd", fd);
  set_num(env, res, "port", ntohs(got.ss_family == AF_INET6 ? ((struct sockaddr_in6 *)&got)->sin6_port : ((struct sockaddr_in *)&got)->sin_port));
  set_num(env, res, "family", v6 ? 6 : 4);
  set_num(env, res, "receiveBufferBytes", granted);
  napi_value d;
  napi_get_boolean(env, dual, &d);
  napi_set_named_property(env, res, "dualStack", d);
  return res;
}

static void free_receiver(receiver *r) {
  free(r->msgs);
  free(r->iov);
  free(r->addrs);
  free(r->ctrl);
  free(r);
}

/* The struct lives until the poll handle is closed AND the JavaScript handle is
 * gone (a later udpStop(handle) must still find it, marked stopped). */
static void on_closed(uv_handle_t *h) {
  receiver *r = (receiver *)h->data;
  r->poll_closed = 1;
  if (!r->handle_live) free_receiver(r);
}

static void finalize_handle(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  receiver *r = (receiver *)data;
  r->handle_live = 0;
  if (r->poll_closed) free_receiver(r);
}

/* Stops polling and closes the socket; the struct is freed once libuv has closed the handle (and the JavaScript handle is gone). */
static void shutdown_receiver(receiver *r, int from_hook) {
  if (r->stopped) return;
  r->stopped = 1;
  uv_poll_stop(&r->poll);
  close(r->fd);
  r->fd = -1;
  if (!from_hook) {
    napi_delete_reference(r->env, r->data_ref);
    napi_delete_reference(r->env, r->meta_ref);
    napi_delete_reference(r->env, r->cb_ref);
    napi_async_destroy(r->env, r->actx);
  }
  uv_close((uv_handle_t *)&r->poll, on_closed);
}

static void cleanup_hook(void *arg) {
  receiver *r = (receiver *)arg;
  r->hooked = 0;
  shutdown_receiver(r, 1);
}

static void on_readable(uv_poll_t *h, int status, int events) {
  (void)events;
  receiver *r = (receiver *)h->data;
  if (r->stopped || status < 0) return;
  napi_env env = r->env;
  for (int round = 0; round < MAX_ROUNDS && !r->stopped; round++) {
    for (int i = 0; i < r->slots; i++) {
      struct msghdr *m = &r->msgs[i].msg_hdr;
      m->msg_namelen = sizeof(struct sockaddr_in6);
      m->msg_controllen = r->ctrl_len;
      m->msg_flags = 0;
    }
    int n = recvmmsg(r->fd, r->msgs, (unsigned)r->slots, MSG_DONTWAIT, NULL);
    if (n <= 0) return; /* EAGAIN: drained; other errors (ICMP echoes, EINTR): wait for the next wake-up */
    uint32_t *meta = r->meta;
    meta[0] = (uint32_t)n;
    meta[2] = 0;
    for (int i = 0; i < n; i++) {
      struct msghdr *m = &r->msgs[i].msg_hdr;
      uint32_t *w = meta + META_WORDS * (i + 1);
      w[0] = r->msgs[i].msg_len;
      w[1] = (m->msg_flags & MSG_TRUNC) ? 1 : 0;
      if (w[0] > r->slot_bytes) w[0] = (uint32_t)r->slot_bytes;
      struct sockaddr_in6 *sa = &r->addrs[i];
      if (sa->sin6_family == AF_INET6) {
        w[2] = 6;
        w[3] = ntohs(sa->sin6_port);
        memcpy(&w[4], &sa->sin6_addr, 16);
      } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)sa;
        w[2] = 4;
        w[3] = ntohs(s4->sin_port);
        memcpy(&w[4], &s4->sin_addr, 4);
        w[5] = w[6] = w[7] = 0;
      }
      for (struct cmsghdr *c = CMSG_FIRSTHDR(m); c != NULL; c = CMSG_NXTHDR(m, c)) {
        if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SO_RXQ_OVFL) {
          memcpy(&meta[1], CMSG_DATA(c), 4);
          meta[2] = 1;
        }
      }
    }
    /* SO_RXQ_OVFL only tells the count as it was when a datagram still in the
     * queue was queued: drops after the last one queued (a burst's tail) would
     * stay unseen until more traffic came. The socket's live counter (the same
     * sk_drops) covers them: any drop happened while the queue was full, so a
     * read (this one or a later one) follows it. */
    uint32_t mi[SK_MEMINFO_WORDS];
    socklen_t mil = sizeof mi;
    if (getsockopt(r->fd, SOL_SOCKET, SO_MEMINFO, mi, &mil) == 0 && mil >= (SK_MEMINFO_DROPS_IDX + 1) * sizeof(uint32_t)) {
      meta[1] = mi[SK_MEMINFO_DROPS_IDX];
      meta[2] = 1;
    }
    napi_handle_scope scope;
    if (napi_open_handle_scope(env, &scope) != napi_ok) return;
    napi_value cb, recv, arg, result;
    napi_get_reference_value(env, r->cb_ref, &cb);
    napi_get_global(env, &recv);
    napi_create_int32(env, n, &arg);
    napi_status st = napi_make_callback(env, r->actx, recv, cb, 1, &arg, &result);
    if (st == napi_pending_exception) {
      napi_value e;
      napi_get_and_clear_last_exception(env, &e);
      napi_fatal_exception(env, e); /* the JavaScript side catches everything; a throw here is a bug */
    }
    napi_close_handle_scope(env, scope);
    if (n < r->slots) return;
  }
}

/* udpStart(fd, data, meta, slots, slotBytes, onBatch) */
static napi_value udp_start(napi_env env, napi_callback_info info) {
  size_t argc = 6;
  napi_value argv[6];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1, slots = 0, slot_bytes = 0;
  void *data = NULL, *meta = NULL;
  size_t data_len = 0, meta_len = 0;
  napi_valuetype t;
  bool isab1 = false, isab2 = false;
  if (argc < 6 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || napi_is_arraybuffer(env, argv[1], &isab1) != napi_ok || !isab1 || napi_is_arraybuffer(env, argv[2], &isab2) != napi_ok || !isab2 ||
      napi_get_value_int32(env, argv[3], &slots) != napi_ok || napi_get_value_int32(env, argv[4], &slot_bytes) != napi_ok || napi_typeof(env, argv[5], &t) != napi_ok || t != napi_function) {
    napi_throw_type_error(env, "EINVAL", "udpStart(fd, data: ArrayBuffer, meta: ArrayBuffer, slots, slotBytes, onBatch)");
    return NULL;
  }
  napi_get_arraybuffer_info(env, argv[1], &data, &data_len);
  napi_get_arraybuffer_info(env, argv[2], &meta, &meta_len);
  if (fd < 0 || slots < 1 || slots > MAX_SLOTS || slot_bytes < 64 || (size_t)slots * (size_t)slot_bytes > data_len || (size_t)(slots + 1) * META_WORDS * 4 > meta_len) {
    napi_throw_range_error(env, "EINVAL", "udpStart: buffers too small for slots * slotBytes");
    return NULL;
  }
  receiver *r = calloc(1, sizeof *r);
  if (!r) return throw_errno(env, "udpStart", ENOMEM);
  r->env = env;
  r->fd = fd;
  r->slots = slots;
  r->slot_bytes = (size_t)slot_bytes;
  r->data = data;
  r->meta = meta;
  r->ctrl_len = CMSG_SPACE(sizeof(uint32_t));
  r->msgs = calloc((size_t)slots, sizeof *r->msgs);
  r->iov = calloc((size_t)slots, sizeof *r->iov);
  r->addrs = calloc((size_t)slots, sizeof *r->addrs);
  r->ctrl = calloc((size_t)slots, r->ctrl_len);
  if (!r->msgs || !r->iov || !r->addrs || !r->ctrl) {
    free_receiver(r);
    return throw_errno(env, "udpStart", ENOMEM);
  }
  for (int i = 0; i < slots; i++) {
    r->iov[i].iov_base = r->data + (size_t)i * r->slot_bytes;
    r->iov[i].iov_len = r->slot_bytes;
    struct msghdr *m = &r->msgs[i].msg_hdr;
    m->msg_name = &r->addrs[i];
    m->msg_iov = &r->iov[i];
    m->msg_iovlen = 1;
    m->msg_control = r->ctrl + (size_t)i * r->ctrl_len;
  }
  uv_loop_t *loop = NULL;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || uv_poll_init(loop, &r->poll, fd) != 0) {
    free_receiver(r);
    return throw_errno(env, "uv_poll_init", EINVAL);
  }
  r->poll.data = r;
  napi_create_reference(env, argv[1], 1, &r->data_ref);
  napi_create_reference(env, argv[2], 1, &r->meta_ref);
  napi_create_reference(env, argv[5], 1, &r->cb_ref);
  napi_value name;
  napi_create_string_utf8(env, "breakwater.udp", NAPI_AUTO_LENGTH, &name);
  napi_async_init(env, NULL, name, &r->actx);
  if (uv_poll_start(&r->poll, UV_READABLE, on_readable) != 0) {
    shutdown_receiver(r, 0);
    return throw_errno(env, "uv_poll_start", EINVAL);
  }
  napi_value handle;
  if (napi_create_external(env, r, finalize_handle, NULL, &handle) != napi_ok) {
    shutdown_receiver(r, 0);
    return throw_errno(env, "udpStart", ENOMEM);
  }
  r->handle_live = 1;
  napi_add_env_cleanup_hook(env, cleanup_hook, r);
  r->hooked = 1;
  return handle;
}

/* udpStop(handle) */
static napi_value udp_stop(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  void *p = NULL;
  napi_valuetype t;
  if (argc < 1 || napi_typeof(env, argv[0], &t) != napi_ok || t != napi_external || napi_get_value_external(env, argv[0], &p) != napi_ok || p == NULL) {
    napi_throw_type_error(env, "EINVAL", "udpStop(handle)");
    return NULL;
  }
  receiver *r = (receiver *)p;
  if (r->stopped) return NULL;
  if (r->hooked) napi_remove_env_cleanup_hook(env, cleanup_hook, r);
  r->hooked = 0;
  shutdown_receiver(r, 0);
  return NULL;
}

/* udpClose(fd): closes a socket from udpOpen that was never started. */
static napi_value udp_close(napi_env env, napi_callback_info info) {
  size_t argc = 1;
  napi_value argv[1];
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  int32_t fd = -1;
  if (argc < 1 || napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) {
    napi_throw_type_error(env, "EINVAL", "udpClose(fd)");
    return NULL;
  }
  close(fd);
  return NULL;
}

NAPI_MODULE_INIT(/* napi_env env, napi_value exports */) {
  napi_property_descriptor props[] = {
      {"udpOpen", NULL, udp_open, NULL, NULL, NULL, napi_default, NULL},
      {"udpStart", NULL, udp_start, NULL, NULL, NULL, napi_default, NULL},
      {"udpStop", NULL, udp_stop, NULL, NULL, NULL, napi_default, NULL},
      {"udpClose", NULL, udp_close, NULL, NULL, NULL, napi_default, NULL},
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
