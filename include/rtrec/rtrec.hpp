// rtrec's embedding API: an application links rtrec::rtrec, constructs an
// rtrec::service and calls it from any number of threads. Inside, the actor
// topology (ingestors, profile shards, item shards, recommenders) runs on its
// own CAF actor system; no CAF type appears here.
//
//   rtrec::service svc{rtrec::service_options{}};
//   svc.ingest({{"alice", "book-1", rtrec::engine::event_type::like, 0, ts}});
//   auto recs = svc.recommend("alice");   // reflects the like at once
//
// Guarantees:
// - ingest() returns once every accepted event is applied by its profile
//   shard: a recommend() issued afterwards reflects it for that user
//   (read-your-writes). Item-side state (co-occurrence, popularity) may lag;
//   flush() waits until it has caught up.
// - Events from one thread are applied in call order for each user.
// - Every call that waits has a deadline (service_options::call_timeout); a
//   dead shard yields an error (error_code::shard_unavailable), never a hang.
// - At most max_in_flight_events are accepted but unacknowledged; further
//   ingest() calls wait (try_ingest() returns error_code::overloaded).
// - With durability.data_dir set, every acknowledged write (events, user
//   writes and deletions, feedback deletions, item metadata) is in the
//   write-ahead log first; construction recovers the state from the newest
//   checkpoint plus the log, and stop() writes a final checkpoint. An event whose id was applied within the
//   dedup window is acknowledged again (counted in duplicates), not applied.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "engine/event.hpp"
#include "engine/feedback.hpp"
#include "engine/model_types.hpp"
#include "engine/user_meta.hpp"
#include "rtrec/cluster.hpp"
#include "rtrec/error.hpp"
#include "rtrec/ingest.hpp"
#include "rtrec/options.hpp"
#include "rtrec/stats.hpp"

namespace rtrec {

/// Receives the outcome of an asynchronous call, on one of the service's
/// threads: it must return quickly and never block on the service.
template <class T>
using callback = std::function<void(result<T>)>;
using recommendations_callback = callback<std::vector<engine::recommendation>>;


/// Where a service reads the time of day: the time stamped on events sent
/// without one, and on log records (which drive the dedup window's age).
/// Milliseconds since the Unix epoch; must be safe to call from any thread.
/// Empty = the system clock. Tests inject one to move time deterministically.
using wall_clock = std::function<std::int64_t()>;

/// One page of service::list_users.
struct user_listing {
  std::vector<engine::user_record> users;
  std::string cursor;  ///< "" when no users are left
};

/// One page of service::list_feedback.
struct feedback_listing {
  std::vector<engine::feedback_record> feedback;
  std::string cursor;  ///< "" when no records are left
};

class service {
 public:
  /// Recovers the state in opts.durability.data_dir (if set), then starts the
  /// actor system and the topology. Throws std::invalid_argument for an
  /// unusable configuration and std::runtime_error when the data directory
  /// cannot be recovered (the message says why and what to do).
  explicit service(service_options opts = {}, wall_clock clock = {});
  /// Stops the topology and the actor system (waits for actors to finish).
  ~service();

  service(const service&) = delete;
  service& operator=(const service&) = delete;

  // -- ingest -------------------------------------------------------------------

  /// Validates and applies `events` in order; returns once all accepted ones
  /// are applied by their profile shards. Invalid events are listed in
  /// rejected, events that could not be applied (a shard down, the log
  /// failing) in failed. Waits while max_in_flight_events are in flight.
  /// Errors: shutting_down, or shard_unavailable when the call timed out.
  result<ingest_result> ingest(std::vector<engine::event> events);

  /// Like ingest(), but returns error_code::overloaded at once instead of
  /// waiting for room.
  result<ingest_result> try_ingest(std::vector<engine::event> events);

  /// Starts an ingest and returns at once; the future yields what ingest()
  /// would have returned. Calls from one thread apply in call order.
  std::future<result<ingest_result>> ingest_async(std::vector<engine::event> events);

