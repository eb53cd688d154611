#include "actors/lean_scheduler.hpp"

namespace rtrec {

void install_lean_sharing(caf::actor_system_config& cfg) {
  cfg.module_factories.push_back([](caf::actor_system& sys) -> caf::actor_system::module* {
    return new lean_sharing_coordinator(sys);
  });
}

}  // namespace rtrec
