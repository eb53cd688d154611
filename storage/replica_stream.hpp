// One shard's stream as a replica keeps it in the node's write-ahead log
// (docs/replication.md, "A profile shard as a replica"): an
// engine::replica_log (the protocol: seqs, epochs, commits, what is applied)
// whose changes an engine::replica_journal turns into WAL records of this
// stream, stored in the WAL shared by every shard of the node:
//
//   append / on_ship / on_answer / adopt / take_applicable
//     --> journal.changes --> wal.append: [truncate_stream] records [replica_state]
//   wal writer thread: durable(write number) --notify--> owner's thread
//     --> on_durable(number) --> replica_log.sync(seq) --> answers, commits
//
// Not thread-safe: one owner (the shard's actor) calls every member on its
// own thread; the wal calls `notify` on its writer thread, and the owner
// hands the number to on_durable() on its own thread.
//
// A write the wal could not store fails the stream for good (failed()): the
// log in memory would hold a record the disk does not, and a later record
// stored after it would leave a gap. The owner stops serving the shard and
// the node restarts it from disk (replica_recovery).
//
// A restart reads the stream back from the log (replica_recovery, fed by
// scan_log in log order) and the shard's checkpoint (its seq and the epoch
// of that record), restores the replica_log from it and replays into the
// shard's state only the records up to the newest stored commit; the rest
// stay durable and unapplied until a primary's ship commits them.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/replica_journal.hpp"
#include "engine/replica_log.hpp"
#include "storage/wal.hpp"

namespace rtrec::storage {

/// What one replica_record's payload holds: the WAL record's kind, time and
/// payload (an events batch, a user write, ...), as replicas ship it.
struct replica_entry {
  record_kind kind = record_kind::events;
  std::int64_t time_ms = 0;
  std::string payload;
};

/// Encodes an entry (u8 kind, i64 time_ms, u64-length payload).
std::string encode_replica_entry(record_kind kind, std::int64_t time_ms,
                                 std::string_view payload);
/// Decodes what encode_replica_entry wrote. Throws corrupt (bytes short or
/// left over, or a kind that is not a data record's).
replica_entry decode_replica_entry(std::string_view in);

/// The replica_state record of `stream`: the commit a replica knows and the
/// highest epoch it saw (seq = commit, epoch = epoch_seen).
log_record replica_state_record(std::uint32_t stream, std::uint64_t commit,
                                std::uint64_t epoch_seen);

class replica_stream {
 public:
  /// Called on the wal's writer thread once this stream's writes up to
  /// `written` are durable (error empty) or one of them failed (error says
  /// why). Must be quick; the owner takes it to its own thread.
  using notify_fn = std::function<void(std::uint64_t written, const std::string& error)>;

  /// Replica `self` of stream `stream`, storing into `wal` (which must
  /// outlive it). Starts empty; restore() a recovered one.
  replica_stream(std::uint32_t self, std::uint32_t stream, wal& log, notify_fn notify);

  /// Starts from what recovery read back (replica_recovery::result()).
  void restore(engine::replica_persisted p);

  /// The protocol state, read-only (seqs, commit, applied, record_at()).
  const engine::replica_log& log() const noexcept { return log_; }
  /// Empty, or why the stream stopped (a write the wal could not store).
  const std::string& failed() const noexcept { return failed_; }
  /// Writes handed to the wal so far (the number the last one's notice
  /// carries; from 0 again after restore()).
  std::uint64_t written() const noexcept { return journal_.written(); }

  /// Takes a chosen map's entry for this shard (see replica_log::adopt).
  void adopt(std::uint64_t epoch, const engine::shard_replicas& shard);
  /// Whether it acts as primary now: its map names it and that map's epoch
  /// is stored (replica_journal::ready), and it has not failed.
  bool ready() const noexcept;

  // -- primary ---------------------------------------------------------------

  /// Appends `e` and stores it; returns its seq, nullopt when not ready().
  std::optional<std::uint64_t> append(const replica_entry& e);
  /// The ships to send (none unless ready()).
  std::vector<std::pair<std::uint32_t, engine::ship_request>> ships(std::size_t max_records = 64);
  void on_answer(const engine::ship_answer& a);
  /// The in-sync joins to ask the controller for (replica_log::join_requests;
  /// none unless ready()).
  std::vector<engine::isr_request> join_requests();

  // -- follower --------------------------------------------------------------

  /// Accepts (or refuses) a ship and stores what it changed. A ship with a
  /// checkpoint (snapshot_seq above log().applied()) replaces the state:
  /// the owner must have stored that checkpoint durably before this call,
  /// and loads it into its state when the answer says `installed`.
  /// Throws corrupt, changing nothing, when a record's payload does not
  /// decode (a ship is input: the owner counts and logs it). A failed
  /// stream refuses every ship.
  engine::ship_answer on_ship(const engine::ship_request& s);

  // -- both ------------------------------------------------------------------

  /// The wal made this stream's writes up to `written` durable (error
  /// empty), or failed one (the stream fails). Returns the answer for the
  /// primary of the last accepted ship, when there is one to tell.
  std::optional<engine::ship_answer> on_durable(std::uint64_t written, const std::string& error);
  /// The records the owner applies to its state now, in seq order:
  /// committed and durable (replica_log::take_applicable). Marks them applied.
  std::vector<std::pair<std::uint64_t, replica_entry>> take_applicable();
  /// The owner checkpointed its state at `upto` (<= log().applied()): the
  /// records up to there leave memory (replica_log::release).
  void release(std::uint64_t upto);

 private:
  /// Stores what the log changed since the last call.
  void store();

  std::uint32_t stream_;
  wal& wal_;
  notify_fn notify_;
  engine::replica_log log_;
  engine::replica_journal journal_;
  std::string failed_;
};

/// Reads a replica stream back from the log after a restart. Feed it every
/// record of its stream that scan_log passes, in log order.
class replica_recovery {
 public:
  /// `base`, `base_epoch`: the seq of the shard's checkpoint and the epoch
  /// of that record (0, 0 without one).
  replica_recovery(std::uint32_t stream, std::uint64_t base, std::uint64_t base_epoch);
  /// Takes one record of the stream. Throws std::runtime_error naming the
  /// stream and seqs when a record does not continue the stream (a gap, or
  /// a seq read twice), and storage::corrupt when a replica_state record's
  /// payload does not decode.
  void add(const log_record& r);
  /// What replica_log::restore takes: the records after base, the newest
  /// stored commit (capped at the last record) as both commit and applied.
  /// Moves them out: call it once, after the last add().
  engine::replica_persisted result();

 private:
  std::uint32_t stream_;
  engine::replica_persisted p_;
};

}  // namespace rtrec::storage
