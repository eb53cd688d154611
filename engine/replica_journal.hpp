// What a replica must store of its replica_log, and what of it is durable
// (docs/replication.md, "A profile shard as a replica"). The log changes in
// memory (appends, ships that replace a tail, commits, higher epochs); the
// carrier stores each change as writes to an append-only store (the node's
// write-ahead log, whose records of all shards are made durable in the order
// they were written) and learns later, by write number, that they are
// durable. This class turns both into the replica_log's terms:
//
//   log changed --changes()--> writes, in order: [marker keep] records... [state]
//   store: writes up to n durable --durable(n)--> log.sync(seq)
//
// - A replaced tail (log matching) becomes a marker that voids the stored
//   records after `keep` (storage::truncate_marker), ahead of the records
//   that replace them.
// - The commit a replica knows and the highest epoch it saw become a state
//   write whenever either grows; a restart restores both from the newest
//   durable one (a state write may trail the records it covers: a restart
//   then takes fewer records as committed, which a primary's ship raises
//   again).
// - A primary appends and ships only once a state write of its map's epoch
//   is durable (ready()): a restart that lost it could otherwise make it
//   primary again in that epoch, appending at a seq a follower holds a
//   different record of the same epoch at.
//
// Plain C++17: no I/O. storage/replica_stream.hpp carries it over the WAL;
// tests/engine/replica_log_test.cpp's simulation over a model store whose
// read-back after every crash must equal replica_log::persisted().
#pragma once

#include <cstdint>
#include <deque>
#include <vector>

#include "engine/replica_log.hpp"

namespace rtrec::engine {

/// One write to a replica's store.
struct journal_write {
  enum kind_t { record, marker, state } kind = record;
  /// record: the log's record at this seq (replica_log::record_at).
  /// marker: voids the stream's stored records after `keep`; `seq` is the
  /// highest seq ever stored (the marker's own seq, storage::truncate_marker's upto).
  std::uint64_t seq = 0;
  std::uint64_t keep = 0;        ///< marker
  std::uint64_t commit = 0;      ///< state: replica_log::commit_known()
  std::uint64_t epoch_seen = 0;  ///< state: replica_log::epoch_seen()
};

class replica_journal {
 public:
  /// The writes that store `log`'s changes since the last call, in order;
  /// write numbers continue from written(). Call after every call that may
  /// change the log (append, on_ship, on_answer, adopt, take_applicable).
  std::vector<journal_write> changes(replica_log& log);
  /// Writes issued so far (the last one's number).
  std::uint64_t written() const noexcept { return issued_; }
  /// The store made its writes up to number `n` durable (in order): the
  /// log's records up to the returned seq are durable now (pass it to
  /// replica_log::sync).
  std::uint64_t durable(std::uint64_t n);
  /// Whether `log` may act as primary now: a state write of its map's
  /// epoch is durable.
  bool ready(const replica_log& log) const noexcept;
  /// Starts again after a restart from a store that holds `written`
  /// writes, whose records up to seq `stored` are the restored log's, with
  /// the commit and epoch of its newest state write.
  void restart(std::uint64_t written, std::uint64_t stored, std::uint64_t commit,
               std::uint64_t epoch_seen);

 private:
  struct in_flight {
    std::uint64_t number = 0;
    std::uint64_t stored = 0;      ///< the log's records up to here were issued by then
    std::uint64_t keep = ~0ull;    ///< a marker's keep (~0: not a marker)
    std::uint64_t epoch_seen = 0;  ///< a state write's epoch (0: none)
  };
  void issue(std::vector<journal_write>& out, const journal_write& w);

  std::deque<in_flight> in_flight_;
  std::uint64_t issued_ = 0;
  std::uint64_t stored_ = 0;  ///< the log's records up to here are issued
  std::uint64_t high_ = 0;    ///< the highest seq ever issued
  std::uint64_t commit_ = 0, epoch_ = 0;  ///< the last state issued
  std::uint64_t durable_epoch_ = 0;
};

}  // namespace rtrec::engine
