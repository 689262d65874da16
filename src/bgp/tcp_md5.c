/*
 * Optional TCP MD5 signature (RFC 2385) for Breakwater's BGP sessions on Linux.
 * Node cannot call setsockopt(), so this tiny Node-API addon creates the
 * socket: unconnected, TCP_MD5SIG set for the peer, bound to the local
 * address; session.ts wraps the fd in a net.Socket and connects it.
 * Node-API is ABI-stable, so one build serves every Node version.
 *
 *   cc -O2 -shared -fPIC -I/usr/include/node src/bgp/tcp_md5.c -o breakwater-tcp-md5.node
 *   BREAKWATER_TCP_MD5_ADDON=/path/to/breakwater-tcp-md5.node breakwater ...
 *
 * md5Socket(peerAddress, key, localAddress?) -> fd
 */
#include <node_api.h>
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

static int fill(const char *ip, int v6, struct sockaddr_storage *ss, socklen_t *len) {
  memset(ss, 0, sizeof *ss);
  if (v6) {
    struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
    a->sin6_family = AF_INET6;
    *len = sizeof *a;
    return inet_pton(AF_INET6, ip, &a->sin6_addr) == 1 ? 0 : -1;
  }
  struct sockaddr_in *a = (struct sockaddr_in *)ss;
  a->sin_family = AF_INET;
  *len = sizeof *a;
  return inet_pton(AF_INET, ip, &a->sin_addr) == 1 ? 0 : -1;
}

static napi_value fail(napi_env env, int fd, const char *what) {
  char msg[160];
  snprintf(msg, sizeof msg, "%s: %s", what, strerror(errno));
  if (fd >= 0) close(fd);
  napi_throw_error(env, NULL, msg);
  return NULL;
}

static napi_value md5Socket(napi_env env, napi_callback_info info) {
  size_t argc = 3;
  napi_value argv[3];
  char peer[64] = {0}, key[TCP_MD5SIG_MAXKEYLEN + 1] = {0}, local[64] = {0};
  size_t n = 0, klen = 0;
  napi_get_cb_info(env, info, &argc, argv, NULL, NULL);
  if (argc < 2) { napi_throw_type_error(env, NULL, "md5Socket(peer, key, local?)"); return NULL; }
  if (napi_get_value_string_utf8(env, argv[0], peer, sizeof peer, &n) != napi_ok) { napi_throw_type_error(env, NULL, "peer must be a string"); return NULL; }
  if (napi_get_value_string_utf8(env, argv[1], key, sizeof key, &klen) != napi_ok) { napi_throw_type_error(env, NULL, "key must be a string"); return NULL; }
  if (klen == 0 || klen > TCP_MD5SIG_MAXKEYLEN) { napi_throw_range_error(env, NULL, "key must be 1..80 bytes"); return NULL; }
  if (argc > 2) napi_get_value_string_utf8(env, argv[2], local, sizeof local, &n);
  int v6 = strchr(peer, ':') != NULL;
  struct tcp_md5sig sig;
  socklen_t alen;
  memset(&sig, 0, sizeof sig);
  if (fill(peer, v6, &sig.tcpm_addr, &alen) < 0) { napi_throw_type_error(env, NULL, "bad peer address"); return NULL; }
  sig.tcpm_keylen = (unsigned short)klen;
  memcpy(sig.tcpm_key, key, klen);
  int fd = socket(v6 ? AF_INET6 : AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return fail(env, -1, "socket");
  if (setsockopt(fd, IPPROTO_TCP, TCP_MD5SIG, &sig, sizeof sig) < 0) return fail(env, fd, "setsockopt TCP_MD5SIG");
  if (local[0]) {
    struct sockaddr_storage ss;
    socklen_t sl;
    if (fill(local, v6, &ss, &sl) < 0) { close(fd); napi_throw_type_error(env, NULL, "bad local address"); return NULL; }
    if (bind(fd, (struct sockaddr *)&ss, sl) < 0) return fail(env, fd, "bind");
  }
  napi_value r;
  napi_create_int32(env, fd, &r);
  return r;
}

NAPI_MODULE_INIT() {
  napi_value f;
  napi_create_function(env, "md5Socket", NAPI_AUTO_LENGTH, md5Socket, NULL, &f);
  napi_set_named_property(env, exports, "md5Socket", f);
  return exports;
}
