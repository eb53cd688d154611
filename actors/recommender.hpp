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
// Requests come from an actor (a response promise answers it) or, from the
// embedded engine in this process, as `query_atom, ticket, request` with no
// requester: the answer then goes to topology_config::queries.
//
// Its requests go at high priority, ahead of queued ingest batches, so a query
// waits at most for the batch a shard is applying. Any failed or timed-out
// step answers error_code::shard_unavailable. Timeouts are kept per query in
// a deadline_queue checked on a tick, not as CAF request timeouts.
#pragma once

#include <caf/all.hpp>

#include "actors/deadlines.hpp"
#include "actors/query_lane.hpp"
#include "actors/topology.hpp"
#include "engine/config.hpp"
#include "messages/messages.hpp"

namespace rtrec {

struct recommender_state {
  static inline const char* name = "rtrec.recommender";
  std::vector<profile_shard_actor> profiles;
  std::vector<item_shard_actor> items;
  caf::timespan timeout{};
  engine::model_config model;  ///< builds session profiles
  std::shared_ptr<query_sink> queries;  ///< see topology_config::queries
  deadline_queue deadlines;    ///< of the queries in flight (see deadlines.hpp)
  bool tick_armed = false;
  query_lane_coordinator* lane = nullptr;  ///< the scheduler's query lane, if it runs one
};

recommender_actor::behavior_type
recommender(recommender_actor::stateful_pointer<recommender_state> self, topology_config cfg,
            std::vector<profile_shard_actor> profiles, std::vector<item_shard_actor> items);

}  // namespace rtrec
