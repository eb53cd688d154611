// The embedded library API: an application links rtrec::engine, constructs
// an embedded_engine and calls it from any number of threads. Inside, the
// actor topology (ingestors, profile shards, item shards, recommenders) runs
// on its own CAF actor system.
//
//   rtrec::embedded_engine eng{rtrec::engine_options{}};
//   eng.ingest({{"alice", "book-1", rtrec::engine::event_type::like, 0, ts}});
//   auto recs = eng.recommend("alice", {.n = 10});   // reflects the like
//
// Guarantees:
// - ingest() returns once every accepted event is applied by its profile
//   shard: a recommend() issued afterwards reflects it for that user
//   (read-your-writes). Item-side state (co-occurrence, popularity) may lag;
//   flush() waits until it has caught up.
// - Events from one thread are applied in call order for each user.
// - Every call that waits has a timeout; a dead shard yields an error
//   (error_code::shard_unavailable), never a hang.
// - At most max_in_flight_events are accepted but unacknowledged; further
//   ingest() calls wait (try_ingest() returns error_code::overloaded).
// - With durability.data_dir set, every acknowledged write (events, user
//   deletions, item metadata) is in the write-ahead log first; construction
//   recovers the state from the newest checkpoint plus the log, and stop()
//   writes a final checkpoint. An event whose id was applied within the
//   dedup window is acknowledged again (counted in duplicates), not applied.
#pragma once

#include <caf/all.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "actors/cluster.hpp"
#include "actors/query_lane.hpp"
#include "actors/topology.hpp"
#include "engine/event.hpp"
#include "engine/scoring.hpp"
#include "messages/messages.hpp"

