// The profile shard actor: a thin wrapper over engine::profile_store for the
// users that hash to this shard. Its mailbox is the ordered update queue of
// those users: batches apply in arrival order, and a batch is acknowledged
// once applied (read-your-writes).
//
// With a write-ahead log, a batch (or a user write or deletion, or a
// feedback deletion) is first appended to
// the log and applied only when the log reports it durable, still in arrival
// order; a record the log could not store is refused (storage_failed), never
// applied. Without a log it applies at once.
//
//   shard_batch --log--> pending --durable--> apply --> ack now
//                                 \--failed--> ack: storage_failed
//   (no log)  ---------------------------------^       \-> ack deferred while
//                                                      the item side lags
//
// A checkpoint does not stop the shard: with a log, a thread serializes the
// shard's state while the shard goes on answering queries and only holds
// back applying (and so acknowledging) durable records until it is done.
//
// Events carrying an id already applied within the dedup window are
// acknowledged again but not applied (engine::apply_idempotent). The item
// side of every applied batch goes to every item shard as one delta_batch
// tagged with the batch's log seq; when more than max_deltas_in_flight per
// item shard are unacknowledged, new acknowledgements are held back (never
// the shard itself) until the item side catches up.
#pragma once

#include <caf/all.hpp>

#include <array>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>

#include "actors/request.hpp"
#include "actors/shard_router.hpp"
#include "actors/topology.hpp"
#include "engine/dedup_window.hpp"
#include "engine/profile_store.hpp"
#include "messages/messages.hpp"
#include "storage/replica_stream.hpp"

