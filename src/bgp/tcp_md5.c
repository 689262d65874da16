/*
 * Optional TCP MD5 signature (RFC 2385) for Breakwater's BGP sessions, Linux.
 *
 * Node cannot call setsockopt(), and the key must be in place before the
 * first SYN, so this small Node-API addon creates the sockets itself and
 * hands their file descriptors to node:net:
 *
 *   md5Socket(peer, key, local?) -> fd
 *       unconnected TCP socket, TCP_MD5SIG set for `peer`, bound to `local`
 *       when given; session.ts wraps it in a net.Socket and connects it.
 *   md5Listen(host, port, keys?, backlog?) -> fd
 *       listening socket bound to host:port (host "" or "::" = every IPv4
 *       and IPv6 address), SO_REUSEADDR, with a key for every [peer, key]
 *       pair in `keys` installed BEFORE listen(), so no unsigned SYN from
 *       those peers is ever accepted; for net.Server.listen({ fd }). Linux
 *       keeps the keys per peer address on the listening socket and copies
 *       the matching key to every accepted socket.
 *   md5SetKey(fd, peer, key) -> undefined
 *       adds or replaces the key for `peer` on a socket (listening or not);
 *       key "" removes it (removing an absent key is not an error).
 *
 * Keys are 1..80 bytes (TCP_MD5SIG_MAXKEYLEN). An IPv4 peer on an IPv6
 * socket is keyed by its IPv4-mapped address, as the kernel expects.
 *
 * The module keeps no global state and registers with NAPI_MODULE_INIT
 * (napi_register_module_v1), so Node treats it as context-aware: it can be
 * loaded in the main thread and in any number of worker threads. Node-API is
 * ABI-stable, so one build serves every Node version.
 *
 *   npm run build:md5     (scripts/build-md5.ts: cc -shared -fPIC ... -o dist/tcp_md5.node)
 */
#define NAPI_VERSION 8
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define ADDR_MAX 64

/* Parses an IPv4 or IPv6 address; on an IPv6 socket an IPv4 address becomes ::ffff:a.b.c.d. */
static int fill(const char *ip, int sockv6, int port, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  int isv6 = strchr(ip, ':') != NULL;
  if (sockv6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    a->sin6_port = htons((unsigned short)port);
    *len = sizeof *a;
    if (ip[0] == 0) { a->sin6_addr = in6addr_any; return 0; }
    if (isv6) return inet_pton(AF_INET6, ip, &a->sin6_addr) == 1 ? 0 : -1;
    struct in_addr v4;
    if (inet_pton(AF_INET, ip, &v4) != 1) return -1;
    a->sin6_addr.s6_addr[10] = 0xff;
    a->sin6_addr.s6_addr[11] = 0xff;
    memcpy(&a->sin6_addr.s6_addr[12], &v4, 4);
    return 0;
  }
  if (isv6) return -1;
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  a->sin_port = htons((unsigned short)port);
  *len = sizeof *a;
  if (ip[0] == 0) { a->sin_addr.s_addr = htonl(INADDR_ANY); return 0; }
  return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1;
}

static napi_value throw_errno(napi_env env, int fd, const char *what) {
  char msg[200];
  int e = errno;
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(e));
  if (fd >= 0) close(fd);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value throw_type(napi_env env, int fd, const char *msg) {
  if (fd >= 0) close(fd);
  napi_throw_type_error(env, NULL, msg);
  return NULL;
}

/* A string argument into buf (size cap); -1 if not a string, -2 if too long. */
static int get_string(napi_env env, napi_value v, char *buf, size_t cap, size_t *out) {
  size_t n = 0;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_string) return -1;
  if (napi_get_value_string_utf8(env, v, NULL, 0, &n) != napi_ok) return -1;
  if (n + 1 > cap) return -2;
  if (napi_get_value_string_utf8(env, v, buf, cap, &n) != napi_ok) return -1;
  if (out) *out = n;
  return 0;
}

