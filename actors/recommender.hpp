// The recommender actor: answers top-N, similar-items and popular requests.
// It never holds model state and never blocks a shard:
//
//   recommend(user) --profile_atom--> owning profile shard   (view: recent, seen)
//                   --score_atom---> item shards in turn     (each adds its partial
//                                    scores to the earlier ones' sums; shard 0
//                                    adds the popular list; the last drops seen
//                                    items and names its best offset + n)
//                   fill and page                            (engine::merge_shard_page)
//
//   user neighbors(user) --profile_atom--> owning profile shard
//                   --user_nb_atom--> every item shard at once
//                   --names_atom--> the candidates' profile shards
//                   (user_neighbors.cpp; engine/recent_users.hpp)
//
// Requests come from an actor (a response promise answers it) or, from the
// embedding API in this process, as `query_atom, ticket, request` with no
// requester: the answer then goes to the topology's reply sink.
//
// Its requests go at high priority, ahead of queued ingest batches, so a query
// waits at most for the batch a shard is applying. Any failed or timed-out
// step answers error_code::shard_unavailable. A query's steps run under one
// deadline (actors/request.hpp); shards come from its shard_router.
#pragma once

#include <caf/all.hpp>

#include "actors/query_lane.hpp"
#include "actors/request.hpp"
#include "actors/shard_router.hpp"
#include "actors/tickets.hpp"
#include "engine/config.hpp"
#include "messages/messages.hpp"
#include "rtrec/options.hpp"

namespace rtrec {

struct recommender_state {
  static inline const char* name = "rtrec.recommender";
  shard_router router;
  engine::model_config model;        ///< builds session profiles
  std::shared_ptr<reply_sink> sink;  ///< see topology_context::sink
  request_deadlines deadlines;       ///< of the queries in flight
  query_lane_coordinator* lane = nullptr;  ///< the scheduler's query lane, if it runs one
};

recommender_actor::behavior_type
recommender(recommender_actor::stateful_pointer<recommender_state> self, topology_config cfg,
            shard_router router, std::shared_ptr<reply_sink> sink);

}  // namespace rtrec
