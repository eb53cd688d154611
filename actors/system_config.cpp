#include "actors/system_config.hpp"

#include <stdexcept>
#include <thread>

#include "actors/cluster.hpp"
#include "actors/lean_scheduler.hpp"
#include "actors/query_lane.hpp"
#include "messages/messages.hpp"

namespace rtrec {

std::unique_ptr<caf::actor_system_config> make_system_config(const service_options& opts) {
  auto cfg = std::make_unique<caf::actor_system_config>();
  register_messages(*cfg);
  // 0 means one worker per core. CAF's own default is at least 4 workers,
  // which on a 2-core machine puts 4 workers (plus the application's
  // threads) on 2 cores: measured, that doubles the recommend p99 while
  // ingesting (docs/benchmarks.md).
  const auto workers = opts.worker_threads > 0
                         ? opts.worker_threads
                         : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  cfg->set("scheduler.max-threads", workers);
  cfg->set("scheduler.max-throughput", std::max<std::size_t>(1, opts.max_throughput));
  const auto& policy = opts.scheduler_policy;
  if (policy != "priority" && policy != "sharing" && policy != "stealing")
    throw std::invalid_argument("service_options: scheduler_policy must be \"priority\", "
                                "\"sharing\" or \"stealing\", not \""
                                + policy + "\"");
  cfg->set("scheduler.policy", policy == "stealing" ? caf::atom("stealing") : caf::atom("sharing"));
  if (policy == "priority")
    install_query_lane(*cfg);
  else if (policy == "sharing")
    install_lean_sharing(*cfg);
  if (opts.cluster.enabled())
    configure_cluster(*cfg, opts.cluster);
  return cfg;
}

}  // namespace rtrec
