#include "actors/embedded_engine.hpp"

#include "actors/deadlines.hpp"
#include "actors/openssl_error_queue.hpp"
#include "actors/query_lane.hpp"
#include "actors/util.hpp"
#include "storage/codec.hpp"

#include <caf/io/all.hpp>
#include <caf/openssl/all.hpp>

#include <spdlog/spdlog.h>

#include <chrono>
#include <deque>
#include <map>
#include <functional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace rtrec {

// Pending asynchronous calls, shared by the engine, its client actor and the
// recommenders (the query sink).
struct embedded_engine::client : query_sink {
  struct pending {
    callback<ingest_result> done;
    std::size_t events = 0;
  };
  std::mutex mtx;
  std::unordered_map<std::uint64_t, pending> waiting;
  std::unordered_map<std::uint64_t, recommendations_callback> queries;
  // (deadline, ticket) of the queries in flight, in ticket order (one
  // timeout for all); answered ones are dropped as they reach the front.
  std::deque<std::pair<std::chrono::steady_clock::time_point, std::uint64_t>> query_deadlines;
  std::chrono::milliseconds query_timeout{15000};
  std::uint64_t next_ticket = 1;
  std::function<void(std::size_t)> release;
  /// Answers that left out item shards on unreachable nodes (cluster mode).
  std::atomic<std::uint64_t> partial_answers{0};

  std::uint64_t add_query(recommendations_callback done) {
    const auto deadline = std::chrono::steady_clock::now() + query_timeout;
    std::lock_guard<std::mutex> guard{mtx};
    auto ticket = next_ticket++;
    queries.emplace(ticket, std::move(done));
    while (!query_deadlines.empty() && queries.count(query_deadlines.front().second) == 0)
      query_deadlines.pop_front();
    query_deadlines.emplace_back(deadline, ticket);
    return ticket;
  }

  // The recommenders' answers (query_sink).
  void answer(std::uint64_t ticket, caf::expected<recommendations> result) override {
    if (!result)
      return complete_query(ticket, std::move(result.error()));
    if (result->missing_shards > 0)
      partial_answers.fetch_add(1, std::memory_order_relaxed);
    complete_query(ticket, std::move(result->items));
  }

  // Fails the queries whose deadline passed at `now` (a backstop: the
  // recommenders time their own steps out sooner, but one that stopped
  // would leave its queries unanswered).
  void expire_queries(std::chrono::steady_clock::time_point now) {
    std::vector<std::uint64_t> due;
    {
      std::lock_guard<std::mutex> guard{mtx};
      while (!query_deadlines.empty() && query_deadlines.front().first <= now) {
        due.push_back(query_deadlines.front().second);
        query_deadlines.pop_front();
      }
    }
    for (auto ticket : due)
      complete_query(ticket, caf::make_error(error_code::shard_unavailable,
                                             "query: no answer within "
                                               + std::to_string(query_timeout.count()) + " ms"));
  }

  void complete(std::uint64_t ticket, caf::expected<ingest_result> result) {
    pending p;
    {
      std::lock_guard<std::mutex> guard{mtx};
      auto it = waiting.find(ticket);
      if (it == waiting.end())
        return;
      p = std::move(it->second);
      waiting.erase(it);
    }
    release(p.events);
    p.done(std::move(result));
  }

  void complete_query(std::uint64_t ticket,
                      caf::expected<std::vector<engine::recommendation>> result) {
    recommendations_callback done;
    {
      std::lock_guard<std::mutex> guard{mtx};
      auto it = queries.find(ticket);
      if (it == queries.end())
        return;
      done = std::move(it->second);
      queries.erase(it);
    }
    done(std::move(result));
  }
};

namespace {

// Errors of rtrec's own category pass through; anything else (a timeout, a
// dead actor) means the shard could not answer.
caf::error typed(caf::actor_system& sys, const char* what, const caf::error& err) {
  if (err.category() == caf::atom("rtrec"))
    return err;
  return caf::make_error(error_code::shard_unavailable, std::string{what} + ": " + sys.render(err));
}

// Forwards submissions to an ingestor in mailbox order (so one thread's calls
// keep their order) and completes the caller's callback with the answer.
caf::behavior client_actor(caf::event_based_actor* self,
                           std::shared_ptr<embedded_engine::client> st,
                           std::vector<ingestor_actor> ingestors, caf::timespan timeout) {
  return {
    [=](submit_atom, std::uint64_t ticket, std::uint64_t route, ingest_request& req) {
      const auto& dest = ingestors[route % ingestors.size()];
      self->request(dest, timeout, std::move(req))
        .then(
          [=](ingest_ack& a) {
            st->complete(ticket, ingest_result{a.accepted, std::move(a.rejected), a.duplicates});
          },
          [=](caf::error& err) { st->complete(ticket, typed(self->system(), "ingest", err)); });
    },
  };
}

// Fails queries that outlive their deadline (client::expire_queries), on a
// tick of an eighth of the timeout.
caf::behavior query_watchdog(caf::event_based_actor* self,
                             std::shared_ptr<embedded_engine::client> st) {
  const auto every = tick_interval(caf::timespan{st->query_timeout});
  self->delayed_send(self, every, tick_atom::value);
  return {
    [=](tick_atom) {
      st->expire_queries(std::chrono::steady_clock::now());
      self->delayed_send(self, every, tick_atom::value);
    },
  };
}

}  // namespace