namespace rtrec {

/// Where and how the engine persists its state. An empty data_dir keeps
/// everything in memory (nothing survives a restart).
struct durability_options {
  /// Directory of the write-ahead log and the checkpoints (created if needed).
  std::string data_dir;
  /// fsync: every group of records is fdatasync'ed before it is
  /// acknowledged (group commit). none: acknowledged once handed to the OS;
  /// a power loss (not a process crash) may lose the last moments.
  storage::sync_policy sync = storage::sync_policy::fsync;
  /// What recovery does when valid log records follow a corrupt one.
  storage::corruption_policy recovery = storage::corruption_policy::strict;
  /// Time between checkpoints; 0 = only on stop() and checkpoint().
  std::chrono::milliseconds snapshot_interval{std::chrono::minutes(5)};
  /// Write a checkpoint when the engine stops cleanly.
  bool snapshot_on_stop = true;
  /// A log segment rolls once it passes this size.
  std::uint64_t segment_bytes = 64ull << 20;
  /// Checkpoints kept (at least 2, so a damaged newest one falls back).
  std::size_t keep_checkpoints = 2;
  /// File-system calls of the log writer (tests inject faults); null = real.
  storage::file_ops* file_ops = nullptr;
};

/// Outcome of one checkpoint.
struct checkpoint_report {
  std::uint64_t id = 0;
  std::uint64_t bytes = 0;
  std::uint64_t profile_bytes = 0;
  std::uint64_t item_bytes = 0;
  double total_ms = 0;
  /// Longest time one shard answered nothing for the checkpoint (it hands
  /// its state to a serializer thread and goes on answering queries).
  std::uint64_t max_pause_ns = 0;
  /// Longest time one shard held back writes (acknowledgements wait) while
  /// its state was serialized.
  std::uint64_t max_hold_ns = 0;
  std::size_t segments_deleted = 0;
  std::uint64_t users = 0;
  std::uint64_t items = 0;
};

/// Counters of the durability layer.
struct durability_stats {
  bool enabled = false;
  storage::wal_stats wal;
  std::uint64_t checkpoints = 0;
  std::uint64_t checkpoint_failures = 0;
  checkpoint_report last_checkpoint;
  std::uint64_t max_pause_ns = 0;  ///< over every checkpoint so far
  std::uint64_t max_hold_ns = 0;   ///< over every checkpoint so far
  storage::recovery_report recovery;
};

struct engine_options {
  /// Shard counts, model and runtime knobs (see topology.hpp).
  topology_config topology;
  /// CAF worker threads; 0 = one per core.
  std::size_t worker_threads = 0;
  /// Messages an actor handles before it yields its thread (CAF's
  /// scheduler.max-throughput). Small values keep query latency low while
  /// shards chew through ingest batches.
  std::size_t max_throughput = 1;
  /// CAF scheduler policy:
  ///  - "priority" (the default): one shared job queue plus a query lane in
  ///    front of it, so a query's hops do not wait behind ingest batches
  ///    (actors/query_lane.hpp);
  ///  - "sharing": CAF's one FIFO job queue (fair, but a query waits at every
  ///    hop for every actor queued ahead of it);
  ///  - "stealing": CAF's default, per-worker LIFO queues (more throughput,
  ///    long query tails).
  std::string scheduler_policy = "priority";
  /// Events accepted but not yet acknowledged, across all callers.
  std::size_t max_in_flight_events = 1u << 20;
  /// How long a blocking call waits for its answer.
  std::chrono::milliseconds call_timeout{15000};
  /// Persistence (off by default: in memory only).
  durability_options durability;
  /// Cluster mode (off by default: one process). This engine is then one
  /// node: it hosts the shards placement gives it and reaches the others
  /// through its peers; every call works as in one process. Cluster nodes
  /// keep their state in memory (durability.data_dir must be empty).
  cluster_options cluster;
};

/// Outcome of one ingest call.
struct ingest_result {
  std::uint64_t accepted = 0;
  std::vector<rejection> rejected;  ///< by index into the submitted batch
  /// Of the accepted: events whose id was already applied (not re-applied).
  std::uint64_t duplicates = 0;
};

/// Receives the outcome of an asynchronous call, on one of the engine's
/// threads: it must return quickly and never block on the engine.
template <class T>
using callback = std::function<void(caf::expected<T>)>;
using recommendations_callback = callback<std::vector<engine::recommendation>>;

/// Counters gathered from every actor.
struct engine_stats {
  std::vector<ingest_stats> ingestors;
  std::vector<shard_stats> profile_shards;
  std::vector<item_shard_stats> item_shards;
  std::uint64_t users = 0;
  std::uint64_t items = 0;
  std::uint64_t events_applied = 0;
  std::uint64_t profile_bytes = 0;
  std::uint64_t item_bytes = 0;
  std::uint64_t item_lag_p99_ns = 0;  ///< max over item shards
  /// Cluster mode: queries answered without the item shards of an
  /// unreachable node (their items were missing from the answer).
  std::uint64_t partial_answers = 0;
  /// Cluster mode: the shards above are those reachable now.
  std::uint32_t unreachable_shards = 0;
  /// The scheduler's query lane (all zero under another scheduler policy).
  query_lane_stats scheduler;
  /// CAF worker threads running the actors.
  std::size_t worker_threads = 0;
};

class embedded_engine {
 public:
  /// Recovers the state in opts.durability.data_dir (if set), then starts the
  /// actor system and the topology. Throws std::invalid_argument for an
  /// unusable configuration and std::runtime_error when the data directory
  /// cannot be recovered (the message says why and what to do).
  explicit embedded_engine(engine_options opts = {});
  /// Stops the topology and the actor system (waits for actors to finish).
  ~embedded_engine();

  embedded_engine(const embedded_engine&) = delete;
  embedded_engine& operator=(const embedded_engine&) = delete;

  /// Validates and applies `events` in order; returns once all accepted ones
  /// are applied by their profile shards. Rejected events are listed with
  /// their index and reason. Waits while max_in_flight_events are in flight.
  /// Errors: shutting_down, or shard_unavailable when the call timed out.
  caf::expected<ingest_result> ingest(std::vector<engine::event> events);

  /// Like ingest(), but returns error_code::overloaded at once instead of
  /// waiting for room.
  caf::expected<ingest_result> try_ingest(std::vector<engine::event> events);

  /// Starts an ingest and returns at once; the future yields what ingest()
  /// would have returned. Calls from one thread apply in call order.
  std::future<caf::expected<ingest_result>> ingest_async(std::vector<engine::event> events);

