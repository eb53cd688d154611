// The profile shard actor: a thin wrapper over engine::profile_store for the
// users that hash to this shard. Its mailbox is the ordered update queue of
// those users: batches apply in arrival order, and a batch is acknowledged
// once applied (read-your-writes). The item side of every applied batch goes
// to every item shard as one delta_batch; when more than
// max_deltas_in_flight per item shard are unacknowledged, new ingest
// acknowledgements are held back (never the shard itself) until the item
// side catches up.
//
//   shard_batch --apply--> ack now            (item side keeping up)
//                     \--> ack deferred -----> released as deltas complete
#pragma once

#include <caf/all.hpp>

#include <deque>
#include <memory>

#include "actors/topology.hpp"
#include "engine/profile_store.hpp"
#include "messages/messages.hpp"

namespace rtrec {

struct profile_shard_state {
  static inline const char* name = "rtrec.profile_shard";
  std::unique_ptr<engine::profile_store> store;
  std::vector<item_shard_actor> items;
  std::uint32_t index = 0;
  std::uint64_t seq = 0;
  std::uint64_t deltas_in_flight = 0;
  std::uint64_t delta_failures = 0;
  std::uint64_t rejected = 0;
  std::uint64_t acks_deferred_total = 0;
  std::deque<std::pair<caf::typed_response_promise<shard_ack>, shard_ack>> deferred;
  caf::timespan timeout{};
  std::uint64_t max_in_flight = 0;
};

/// Behavior of profile shard `index`, feeding `items`.
profile_shard_actor::behavior_type
profile_shard(profile_shard_actor::stateful_pointer<profile_shard_state> self,
              topology_config cfg, std::uint32_t index, std::vector<item_shard_actor> items);

}  // namespace rtrec
