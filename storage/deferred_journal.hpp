// The journal of deferred events: events accepted now to be ingested later
// (the HTTP API's delayed write-back, Gorse's write-back-delay), kept on disk
// until they are ingested, so that a restart or a crash does not lose them.
// Plain C++ with file I/O; not thread-safe (its owner serializes calls).
//
// On disk: one file, `<dir>/pending.log`:
//
//   header:  "RTRECDEF" | u32 version (1) | u32 reserved (0)
//   records: u32 length | u32 crc32(body) | body
//            body = u8 kind | u64 seq | kind 1 (add):  i64 due_ms | encode_events
//                                      kind 2 (done): nothing more
//
//   add(due, events) --append + fdatasync--> entry seq is durable
//   done(seq)        --append (no sync)----> entry seq is finished
//   rewrite(live)    --temp file, fsync, rename, dir fsync--> only `live` left
//
// Opening the journal reads every `add` without a later `done`. A lost
// `done` marker (it is not synced) only means the entry is ingested again
// after a restart; callers give deferred events ids (EventId) so that the
// second ingest counts as a duplicate. A torn or corrupt record ends the
// readable part: it and what follows are dropped with a warning (an `add` is
// only acknowledged once synced, so a torn tail was never acknowledged).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/event.hpp"
#include "storage/file_ops.hpp"
#include "storage/types.hpp"

namespace rtrec::storage {

/// One batch of deferred events, due at `due_ms` (milliseconds since the epoch).
struct deferred_entry {
  std::uint64_t seq = 0;
  std::int64_t due_ms = 0;
  std::vector<engine::event> events;
};

class deferred_journal {
 public:
  /// Opens `dir`/pending.log, creating the directory and the file if needed,
  /// and reads the entries not marked done (see loaded()). Throws
  /// std::runtime_error naming the path when the directory or file cannot be
  /// created or read, or the file is not a journal (wrong magic or version).
  deferred_journal(std::string dir, sync_policy sync, file_ops* ops = nullptr);
  ~deferred_journal();
  deferred_journal(const deferred_journal&) = delete;
  deferred_journal& operator=(const deferred_journal&) = delete;

  /// The entries that were pending when the journal was opened, by seq.
  const std::vector<deferred_entry>& loaded() const noexcept { return loaded_; }
  /// What opening found wrong and dropped (a torn or corrupt tail).
  const std::vector<std::string>& warnings() const noexcept { return warnings_; }

  /// Appends an entry and (sync_policy::fsync) syncs it. On success returns
  /// "" and sets `seq`; on failure returns why, and the file is as before.
  std::string add(std::int64_t due_ms, const std::vector<engine::event>& events,
                  std::uint64_t& seq);
  /// Marks entry `seq` done (appended, not synced). Returns "" or why not.
  std::string done(std::uint64_t seq);
  /// Replaces the file by one holding exactly `live` (their seqs kept).
  /// Returns "" or why not (the old file then stays in place and in use).
  std::string rewrite(const std::vector<deferred_entry>& live);

  /// Records in the file (adds and done markers), for deciding when to rewrite.
  std::uint64_t records() const noexcept { return records_; }
  std::string path() const;

 private:
  void load(const std::string& bytes);
  std::string append(const std::string& record, bool sync);

  std::string dir_;
  sync_policy sync_;
  file_ops* ops_;
  int fd_ = -1;
  std::uint64_t size_ = 0;
  std::uint64_t records_ = 0;
  std::uint64_t next_seq_ = 1;
  std::vector<deferred_entry> loaded_;
  std::vector<std::string> warnings_;
};

}  // namespace rtrec::storage
