#include "storage/file_ops.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>

namespace rtrec::storage {

namespace {

class posix_ops final : public file_ops {
 public:
  ssize_t write(int fd, const void* data, std::size_t n) override { return ::write(fd, data, n); }
  int sync(int fd) override { return ::fdatasync(fd); }
  int truncate(int fd, off_t size) override { return ::ftruncate(fd, size); }
};

}  // namespace

file_ops& posix_file_ops() {
  static posix_ops ops;
  return ops;
}

int write_all(file_ops& ops, int fd, const char* data, std::size_t n) {
  while (n > 0) {
    auto w = ops.write(fd, data, n);
    if (w < 0) {
      if (errno == EINTR)
        continue;
      return errno;
    }
    if (w == 0)
      return ENOSPC;
    data += w;
    n -= static_cast<std::size_t>(w);
  }
  return 0;
}

int sync_dir(const char* path) {
  int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0)
    return errno;
  int rc = ::fsync(fd) == 0 ? 0 : errno;
  ::close(fd);
  return rc;
}

}  // namespace rtrec::storage