/* Installs (klen > 0) or removes (klen == 0) the key for peer on fd. 0, or -1 with errno. */
static int set_key(int fd, int sockv6, const char *peer, const char *key, size_t klen) {
  struct tcp_md5sig sig;
  socklen_t alen;
  memset(&sig, 0, sizeof sig);
  if (fill(peer, sockv6, 0, &sig.tcpm_addr, &alen) < 0) { errno = EINVAL; return -1; }
  sig.tcpm_keylen = (unsigned short)klen;
  if (klen) memcpy(sig.tcpm_key, key, klen);
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) < 0) {
    if (klen == 0 && errno == ENOENT) return 0;
    return -1;
  }
  return 0;
}

/* Reads a (peer, key) pair of arguments; key may be empty only when allow_empty. */
static int get_peer_key(napi_env env, napi_value p, napi_value k, char *peer, char *key, size_t *klen, int allow_empty) {
  if (get_string(env, p, peer, ADDR_MAX, NULL) != 0 || peer[0] == 0) { napi_throw_type_error(env, NULL, "peer must be an IP address string"); return -1; }
  int r = get_string(env, k, key, TCP_MD5SIG_MAXKEYLEN + 1, klen);
  if (r == -1) { napi_throw_type_error(env, NULL, "key must be a string"); return -1; }
  if (r == -2 || (*klen == 0 && !allow_empty)) { napi_throw_range_error(env, NULL, "TCP MD5 key must be 1..80 bytes"); return -1; }
  return 0;
}

static napi_value md5Socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char peer[ADDR_MAX] = {0}, key[TCP_MD5SIG_MAXKEYLEN + 1] = {0}, local[ADDR_MAX] = {0};
  size_t klen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, -1, "md5Socket(peer, key, local?)");
  if (get_peer_key(env, argv[0], argv[1], peer, key, &klen, 0) < 0) return NULL;
  if (argc > 2) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t != napi_undefined && t != napi_null && get_string(env, argv[2], local, sizeof local, NULL) != 0) return throw_type(env, -1, "local must be an IP address string");
  }
  int v6 = strchr(peer, ':') != NULL;
  struct sockaddr_storage probe;
  socklen_t pl;
  if (fill(peer, v6, 0, &probe, &pl) < 0) return throw_type(env, -1, "bad peer address");
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, -1, "socket");
  if (set_key(fd, v6, peer, key, klen) < 0) return throw_errno(env, fd, "setsockopt TCP_MD5SIG");
  if (local[0]) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (fill(local, v6, 0, &ss, &sl) < 0) return throw_type(env, fd, "bad local address (must be of the peer's family)");
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) return throw_errno(env, fd, "bind");
  }
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

