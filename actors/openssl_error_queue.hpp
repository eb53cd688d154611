// See openssl_error_queue.cpp: clears OpenSSL's per-thread error queue
// before every TLS I/O call CAF 0.17.6 makes.
#pragma once

namespace rtrec {

/// Returns whether the interposed SSL_read/SSL_write/SSL_accept/SSL_connect
/// are the ones the process uses. Calling it also links them in.
bool openssl_error_queue_fix_active();

}  // namespace rtrec
