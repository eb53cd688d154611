// User neighbors ("users like this one", Gorse's user-to-user "neighbors"),
// computed incrementally with bounded cost from the item side:
//
//   state    each item shard keeps, for the items it owns, the K users who
//            interacted with the item most recently (recent_users; K =
//            model_config::item_users_max), updated from the delta batches
//            it already receives (item_delta_batch::user). Per event O(K).
//
//   query    for user u with recent items R(u) (profile view: item i with
//            query weight q_u(i) = event weight * recency_decay^position):
//
//              score(u, v) = sum over i in R(u) with v in users(i) of
//                            q_u(i) * w_v(i) / log2(2 + events(i))
//
//            w_v(i): the largest weight of v's events on i (its entry in
//            users(i)); events(i): the item's event count (the model's
//            replica), so an item everyone touched says little about two
//            users (Gorse's "items" user-to-user weighs common items by IDF
//            the same way). u itself is never its own neighbor. Candidates
//            are exactly the users listed for u's recent items: at most
//            recent_max * K, read in O(recent_max * K) on the item shards.
//
// Who is listed: a user enters an item's list on a positive event (its
// entry keeps the latest event time and the largest weight) when the list
// has fewer than K users or the user is more recent, by (time, user key),
// than the least recent listed one, which then leaves (and is forgotten: if
// it comes back, its weight starts anew); a dislike takes the user off (the
// place stays empty until another user comes). Without evictions the lists
// are a function of the events, whatever order the item shards receive the
// profile shards' batches in; with them, of the events in arrival order.
//
// The lists are derived state, not in checkpoints: recovery rebuilds them
// from the recovered profiles (every user's recent window, rebuild()), so
// after a restart an item lists the K most recent users among those who
// still hold it in their window of recent_max items; a user who has pushed
// the item out of its window since is no longer listed (an uninterrupted run
// keeps it until K more recent users come). In a cluster a restarted item
// shard gets the entries of the other nodes' profile shards the same way,
// by asking each for a seed (recent_users_seed()).
#pragma once

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#include "engine/event.hpp"
#include "engine/model_types.hpp"

namespace rtrec::engine {

class item_model;
class profile_store;

/// One listed user of an item.
struct user_mark {
  key_t user = 0;
  std::int64_t timestamp = 0;  ///< the latest of the user's events on the item
  float weight = 0.0f;         ///< the largest of their weights
};

/// The K most recent users of each item (of the items given to it).
class recent_users {
 public:
  /// k = 0 keeps nothing (user neighbors off).
  explicit recent_users(std::size_t k) : k_(k) {}

  /// Records a positive event of `user` on `item` (see the file comment).
  void add(key_t item, key_t user, std::int64_t timestamp, float weight);
  /// Takes `user` off `item`'s list (a dislike). No-op if not listed.
  void remove(key_t item, key_t user);
  /// Applies the events of `batch` whose item `owns(item)` is true; the
  /// batch must carry users (batch.user, one per event).
  template <class Owns>
  void apply(const item_delta_batch& batch, Owns&& owns) {
    apply(batch, owns, 0, batch.size());
  }
  /// The same for events [from, to) of `batch` only (consecutive ranges
  /// apply the batch as one call does).
  template <class Owns>
  void apply(const item_delta_batch& batch, Owns&& owns, std::size_t from, std::size_t to) {
    if (k_ == 0 || batch.user.size() != batch.item.size())
      return;
    // The lists are spread over far more memory than the caches hold: an
    // event's table slot is requested `far` events ahead and its list (found
    // then) `near` events ahead, so the misses overlap instead of following
    // one another (docs/benchmarks.md, "recent users").
    constexpr std::size_t far = 16, near = 8;
    const std::size_t n = batch.size();
    for (std::size_t k = from; k < std::min(to, n); ++k) {
      if (k + far < n && owns(batch.item[k + far]))
        lists_.prefetch(batch.item[k + far]);
      if (k + near < n && owns(batch.item[k + near]))
        prefetch_list(batch.item[k + near]);
      if (!owns(batch.item[k]))
        continue;
      if (batch.flags[k] & item_delta_batch::negative)
        remove(batch.item[k], batch.user[k]);
      else
        add(batch.item[k], batch.user[k], batch.timestamp[k], batch.weight[k]);
    }
  }

  /// The users listed for `item` (in no particular order), or nullptr.
  const std::vector<user_mark>* users_of(key_t item) const;

  std::size_t k() const noexcept { return k_; }
  std::size_t items() const noexcept { return lists_.size(); }
  std::size_t entries() const noexcept { return entries_; }
  /// Users that left a full list for a more recent one.
  std::uint64_t evictions() const noexcept { return evictions_; }
  std::size_t memory_bytes() const noexcept;

 private:
  /// Requests the cache lines of `item`'s list, if it has one.
  void prefetch_list(key_t item) const;

  std::size_t k_;
  absl::flat_hash_map<key_t, std::vector<user_mark>> lists_;
  std::size_t entries_ = 0;
  std::uint64_t evictions_ = 0;
};

/// The entries of `store`'s recent windows whose item is owned by item shard
/// `m` of `count`, as a batch of (item, user, timestamp, weight), flags 0:
/// what a restarted item shard asks of each profile shard on another node,
/// the entries recovery adds from a local store (apply() takes
/// it; docs/replication.md, "Recent users come back by a seed"). Holds
/// 28 bytes per entry: recovery adds a local store's entries one by one
/// instead.
item_delta_batch recent_users_seed(const profile_store& store, std::uint32_t m,
                                   std::uint32_t count);

/// recommender -> item shard: the asking user's recent items and their
/// query weights (profile_view::recent, recent_weight).
struct user_neighbor_query {
  std::vector<key_t> items;
  std::vector<float> weights;
};

/// item shard -> recommender: for query item k, the contributions of its
/// listed users are users[end[k-1] .. end[k]) (end[-1] = 0; empty for the
/// items the shard does not own). end has one entry per query item.
struct user_neighbor_parts {
  std::vector<std::uint32_t> end;
  std::vector<scored> users;  ///< key = user, score = its contribution
};

/// The parts of the query items `model` owns: contribution of user v via
/// item i = weight * w_v(i) / log2(2 + events(i)).
user_neighbor_parts user_neighbor_contributions(const recent_users& index,
                                                const item_model& model,
                                                const user_neighbor_query& q);

/// Sums the contributions of `parts` (one per item shard, any order) in
/// query item order, leaves `self` out and returns every candidate, best
/// first (better(): score, then smaller key). The sums do not depend on the
/// number of shards or their order.
std::vector<scored> rank_user_neighbors(const std::vector<user_neighbor_parts>& parts,
                                        key_t self);

}  // namespace rtrec::engine