  /// Like try_ingest(), without waiting: `done` receives the result once the
  /// events are applied (or overloaded / shutting_down at once, on the
  /// calling thread). Calls from one thread apply in call order.
  void try_ingest_async(std::vector<engine::event> events, callback<ingest_result> done);

  // -- queries ------------------------------------------------------------------

  /// Asynchronous queries: `done` receives what the blocking call of the
  /// same name would return, at most call_timeout (plus an eighth) later.
  /// `done` runs on a service thread (or on the calling thread for an error
  /// found at once): keep it short, never block.
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
  result<std::vector<engine::recommendation>>
  recommend(const std::string& user, const engine::recommend_options& o = {});

  /// Returns up to n items most similar to `item` (empty for unknown items).
  result<std::vector<engine::recommendation>>
  similar(const std::string& item, std::size_t n, const std::string& category = {});

  /// Returns up to n most popular items (trending, decayed), best first.
  result<std::vector<engine::recommendation>> popular(std::size_t n,
                                                      const std::string& category = {});

  /// Returns up to n newest visible items (by creation time: the metadata
  /// timestamp, else the first event), newest first; score = seconds.
  result<std::vector<engine::recommendation>> latest(std::size_t n,
                                                     const std::string& category = {});

  /// Returns up to n users most similar to `user` after skipping `offset`,
  /// best first, as recommendations whose `item` is a user id: scored by the
  /// recent items they share with `user`, from the most recent users of
  /// each of its recent items (bounded cost; formula and what a restart
  /// keeps in engine/recent_users.hpp). Empty for an unknown user or one
  /// with no recent items. Errors: invalid_request, shard_unavailable.
  result<std::vector<engine::recommendation>> user_neighbors(const std::string& user,
                                                             std::size_t n,
                                                             std::size_t offset = 0);
  void user_neighbors_async(std::string user, std::size_t n, std::size_t offset,
                            recommendations_callback done);

  /// Returns recommendations for an anonymous session made of `events` (only
  /// their items, types, values and timestamps count; nothing is stored).
  /// Errors: invalid_request naming the first invalid event.
  result<std::vector<engine::recommendation>>
  session_recommend(std::vector<engine::event> events, const engine::recommend_options& o = {});

  // -- items and users ----------------------------------------------------------

  /// Returns an item's metadata (timestamp = creation time). Error
  /// not_found for an unknown or deleted item.
  result<engine::item_meta> item(const std::string& id);

  /// Returns up to n items after `cursor` (empty: from the first), in a fixed
  /// order, and the cursor of the next page (empty on the last page); see
  /// engine::item_model::page(). Error invalid_request for a cursor this call
  /// never returned.
  result<engine::item_page> items(const std::string& cursor, std::uint32_t n);

  /// Applies `patch` to an item's metadata and writes it to every item shard,
  /// ordered with every other item write. Returns the new metadata. Error
  /// not_found for an unknown item (nothing written).
  result<engine::item_meta> update_item(const std::string& id, const engine::item_patch& patch);

  /// Sets an item's categories, hidden flag, timestamp, labels and comment
  /// (on every item shard); brings a deleted item back. Returns false when the id collides with another item's key.
  result<bool> set_item(const engine::item_meta& meta);
  /// Deletes an item: it is never recommended again and item() answers
  /// not_found until set_item() brings it back. Returns whether any item
  /// shard knew it.
  result<bool> remove_item(const std::string& id);
  /// Returns a user's recent interactions, newest first.
  result<std::vector<engine::interaction>> user_recent(const std::string& user);
  /// Forgets a user's profile. Returns false if unknown.
  result<bool> forget_user(const std::string& user);
  /// Creates `user` if unknown (with no interactions) and applies `patch` to
  /// its metadata; durable before it returns when the service has a log.
  /// Returns true when the user was created, false when it existed.
  /// Errors: invalid_request (empty or over-long id, a field over
  /// engine::user_meta_limits, or the id collides with another user's key),
  /// not_found (patch.must_exist and the user is unknown), shard_unavailable.
  result<bool> put_user(const std::string& user, const engine::user_patch& patch);
  /// Returns the user (known=false when unknown or forgotten).
  result<engine::user_record> user(const std::string& user);
  /// Returns up to n users (1..10000) after `cursor` ("" = from the start)
  /// and the cursor of the next page ("" = this was the last). Every user
  /// present for a whole listing is returned exactly once. Errors:
  /// invalid_request (a cursor this service did not give, n out of range),
  /// shard_unavailable.
  result<user_listing> list_users(const std::string& cursor, std::size_t n);