static napi_value md5Listen(napi_env env, napi_callback_info info) {
  size_t argc = 4;
  napi_value argv[4];
  char host[ADDR_MAX] = {0};
  int32_t port = 0, backlog = 511;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) return throw_type(env, -1, "md5Listen(host, port, keys?, backlog?)");
  if (get_string(env, argv[0], host, sizeof host, NULL) != 0) return throw_type(env, -1, "host must be an IP address string");
  if (napi_get_value_int32(env, argv[1], &port) != napi_ok || port < 0 || port > 65535) return throw_type(env, -1, "port must be 0..65535");
  if (argc > 3) {
    napi_valuetype t;
    napi_typeof(env, argv[3], &t);
    if (t != napi_undefined && (napi_get_value_int32(env, argv[3], &backlog) != napi_ok || backlog < 1)) return throw_type(env, -1, "backlog must be a positive integer");
  }
  if (strcmp(host, "::") == 0) host[0] = 0;
  /* "" listens on IPv6 and IPv4 (dual stack); an IPv4 address gives an IPv4 socket */
  int v6 = host[0] == 0 || strchr(host, ':') != NULL;
  struct sockaddr_storage ss;
  socklen_t sl;
  if (fill(host, v6, port, &ss, &sl) < 0) return throw_type(env, -1, "bad listen address");
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, -1, "socket");
  int one = 1, zero = 0;
  if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) < 0) return throw_errno(env, fd, "setsockopt SO_REUSEADDR");
  if (v6 && host[0] == 0 && setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof zero) < 0) return throw_errno(env, fd, "setsockopt IPV6_V6ONLY");
  if (argc > 2) {
    napi_valuetype t;
    napi_typeof(env, argv[2], &t);
    if (t != napi_undefined && t != napi_null) {
      bool isArray = false;
      uint32_t n = 0;
      if (napi_is_array(env, argv[2], &isArray) != napi_ok || !isArray) return throw_type(env, fd, "keys must be an array of [peer, key] pairs");
      napi_get_array_length(env, argv[2], &n);
      for (uint32_t i = 0; i < n; i++) {
        napi_value pair, p, k;
        bool pa = false;
        uint32_t pn = 0;
        napi_get_element(env, argv[2], i, &pair);
        if (napi_is_array(env, pair, &pa) != napi_ok || !pa || napi_get_array_length(env, pair, &pn) != napi_ok || pn != 2) return throw_type(env, fd, "keys must be an array of [peer, key] pairs");
        napi_get_element(env, pair, 0, &p);
        napi_get_element(env, pair, 1, &k);
        char peer[ADDR_MAX] = {0}, key[TCP_MD5SIG_MAXKEYLEN + 1] = {0};
        size_t klen = 0;
        if (get_peer_key(env, p, k, peer, key, &klen, 0) < 0) { close(fd); return NULL; }
        if (set_key(fd, v6, peer, key, klen) < 0) {
          char what[ADDR_MAX + 40];
          snprintf(what, sizeof what, "setsockopt TCP_MD5SIG for %s", peer);
          return throw_errno(env, fd, what);
        }
      }
    }
  }
  if (bind(fd, (struct sockaddr *)&ss, sl) < 0) return throw_errno(env, fd, "bind");
  if (listen(fd, backlog) < 0) return throw_errno(env, fd, "listen");
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

static napi_value md5SetKey(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  int32_t fd = -1;
  char peer[ADDR_MAX] = {0}, key[TCP_MD5SIG_MAXKEYLEN + 1] = {0};
  size_t klen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 3) return throw_type(env, -1, "md5SetKey(fd, peer, key)");
  if (napi_get_value_int32(env, argv[0], &fd) != napi_ok || fd < 0) return throw_type(env, -1, "fd must be a file descriptor");
  if (get_peer_key(env, argv[1], argv[2], peer, key, &klen, 1) < 0) return NULL;
  struct sockaddr_storage ss;
  socklen_t sl = sizeof ss;
  if (getsockname(fd, (struct sockaddr *)&ss, &sl) < 0) return throw_errno(env, -1, "getsockname");
  if (ss.ss_family != AF_INET && ss.ss_family != AF_INET6) return throw_type(env, -1, "fd is not an IPv4/IPv6 socket");
  int v6 = ss.ss_family == AF_INET6;
  struct sockaddr_storage probe;
  socklen_t pl;
  if (fill(peer, v6, 0, &probe, &pl) < 0) return throw_type(env, -1, v6 ? "bad peer address" : "bad peer address (an IPv6 peer cannot be keyed on an IPv4 socket)");
  if (set_key(fd, v6, peer, key, klen) < 0) return throw_errno(env, -1, "setsockopt TCP_MD5SIG");
  return NULL;
}

NAPI_MODULE_INIT() {
  napi_property_descriptor props[] = {
    { "md5Socket", NULL, md5Socket, NULL, NULL, NULL, napi_enumerable, NULL },
    { "md5Listen", NULL, md5Listen, NULL, NULL, NULL, napi_enumerable, NULL },
    { "md5SetKey", NULL, md5SetKey, NULL, NULL, NULL, napi_enumerable, NULL },
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  return exports;
}
