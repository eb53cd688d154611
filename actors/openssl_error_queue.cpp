// Works around a CAF 0.17.6 openssl-module bug: OpenSSL's error queue is per
// thread and CAF never clears it before SSL_read/SSL_write/SSL_accept/
// SSL_connect. After one failed handshake (say, a peer whose certificate our
// CA did not sign) the stale error stays on the multiplexer thread, and the
// next SSL_get_error on any healthy connection reports SSL_ERROR_SSL instead
// of "want read": CAF closes that connection. Seen here every time: a node
// with a foreign certificate knocking made the good nodes' links flap.
//
// OpenSSL's rule is "the error queue must be empty before the I/O call"
// (SSL_get_error(3)), so these definitions interpose the four calls for the
// whole process (the executable's symbols take precedence over libssl's),
// clear the queue and call the real function (dlsym RTLD_NEXT).
#include "actors/openssl_error_queue.hpp"

#include <dlfcn.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

namespace {

template <class Fn>
Fn real(const char* name) {
  return reinterpret_cast<Fn>(dlsym(RTLD_NEXT, name));
}

}  // namespace

extern "C" {

int SSL_read(SSL* ssl, void* buf, int num) {
  static const auto fn = real<int (*)(SSL*, void*, int)>("SSL_read");
  ERR_clear_error();
  return fn(ssl, buf, num);
}

int SSL_write(SSL* ssl, const void* buf, int num) {
  static const auto fn = real<int (*)(SSL*, const void*, int)>("SSL_write");
  ERR_clear_error();
  return fn(ssl, buf, num);
}

int SSL_accept(SSL* ssl) {
  static const auto fn = real<int (*)(SSL*)>("SSL_accept");
  ERR_clear_error();
  return fn(ssl);
}

int SSL_connect(SSL* ssl) {
  static const auto fn = real<int (*)(SSL*)>("SSL_connect");
  ERR_clear_error();
  return fn(ssl);
}

}  // extern "C"

namespace rtrec {

bool openssl_error_queue_fix_active() {
  // True when CAF's calls reach the definitions above.
  return dlsym(RTLD_DEFAULT, "SSL_read") == reinterpret_cast<void*>(&SSL_read);
}

}  // namespace rtrec
