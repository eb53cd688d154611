// A one-shot worker actor for blocking work (reading a data directory) that
// must not hold a scheduler thread: on its own thread, or, under the
// deterministic test scheduler (scheduler.policy = testing), one more
// scheduled actor so that tests stay deterministic. Used by the resyncs
// (actors/profile_resync.cpp, actors/meta_resync.cpp).
#pragma once

#include <caf/all.hpp>

#include <utility>

namespace rtrec {

/// Spawns `fun(self, xs...)` as a worker of `parent`'s system.
template <class Parent, class Fun, class... Ts>
void spawn_worker(Parent* parent, Fun fun, Ts&&... xs) {
  if (caf::get_or(parent->system().config(), "scheduler.policy", caf::atom("stealing"))
      == caf::atom("testing"))
    parent->spawn(fun, std::forward<Ts>(xs)...);
  else
    parent->template spawn<caf::detached>(fun, std::forward<Ts>(xs)...);
}

}  // namespace rtrec