  /// Like try_ingest(), without waiting: `done` receives the result once the
  /// events are applied (or overloaded / shutting_down at once, on the
  /// calling thread). Calls from one thread apply in call order.
  void try_ingest_async(std::vector<engine::event> events, callback<ingest_result> done);

  /// Asynchronous queries: `done` receives what the blocking call of the
  /// same name would return. At most call_timeout passes before it is called
  /// (a watchdog ticking every eighth of it fails a query left unanswered).
  /// `done` runs on an engine thread, inside a recommender's turn (or on the
  /// calling thread for an error found at once): keep it short, never block.
  void recommend_async(std::string user, const engine::recommend_options& o,
                       recommendations_callback done);
  void similar_async(std::string item, std::size_t n, std::string category,
                     recommendations_callback done);
  void popular_async(std::size_t n, std::string category, recommendations_callback done);
  void latest_async(std::size_t n, std::string category, recommendations_callback done);
  void session_async(std::vector<engine::event> events, const engine::recommend_options& o,
                     recommendations_callback done);

  /// Returns up to o.n recommendations for `user`, best first; cold-start
  /// users get popular items. Errors: invalid_request, shard_unavailable.
  caf::expected<std::vector<engine::recommendation>>
  recommend(const std::string& user, const engine::recommend_options& o = {});

  /// Returns up to n items most similar to `item` (empty for unknown items).
  caf::expected<std::vector<engine::recommendation>>
  similar(const std::string& item, std::size_t n, const std::string& category = {});

  /// Returns up to n most popular items (trending, decayed), best first.
  caf::expected<std::vector<engine::recommendation>>
  popular(std::size_t n, const std::string& category = {});

  /// Returns up to n newest visible items (by creation time: the metadata
  /// timestamp, else the first event), newest first; score = seconds.
  caf::expected<std::vector<engine::recommendation>>
  latest(std::size_t n, const std::string& category = {});

  /// Returns recommendations for an anonymous session made of `events` (only
  /// their items, types, values and timestamps count; nothing is stored).
  /// Errors: invalid_request naming the first invalid event.
  caf::expected<std::vector<engine::recommendation>>
  session_recommend(std::vector<engine::event> events, const engine::recommend_options& o = {});

  /// Returns an item's metadata (timestamp = creation time). Error
  /// not_found for an unknown item.
  caf::expected<engine::item_meta> item(const std::string& id);

  /// Reads an item's metadata, lets `change` edit it and writes it back to
  /// every item shard, serialized with every other item write. Error
  /// not_found for an unknown item (and `change` is not called).
  caf::expected<engine::item_meta>
  update_item(const std::string& id, const std::function<void(engine::item_meta&)>& change);

  /// Sets an item's categories and hidden flag (on every item shard).
  /// Returns false when the id collides with another item's key.
  caf::expected<bool> set_item(const engine::item_meta& meta);
  /// Hides an item for good; it is never recommended again.
  caf::expected<bool> remove_item(const std::string& id);
  /// Returns a user's recent interactions, newest first.
  caf::expected<std::vector<engine::interaction>> user_recent(const std::string& user);
  /// Forgets a user's profile. Returns false if unknown.
  caf::expected<bool> forget_user(const std::string& user);

  /// Waits until everything acknowledged so far is applied on the item side
  /// too. Returns the number of events applied by the profile shards.
  caf::expected<std::uint64_t> flush();

  /// Like flush(), for the profile shards hosted by this node only (cluster
  /// mode; the same as flush() in one process): what a node does before it
  /// stops, without waiting on peers that may be stopping too.
  caf::expected<std::uint64_t> flush_local();

  /// Gathers counters from every actor.
  caf::expected<engine_stats> stats();

  /// Writes a checkpoint now (every shard's state, then deletes the log
  /// segments and checkpoints it makes unnecessary). Errors: invalid_request
  /// without a data directory, shard_unavailable when a shard does not
  /// answer or the files cannot be written (the previous checkpoint stays).
  caf::expected<checkpoint_report> checkpoint();

  /// Counters of the log, the checkpoints and what recovery found.
  durability_stats durability();

