// The write-ahead log: every accepted event batch, user write or deletion,
// feedback deletion and item metadata change is appended here before it is
// applied, and acknowledged only once the log says it is durable.
//
// On disk: a directory of segments wal-<number>.log. A segment starts with a
// 16-byte header ("RTRECWAL", format version, 0) followed by records:
//
//   u32 length | u32 crc32(body) | body = u8 kind | u32 stream | u64 seq |
//                                         u64 epoch | i64 time_ms | payload
//
// (format version 2; version 1 segments, written before replication, have
// no epoch field and read as epoch 0). `stream` is a profile shard's index
// (or meta_stream for item metadata); `seq` grows per stream; `epoch` is the
// shard map epoch the record was written under (0 on a single node).
//
// A replica replaces a stream's records that were never committed (log
// matching, docs/replication.md "The log on disk") by appending a
// truncate_stream marker, not by cutting files (a segment holds every
// stream): a record of stream X with seq q is *void* when a marker of X
// later in the log keeps only seqs <= keep < q. scan_log and read_log never
// pass void records or markers to their callers.
//
// One writer thread takes every record queued while the previous group was
// being written, writes them with one write() and (sync_policy::fsync) one
// fdatasync: group commit. A segment rolls once it passes segment_bytes;
// closed segments are deleted once a snapshot covers all their records
// (release()).
//
//   append() --queue--> writer thread: write group -> fdatasync -> done("")
//                                    \-> failure: truncate the group away,
//                                        done("why"); if that fails too the
//                                        log is failed for good (restart)
#pragma once

#include <condition_variable>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "storage/file_ops.hpp"
#include "storage/types.hpp"

namespace rtrec::storage {

enum class record_kind : std::uint8_t {
  events = 1,       ///< payload: encode_events of one shard batch
  forget_user = 2,  ///< payload: the user id
  item_meta = 3,    ///< payload: encode_item_meta
  item_remove = 4,  ///< payload: the item id
  user_upsert = 5,  ///< payload: encode_user_upsert (on the user's profile shard stream)
  feedback_delete = 6,  ///< payload: encode_feedback_delete (on the user's profile shard stream)
  /// payload: u64 keep; voids the stream's records with seq > keep earlier
  /// in the log (see truncate_marker). Never passed to readers.
  truncate_stream = 7,
  /// payload: a replica's commit and highest epoch seen
  /// (storage/replica_stream.hpp); seq = the commit. Changes no profile.
  replica_state = 8,
};
/// The highest record_kind a log may hold (a reader refuses others).
constexpr std::uint8_t last_record_kind = static_cast<std::uint8_t>(record_kind::replica_state);

/// The stream of item metadata records (profile shards use 0..S-1).
constexpr std::uint32_t meta_stream = 0xFFFFFFFFu;

struct log_record {
  record_kind kind = record_kind::events;
  std::uint32_t stream = 0;
  std::uint64_t seq = 0;
  std::int64_t time_ms = 0;  ///< wall clock when logged (drives the dedup window)
  std::string payload;
  /// The shard map epoch the record was written under (0: a single node's
  /// own log, and every record of a version 1 segment). Last, so that
  /// {kind, stream, seq, time_ms, payload} still initialises a record.
  std::uint64_t epoch = 0;
};

/// The marker that voids stream `stream`'s records with seq in (keep, upto]
/// written before it: a replica's uncommitted tail, replaced by its new
/// primary's records, which follow the marker in the same group commit.
/// `upto` is the highest seq the replica held; it is the marker's seq, so
/// release() keeps the marker's segment until a snapshot covers every seq it
/// voids (a void record below the covered seq is never read again).
log_record truncate_marker(std::uint32_t stream, std::uint64_t keep, std::uint64_t upto,
                           std::uint64_t epoch, std::int64_t time_ms);



/// A segment on disk and the highest seq it holds per stream.
struct segment_info {
  std::uint64_t number = 0;
  std::string path;
  std::uint64_t bytes = 0;
  std::map<std::uint32_t, std::uint64_t> max_seq;
};

struct wal_options {
  std::string dir;
  sync_policy sync = sync_policy::fsync;
  std::uint64_t segment_bytes = 64ull << 20;
  /// File-system calls (tests inject faults); null = the real ones.
  file_ops* ops = nullptr;
};


/// Called on the writer thread once a record is durable (error empty) or
/// could not be logged (error says why). Must be quick and must not call
/// back into the wal.
using wal_done = std::function<void(const std::string& error)>;

class wal {
 public:
  /// Starts a new segment in opts.dir (numbered after every segment in
  /// `existing`, which recovery found and may still be needed) and the
  /// writer thread. Throws std::runtime_error if the segment cannot be
  /// created.
  wal(wal_options opts, std::vector<segment_info> existing);
  /// Writes what is queued, then stops the writer thread.
  ~wal();
  wal(const wal&) = delete;
  wal& operator=(const wal&) = delete;

  /// Queues `r`; `done` is called once it is durable or failed. Records are
  /// written in the order of append() calls.
  void append(log_record r, wal_done done);

  /// Deletes closed segments whose every record has seq <= covered[stream]
  /// (a stream missing from `covered` covers nothing). Returns how many.
  std::size_t release(const std::map<std::uint32_t, std::uint64_t>& covered);

  /// Writes what is queued and stops; later appends fail. Idempotent.
  void close();

  wal_stats stats() const;

 private:
  struct pending {
    log_record record;
    wal_done done;
  };
  void run();
  void open_segment();
  std::string write_group(std::vector<pending>& group);

  wal_options opts_;
  file_ops* ops_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::vector<pending> queue_;
  bool closing_ = false;
  bool closed_ = false;
  // Closed segments, oldest first (guarded by mtx_: release() edits them).
  std::vector<segment_info> segments_;
  // Writer-thread state: the open segment.
  segment_info current_;
  int fd_ = -1;
  std::string failed_;  // non-empty once the log cannot be trusted any more
  wal_stats stats_;
  std::thread writer_;
};



struct scan_report {
  std::uint64_t records = 0;
  std::uint64_t bytes = 0;
  std::uint64_t dropped_bytes = 0;  ///< torn or corrupt tail removed
  std::uint64_t void_records = 0;   ///< voided by a later truncate_stream marker (not passed on)
  std::uint64_t markers = 0;        ///< truncate_stream markers read
  std::vector<segment_info> segments;
  std::vector<std::string> warnings;
};

/// Reads every segment of `dir` in order and calls `fn` for each valid
/// record that no later marker voids (markers themselves are not passed). A record that fails its length or CRC check with no valid record
/// after it is a torn tail (it was never acknowledged): the file is truncated
/// there and a warning is added. When valid records follow it, strict throws
/// std::runtime_error naming the file and offset (acknowledged data would be
/// lost), truncate drops everything from it on with a warning. `fn` may
/// throw; the exception propagates. A missing directory is an empty log.
scan_report scan_log(const std::string& dir, corruption_policy policy,
                     const std::function<void(const log_record&)>& fn);

/// Reads the segments of `dir` in order without changing any file (a log
/// another thread may be appending to) and calls `fn` for each valid record
/// that no marker voids, until `fn` returns false (markers are those of the
/// prefix read: the log as it was at some moment). Stops at the first record that is not complete
/// and valid (the tail being written), and skips a last segment whose header
/// is not written yet. Throws std::runtime_error when a segment cannot be
/// read (deleted meanwhile: the caller asks again).
void read_log(const std::string& dir, const std::function<bool(const log_record&)>& fn);

/// Encodes one record (length, crc, body) onto `out`.
void frame_record(const log_record& r, std::string& out);

}  // namespace rtrec::storage
