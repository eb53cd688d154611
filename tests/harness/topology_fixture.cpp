#include "tests/harness/topology_fixture.hpp"

#include "actors/util.hpp"

namespace rtrec::testing {

engine::event ev(std::string user, std::string item, engine::event_type type, double value,
                 std::int64_t timestamp_ms) {
  engine::event e;
  e.user = std::move(user);
  e.item = std::move(item);
  e.type = type;
  e.value = value;
  e.timestamp = timestamp_ms;
  return e;
}

topology_fixture::topology_fixture() {
  register_messages(cfg_);
  cfg_.set("scheduler.policy", caf::atom("testing"));
  cfg_.set("logger.verbosity", caf::atom("quiet"));
  sys_ = std::make_unique<caf::actor_system>(cfg_);
  sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
  self_ = std::make_unique<caf::scoped_actor>(*sys_, true);
}

topology_fixture::~topology_fixture() {
  stop();
  self_.reset();
  run();
}

topology_config topology_fixture::default_config() {
  topology_config cfg;
  cfg.ingestors = 2;
  cfg.profile_shards = 3;
  cfg.item_shards = 2;
  cfg.recommenders = 2;
  cfg.model.popular_refresh_events = 0;
  cfg.request_timeout = std::chrono::seconds(1);
  return cfg;
}

void topology_fixture::start(topology_config cfg, topology_context ctx) {
  topo_ = spawn_topology(*sys_, cfg, ctx);
  run();
}

void topology_fixture::stop() {
  stop_topology(topo_);
  topo_ = topology{};
  run();
}

std::size_t topology_fixture::run() {
  return sched_->run();
}

bool topology_fixture::run_once() {
  return sched_->try_run_once();
}

std::size_t topology_fixture::advance_time(caf::timespan d) {
  auto fired = sched_->advance_time(d);
  run();
  return fired;
}

std::size_t topology_fixture::fire_timeouts() {
  auto fired = sched_->trigger_timeouts();
  run();
  return fired;
}

void topology_fixture::kill_profile_shard(std::size_t shard) {
  caf::anon_send_exit(topo_.profiles.at(shard), caf::exit_reason::kill);
  run();
}

void topology_fixture::kill_item_shard(std::size_t shard) {
  caf::anon_send_exit(topo_.items.at(shard), caf::exit_reason::kill);
  run();
}

std::size_t topology_fixture::queued(const caf::actor_addr& addr) const {
  auto ptr = caf::actor_cast<caf::strong_actor_ptr>(addr);
  if (!ptr)
    return 0;
  auto* sa = dynamic_cast<caf::scheduled_actor*>(ptr->get());
  return sa == nullptr ? 0 : sa->mailbox().size();
}

caf::expected<ingest_result> topology_fixture::ingest(std::vector<engine::event> events, int via) {
  auto idx = via >= 0 ? static_cast<std::size_t>(via) : next_ingestor_++;
  return ask<ingest_result>(topo_.ingestors.at(idx % topo_.ingestors.size()),
                         ingest_request{std::move(events)});
}


caf::expected<std::vector<engine::recommendation>>
topology_fixture::recommend(const std::string& user, std::uint32_t n, const std::string& category,
                            std::uint32_t offset, bool exclude_seen) {
  auto& r = topo_.recommenders.at(next_recommender_++ % topo_.recommenders.size());
  return items_of(ask<recommendations>(r, recommend_request{user, n, offset, category, exclude_seen}));
}

caf::expected<std::vector<engine::recommendation>>
topology_fixture::similar(const std::string& item, std::uint32_t n) {
  auto& r = topo_.recommenders.at(next_recommender_++ % topo_.recommenders.size());
  return items_of(ask<recommendations>(r, similar_atom::value, item, n, std::string{}));
}

caf::expected<std::vector<engine::recommendation>> topology_fixture::popular(std::uint32_t n) {
  auto& r = topo_.recommenders.at(next_recommender_++ % topo_.recommenders.size());
  return items_of(ask<recommendations>(r, popular_atom::value, n, std::string{}));
}

caf::expected<std::vector<engine::recommendation>>
topology_fixture::latest(std::uint32_t n, const std::string& category) {
  auto& r = topo_.recommenders.at(next_recommender_++ % topo_.recommenders.size());
  return items_of(ask<recommendations>(r, latest_atom::value, n, category));
}

caf::expected<std::vector<engine::recommendation>>
topology_fixture::user_neighbors(const std::string& user, std::uint32_t n, std::uint32_t offset) {
  auto& r = topo_.recommenders.at(next_recommender_++ % topo_.recommenders.size());
  return items_of(ask<recommendations>(r, user_neighbors_request{user, n, offset}));
}

caf::expected<std::vector<engine::recommendation>>
topology_fixture::session(std::vector<engine::event> events, std::uint32_t n) {
  auto& r = topo_.recommenders.at(next_recommender_++ % topo_.recommenders.size());
  return items_of(ask<recommendations>(r, session_request{std::move(events), n, 0, {}}));
}

caf::expected<engine::item_meta> topology_fixture::item(const std::string& id, std::size_t shard) {
  return ask<engine::item_meta>(topo_.items.at(shard), item_atom::value, id);
}

caf::expected<engine::profile_view> topology_fixture::profile(const std::string& user) {
  auto owner = engine::shard_of(engine::hash_id(user),
                                static_cast<std::uint32_t>(topo_.profiles.size()));
  return ask<engine::profile_view>(topo_.profiles[owner], profile_atom::value, user);
}

caf::expected<bool> topology_fixture::set_item(const engine::item_meta& meta) {
  bool all = true;
  for (auto& shard : topo_.items) {
    meta_op op;  // seq 0: applied unchecked, as from a writer without a log
    op.kind = meta_op::set;
    op.meta = meta;
    auto r = ask<bool>(shard, op);
    if (!r)
      return r;
    all = all && *r;
  }
  return all;
}

caf::expected<std::uint64_t> topology_fixture::flush() {
  std::uint64_t total = 0;
  for (auto& shard : topo_.profiles) {
    auto r = ask<std::uint64_t>(shard, flush_atom::value);
    if (!r)
      return r;
    total += *r;
  }
  return total;
}

caf::expected<shard_stats> topology_fixture::profile_stats(std::size_t shard) {
  return ask<shard_stats>(topo_.profiles.at(shard), stats_atom::value);
}

caf::expected<item_shard_stats> topology_fixture::item_stats(std::size_t shard) {
  return ask<item_shard_stats>(topo_.items.at(shard), stats_atom::value);
}

caf::expected<ingest_stats> topology_fixture::ingestor_stats(std::size_t ingestor) {
  return ask<ingest_stats>(topo_.ingestors.at(ingestor), stats_atom::value);
}

}  // namespace rtrec::testing