embedded_engine::embedded_engine(engine_options opts)
  : opts_(std::move(opts)), config_(std::make_unique<caf::actor_system_config>()) {
  auto& tc = opts_.topology;
  if (tc.profile_shards == 0 || tc.item_shards == 0 || tc.ingestors == 0 || tc.recommenders == 0)
    throw std::invalid_argument("engine_options: shard, ingestor and recommender counts must "
                                "each be at least 1");
  register_messages(*config_);
  // 0 means one worker per core. CAF's own default is at least 4 workers,
  // which on a 2-core machine puts 4 workers (plus the application's
  // threads) on 2 cores: measured, that doubles the recommend p99 while
  // ingesting (docs/benchmarks.md).
  const auto workers = opts_.worker_threads > 0
                         ? opts_.worker_threads
                         : std::max<std::size_t>(1, std::thread::hardware_concurrency());
  config_->set("scheduler.max-threads", workers);
  config_->set("scheduler.max-throughput", std::max<std::size_t>(1, opts_.max_throughput));
  if (opts_.scheduler_policy != "priority" && opts_.scheduler_policy != "sharing"
      && opts_.scheduler_policy != "stealing")
    throw std::invalid_argument("engine_options: scheduler_policy must be \"priority\", "
                                "\"sharing\" or \"stealing\", not \""
                                + opts_.scheduler_policy + "\"");
  config_->set("scheduler.policy", opts_.scheduler_policy == "stealing" ? caf::atom("stealing")
                                                                      : caf::atom("sharing"));
  if (opts_.scheduler_policy == "priority")
    install_query_lane(*config_);
  auto& dur = opts_.durability;
  const auto& cl = opts_.cluster;
  if (cl.enabled()) {
    validate(cl);
    if (!dur.data_dir.empty())
      throw std::invalid_argument(
        "cluster mode keeps each node's state in memory in this version: run nodes without a "
        "data directory (rtrec node has none by default)");
    config_->load<caf::io::middleman>();
    if (cl.tls()) {
      if (!openssl_error_queue_fix_active())
        spdlog::warn("cluster: the OpenSSL error-queue fix is not active in this process; a "
                     "failed TLS handshake may drop healthy connections (CAF 0.17.6 bug)");
      config_->load<caf::openssl::manager>();
      config_->openssl_certificate = cl.certificate;
      config_->openssl_key = cl.key;
      config_->openssl_cafile = cl.cafile;
      config_->openssl_passphrase = cl.passphrase;
    }
    config_->set("middleman.heartbeat-interval", caf::timespan{cl.heartbeat});
    // CAF 0.17.6 drops healthy TLS connections at the first heartbeat check
    // when its connection timeout is on (seen on every run here), so with
    // TLS it stays off and the cluster manager's own pings
    // (connection_timeout) notice frozen peers in both modes.
    config_->set("middleman.connection-timeout",
                 cl.tls() ? caf::timespan{std::chrono::hours(24 * 365)}
                          : caf::timespan{cl.connection_timeout});
    auto map = engine::place_shards(cl.nodes, tc.profile_shards, tc.item_shards);
    tc.local_profiles.assign(tc.profile_shards, false);
    tc.local_items.assign(tc.item_shards, false);
    for (auto s : map.profiles_of(cl.self))
      tc.local_profiles[s] = true;
    for (auto m : map.items_of(cl.self))
      tc.local_items[m] = true;
    cluster_ = std::make_shared<cluster_shared>();
    auto& cs = cluster_->status;
    cs.enabled = true;
    cs.self = cl.self;
    cs.tls = cl.tls();
    cs.map = std::move(map);
    for (std::uint32_t n = 0; n < cl.nodes.size(); ++n) {
      node_status ns;
      ns.address = cl.nodes[n];
      ns.self = ns.up = n == cl.self;
      cs.nodes.push_back(std::move(ns));
    }
  }
  if (!dur.data_dir.empty()) {
    storage::recovery_options ro;
    ro.data_dir = dur.data_dir;
    ro.policy = dur.recovery;
    ro.profile_shards = tc.profile_shards;
    ro.item_shards = tc.item_shards;
    ro.model = tc.model;
    ro.dedup_ids_per_shard = dedup_ids_per_shard(tc);
    ro.dedup_age_ms = tc.dedup_age.count();
    auto rec = std::make_shared<storage::recovered_state>(storage::recover(ro));
    recovery_ = rec->report;
    for (const auto& w : recovery_.warnings)
      spdlog::warn("{}", w);
    spdlog::info("recovered {}: {} (checkpoint {}, {} events), {} log records replayed "
                 "({} events applied, {} already covered), {} users, {} items, {:.0f} ms load + "
                 "{:.0f} ms replay",
                 dur.data_dir, recovery_.from_snapshot ? "from a checkpoint" : "from the log alone",
                 recovery_.checkpoint_id, recovery_.events_in_snapshot, recovery_.records_replayed,
                 recovery_.events_replayed, recovery_.records_skipped, recovery_.users,
                 recovery_.items, recovery_.load_ms, recovery_.replay_ms);
    meta_seq_ = rec->meta_seq;
    next_checkpoint_id_ = rec->next_checkpoint_id;
    storage::wal_options wo;
    wo.dir = storage::wal_dir(dur.data_dir);
    wo.sync = dur.sync;
    wo.segment_bytes = dur.segment_bytes;
    wo.ops = dur.file_ops;
    wal_ = std::make_shared<storage::wal>(wo, rec->segments);
    rec->segments.clear();
    tc.wal = wal_;
    tc.recovered = rec;
  }
  system_ = std::make_unique<caf::actor_system>(*config_);
  client_state_ = std::make_shared<client>();
  client_state_->release = [this](std::size_t n) { release(n); };
  client_state_->query_timeout = opts_.call_timeout;
  tc.queries = client_state_;
  topo_ = spawn_topology(*system_, tc);
  // The recovered objects now belong to the shards.
  tc.recovered.reset();
  topo_.config.recovered.reset();
  if (cluster_)
    start_cluster();
  client_ = system_->spawn(client_actor, client_state_, topo_.ingestors,
                           caf::timespan{opts_.call_timeout});
  watchdog_ = system_->spawn(query_watchdog, client_state_);
  if (wal_ && dur.snapshot_interval.count() > 0)
    ticker_ = std::thread([this] { checkpoint_loop(); });
  spdlog::debug("rtrec engine started: {} ingestors, {} profile shards, {} item shards, {} "
                "recommenders",
                topo_.ingestors.size(), topo_.profiles.size(), topo_.items.size(),
                topo_.recommenders.size());
}

