// The schedulers make_system_config() installs: "priority" runs the query
// lane and "sharing" lean work sharing, both on lean workers (no per-resume
// logging cast, actors/lean_worker.hpp); "stealing" runs CAF's own. Each
// must run actors across its workers and shut down: a ring of actors passes
// a token around many times and the test waits on the last actor's explicit
// signal (no sleeps), then the system is destroyed (its workers joined).
#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <string>
#include <type_traits>
#include <vector>

#include <caf/all.hpp>

#include "actors/lean_scheduler.hpp"
#include "actors/query_lane.hpp"
#include "actors/system_config.hpp"

namespace {

using namespace rtrec;

static_assert(std::is_base_of_v<lean_worker<lean_sharing_policy>,
                                caf::scheduler::worker<lean_sharing_policy>>);
static_assert(std::is_base_of_v<lean_worker<query_lane_policy>,
                                caf::scheduler::worker<query_lane_policy>>);

using hop_atom = caf::atom_constant<caf::atom("lshop")>;

// Passes the token (hops left) to `next`; the actor that takes the last hop
// fulfils `done` with the number of hops it saw.
caf::behavior ring_member(caf::event_based_actor* self, std::shared_ptr<std::promise<int>> done) {
  auto next = std::make_shared<caf::actor>();
  auto seen = std::make_shared<int>(0);
  return {
    [=](caf::actor n) { *next = std::move(n); },
    [=](hop_atom, int left) {
      ++*seen;
      if (left == 0)
        done->set_value(*seen);
      else
        self->send(*next, hop_atom::value, left - 1);
    },
  };
}

void run_ring(const std::string& policy, bool lane, bool lean_sharing) {
  service_options o;
  o.scheduler_policy = policy;
  o.worker_threads = 2;
  auto cfg = make_system_config(o);
  caf::actor_system sys{*cfg};
  EXPECT_EQ(query_lane_of(sys) != nullptr, lane) << policy;
  EXPECT_EQ(dynamic_cast<lean_sharing_coordinator*>(&sys.scheduler()) != nullptr, lean_sharing)
    << policy;
  constexpr int members = 16;
  constexpr int hops = 20000;
  auto done = std::make_shared<std::promise<int>>();
  auto result = done->get_future();
  std::vector<caf::actor> ring;
  for (int k = 0; k < members; ++k)
    ring.push_back(sys.spawn(ring_member, done));
  for (int k = 0; k < members; ++k)
    caf::anon_send(ring[k], ring[(k + 1) % members]);
  // Each member got its successor before the token (one sender: in order).
  caf::anon_send(ring[0], hop_atom::value, hops);
  // The token visits hops + 1 members; the one that takes the last hop has
  // seen ceil((hops + 1) / members) of them.
  EXPECT_EQ(result.get(), (hops + 1 + members - 1) / members) << policy;
  for (auto& a : ring)
    caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

TEST(LeanScheduler, PriorityRunsTheQueryLaneOnLeanWorkers) {
  run_ring("priority", true, false);
}

TEST(LeanScheduler, SharingRunsLeanWorkSharing) {
  run_ring("sharing", false, true);
}

TEST(LeanScheduler, StealingRunsCafsOwnScheduler) {
  run_ring("stealing", false, false);
}

}  // namespace
