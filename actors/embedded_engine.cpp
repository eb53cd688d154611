#include "actors/embedded_engine.hpp"

#include "actors/deadlines.hpp"
#include "actors/util.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace rtrec {

// Pending asynchronous calls, shared by the engine and its client actors.
struct embedded_engine::client {
  struct pending {
    callback<ingest_result> done;
    std::size_t events = 0;
  };
  std::mutex mtx;
  std::unordered_map<std::uint64_t, pending> waiting;
  std::unordered_map<std::uint64_t, recommendations_callback> queries;
  std::uint64_t next_ticket = 1;
  std::function<void(std::size_t)> release;

  std::uint64_t add_query(recommendations_callback done) {
    std::lock_guard<std::mutex> guard{mtx};
    auto ticket = next_ticket++;
    queries.emplace(ticket, std::move(done));
    return ticket;
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
            st->complete(ticket, ingest_result{a.accepted, std::move(a.rejected)});
          },
          [=](caf::error& err) { st->complete(ticket, typed(self->system(), "ingest", err)); });
    },
  };
}

struct query_client_state {
  std::vector<recommender_actor> recommenders;
  std::size_t next = 0;
  deadline_queue deadlines;
  bool tick_armed = false;
};

// Sends queries to the recommenders (round robin) and completes the caller's
// callback with the answer, or with shard_unavailable once `timeout` passed
// (tracked in a deadline_queue, not as CAF request timeouts: see
// actors/deadlines.hpp).
caf::behavior query_client(caf::stateful_actor<query_client_state>* self,
                           std::shared_ptr<embedded_engine::client> st,
                           std::vector<recommender_actor> recommenders, caf::timespan timeout) {
  self->state.recommenders = std::move(recommenders);
  auto arm = [=] {
    auto& qs = self->state;
    if (qs.tick_armed || qs.deadlines.empty())
      return;
    qs.tick_armed = true;
    self->delayed_send(self, tick_interval(timeout), tick_atom::value);
  };
  auto ask = [=](std::uint64_t ticket, auto&&... xs) {
    auto& qs = self->state;
    const auto& dest = qs.recommenders[qs.next++ % qs.recommenders.size()];
    auto done = std::make_shared<bool>(false);
    qs.deadlines.add(self->clock().now() + timeout, done, [=] {
      st->complete_query(ticket, caf::make_error(error_code::shard_unavailable,
                                                 "query: no answer within " +
                                                   std::to_string(timeout.count() / 1000000) +
                                                   " ms"));
    });
    arm();
    self->request(dest, caf::infinite, std::forward<decltype(xs)>(xs)...)
      .then(
        [=](recommendations& r) {
          *done = true;
          st->complete_query(ticket, std::move(r.items));
        },
        [=](caf::error& err) {
          *done = true;
          st->complete_query(ticket, typed(self->system(), "query", err));
        });
  };
  return {
    [=](query_atom, std::uint64_t t, recommend_request& r) { ask(t, std::move(r)); },
    [=](query_atom, std::uint64_t t, session_request& r) { ask(t, std::move(r)); },
    [=](query_atom, std::uint64_t t, similar_atom a, std::string& item, std::uint32_t n,
        std::string& category) { ask(t, a, std::move(item), n, std::move(category)); },
    [=](query_atom, std::uint64_t t, popular_atom a, std::uint32_t n, std::string& category) {
      ask(t, a, n, std::move(category));
    },
    [=](query_atom, std::uint64_t t, latest_atom a, std::uint32_t n, std::string& category) {
      ask(t, a, n, std::move(category));
    },
    [=](tick_atom) {
      self->state.tick_armed = false;
      self->state.deadlines.expire(self->clock().now());
      arm();
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
  if (opts_.worker_threads > 0)
    config_->set("scheduler.max-threads", opts_.worker_threads);
  config_->set("scheduler.max-throughput", std::max<std::size_t>(1, opts_.max_throughput));
  if (opts_.scheduler_policy != "sharing" && opts_.scheduler_policy != "stealing")
    throw std::invalid_argument("engine_options: scheduler_policy must be \"sharing\" or "
                                "\"stealing\", not \"" + opts_.scheduler_policy + "\"");
  config_->set("scheduler.policy", opts_.scheduler_policy == "sharing" ? caf::atom("sharing")
                                                                     : caf::atom("stealing"));
  system_ = std::make_unique<caf::actor_system>(*config_);
  topo_ = spawn_topology(*system_, tc);
  client_state_ = std::make_shared<client>();
  client_state_->release = [this](std::size_t n) { release(n); };
  client_ = system_->spawn(client_actor, client_state_, topo_.ingestors,
                           caf::timespan{opts_.call_timeout});
  for (std::size_t k = 0; k < std::max<std::size_t>(2, topo_.recommenders.size()); ++k)
    query_clients_.push_back(system_->spawn(query_client, client_state_, topo_.recommenders,
                                            caf::timespan{opts_.call_timeout}));
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
  stop_topology(topo_);
  caf::anon_send_exit(client_, caf::exit_reason::user_shutdown);
  for (auto& q : query_clients_)
    caf::anon_send_exit(q, caf::exit_reason::user_shutdown);
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
  caf::expected<T> result{caf::make_error(error_code::shard_unavailable, "no answer")};
  caf::scoped_actor self{*system_};
  self->request(dest, caf::timespan{opts_.call_timeout}, std::forward<Ts>(xs)...)
    .receive([&](T& x) { result = std::move(x); },
             [&](caf::error& err) { result = std::move(err); });
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
  caf::anon_send(query_clients_[ticket % query_clients_.size()], query_atom::value, ticket,
                 std::forward<Ts>(xs)...);
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

caf::expected<engine::item_meta> embedded_engine::item(const std::string& id) {
  // Every item shard holds the same metadata; shard 0 answers.
  return call<engine::item_meta>(topo_.items.front(), item_atom::value, id);
}

caf::expected<engine::item_meta>
embedded_engine::update_item(const std::string& id,
                             const std::function<void(engine::item_meta&)>& change) {
  std::lock_guard<std::mutex> guard{item_mtx_};
  auto meta = item(id);
  if (!meta)
    return meta;
  change(*meta);
  meta->id = id;
  for (auto& shard : topo_.items) {
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
  bool all = true;
  for (auto& shard : topo_.items) {
    auto r = call<bool>(shard, item_atom::value, meta);
    if (!r)
      return std::move(r.error());
    all = all && *r;
  }
  return all;
}

caf::expected<bool> embedded_engine::remove_item(const std::string& id) {
  std::lock_guard<std::mutex> guard{item_mtx_};
  bool any = false;
  for (auto& shard : topo_.items) {
    auto r = call<bool>(shard, remove_atom::value, id);
    if (!r)
      return std::move(r.error());
    any = any || *r;
  }
  return any;
}

caf::expected<std::vector<engine::interaction>>
embedded_engine::user_recent(const std::string& user) {
  auto owner = engine::shard_of(engine::hash_id(user),
                                static_cast<std::uint32_t>(topo_.profiles.size()));
  auto r = call<user_interactions>(topo_.profiles[owner], recent_atom::value, user);
  if (!r)
    return std::move(r.error());
  return std::move(r->items);
}

caf::expected<bool> embedded_engine::forget_user(const std::string& user) {
  auto owner = engine::shard_of(engine::hash_id(user),
                                static_cast<std::uint32_t>(topo_.profiles.size()));
  return call<bool>(topo_.profiles[owner], forget_atom::value, user);
}

caf::expected<std::uint64_t> embedded_engine::flush() {
  std::uint64_t applied = 0;
  for (auto& shard : topo_.profiles) {
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
  for (auto& a : topo_.profiles) {
    auto r = call<shard_stats>(a, stats_atom::value);
    if (!r)
      return std::move(r.error());
    s.users += r->users;
    s.events_applied += r->events_applied;
    s.profile_bytes += r->memory_bytes;
    s.profile_shards.push_back(*r);
  }
  for (auto& a : topo_.items) {
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

}  // namespace rtrec
