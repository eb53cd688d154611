// The steps a recommender's queries are made of, shared by its query files
// (recommender.cpp: recommend, session, similar, popular, latest;
// user_neighbors.cpp): a query's deadline, one request of a query, and the
// error a failed step answers. Private to the recommender.
#pragma once

#include <string>
#include <utility>

#include "actors/recommender.hpp"

namespace rtrec::recommender_steps {

using self_ptr = recommender_actor::stateful_pointer<recommender_state>;
using promise = caf::typed_response_promise<recommendations>;
using reply = reply_to<recommendations>;

/// shard_unavailable naming the query step that failed and why.
inline caf::error unavailable(self_ptr self, const char* step, const caf::error& err) {
  return caf::make_error(error_code::shard_unavailable,
                         std::string{step} + ": " + self->system().render(err));
}

/// Registers a query's deadline: when it passes first, `rp` gets
/// shard_unavailable naming `step`.
inline done_flag track(self_ptr self, reply rp, const char* step) {
  const auto timeout = self->state.deadlines.timeout();
  return self->state.deadlines.add(self, [=]() mutable {
    rp.deliver(caf::make_error(error_code::shard_unavailable,
                               std::string{step} + ": "
                                 + self->system().render(deadline_error(timeout))));
  });
}

/// One step of a query (step_request): high priority to a local shard
/// (queries overtake ingest batches in its mailbox, and the shard goes to the
/// scheduler's query lane), normal priority to a remote one. CAF 0.17 loses
/// the answer to a high-priority request that crosses a node (the response id
/// keeps the priority bit and matches no pending request; actor-framework
/// issue #1299), so remote queries fall back to arrival order in the remote
/// shard's mailbox. A failed step answers shard_unavailable naming `step`.
template <class Reply, class Dest, class Ok, class... Ts>
void ask(self_ptr self, done_flag done, reply rp, const char* step, const Dest& dest, Ok ok,
         Ts&&... xs) {
  const bool local = dest.node() == self->node();
  if (local)
    expedite(self->state.lane, dest);
  step_request<Reply>(
    self, std::move(done), dest, local, std::move(ok),
    [=](caf::error& err) mutable { rp.deliver(unavailable(self, step, err)); },
    std::forward<Ts>(xs)...);
}

/// The users most similar to x.user (user_neighbors.cpp), through `rp`.
void user_neighbors(self_ptr self, reply rp, user_neighbors_request x);

}  // namespace rtrec::recommender_steps
