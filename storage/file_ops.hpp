// The few file-system calls the log writer makes, behind an interface so that
// tests can inject faults (short writes, a full disk, a failing fsync) without
// a real broken disk. Production code uses posix_file_ops().
#pragma once

#include <sys/types.h>

#include <cstddef>

namespace rtrec::storage {

class file_ops {
 public:
  virtual ~file_ops() = default;
  /// As write(2): bytes written, or -1 with errno set.
  virtual ssize_t write(int fd, const void* data, std::size_t n) = 0;
  /// As fdatasync(2): 0, or -1 with errno set.
  virtual int sync(int fd) = 0;
  /// As ftruncate(2): 0, or -1 with errno set.
  virtual int truncate(int fd, off_t size) = 0;
};

/// The real system calls. Never null; lives for the whole process.
file_ops& posix_file_ops();

/// Writes all of [data, data+n) with `ops`, retrying short writes and EINTR.
/// Returns 0, or the errno of the call that failed (ENOSPC for a write that
/// made no progress).
int write_all(file_ops& ops, int fd, const char* data, std::size_t n);

/// fsyncs a directory (so a created, renamed or deleted entry is durable).
/// Returns 0 or errno.
int sync_dir(const char* path);

}  // namespace rtrec::storage
