// The item shard actor: a thin wrapper over engine::item_model. Applies delta
// batches from every profile shard (in each sender's order), answers partial
// candidate scores, similar items, popularity and item metadata changes, and
// measures the item-side lag.
#pragma once

#include <caf/all.hpp>

#include "engine/histogram.hpp"
#include "engine/item_model.hpp"
#include "actors/topology.hpp"
#include "engine/scoring.hpp"
#include "messages/messages.hpp"

namespace rtrec {

struct item_shard_state {
  static inline const char* name = "rtrec.item_shard";
  std::unique_ptr<engine::item_model> model;
  std::uint32_t index = 0;
  std::uint64_t batches = 0;
  /// Per profile shard: seq of the last delta batch applied (snapshots
  /// record it so recovery replays exactly the rest).
  std::vector<std::uint64_t> applied;
  engine::histogram lag;
};

/// Behavior of item shard `index` of `count` under `cfg` (starting from
/// cfg.recovered's model for this shard when there is one).
item_shard_actor::behavior_type
item_shard(item_shard_actor::stateful_pointer<item_shard_state> self, topology_config cfg,
           std::uint32_t index, std::uint32_t count);

}  // namespace rtrec
