// The item shard actor: a thin wrapper over engine::item_model. Applies delta
// batches from every profile shard (in each sender's order), answers partial
// candidate scores, similar items, popularity and item metadata changes, and
// measures the item-side lag. It also keeps the recent users of the items it
// owns (engine::recent_users) and answers user-neighbor contributions.
#pragma once

#include <caf/all.hpp>

#include <deque>
#include <memory>

#include "engine/histogram.hpp"
#include "engine/item_model.hpp"
#include "engine/recent_users.hpp"
#include "actors/topology.hpp"
#include "engine/scoring.hpp"
#include "messages/messages.hpp"

namespace rtrec {

struct item_shard_state {
  static inline const char* name = "rtrec.item_shard";
  std::shared_ptr<engine::item_model> model;  // shared with a snapshot's serializer thread
  /// The most recent users of the items this shard owns: derived state, not
  /// in snapshots (recovery rebuilds it from the profiles).
  engine::recent_users users{0};
  std::uint32_t index = 0;
  std::uint64_t batches = 0;
  std::uint64_t name_lookups = 0;
  /// Per profile shard: seq of the last delta batch applied (snapshots
  /// record it so recovery replays exactly the rest).
  std::vector<std::uint64_t> applied;
  engine::histogram lag;
  /// A snapshot in progress: a thread serializes the model while the shard
  /// answers queries and holds back delta batches and flushes (released in
  /// order when it is done). Item metadata writes never arrive meanwhile:
  /// the item writer takes the snapshots between two writes.
  bool snapshotting = false;
  struct held_op {
    delta_batch delta;
    bool flush = false;
    caf::typed_response_promise<std::uint64_t> rp;
  };
  std::deque<held_op> held;
  caf::typed_response_promise<shard_snapshot> snapshot_rp;
  std::uint64_t snapshot_pause_ns = 0;
};

/// Behavior of item shard `index` of `count` under `cfg` (starting from
/// ctx.recovered's model for this shard when there is one).
item_shard_actor::behavior_type
item_shard(item_shard_actor::stateful_pointer<item_shard_state> self, topology_config cfg,
           std::uint32_t index, std::uint32_t count, topology_context ctx);

}  // namespace rtrec
