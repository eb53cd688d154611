// A call into the actors from a thread outside them (the embedding API's
// control calls: stats, flush, item reads, checkpoints): send a request,
// block this thread until the reply or the deadline. The actors themselves
// never block; they use actors/request.hpp.
#pragma once

#include <caf/all.hpp>

#include <string>
#include <utility>

#include "messages/messages.hpp"

namespace rtrec {

/// Errors of rtrec's own category pass through; anything else (a timeout, a
/// dead actor) means the shard could not answer: shard_unavailable naming
/// `what`.
inline caf::error as_rtrec_error(caf::actor_system& sys, const char* what,
                                 const caf::error& err) {
  if (err.category() == caf::atom("rtrec"))
    return err;
  return caf::make_error(error_code::shard_unavailable, std::string{what} + ": " + sys.render(err));
}

/// Sends xs to `dest` and waits up to `timeout` for a T. A null `dest` (a
/// shard on an unreachable node) fails at once with shard_unavailable.
template <class T, class Dest, class... Ts>
caf::expected<T> blocking_call(caf::actor_system& sys, caf::timespan timeout, const Dest& dest,
                               Ts&&... xs) {
  if (!dest)
    return caf::make_error(error_code::shard_unavailable,
                           "the shard's node is unreachable (see /api/cluster)");
  caf::expected<T> result{caf::make_error(error_code::shard_unavailable, "no answer")};
  caf::scoped_actor self{sys};
  self->request(dest, timeout, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = as_rtrec_error(sys, "call", err); });
  return result;
}

}  // namespace rtrec