embedded_engine::~embedded_engine() {
  stop();
}

void embedded_engine::stop() {
  {
    std::lock_guard<std::mutex> guard{flow_mtx_};
    if (stopped_)
      return;
    stopped_ = true;
  }
  flow_cv_.notify_all();
  if (ticker_.joinable()) {
    {
      std::lock_guard<std::mutex> guard{ticker_mtx_};
      ticker_stop_ = true;
    }
    ticker_cv_.notify_all();
    ticker_.join();
  }
  if (wal_ && opts_.durability.snapshot_on_stop) {
    // Everything acknowledged is in the log already; the checkpoint only
    // shortens the next start.
    if (auto r = checkpoint_impl(); !r)
      spdlog::warn("final checkpoint failed: {}; the next start replays the log instead",
                   system_->render(r.error()));
  }
  if (manager_)
    caf::anon_send_exit(manager_, caf::exit_reason::user_shutdown);
  stop_topology(topo_);
  caf::anon_send_exit(client_, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(watchdog_, caf::exit_reason::user_shutdown);
  // Whatever was still pending will never be answered now.
  std::unordered_map<std::uint64_t, client::pending> left;
  std::unordered_map<std::uint64_t, recommendations_callback> left_queries;
  {
    std::lock_guard<std::mutex> guard{client_state_->mtx};
    left.swap(client_state_->waiting);
    left_queries.swap(client_state_->queries);
  }
  for (auto& [ticket, p] : left)
    p.done(caf::make_error(error_code::shutting_down,
                           "the engine stopped before this ingest was answered"));
  for (auto& [ticket, done] : left_queries)
    done(caf::make_error(error_code::shutting_down,
                         "the engine stopped before this query was answered"));
  system_->await_all_actors_done();
  if (wal_)
    wal_->close();
}

caf::error embedded_engine::acquire(std::size_t n, bool wait) {
  std::unique_lock<std::mutex> guard{flow_mtx_};
  auto room = [&] {
    return stopped_ || in_flight_ == 0 || in_flight_ + n <= opts_.max_in_flight_events;
  };
  if (!room()) {
    if (!wait)
      return caf::make_error(error_code::overloaded,
                             "too many events in flight; retry after a short delay");
    flow_cv_.wait(guard, room);
  }
  if (stopped_)
    return caf::make_error(error_code::shutting_down, "the engine is stopped");
  in_flight_ += n;
  in_flight_peak_ = std::max(in_flight_peak_, in_flight_);
  return caf::none;
}

bool embedded_engine::stopping() {
  std::lock_guard<std::mutex> guard{flow_mtx_};
  return stopped_;
}

std::size_t embedded_engine::in_flight_events() {
  std::lock_guard<std::mutex> guard{flow_mtx_};
  return in_flight_;
}

std::size_t embedded_engine::in_flight_peak() {
  std::lock_guard<std::mutex> guard{flow_mtx_};
  return in_flight_peak_;
}

void embedded_engine::release(std::size_t n) {
  {
    std::lock_guard<std::mutex> guard{flow_mtx_};
    in_flight_ -= std::min(n, in_flight_);
  }
  flow_cv_.notify_all();
}

std::future<caf::expected<ingest_result>>
embedded_engine::ingest_async(std::vector<engine::event> events) {
  return submit(std::move(events), true);
}

void embedded_engine::try_ingest_async(std::vector<engine::event> events,
                                       callback<ingest_result> done) {
  submit(std::move(events), false, std::move(done));
}

std::future<caf::expected<ingest_result>>
embedded_engine::submit(std::vector<engine::event> events, bool wait) {
  auto p = std::make_shared<std::promise<caf::expected<ingest_result>>>();
  auto fut = p->get_future();
  submit(std::move(events), wait,
         [p](caf::expected<ingest_result> r) { p->set_value(std::move(r)); });
  return fut;
}

void embedded_engine::submit(std::vector<engine::event> events, bool wait,
                             callback<ingest_result> done) {
  const auto n = events.size();
  if (auto err = acquire(n, wait)) {
    done(std::move(err));
    return;
  }
  std::uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> guard{client_state_->mtx};
    ticket = client_state_->next_ticket++;
    auto& p = client_state_->waiting[ticket];
    p.events = n;
    p.done = std::move(done);
  }
  if (stopping()) {
    // stop() may have swapped the pending map before this ticket went in.
    client_state_->complete(ticket, caf::make_error(error_code::shutting_down,
                                                    "the engine is stopped"));
    return;
  }
  const auto route = std::hash<std::thread::id>{}(std::this_thread::get_id());
  caf::anon_send(client_, submit_atom::value, ticket, static_cast<std::uint64_t>(route),
                 ingest_request{std::move(events)});
}

