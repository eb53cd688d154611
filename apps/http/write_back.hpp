// Write-back on recommend (Gorse's write-back-type and write-back-delay on
// GET /api/recommend/{user}): the items a recommendation returned are stored
// as feedback of the given type for the user, through the normal ingest path
// (logged, applied, deduplicated by event id).
//
// Gorse inserts the feedback at once with Timestamp = now + delay and reads
// no feedback whose time has not come: until then the items are neither
// "read" nor part of the model, so they keep being recommended. rtrec folds an
// event into the model when it arrives, so the delay is realised by holding
// the write-back back until it is due:
//
//   delay <= 0: ingested before the recommendation is answered (timestamp
//               now + delay);
//   delay > 0:  written to the deferred journal (storage/deferred_journal,
//               durable before the answer), held in memory, and ingested
//               when the service clock reaches now + delay, with that
//               timestamp. A restart reloads the journal; a write-back that
//               fell due while the server was down is ingested at start.
//
// Each event's EventId is derived from (type, user, item) ("wb-" + 16 hex
// digits of XXH3), so writing the same item back twice counts once within
// the dedup window, as Gorse's insert-if-absent does, and ingesting an entry
// again after a crash (its done marker lost) is a duplicate.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "rtrec/rtrec.hpp"
#include "apps/http/metrics.hpp"
#include "storage/deferred_journal.hpp"

namespace rtrec::http {

struct write_back_options {
  /// Directory of the deferred journal; empty = delayed write-backs live in
  /// memory only (lost on a restart).
  std::string journal_dir;
  storage::sync_policy sync = storage::sync_policy::fsync;
  /// Events waiting for their delay before schedule() refuses more.
  std::size_t max_pending_events = 100000;
  /// Events per ingest call when due entries are ingested.
  std::size_t ingest_batch = 1000;
};

/// The write-back events for `items` of one recommendation: user `user`,
/// type `type`, timestamp `at_ms`, value 0, EventId "wb-" + hex XXH3 of
/// (type, user, item).
std::vector<engine::event> write_back_events(const std::string& user,
                                             const std::vector<std::string>& items,
                                             engine::event_type type, std::int64_t at_ms);

/// Holds delayed write-backs until they are due and ingests them then, on
/// its own thread (which wakes at the next due time, and at least every
/// second: the service clock may be a test's). Thread-safe.
class write_back_queue {
 public:
  /// Opens the journal (if journal_dir is set) and schedules what it holds;
  /// starts the thread. `eng` and `m` must outlive the queue. Throws
  /// std::runtime_error when the journal cannot be opened.
  write_back_queue(service& eng, write_back_options o, metrics& m);
  /// stop().
  ~write_back_queue();
  write_back_queue(const write_back_queue&) = delete;
  write_back_queue& operator=(const write_back_queue&) = delete;

  /// Holds `events` until `due_ms` (service clock), durable in the journal
  /// before it returns. Returns "" or why not: more than max_pending_events
  /// would wait, the journal failed, or the queue is stopped.
  std::string schedule(std::int64_t due_ms, std::vector<engine::event> events);

  /// Ingests every entry due by now (the service clock) and waits for the
  /// answers; entries that could not be delivered stay for the next round.
  /// Returns the events ingested (applied or duplicates). The thread calls
  /// it; a test may too, after moving its clock.
  std::size_t run_due();

  /// Events waiting.
  std::size_t pending_events() const;

  /// Stops the thread; what is pending stays in the journal. Idempotent.
  void stop();

 private:
  struct entry {
    std::uint64_t seq = 0;
    std::int64_t due_ms = 0;
    std::vector<engine::event> events;
  };
  void loop();
  std::vector<entry> take_due(std::int64_t now);
  void settle(std::vector<entry> batch, const result<ingest_result>& r);
  void finish_entry(std::uint64_t seq);
  void maybe_compact();

  service& eng_;
  write_back_options opts_;
  metrics& metrics_;
  std::unique_ptr<storage::deferred_journal> journal_;
  mutable std::mutex mtx_;  // guards everything below and the journal
  std::condition_variable cv_;
  std::multimap<std::int64_t, entry> pending_;  // by due time
  std::size_t pending_events_ = 0;
  std::uint64_t next_seq_ = 1;  // without a journal
  bool stopping_ = false;
  bool failed_round_ = false;  // the last run_due() left undelivered events
  std::mutex run_mtx_;  // one run_due() at a time
  std::thread thread_;
};

}  // namespace rtrec::http
