#include "actors/topology.hpp"

#include "actors/ingestor.hpp"
#include "actors/item_shard.hpp"
#include "actors/profile_shard.hpp"
#include "actors/query_lane.hpp"
#include "actors/recommender.hpp"

namespace rtrec {

std::int64_t system_wall_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(
           std::chrono::system_clock::now().time_since_epoch())
    .count();
}

topology spawn_topology(caf::actor_system& sys, const topology_config& cfg,
                        const topology_context& ctx_in) {
  auto ctx = ctx_in;
  if (!ctx.clock)
    ctx.clock = system_wall_ms;
  topology t;
  t.config = cfg;
  const auto items = std::max<std::uint32_t>(1, cfg.item_shards);
  const auto profiles = std::max<std::uint32_t>(1, cfg.profile_shards);
  for (std::uint32_t m = 0; m < items; ++m)
    t.items.push_back(is_local(cfg.local_items, m) ? sys.spawn(item_shard, cfg, m, items, ctx)
                                                   : item_shard_actor{});
  for (std::uint32_t s = 0; s < profiles; ++s)
    t.profiles.push_back(is_local(cfg.local_profiles, s)
                           ? sys.spawn(profile_shard, cfg, s, t.items, ctx)
                           : profile_shard_actor{});
  const shard_router routes{t.profiles, t.items};
  for (std::uint32_t i = 0; i < std::max<std::uint32_t>(1, cfg.ingestors); ++i)
    t.ingestors.push_back(sys.spawn(ingestor, cfg, shard_router{t.profiles, {}}, ctx.sink));
  for (std::uint32_t r = 0; r < std::max<std::uint32_t>(1, cfg.recommenders); ++r)
    t.recommenders.push_back(cfg.detach_recommenders
                               ? sys.spawn<caf::detached>(recommender, cfg, routes, ctx.sink)
                               : sys.spawn(recommender, cfg, routes, ctx.sink));
  // Recommenders hold no ingest work: every turn of theirs is a query's.
  if (auto* lane = query_lane_of(sys); lane != nullptr && !cfg.detach_recommenders)
    for (const auto& r : t.recommenders)
      mark_query_actor(lane, r);
  return t;
}

void stop_topology(topology& t) {
  auto stop = [](auto& handles) {
    for (auto& h : handles)
      if (h)
        caf::anon_send_exit(h, caf::exit_reason::user_shutdown);
  };
  stop(t.ingestors);
  stop(t.recommenders);
  stop(t.profiles);
  stop(t.items);
}

}  // namespace rtrec