caf::expected<ingest_result> embedded_engine::ingest(std::vector<engine::event> events) {
  return ingest_async(std::move(events)).get();
}

caf::expected<ingest_result> embedded_engine::try_ingest(std::vector<engine::event> events) {
  return submit(std::move(events), false).get();
}

template <class T, class Dest, class... Ts>
caf::expected<T> embedded_engine::call(const Dest& dest, Ts&&... xs) {
  {
    std::lock_guard<std::mutex> guard{flow_mtx_};
    if (stopped_)
      return caf::make_error(error_code::shutting_down, "the engine is stopped");
  }
  return call_always<T>(dest, std::forward<Ts>(xs)...);
}

template <class T, class Dest, class... Ts>
caf::expected<T> embedded_engine::call_always(const Dest& dest, Ts&&... xs) {
  if (!dest)
    return caf::make_error(error_code::shard_unavailable,
                           "the shard's node is unreachable (see /api/cluster)");
  caf::expected<T> result{caf::make_error(error_code::shard_unavailable, "no answer")};
  caf::scoped_actor self{*system_};
  self->request(dest, caf::timespan{opts_.call_timeout}, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             // A timeout or a dead shard is shard_unavailable, as on the
             // ingest and query paths.
             [&](caf::error& err) { result = typed(*system_, "call", err); });
  return result;
}

template <class... Ts>
void embedded_engine::query(recommendations_callback done, Ts&&... xs) {
  auto ticket = client_state_->add_query(std::move(done));
  if (stopping()) {
    // Checked after the ticket went in: stop() may have swapped the pending
    // map (and answered what was in it) before.
    client_state_->complete_query(
      ticket, caf::make_error(error_code::shutting_down, "the engine is stopped"));
    return;
  }
  // Straight to a recommender, which answers through client_state_ (the
  // topology's query sink).
  caf::anon_send(topo_.recommenders[ticket % topo_.recommenders.size()], query_atom::value,
                 ticket, std::forward<Ts>(xs)...);
}

caf::expected<std::vector<engine::recommendation>>
embedded_engine::wait_for(const std::function<void(recommendations_callback)>& start) {
  auto p = std::make_shared<std::promise<caf::expected<std::vector<engine::recommendation>>>>();
  auto fut = p->get_future();
  start([p](caf::expected<std::vector<engine::recommendation>> r) { p->set_value(std::move(r)); });
  return fut.get();
}

