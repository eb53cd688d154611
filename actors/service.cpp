// rtrec::service (include/rtrec/rtrec.hpp): start and stop, ingest and
// queries. Items, users and control calls are in service_control.cpp.
#include "actors/service_impl.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <stdexcept>
#include <thread>

#include "actors/blocking_call.hpp"
#include "actors/item_writer.hpp"
#include "actors/system_config.hpp"

namespace rtrec {

namespace {

void check_counts(const topology_config& tc) {
  if (tc.profile_shards == 0 || tc.item_shards == 0 || tc.ingestors == 0 || tc.recommenders == 0)
    throw std::invalid_argument("service_options: shard, ingestor and recommender counts must "
                                "each be at least 1");
}

// Recovers `dur.data_dir` (the newest valid checkpoint plus the log) for
// the topology `tc`; the log continues after what was found.
storage::recovery_options recovery_options_of(const durability_options& dur,
                                              const topology_config& tc,
                                              const cluster_options& cluster) {
  storage::recovery_options ro;
  if (cluster.enabled()) {
    ro.node = cluster.self;
    ro.nodes = static_cast<std::uint32_t>(cluster.nodes.size());
  }
  ro.data_dir = dur.data_dir;
  ro.policy = dur.recovery;
  ro.profile_shards = tc.profile_shards;
  ro.item_shards = tc.item_shards;
  ro.model = tc.model;
  ro.dedup_ids_per_shard = dedup_ids_per_shard(tc);
  ro.dedup_age_ms = tc.dedup_age.count();
  ro.meta_writer = is_local(tc.local_items, 0);  // docs/replication.md, "Stage 1b"
  return ro;
}

std::shared_ptr<storage::recovered_state> recover(const durability_options& dur,
                                                  const storage::recovery_options& ro) {
  auto rec = std::make_shared<storage::recovered_state>(storage::recover(ro));
  const auto& r = rec->report;
  for (const auto& w : r.warnings)
    spdlog::warn("{}", w);
  spdlog::info("recovered {}: {} (checkpoint {}, {} events), {} log records replayed "
               "({} events applied, {} already covered), {} users, {} items, {:.0f} ms load + "
               "{:.0f} ms replay",
               dur.data_dir, r.from_snapshot ? "from a checkpoint" : "from the log alone",
               r.checkpoint_id, r.events_in_snapshot, r.records_replayed, r.events_replayed,
               r.records_skipped, r.users, r.items, r.load_ms, r.replay_ms);
  return rec;
}

std::shared_ptr<storage::wal> open_wal(const durability_options& dur,
                                       storage::recovered_state& rec) {
  storage::wal_options wo;
  wo.dir = storage::wal_dir(dur.data_dir);
  wo.sync = dur.sync;
  wo.segment_bytes = dur.segment_bytes;
  wo.ops = dur.file_ops;
  auto wal = std::make_shared<storage::wal>(wo, std::move(rec.segments));
  rec.segments.clear();
  return wal;
}

// What a cluster node's checkpointer needs to keep its log (none in one
// process).
std::optional<checkpointer::cluster_link> cluster_link_of(const caf::actor& manager,
                                                          const std::shared_ptr<cluster_shared>& cs,
                                                          const topology_config& tc) {
  if (!cs)
    return std::nullopt;
  std::vector<bool> local_items = tc.local_items;
  local_items.resize(tc.item_shards, local_items.empty());
  return checkpointer::cluster_link{manager, cs, std::move(local_items)};
}

}  // namespace

service::impl::impl(service_options o, wall_clock c)
  : opts(std::move(o)), clock(std::move(c)), gate(opts.max_in_flight_events) {
  if (!clock)
    clock = system_wall_ms;
  auto& tc = opts.topology;
  check_counts(tc);
  config = make_system_config(opts);
  if (opts.cluster.enabled()) {
    if (opts.cluster.replication_factor > 1 && opts.durability.data_dir.empty())
      throw std::invalid_argument("cluster: replication factor "
                                  + std::to_string(opts.cluster.replication_factor)
                                  + " needs a data directory on every node (the replicas' "
                                    "logs and the cluster map live there); give --data-dir");
    cluster = plan_cluster(opts.cluster, tc);
  }
  topology_context ctx;
  ctx.clock = clock;
  std::uint64_t meta_seq = 0;
  std::uint64_t next_checkpoint = 1;
  if (!opts.durability.data_dir.empty()) {
    ctx.data = recovery_options_of(opts.durability, tc, opts.cluster);
    ctx.recovered = recover(opts.durability, ctx.data);
    recovery = ctx.recovered->report;
    meta_seq = ctx.recovered->meta_seq;
    next_checkpoint = ctx.recovered->next_checkpoint_id;
    ctx.wal = wal = open_wal(opts.durability, *ctx.recovered);
  }
  system = std::make_unique<caf::actor_system>(*config);
  tickets = std::make_shared<ticket_registry>(caf::timespan{opts.call_timeout}, system->clock());
  ctx.sink = tickets;
  topo = spawn_topology(*system, tc, ctx);
  items = system->spawn(item_writer, tc, topo.items, meta_seq, ctx);
  ctx.recovered.reset();  // the shards own their parts now
  watchdog = system->spawn(ticket_watchdog, tickets);
  if (cluster) {
    try {
      manager = start_cluster_node(*system, opts.cluster, topo, items, cluster,
                                   opts.durability.data_dir);
    } catch (...) {
      stop_topology(topo);
      caf::anon_send_exit(items, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(watchdog, caf::exit_reason::user_shutdown);
      system->await_all_actors_done();
      throw;
    }
  }
  if (wal)
    checkpoints = std::make_unique<checkpointer>(
      *system, topo.profiles, items, static_cast<std::uint32_t>(topo.items.size()), wal,
      opts.durability, ctx.data, cluster_link_of(manager, cluster, tc), next_checkpoint,
      caf::timespan{opts.call_timeout});
  spdlog::debug("rtrec service started: {} ingestors, {} profile shards, {} item shards, {} "
                "recommenders",
                topo.ingestors.size(), topo.profiles.size(), topo.items.size(),
                topo.recommenders.size());
}

rtrec::error service::impl::convert(const caf::error& err, const char* what) const {
  if (err.category() == caf::atom("rtrec")) {
    std::string message;
    if (err.context().match_elements<std::string>())
      message = err.context().get_as<std::string>(0);
    return {static_cast<error_code>(err.code()), std::move(message)};
  }
  return {error_code::shard_unavailable, std::string{what} + ": " + system->render(err)};
}

shard_router service::impl::router() const {
  shard_router r{topo.profiles, topo.items};
  if (!cluster)
    return r;
  std::lock_guard<std::mutex> guard{cluster->mtx};
  r.update(cluster->directory, "service");
  return r;
}

service::service(service_options opts, wall_clock clock)
  : impl_(std::make_unique<impl>(std::move(opts), std::move(clock))) {
}

service::~service() {
  stop();
}

void service::stop() {
  auto& s = *impl_;
  if (!s.gate.close())
    return;
  if (s.checkpoints) {
    s.checkpoints->stop_timer();
    // Everything acknowledged is in the log already; the checkpoint only
    // shortens the next start.
    if (s.opts.durability.snapshot_on_stop)
      if (auto r = s.checkpoints->run(); !r)
        spdlog::warn("final checkpoint failed: {}; the next start replays the log instead",
                     s.system->render(r.error()));
  }
  if (s.manager)
    caf::anon_send_exit(s.manager, caf::exit_reason::user_shutdown);
  stop_topology(s.topo);
  caf::anon_send_exit(s.items, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(s.watchdog, caf::exit_reason::user_shutdown);
  // Whatever is still pending will never be answered now.
  s.tickets->fail_all(caf::make_error(error_code::shutting_down,
                                      "the service stopped before this call was answered"));
  s.system->await_all_actors_done();
  if (s.wal)
    s.wal->close();
}

// -- ingest -------------------------------------------------------------------------

namespace {

// Submits `events` to an ingestor under a ticket; `done` gets the answer.
// One thread's calls go to one ingestor, so they apply in call order.
void submit(service::impl& s, std::vector<engine::event> events, bool wait,
            callback<ingest_result> done) {
  const auto n = events.size();
  if (auto err = s.gate.acquire(n, wait)) {
    done(std::move(err));
    return;
  }
  auto* self = &s;
  const auto ticket = s.tickets->add(
    ticket_registry::ingest_done{[self, n, done = std::move(done)](caf::expected<ingest_result> r) {
      self->gate.release(n);
      done(self->convert(std::move(r), "ingest"));
    }});
  if (s.gate.closed()) {
    // stop() may have failed the pending tickets before this one went in.
    s.tickets->answer(ticket, caf::expected<ingest_result>{caf::make_error(
                                error_code::shutting_down, "the service is stopped")});
    return;
  }
  const auto route = std::hash<std::thread::id>{}(std::this_thread::get_id());
  caf::anon_send(s.topo.ingestors[route % s.topo.ingestors.size()], submit_atom::value, ticket,
                 ingest_request{std::move(events)});
}

template <class T>
result<T> wait_for(const std::function<void(callback<T>)>& start) {
  auto p = std::make_shared<std::promise<result<T>>>();
  auto fut = p->get_future();
  start([p](result<T> r) { p->set_value(std::move(r)); });
  return fut.get();
}

}  // namespace

void service::try_ingest_async(std::vector<engine::event> events, callback<ingest_result> done) {
  submit(*impl_, std::move(events), false, std::move(done));
}

std::future<result<ingest_result>> service::ingest_async(std::vector<engine::event> events) {
  auto p = std::make_shared<std::promise<result<ingest_result>>>();
  auto fut = p->get_future();
  submit(*impl_, std::move(events), true,
         [p](result<ingest_result> r) { p->set_value(std::move(r)); });
  return fut;
}

result<ingest_result> service::ingest(std::vector<engine::event> events) {
  return ingest_async(std::move(events)).get();
}

result<ingest_result> service::try_ingest(std::vector<engine::event> events) {
  return wait_for<ingest_result>([&](callback<ingest_result> cb) {
    submit(*impl_, std::move(events), false, std::move(cb));
  });
}

// -- queries ------------------------------------------------------------------------

namespace {

// Sends a query straight to a recommender under a ticket; it answers
// through the registry (the topology's reply sink).
template <class... Ts>
void query(service::impl& s, recommendations_callback done, Ts&&... xs) {
  auto* self = &s;
  const auto ticket = s.tickets->add(
    ticket_registry::query_done{[self, done = std::move(done)](caf::expected<recommendations> r) {
      if (!r)
        return done(self->convert(r.error(), "query"));
      if (r->missing_shards > 0)
        self->partial_answers.fetch_add(1, std::memory_order_relaxed);
      done(std::move(r->items));
    }});
  if (s.gate.closed()) {
    s.tickets->answer(ticket, caf::expected<recommendations>{caf::make_error(
                                error_code::shutting_down, "the service is stopped")});
    return;
  }
  caf::anon_send(s.topo.recommenders[ticket % s.topo.recommenders.size()], query_atom::value,
                 ticket, std::forward<Ts>(xs)...);
}

rtrec::error check_limits(std::size_t n, std::size_t offset) {
  if (n > max_results || offset > max_results)
    return {error_code::invalid_request, "n and offset must each be at most 10000"};
  return {};
}

rtrec::error check_session(const std::vector<engine::event>& events,
                           const engine::validation_limits& limits) {
  for (std::size_t k = 0; k < events.size(); ++k) {
    auto e = events[k];
    if (e.user.empty())
      e.user = "session";
    if (auto r = engine::validate(e, limits); r != engine::reject_reason::none)
      return {error_code::invalid_request,
              "session event " + std::to_string(k) + ": " + engine::to_string(r)};
  }
  return {};
}

using recs = std::vector<engine::recommendation>;

}  // namespace

void service::recommend_async(std::string user, const engine::recommend_options& o,
                              recommendations_callback done) {
  if (auto err = check_limits(o.n, o.offset))
    return done(std::move(err));
  query(*impl_, std::move(done),
        recommend_request{std::move(user), static_cast<std::uint32_t>(o.n),
                          static_cast<std::uint32_t>(o.offset), o.filter.category,
                          o.exclude_seen});
}

void service::similar_async(std::string item, std::size_t n, std::string category,
                            recommendations_callback done) {
  if (auto err = check_limits(n, 0))
    return done(std::move(err));
  query(*impl_, std::move(done), similar_atom::value, std::move(item),
        static_cast<std::uint32_t>(n), std::move(category));
}

void service::popular_async(std::size_t n, std::string category, recommendations_callback done) {
  if (auto err = check_limits(n, 0))
    return done(std::move(err));
  query(*impl_, std::move(done), popular_atom::value, static_cast<std::uint32_t>(n),
        std::move(category));
}

void service::latest_async(std::size_t n, std::string category, recommendations_callback done) {
  if (auto err = check_limits(n, 0))
    return done(std::move(err));
  query(*impl_, std::move(done), latest_atom::value, static_cast<std::uint32_t>(n),
        std::move(category));
}

void service::session_async(std::vector<engine::event> events, const engine::recommend_options& o,
                            recommendations_callback done) {
  if (auto err = check_limits(o.n, o.offset))
    return done(std::move(err));
  if (auto err = check_session(events, impl_->opts.topology.model.limits))
    return done(std::move(err));
  query(*impl_, std::move(done),
        session_request{std::move(events), static_cast<std::uint32_t>(o.n),
                        static_cast<std::uint32_t>(o.offset), o.filter.category});
}

void service::user_neighbors_async(std::string user, std::size_t n, std::size_t offset,
                                   recommendations_callback done) {
  if (auto err = check_limits(n, offset))
    return done(std::move(err));
  query(*impl_, std::move(done),
        user_neighbors_request{std::move(user), static_cast<std::uint32_t>(n),
                               static_cast<std::uint32_t>(offset)});
}

result<recs> service::user_neighbors(const std::string& user, std::size_t n, std::size_t offset) {
  return wait_for<recs>(
    [&](recommendations_callback cb) { user_neighbors_async(user, n, offset, std::move(cb)); });
}

result<recs> service::recommend(const std::string& user, const engine::recommend_options& o) {
  return wait_for<recs>([&](recommendations_callback cb) { recommend_async(user, o, std::move(cb)); });
}

result<recs> service::similar(const std::string& item, std::size_t n, const std::string& category) {
  return wait_for<recs>(
    [&](recommendations_callback cb) { similar_async(item, n, category, std::move(cb)); });
}

result<recs> service::popular(std::size_t n, const std::string& category) {
  return wait_for<recs>([&](recommendations_callback cb) { popular_async(n, category, std::move(cb)); });
}

result<recs> service::latest(std::size_t n, const std::string& category) {
  return wait_for<recs>([&](recommendations_callback cb) { latest_async(n, category, std::move(cb)); });
}

result<recs> service::session_recommend(std::vector<engine::event> events,
                                        const engine::recommend_options& o) {
  return wait_for<recs>(
    [&](recommendations_callback cb) { session_async(std::move(events), o, std::move(cb)); });
}

}  // namespace rtrec
