// One process at a time on a data directory: `rtrec serve` holds the lock
// while it runs, and `rtrec import|export --data-dir` takes it before opening
// the directory, so an offline import never writes under a running server.
// An advisory flock(2) on <dir>/rtrec.lock, released when the process exits
// (also when it is killed).
#pragma once

#include <string>

namespace rtrec::cli {

class data_dir_lock {
 public:
  /// Creates `dir` if needed and locks it. Throws std::runtime_error naming
  /// the directory when another process holds it (or it cannot be locked).
  explicit data_dir_lock(const std::string& dir);
  ~data_dir_lock();
  data_dir_lock(const data_dir_lock&) = delete;
  data_dir_lock& operator=(const data_dir_lock&) = delete;

 private:
  int fd_ = -1;
};

}  // namespace rtrec::cli
