// CAF's work-sharing scheduler (one job queue every worker takes from), run
// by lean workers (actors/lean_worker.hpp: no per-resume logging cast).
// service_options::scheduler_policy = "sharing" installs it; "priority" is
// the query lane (actors/query_lane.hpp, lean workers too), "stealing"
// CAF's own work-stealing scheduler.
#pragma once

#include <caf/actor_system_config.hpp>
#include <caf/policy/work_sharing.hpp>
#include <caf/scheduler/coordinator.hpp>

#include "actors/lean_worker.hpp"

namespace rtrec {

/// caf::policy::work_sharing under its own name, so that its workers can be
/// lean ones.
class lean_sharing_policy : public caf::policy::work_sharing {};

}  // namespace rtrec

RTREC_LEAN_WORKER(rtrec::lean_sharing_policy);

namespace rtrec {

using lean_sharing_coordinator = caf::scheduler::coordinator<lean_sharing_policy>;

/// Makes systems built from `cfg` run lean_sharing_coordinator (whatever
/// scheduler.policy says). Call before constructing the actor_system.
void install_lean_sharing(caf::actor_system_config& cfg);

}  // namespace rtrec
