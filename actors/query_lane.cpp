#include "actors/query_lane.hpp"

#include <algorithm>

namespace rtrec {

void query_lane_policy::add_query_actor(coordinator_data& d, const caf::resumable* job) {
  std::unique_lock<std::mutex> guard(d.lock);
  if (std::find(d.query_actors.begin(), d.query_actors.end(), job) == d.query_actors.end())
    d.query_actors.push_back(job);
}

void query_lane_policy::expedite(coordinator_data& d, const caf::resumable* job) {
  std::unique_lock<std::mutex> guard(d.lock);
  if (std::find(d.query_actors.begin(), d.query_actors.end(), job) != d.query_actors.end())
    return;
  if (auto i = std::find(d.normal.begin(), d.normal.end(), job); i != d.normal.end()) {
    d.urgent.splice(d.urgent.end(), d.normal, i);
    ++d.stats.promotions;
    return;
  }
  if (std::find(d.urgent.begin(), d.urgent.end(), job) != d.urgent.end())
    return;
  // Running or blocked: it takes the urgent queue at its next enqueue.
  if (std::find(d.marks.begin(), d.marks.end(), job) != d.marks.end())
    return;
  if (d.marks.size() >= max_marks)
    d.marks.erase(d.marks.begin());
  d.marks.push_back(job);
}

bool query_lane_policy::marked(coordinator_data& d, const caf::resumable* job) {
  std::unique_lock<std::mutex> guard(d.lock);
  return std::find(d.marks.begin(), d.marks.end(), job) != d.marks.end();
}

bool query_lane_policy::takes_urgent(coordinator_data& d, const caf::resumable* job) {
  if (auto i = std::find(d.marks.begin(), d.marks.end(), job); i != d.marks.end()) {
    d.marks.erase(i);
    return true;
  }
  return std::find(d.query_actors.begin(), d.query_actors.end(), job) != d.query_actors.end();
}

void install_query_lane(caf::actor_system_config& cfg) {
  cfg.module_factories.push_back([](caf::actor_system& sys) -> caf::actor_system::module* {
    return new query_lane_coordinator(sys);
  });
}

query_lane_coordinator* query_lane_of(caf::actor_system& sys) {
  return dynamic_cast<query_lane_coordinator*>(&sys.scheduler());
}

const caf::resumable* job_of(caf::abstract_actor* ptr) {
  // Local scheduled actors are resumables; remote proxies and blocking
  // actors are not.
  return ptr == nullptr ? nullptr : dynamic_cast<const caf::resumable*>(ptr);
}

query_lane_stats query_lane_counters(query_lane_coordinator* lane) {
  if (lane == nullptr)
    return {};
  auto& d = lane->data();
  std::unique_lock<std::mutex> guard(d.lock);
  return d.stats;
}

}  // namespace rtrec