namespace rtrec {

/// Profile slots one feedback listing request visits at most (the shard
/// answers other messages between two requests of a long listing).
constexpr std::size_t feedback_scan_users = 4096;

struct profile_shard_state {
  static inline const char* name = "rtrec.profile_shard";
  /// A record waiting for the log, or a flush waiting for those before it.
  struct pending {
    enum kind_t { batch, forget, upsert, unfeedback, flush } kind = batch;
    std::uint64_t seq = 0;
    std::int64_t time_ms = 0;
    shard_batch events;
    std::string user;          ///< forget, upsert
    engine::user_patch patch;  ///< upsert
    engine::feedback_delete del;  ///< unfeedback
    caf::typed_response_promise<ingest_result> ack_rp;
    caf::typed_response_promise<bool> user_rp;  ///< forget, upsert
    caf::typed_response_promise<std::uint64_t> deleted_rp;  ///< unfeedback
    caf::typed_response_promise<std::uint64_t> flush_rp;
  };
  // Shared with the serializer thread of a snapshot in progress.
  std::shared_ptr<engine::profile_store> store;
  std::shared_ptr<engine::dedup_window> window;
  std::shared_ptr<storage::wal> wal;
  wall_clock_fn clock;  ///< stamps log records (drives the dedup window's age)
  shard_router router;  ///< item shards only
  std::uint32_t index = 0;
  std::uint64_t seq = 0;          ///< last log seq assigned
  std::uint64_t applied_seq = 0;  ///< last log seq applied (what a snapshot covers)
  /// Seq of the last delta batch sent: the next batch's prev.
  std::uint64_t last_delta_seq = 0;
  /// Where resyncs re-derive delta batches from (data_dir empty: nowhere).
  storage::recovery_options data;
  /// Resyncs under way (a thread re-derives each), by token, and the delta
  /// batches sent since the oldest of them began (added to their answers).
  struct resync_job {
    std::uint64_t upto = 0;
    caf::typed_response_promise<resync_reply> rp;
  };
  std::map<std::uint64_t, resync_job> resyncs;
  std::uint64_t next_resync = 0;
  std::deque<delta_batch> resync_tail;
  std::deque<pending> log_pending;
  std::uint64_t deltas_in_flight = 0;
  std::uint64_t delta_failures = 0;
  std::uint64_t rejected = 0;
  std::uint64_t duplicates = 0;
  std::uint64_t acks_deferred_total = 0;
  std::deque<std::pair<caf::typed_response_promise<ingest_result>, ingest_result>> deferred;
  std::uint64_t max_in_flight = 0;
  /// Deadlines of the delta batches and flushes in flight.
  request_deadlines deadlines;
  /// A snapshot in progress: a thread serializes store and window while the
  /// shard answers queries and holds back what would change them (durable
  /// notices, applied once the snapshot is done, in order).
  bool snapshotting = false;
  std::deque<std::pair<std::uint64_t, std::string>> held;
  caf::typed_response_promise<shard_snapshot> snapshot_rp;
  std::uint64_t snapshot_pause_ns = 0;
  // -- replication (actors/profile_replica.cpp); null: the only copy (RF 1) --
  std::unique_ptr<storage::replica_stream> replica;
  /// A replica's log as recovery read it back, restored into `replica` at
  /// the first replica_config (its state holds the records up to the
  /// stored commit).
  std::optional<engine::replica_persisted> restored;
  /// topology_config::replicated_profiles: takes no write before its first
  /// replica_config.
  bool replicated = false;
  /// Became primary with its log up to here: serves reads once it applied
  /// them (replica_serves).
  std::uint64_t reads_from = 0;
  /// Every replica's handle, by node index (replica_config::peers).
  std::vector<caf::strong_actor_ptr> peers;
  /// What was last shipped to each follower: (prev_seq, records, committed,
  /// snapshot_seq); a ship that says nothing new is not sent again.
  std::map<std::uint32_t, std::array<std::uint64_t, 4>> last_ship;
  /// The highest seq shipped to each follower since the last resend tick,
  /// refusal or configuration: not shipped again before then.
  std::map<std::uint32_t, std::uint64_t> shipped_upto;
  std::uint64_t bad_ships = 0;  ///< ships whose records did not decode
  caf::timespan resend_interval{};  ///< topology_config::replica_resend
  bool resend_armed = false;        ///< a (replica_atom) resend is pending
  bool resending = false;           ///< inside the resend handler
  /// The node's map keeper (replica_config::keeper): a primary's in-sync
  /// join and leave requests go there. Null: none are sent.
  caf::strong_actor_ptr keeper;
  /// Requests sent since the last resend tick, by (replica, join): the map
  /// epoch they were asked in (asked again at the next tick while pending).
  std::map<std::pair<std::uint32_t, bool>, std::uint64_t> isr_asked;
  /// In-sync followers lacking records: since when (the actor clock).
  std::map<std::uint32_t, caf::actor_clock::time_point> lagging_since;
  caf::timespan lag_timeout{};  ///< topology_config::replica_lag_timeout
  /// topology_context::replica_notices (empty: to the shard at once).
  std::function<void(const profile_shard_actor&, std::uint64_t, const std::string&)> notices;
};

/// Keeps a copy of `msg` while a resync is under way (its answer must hold
/// every batch after the point it re-derives up to).
void retain_for_resyncs(profile_shard_state& st, const delta_batch& msg);

/// Answers an item shard's resync(from) (actors/profile_resync.cpp): a thread
/// re-derives the batches in (from, applied_seq] from the data directory.
caf::result<resync_reply>
start_resync(profile_shard_actor::stateful_pointer<profile_shard_state> self, std::uint64_t from);
/// The thread's result for `token` (error non-empty: why it failed).
void finish_resync(profile_shard_actor::stateful_pointer<profile_shard_state> self,
                   std::uint64_t token, resync_reply& r, const std::string& error);

/// Replication of a profile shard (actors/profile_replica.cpp; docs/replication.md,
/// "A profile shard as a replica"). Writes go through st.replica when it is set.
void on_replica_config(profile_shard_actor::stateful_pointer<profile_shard_state> self,
                       replica_config& c);
void on_replica_ship(profile_shard_actor::stateful_pointer<profile_shard_state> self,
                     replica_ship& m);
void on_replica_answer(profile_shard_actor::stateful_pointer<profile_shard_state> self,
                       const replica_answer& m);
void on_replica_notice(profile_shard_actor::stateful_pointer<profile_shard_state> self,
                       std::uint64_t written, const std::string& error);
/// The resend timer: ships everything again that a follower may lack.
void on_replica_resend(profile_shard_actor::stateful_pointer<profile_shard_state> self);
/// After anything that may have changed the replica: refuses the writes a
/// replica no longer primary cannot acknowledge, applies what is committed
/// (acknowledging this shard's own writes), and ships what is new.
void replica_changed(profile_shard_actor::stateful_pointer<profile_shard_state> self);
/// Whether a write may be taken now; false answers `rp`-style callers with
/// shard_unavailable (why in `why`). Always true without replication.
bool replica_accepts(const profile_shard_state& st, std::string& why);

/// Whether the shard answers reads of its users here: always without
/// replication; a replica only as primary once it applied every record it
/// took over with (read-your-writes across a failover). Else `why` says so.
bool replica_serves(const profile_shard_state& st, std::string& why);
/// Applies a durable record the shard is waiting for (seq = the front of
/// log_pending) or refuses it (err non-empty): profile_shard.cpp's path.
void apply_logged(profile_shard_actor::stateful_pointer<profile_shard_state> self,
                  std::uint64_t seq, const std::string& err);
/// Sends the item side of log record `seq` to every item shard, chained to
/// the stream's previous batch (st.last_delta_seq), and keeps a copy for
/// resyncs under way.
void send_delta(profile_shard_actor::stateful_pointer<profile_shard_state> self,
                engine::item_delta_batch&& delta, std::uint64_t seq);
/// Refuses every write waiting in log_pending with `failure` (flushes run).
void refuse_pending(profile_shard_actor::stateful_pointer<profile_shard_state> self,
                    delivery_failure failure, const std::string& why);

/// Behavior of profile shard `index`, feeding `items` (starting from
/// ctx.recovered's profiles for this shard when there are some, logging to
/// ctx.wal when there is one).
profile_shard_actor::behavior_type
profile_shard(profile_shard_actor::stateful_pointer<profile_shard_state> self,
              topology_config cfg, std::uint32_t index, std::vector<item_shard_actor> items,
              topology_context ctx);

}  // namespace rtrec