  /// Events accepted and not yet acknowledged, across all callers.
  std::size_t in_flight_events();
  /// The most events that were ever in flight at once (never more than
  /// max_in_flight_events, unless one call alone carried more).
  std::size_t in_flight_peak();

  /// The cluster as this node sees it (enabled = false in one process).
  cluster_status cluster() const;

  /// Waits until `pred` holds for cluster() or `timeout` passes; returns
  /// whether it holds. Wakes on every change of the status (no polling).
  /// In one process, returns pred(cluster()) at once.
  bool await_cluster(const std::function<bool(const cluster_status&)>& pred,
                     std::chrono::milliseconds timeout) const;

  /// The topology's handles (for advanced use and tests). In cluster mode
  /// the shard vectors hold this node's shards only (null elsewhere).
  const topology& actors() const noexcept { return topo_; }
  caf::actor_system& system() noexcept { return *system_; }
  const engine_options& options() const noexcept { return opts_; }

  /// Stops accepting calls and shuts the topology down. Idempotent.
  void stop();

  /// Implementation detail: pending asynchronous ingests.
  struct client;

 private:
  /// Reserves room for n events in flight; waits for it when `wait`, else
  /// fails with overloaded. Fails with shutting_down once stopped.
  caf::error acquire(std::size_t n, bool wait);
  void submit(std::vector<engine::event> events, bool wait, callback<ingest_result> done);
  std::future<caf::expected<ingest_result>> submit(std::vector<engine::event> events, bool wait);
  template <class... Ts>
  void query(recommendations_callback done, Ts&&... xs);
  caf::expected<std::vector<engine::recommendation>>
  wait_for(const std::function<void(recommendations_callback)>& start);
  caf::error check_session(const std::vector<engine::event>& events) const;
  void release(std::size_t n);
  bool stopping();
  template <class T, class Dest, class... Ts>
  caf::expected<T> call(const Dest& dest, Ts&&... xs);
  template <class T, class Dest, class... Ts>
  caf::expected<T> call_always(const Dest& dest, Ts&&... xs);
  /// Logs an item metadata record and waits until it is durable (no-op in
  /// memory). Caller holds item_mtx_.
  caf::error log_meta(storage::record_kind kind, std::string payload);
  caf::expected<checkpoint_report> checkpoint_impl();
  /// Every shard's current handle: the topology's in one process, the
  /// cluster directory's in cluster mode (null = its node is unreachable).
  struct shard_handles {
    std::vector<profile_shard_actor> profiles;
    std::vector<item_shard_actor> items;
  };
  shard_handles shards() const;
  void start_cluster();
  void checkpoint_loop();

  engine_options opts_;
  std::unique_ptr<caf::actor_system_config> config_;
  std::unique_ptr<caf::actor_system> system_;
  topology topo_;
  caf::actor client_;
  caf::actor watchdog_;  // fails queries past call_timeout (see client)
  std::shared_ptr<client> client_state_;
  std::mutex item_mtx_;  // serializes item metadata writes across shards
  std::mutex flow_mtx_;
  std::condition_variable flow_cv_;
  std::size_t in_flight_ = 0;
  std::size_t in_flight_peak_ = 0;
  bool stopped_ = false;
  // Durability.
  std::shared_ptr<storage::wal> wal_;
  storage::recovery_report recovery_;
  std::uint64_t meta_seq_ = 0;  // guarded by item_mtx_
  std::mutex checkpoint_mtx_;   // one checkpoint at a time
  std::uint64_t next_checkpoint_id_ = 1;
  std::mutex durability_mtx_;   // guards the counters below
  std::uint64_t checkpoints_ = 0;
  std::uint64_t checkpoint_failures_ = 0;
  std::uint64_t max_pause_ns_ = 0;
  std::uint64_t max_hold_ns_ = 0;
  checkpoint_report last_checkpoint_;
  std::mutex ticker_mtx_;
  std::condition_variable ticker_cv_;
  bool ticker_stop_ = false;
  std::thread ticker_;
  // Cluster mode.
  std::shared_ptr<cluster_shared> cluster_;
  caf::actor manager_;
};

}  // namespace rtrec