namespace {

caf::error check_limits(std::size_t n, std::size_t offset) {
  if (n > max_results || offset > max_results)
    return caf::make_error(error_code::invalid_request, "n and offset must each be at most 10000");
  return caf::none;
}

}  // namespace

void embedded_engine::recommend_async(std::string user, const engine::recommend_options& o,
                                      recommendations_callback done) {
  if (auto err = check_limits(o.n, o.offset))
    return done(std::move(err));
  query(std::move(done),
        recommend_request{std::move(user), static_cast<std::uint32_t>(o.n),
                          static_cast<std::uint32_t>(o.offset), o.filter.category,
                          o.exclude_seen});
}

void embedded_engine::similar_async(std::string item, std::size_t n, std::string category,
                                    recommendations_callback done) {
  if (auto err = check_limits(n, 0))
    return done(std::move(err));
  query(std::move(done), similar_atom::value, std::move(item), static_cast<std::uint32_t>(n),
        std::move(category));
}

void embedded_engine::popular_async(std::size_t n, std::string category,
                                    recommendations_callback done) {
  if (auto err = check_limits(n, 0))
    return done(std::move(err));
  query(std::move(done), popular_atom::value, static_cast<std::uint32_t>(n), std::move(category));
}

void embedded_engine::latest_async(std::size_t n, std::string category,
                                   recommendations_callback done) {
  if (auto err = check_limits(n, 0))
    return done(std::move(err));
  query(std::move(done), latest_atom::value, static_cast<std::uint32_t>(n), std::move(category));
}

caf::error embedded_engine::check_session(const std::vector<engine::event>& events) const {
  for (std::size_t k = 0; k < events.size(); ++k) {
    auto e = events[k];
    if (e.user.empty())
      e.user = "session";
    if (auto r = engine::validate(e, opts_.topology.model.limits); r != engine::reject_reason::none)
      return caf::make_error(error_code::invalid_request,
                             "session event " + std::to_string(k) + ": " + engine::to_string(r));
  }
  return caf::none;
}

void embedded_engine::session_async(std::vector<engine::event> events,
                                    const engine::recommend_options& o,
                                    recommendations_callback done) {
  if (auto err = check_limits(o.n, o.offset))
    return done(std::move(err));
  if (auto err = check_session(events))
    return done(std::move(err));
  query(std::move(done),
        session_request{std::move(events), static_cast<std::uint32_t>(o.n),
                        static_cast<std::uint32_t>(o.offset), o.filter.category});
}

caf::expected<std::vector<engine::recommendation>>
embedded_engine::recommend(const std::string& user, const engine::recommend_options& o) {
  return wait_for([&](recommendations_callback cb) { recommend_async(user, o, std::move(cb)); });
}

caf::expected<std::vector<engine::recommendation>>
embedded_engine::similar(const std::string& item, std::size_t n, const std::string& category) {
  return wait_for(
    [&](recommendations_callback cb) { similar_async(item, n, category, std::move(cb)); });
}

caf::expected<std::vector<engine::recommendation>>
embedded_engine::popular(std::size_t n, const std::string& category) {
  return wait_for([&](recommendations_callback cb) { popular_async(n, category, std::move(cb)); });
}

caf::expected<std::vector<engine::recommendation>>
embedded_engine::latest(std::size_t n, const std::string& category) {
  return wait_for([&](recommendations_callback cb) { latest_async(n, category, std::move(cb)); });
}

caf::expected<std::vector<engine::recommendation>>
embedded_engine::session_recommend(std::vector<engine::event> events,
                                   const engine::recommend_options& o) {
  return wait_for(
    [&](recommendations_callback cb) { session_async(std::move(events), o, std::move(cb)); });
}

namespace {

// An item write must reach every item shard: refused whole (nothing
// applied) while one is unreachable.
caf::error all_reachable(const std::vector<item_shard_actor>& items) {
  for (std::size_t m = 0; m < items.size(); ++m)
    if (!items[m])
      return caf::make_error(error_code::shard_unavailable,
                             "item shard " + std::to_string(m)
                               + " is on an unreachable node; item writes need every item "
                                 "shard (retry when the node is back)");
  return caf::none;
}

}  // namespace

caf::expected<engine::item_meta> embedded_engine::item(const std::string& id) {
  // Every item shard holds the same metadata; the first reachable answers.
  auto h = shards();
  for (auto& shard : h.items)
    if (shard)
      return call<engine::item_meta>(shard, item_atom::value, id);
  return caf::make_error(error_code::shard_unavailable, "item: no item shard is reachable");
}

