// Plain settings and reports of the storage layer that callers see (the
// embedding API's options and counters): no file I/O, no threads.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace rtrec::storage {

enum class sync_policy {
  fsync,  ///< fdatasync every group before acknowledging (default)
  none,   ///< acknowledge once written to the OS: a power loss may lose the last moments
};

/// Parses "fsync" / "none"; returns false for anything else.
bool parse_sync_policy(const std::string& s, sync_policy& out);

enum class corruption_policy {
  strict,    ///< refuse to start when valid records follow a corrupt one
  truncate,  ///< drop the corrupt record and everything after it, with a warning
};

/// Parses "strict" / "truncate"; returns false for anything else.
bool parse_corruption_policy(const std::string& s, corruption_policy& out);

/// Counters of the write-ahead log.
struct wal_stats {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t groups = 0;  ///< writes (and syncs) done
  std::uint64_t failures = 0;
  std::uint64_t segments_deleted = 0;
  std::uint64_t segments = 0;  ///< live segments
  bool failed = false;
};

/// What recovery found and did.
struct recovery_report {
  bool from_snapshot = false;
  std::uint64_t checkpoint_id = 0;
  std::uint64_t events_in_snapshot = 0;
  std::uint64_t records_replayed = 0;
  std::uint64_t events_replayed = 0;  ///< events applied during replay
  std::uint64_t records_skipped = 0;  ///< already covered by the snapshot
  std::uint64_t users = 0;
  std::uint64_t items = 0;
  std::uint64_t log_bytes = 0;
  double load_ms = 0;    ///< reading and decoding the checkpoint
  double replay_ms = 0;  ///< scanning and replaying the log
  std::vector<std::string> warnings;
};

}  // namespace rtrec::storage