  // -- feedback history (engine/feedback.hpp; written by ingest) ----------------

  /// Returns up to n records (1..10000) that pass `filter` after `cursor`
  /// ("" = from the start; filter.item and until_ms apply too), users in
  /// profile shard and slot order, each user's records oldest written first,
  /// and the cursor of the next page ("" = none left; a page may hold fewer
  /// than n records, even none, and still have a cursor). A record present
  /// for a whole listing and not overwritten is returned exactly once. Cost:
  /// requests of at most 4096 profile slots each (feedback_scan_users),
  /// shard after shard, until n records are found or the shards are done; a
  /// filter that few records pass can visit every user. Errors:
  /// invalid_request (a cursor this service did not give, n out of range),
  /// shard_unavailable.
  result<feedback_listing> list_feedback(const std::string& cursor, std::size_t n,
                                         const engine::feedback_filter& filter = {});
  /// Returns the user's records that pass `filter`, oldest written first
  /// (empty for an unknown user). One request to the user's profile shard.
  /// Errors: invalid_request (a bad id), shard_unavailable.
  result<std::vector<engine::feedback_record>> user_feedback(
    const std::string& user, const engine::feedback_filter& filter = {});
  /// Returns up to `max` (1..10000) records of `item` that pass `filter`
  /// (its item is replaced by `item`), over every user. Cost: a listing of
  /// the whole history filtered by item (see list_feedback): it visits
  /// every user of every profile shard, in steps of 4096 slots, unless
  /// `max` records are found first. Errors: invalid_request,
  /// shard_unavailable.
  result<std::vector<engine::feedback_record>> item_feedback(const std::string& item,
                                                             engine::feedback_filter filter,
                                                             std::size_t max);
  /// Deletes the user's records of an item (every type, or d.type), durable
  /// before it returns when the service has a log, and takes the item out of
  /// the user's scoring window and seen set when none is left (see
  /// engine::profile_store::delete_feedback for what stays). Returns how
  /// many records were deleted. Errors: invalid_request, shard_unavailable.
  result<std::uint64_t> delete_feedback(const engine::feedback_delete& d);

  // -- control ------------------------------------------------------------------

  /// Waits until everything acknowledged so far is applied on the item side
  /// too. Returns the number of events applied by the profile shards.
  result<std::uint64_t> flush();

  /// Like flush(), for the profile shards hosted by this node only (cluster
  /// mode; the same as flush() in one process): what a node does before it
  /// stops, without waiting on peers that may be stopping too.
  result<std::uint64_t> flush_local();

  /// Gathers counters from every actor.
  result<service_stats> stats();

  /// Writes a checkpoint now (every shard's state, then deletes the log
  /// segments and checkpoints it makes unnecessary). Errors: invalid_request
  /// without a data directory, shard_unavailable when a shard does not
  /// answer or the files cannot be written (the previous checkpoint stays).
  result<checkpoint_report> checkpoint();

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

  /// The options the service runs with (cluster mode: with this node's
  /// shards filled in).
  const service_options& options() const noexcept;

  /// The time of day the service uses (milliseconds since the epoch).
  std::int64_t now_ms() const;

  /// Stops accepting calls and shuts the topology down. Idempotent.
  void stop();

  /// The implementation (actors/service_impl.hpp); tests reach the actors
  /// through it.
  struct impl;
  impl& internals() noexcept { return *impl_; }

 private:
  std::unique_ptr<impl> impl_;
};

}  // namespace rtrec
