#include "actors/embedded_engine.hpp"

#include "actors/util.hpp"

#include <spdlog/spdlog.h>

#include <functional>
#include <stdexcept>
#include <thread>
#include <unordered_map>

namespace rtrec {

// Pending asynchronous ingests, shared by the engine and its client actor.
struct embedded_engine::client {
  struct pending {
    std::promise<caf::expected<ingest_result>> promise;
    std::size_t events = 0;
  };
  std::mutex mtx;
  std::unordered_map<std::uint64_t, pending> waiting;
  std::uint64_t next_ticket = 1;
  std::function<void(std::size_t)> release;

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
    p.promise.set_value(std::move(result));
  }
};

namespace {

// Forwards submissions to an ingestor in mailbox order (so one thread's calls
// keep their order) and completes the caller's promise with the answer.
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
          [=](caf::error& err) {
            st->complete(ticket, caf::make_error(error_code::shard_unavailable,
                                                 "ingest: " + self->system().render(err)));
          });
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
  // Whatever was still pending will never be answered now.
  std::unordered_map<std::uint64_t, client::pending> left;
  {
    std::lock_guard<std::mutex> guard{client_state_->mtx};
    left.swap(client_state_->waiting);
  }
  for (auto& [ticket, p] : left)
    p.promise.set_value(caf::make_error(error_code::shutting_down,
                                        "the engine stopped before this ingest was answered"));
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
  return caf::none;
}

void embedded_engine::release(std::size_t n) {
  {
    std::lock_guard<std::mutex> guard{flow_mtx_};
    in_flight_ -= std::min(n, in_flight_);
  }
  flow_cv_.notify_all();
}

namespace {

std::future<caf::expected<ingest_result>> ready(caf::error err) {
  std::promise<caf::expected<ingest_result>> p;
  p.set_value(std::move(err));
  return p.get_future();
}

}  // namespace

std::future<caf::expected<ingest_result>>
embedded_engine::ingest_async(std::vector<engine::event> events) {
  return submit(std::move(events), true);
}

std::future<caf::expected<ingest_result>>
embedded_engine::submit(std::vector<engine::event> events, bool wait) {
  const auto n = events.size();
  if (auto err = acquire(n, wait))
    return ready(std::move(err));
  std::future<caf::expected<ingest_result>> fut;
  std::uint64_t ticket = 0;
  {
    std::lock_guard<std::mutex> guard{client_state_->mtx};
    ticket = client_state_->next_ticket++;
    auto& p = client_state_->waiting[ticket];
    p.events = n;
    fut = p.promise.get_future();
  }
  const auto route = std::hash<std::thread::id>{}(std::this_thread::get_id());
  caf::anon_send(client_, submit_atom::value, ticket, static_cast<std::uint64_t>(route),
                 ingest_request{std::move(events)});
  return fut;
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

namespace {

recommender_actor pick(const topology& t) {
  static thread_local std::size_t next = 0;
  return t.recommenders[next++ % t.recommenders.size()];
}


}  // namespace

caf::expected<std::vector<engine::recommendation>>
embedded_engine::recommend(const std::string& user, const engine::recommend_options& o) {
  if (o.n > max_results || o.offset > max_results)
    return caf::make_error(error_code::invalid_request, "n and offset must each be at most 10000");
  recommend_request req{user, static_cast<std::uint32_t>(o.n),
                        static_cast<std::uint32_t>(o.offset), o.filter.category, o.exclude_seen};
  return items_of(call<recommendations>(pick(topo_), std::move(req)));
}

caf::expected<std::vector<engine::recommendation>>
embedded_engine::similar(const std::string& item, std::size_t n, const std::string& category) {
  if (n > max_results)
    return caf::make_error(error_code::invalid_request, "n must be at most 10000");
  return items_of(call<recommendations>(pick(topo_), similar_atom::value, item,
                                        static_cast<std::uint32_t>(n), category));
}

caf::expected<std::vector<engine::recommendation>>
embedded_engine::popular(std::size_t n, const std::string& category) {
  if (n > max_results)
    return caf::make_error(error_code::invalid_request, "n must be at most 10000");
  return items_of(call<recommendations>(pick(topo_), popular_atom::value,
                                        static_cast<std::uint32_t>(n), category));
}

caf::expected<bool> embedded_engine::set_item(const engine::item_meta& meta) {
  if (auto r = engine::validate_id(meta.id, opts_.topology.model.limits.max_id_length);
      meta.id.empty() || r != engine::reject_reason::none)
    return caf::make_error(error_code::invalid_request,
                           "item id: " + std::string{meta.id.empty() ? "empty_item" : engine::to_string(r)});
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
