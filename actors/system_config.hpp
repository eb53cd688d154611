// The CAF actor system a service runs on, configured from its options:
// rtrec's message types, the worker count, the scheduler policy (the query
// lane for "priority", lean work sharing for "sharing", CAF's work stealing
// for "stealing"), and CAF's network layer in cluster mode.
#pragma once

#include <caf/all.hpp>

#include <memory>

#include "rtrec/options.hpp"

namespace rtrec {

/// Returns a configuration for `opts`. Throws std::invalid_argument naming
/// the field for an unusable setting (an unknown scheduler policy, a bad
/// cluster configuration).
std::unique_ptr<caf::actor_system_config> make_system_config(const service_options& opts);

}  // namespace rtrec