caf::expected<engine::item_meta>
embedded_engine::update_item(const std::string& id,
                             const std::function<void(engine::item_meta&)>& change) {
  std::lock_guard<std::mutex> guard{item_mtx_};
  auto h = shards();
  if (auto err = all_reachable(h.items))
    return err;
  auto meta = item(id);
  if (!meta)
    return meta;
  change(*meta);
  meta->id = id;
  {
    std::string payload;
    storage::encode_item_meta(*meta, payload);
    if (auto err = log_meta(storage::record_kind::item_meta, std::move(payload)))
      return err;
  }
  for (auto& shard : h.items) {
    auto r = call<bool>(shard, item_atom::value, *meta);
    if (!r)
      return std::move(r.error());
  }
  return meta;
}

caf::expected<bool> embedded_engine::set_item(const engine::item_meta& meta) {
  if (auto r = engine::validate_id(meta.id, opts_.topology.model.limits.max_id_length);
      meta.id.empty() || r != engine::reject_reason::none)
    return caf::make_error(error_code::invalid_request,
                           "item id: " + std::string{meta.id.empty() ? "empty_item" : engine::to_string(r)});
  std::lock_guard<std::mutex> guard{item_mtx_};
  auto h = shards();
  if (auto err = all_reachable(h.items))
    return err;
  {
    std::string payload;
    storage::encode_item_meta(meta, payload);
    if (auto err = log_meta(storage::record_kind::item_meta, std::move(payload)))
      return err;
  }
  bool all = true;
  for (auto& shard : h.items) {
    auto r = call<bool>(shard, item_atom::value, meta);
    if (!r)
      return std::move(r.error());
    all = all && *r;
  }
  return all;
}

caf::expected<bool> embedded_engine::remove_item(const std::string& id) {
  std::lock_guard<std::mutex> guard{item_mtx_};
  auto h = shards();
  if (auto err = all_reachable(h.items))
    return err;
  if (auto err = log_meta(storage::record_kind::item_remove, id))
    return err;
  bool any = false;
  for (auto& shard : h.items) {
    auto r = call<bool>(shard, remove_atom::value, id);
    if (!r)
      return std::move(r.error());
    any = any || *r;
  }
  return any;
}

caf::expected<std::vector<engine::interaction>>
embedded_engine::user_recent(const std::string& user) {
  auto h = shards();
  auto owner = engine::shard_of(engine::hash_id(user),
                                static_cast<std::uint32_t>(h.profiles.size()));
  auto r = call<user_interactions>(h.profiles[owner], recent_atom::value, user);
  if (!r)
    return std::move(r.error());
  return std::move(r->items);
}

caf::expected<bool> embedded_engine::forget_user(const std::string& user) {
  auto h = shards();
  auto owner = engine::shard_of(engine::hash_id(user),
                                static_cast<std::uint32_t>(h.profiles.size()));
  return call<bool>(h.profiles[owner], forget_atom::value, user);
}

caf::expected<std::uint64_t> embedded_engine::flush_local() {
  std::uint64_t applied = 0;
  for (auto& shard : topo_.profiles) {
    if (!shard)
      continue;  // hosted by another node
    auto r = call<std::uint64_t>(shard, flush_atom::value);
    if (!r)
      return std::move(r.error());
    applied += *r;
  }
  return applied;
}

caf::expected<std::uint64_t> embedded_engine::flush() {
  std::uint64_t applied = 0;
  // Shards on unreachable nodes are skipped: what they acknowledged went
  // down with them (cluster mode keeps state in memory).
  for (auto& shard : shards().profiles) {
    if (!shard)
      continue;
    auto r = call<std::uint64_t>(shard, flush_atom::value);
    if (!r)
      return std::move(r.error());
    applied += *r;
  }
  return applied;
}

caf::expected<engine_stats> embedded_engine::stats() {
  engine_stats s;
  for (auto& a : topo_.ingestors) {
    auto r = call<ingest_stats>(a, stats_atom::value);
    if (!r)
      return std::move(r.error());
    s.ingestors.push_back(std::move(*r));
  }
  s.partial_answers = client_state_->partial_answers.load(std::memory_order_relaxed);
  s.scheduler = query_lane_counters(query_lane_of(*system_));
  s.worker_threads = system_->scheduler().num_workers();
  auto h = shards();
  // Shards on unreachable nodes are left out (cluster mode).
  for (auto& a : h.profiles) {
    if (!a) {
      ++s.unreachable_shards;
      continue;
    }
    auto r = call<shard_stats>(a, stats_atom::value);
    if (!r)
      return std::move(r.error());
    s.users += r->users;
    s.events_applied += r->events_applied;
    s.profile_bytes += r->memory_bytes;
    s.profile_shards.push_back(*r);
  }
  for (auto& a : h.items) {
    if (!a) {
      ++s.unreachable_shards;
      continue;
    }
    auto r = call<item_shard_stats>(a, stats_atom::value);
    if (!r)
      return std::move(r.error());
    s.items = std::max(s.items, r->items);
    s.item_bytes += r->memory_bytes;
    s.item_lag_p99_ns = std::max(s.item_lag_p99_ns, r->lag_p99_ns);
    s.item_shards.push_back(*r);
  }
  return s;
}

