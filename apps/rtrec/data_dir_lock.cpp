#include "apps/rtrec/data_dir_lock.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

namespace rtrec::cli {

data_dir_lock::data_dir_lock(const std::string& dir) {
  std::error_code ec;
  std::filesystem::create_directories(dir, ec);
  const auto path = (std::filesystem::path{dir} / "rtrec.lock").string();
  fd_ = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
  if (fd_ < 0)
    throw std::runtime_error("cannot lock the data directory " + dir + ": " +
                             std::strerror(errno));
  if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
    const int err = errno;
    ::close(fd_);
    fd_ = -1;
    if (err == EWOULDBLOCK)
      throw std::runtime_error("the data directory " + dir +
                               " is in use by another rtrec process (a running rtrec serve?); "
                               "stop it first, or import through it with --url");
    throw std::runtime_error("cannot lock the data directory " + dir + ": " +
                             std::strerror(err));
  }
}

data_dir_lock::~data_dir_lock() {
  if (fd_ >= 0)
    ::close(fd_);
}

}  // namespace rtrec::cli
