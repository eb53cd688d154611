// The ingestor actor: validates each event of a request, routes the valid
// ones to the profile shard that owns their user (shard_router; one
// shard_batch per shard and up to max_batch events, arrival order kept), and
// answers once every shard has answered. Every event is either applied
// (accepted), refused as invalid (rejected, with its reason) or not
// delivered (failed: shard_unavailable when its shard is unreachable, dead
// or timed out, storage_failed when its log refused it): none disappears
// silently. Both kinds are counted by reason.
//
// Requests come from an actor (a response promise answers) or from the
// embedding API as (submit_atom, ticket, ingest_request), answered through
// the topology's reply sink. Requests to shards are timed_request()s
// (actors/request.hpp).
#pragma once

#include <caf/all.hpp>

#include "actors/request.hpp"
#include "actors/shard_router.hpp"
#include "actors/tickets.hpp"
#include "messages/messages.hpp"
#include "rtrec/options.hpp"

namespace rtrec {

struct ingestor_state {
  static inline const char* name = "rtrec.ingestor";
  shard_router router;  ///< profile shards only
  engine::validation_limits limits;
  std::size_t max_batch = 256;
  ingest_stats stats;
  std::shared_ptr<reply_sink> sink;
  request_deadlines deadlines;
};

ingestor_actor::behavior_type
ingestor(ingestor_actor::stateful_pointer<ingestor_state> self, topology_config cfg,
         shard_router router, std::shared_ptr<reply_sink> sink);

}  // namespace rtrec