// -- cluster mode --------------------------------------------------------------------


embedded_engine::shard_handles embedded_engine::shards() const {
  shard_handles h{topo_.profiles, topo_.items};
  if (!cluster_)
    return h;
  std::lock_guard<std::mutex> guard{cluster_->mtx};
  update_handles(h.profiles, cluster_->directory.profiles, "engine", "profile");
  update_handles(h.items, cluster_->directory.items, "engine", "item");
  return h;
}

cluster_status embedded_engine::cluster() const {
  if (!cluster_)
    return {};
  std::lock_guard<std::mutex> guard{cluster_->mtx};
  return cluster_->status;
}

bool embedded_engine::await_cluster(const std::function<bool(const cluster_status&)>& pred,
                                    std::chrono::milliseconds timeout) const {
  if (!cluster_)
    return pred(cluster_status{});
  std::unique_lock<std::mutex> guard{cluster_->mtx};
  return cluster_->changed.wait_for(guard, timeout, [&] { return pred(cluster_->status); });
}

void embedded_engine::start_cluster() {
  const auto& cl = opts_.cluster;
  auto local = local_directory(topo_, cl.self);
  {
    std::lock_guard<std::mutex> guard{cluster_->mtx};
    cluster_->directory = local;
  }
  std::vector<caf::actor> targets;
  for (auto& a : topo_.ingestors)
    targets.push_back(caf::actor_cast<caf::actor>(a));
  for (auto& a : topo_.profiles)
    if (a)
      targets.push_back(caf::actor_cast<caf::actor>(a));
  for (auto& a : topo_.recommenders)
    targets.push_back(caf::actor_cast<caf::actor>(a));
  manager_ = system_->spawn(cluster_manager, cl, local, std::move(targets),
                            connector_of(*system_, cl), cluster_);
  auto port = publish_endpoint(*system_, cl, manager_);
  if (!port) {
    auto why = system_->render(port.error());
    caf::anon_send_exit(manager_, caf::exit_reason::user_shutdown);
    stop_topology(topo_);
    system_->await_all_actors_done();
    throw std::runtime_error("cluster node " + std::to_string(cl.self) + ": " + why);
  }
  spdlog::info("cluster: node {} of {} listening for peers on {}:{} ({}); shard map:\n{}",
               cl.self, cl.nodes.size(),
               cl.bind_address.empty() ? cl.nodes[cl.self].host : cl.bind_address, *port,
               cl.tls() ? "TLS" : "plain TCP, loopback only",
               engine::describe(cluster_->status.map, cl.nodes));
}

// -- durability -------------------------------------------------------------------

caf::error embedded_engine::log_meta(storage::record_kind kind, std::string payload) {
  if (!wal_)
    return caf::none;
  const auto seq = ++meta_seq_;
  auto done = std::make_shared<std::promise<std::string>>();
  auto fut = done->get_future();
  const auto now = std::chrono::duration_cast<std::chrono::milliseconds>(
                     std::chrono::system_clock::now().time_since_epoch())
                     .count();
  wal_->append({kind, storage::meta_stream, seq, now, std::move(payload)},
               [done](const std::string& err) { done->set_value(err); });
  auto err = fut.get();
  if (!err.empty())
    return caf::make_error(error_code::shard_unavailable, "item write not logged: " + err);
  return caf::none;
}

caf::expected<checkpoint_report> embedded_engine::checkpoint() {
  if (!wal_)
    return caf::make_error(error_code::invalid_request,
                           "checkpoint: the engine runs in memory only (set a data directory)");
  if (stopping())
    return caf::make_error(error_code::shutting_down, "the engine is stopped");
  return checkpoint_impl();
}

