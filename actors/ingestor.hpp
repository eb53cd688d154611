// The ingestor actor: validates each event of a request, routes the valid
// ones to the profile shard that owns their user (hash of the user id over S
// shards, one shard_batch per shard, arrival order kept), and acknowledges the
// request once every shard has answered. An event is either acknowledged as
// applied or listed as rejected with its reason (shard_unavailable when its
// shard is dead or timed out): none disappears silently. Rejections are
// counted by reason. Requests to shards carry no CAF timeout; their
// deadlines are checked on a periodic tick (actors/deadlines.hpp).
#pragma once

#include <caf/all.hpp>

#include "actors/deadlines.hpp"
#include "actors/topology.hpp"
#include "messages/messages.hpp"

namespace rtrec {

struct ingestor_state {
  static inline const char* name = "rtrec.ingestor";
  std::vector<profile_shard_actor> shards;
  engine::validation_limits limits;
  caf::timespan timeout{};
  std::size_t max_batch = 256;
  ingest_stats stats;
  /// Deadlines of the shard batches in flight (no CAF timer per request:
  /// see deadlines.hpp).
  deadline_queue deadlines;
  bool tick_armed = false;
};

ingestor_actor::behavior_type
ingestor(ingestor_actor::stateful_pointer<ingestor_state> self, topology_config cfg,
         std::vector<profile_shard_actor> shards);

}  // namespace rtrec