caf::expected<checkpoint_report> embedded_engine::checkpoint_impl() {
  std::lock_guard<std::mutex> guard{checkpoint_mtx_};
  const auto t0 = std::chrono::steady_clock::now();
  auto failed = [&](caf::error err) -> caf::expected<checkpoint_report> {
    {
      std::lock_guard<std::mutex> stats_guard{durability_mtx_};
      ++checkpoint_failures_;
    }
    spdlog::error("checkpoint failed: {}; the previous checkpoint and the log stay in place",
                  system_->render(err));
    return err;
  };
  storage::checkpoint_data data;
  auto& m = data.manifest;
  checkpoint_report rep;
  m.id = next_checkpoint_id_;
  m.created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  m.profile_shards = static_cast<std::uint32_t>(topo_.profiles.size());
  m.item_shards = static_cast<std::uint32_t>(topo_.items.size());
  // 1. Profile shards, one at a time (each pauses only for itself).
  for (auto& p : topo_.profiles) {
    auto r = call_always<shard_snapshot>(p, snapshot_atom::value);
    if (!r)
      return failed(std::move(r.error()));
    m.profile_seq.push_back(r->seq);
    m.events_applied += r->events;
    m.users += r->count;
    rep.max_pause_ns = std::max(rep.max_pause_ns, r->pause_ns);
    rep.max_hold_ns = std::max(rep.max_hold_ns, r->hold_ns);
    rep.profile_bytes += r->bytes.size();
    data.profile_blobs.push_back(std::move(r->bytes));
  }
  // 2. Wait until every delta of those batches is applied on the item side,
  // so each item snapshot covers at least what the profile snapshots cover.
  for (auto& p : topo_.profiles)
    if (auto r = call_always<std::uint64_t>(p, flush_atom::value); !r)
      return failed(std::move(r.error()));
  // 3. Item shards, with item metadata writes held back so that meta_seq_ is
  // exactly what they have applied.
  {
    std::lock_guard<std::mutex> items_guard{item_mtx_};
    for (auto& i : topo_.items) {
      auto r = call_always<shard_snapshot>(i, snapshot_atom::value);
      if (!r)
        return failed(std::move(r.error()));
      r->applied.resize(m.profile_shards, 0);
      m.item_applied.push_back(std::move(r->applied));
      m.items = std::max(m.items, r->count);
      rep.max_pause_ns = std::max(rep.max_pause_ns, r->pause_ns);
      rep.max_hold_ns = std::max(rep.max_hold_ns, r->hold_ns);
      rep.item_bytes += r->bytes.size();
      data.item_blobs.push_back(std::move(r->bytes));
    }
    m.meta_seq = meta_seq_;
  }
  // 4. Write, then drop what the oldest kept checkpoint makes unnecessary.
  const auto& dur = opts_.durability;
  const auto root = storage::snapshot_dir(dur.data_dir);
  try {
    rep.bytes = storage::write_checkpoint(root, data, dur.sync == storage::sync_policy::fsync);
    ++next_checkpoint_id_;
    storage::prune_checkpoints(root, std::max<std::size_t>(2, dur.keep_checkpoints));
    auto ids = storage::list_checkpoints(root);
    if (!ids.empty()) {
      auto oldest = storage::read_manifest(root, ids.back());
      std::map<std::uint32_t, std::uint64_t> covered;
      for (std::uint32_t p = 0; p < oldest.profile_shards; ++p)
        covered[p] = oldest.profile_seq[p];
      covered[storage::meta_stream] = oldest.meta_seq;
      rep.segments_deleted = wal_->release(covered);
    }
  } catch (const std::exception& e) {
    return failed(caf::make_error(error_code::shard_unavailable, e.what()));
  }
  rep.id = m.id;
  rep.users = m.users;
  rep.items = m.items;
  rep.total_ms =
    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  {
    std::lock_guard<std::mutex> stats_guard{durability_mtx_};
    ++checkpoints_;
    max_pause_ns_ = std::max(max_pause_ns_, rep.max_pause_ns);
    max_hold_ns_ = std::max(max_hold_ns_, rep.max_hold_ns);
    last_checkpoint_ = rep;
  }
  spdlog::info("checkpoint {} written: {} bytes ({} profile, {} item) in {:.0f} ms, longest "
               "shard pause {:.2f} ms, writes held up to {:.0f} ms, {} log segments deleted",
               rep.id, rep.bytes, rep.profile_bytes, rep.item_bytes, rep.total_ms,
               static_cast<double>(rep.max_pause_ns) / 1e6,
               static_cast<double>(rep.max_hold_ns) / 1e6, rep.segments_deleted);
  return rep;
}

void embedded_engine::checkpoint_loop() {
  std::unique_lock<std::mutex> guard{ticker_mtx_};
  for (;;) {
    if (ticker_cv_.wait_for(guard, opts_.durability.snapshot_interval,
                            [this] { return ticker_stop_; }))
      return;
    guard.unlock();
    (void) checkpoint_impl();
    guard.lock();
  }
}

durability_stats embedded_engine::durability() {
  durability_stats s;
  s.enabled = wal_ != nullptr;
  if (wal_)
    s.wal = wal_->stats();
  s.recovery = recovery_;
  std::lock_guard<std::mutex> guard{durability_mtx_};
  s.checkpoints = checkpoints_;
  s.checkpoint_failures = checkpoint_failures_;
  s.last_checkpoint = last_checkpoint_;
  s.max_pause_ns = max_pause_ns_;
  s.max_hold_ns = max_hold_ns_;
  return s;
}

}  // namespace rtrec
