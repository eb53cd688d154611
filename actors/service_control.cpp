// rtrec::service (include/rtrec/rtrec.hpp): items, users and control calls
// (flush, stats, checkpoints, cluster status). Each is a blocking call into
// the actors under call_timeout (actors/blocking_call.hpp).
#include "actors/service_impl.hpp"

#include "actors/blocking_call.hpp"
#include "actors/query_lane.hpp"

#include <absl/strings/numbers.h>

#include <optional>

namespace rtrec {

// -- items and users ------------------------------------------------------------------

result<engine::item_meta> service::item(const std::string& id) {
  // Every item shard holds the same metadata; the first reachable answers.
  const auto routes = impl_->router();
  for (auto& shard : routes.items())
    if (shard)
      return impl_->call<engine::item_meta>(shard, item_atom::value, id);
  return rtrec::error{error_code::shard_unavailable, "item: no item shard is reachable"};
}

result<engine::item_page> service::items(const std::string& cursor, std::uint32_t n) {
  // Every item shard holds the same metadata; the first reachable answers.
  const auto routes = impl_->router();
  for (auto& shard : routes.items())
    if (shard)
      return impl_->call<engine::item_page>(shard, list_atom::value, cursor, n);
  return rtrec::error{error_code::shard_unavailable, "items: no item shard is reachable"};
}

result<engine::item_meta> service::update_item(const std::string& id,
                                               const engine::item_patch& patch) {
  return impl_->call<engine::item_meta>(impl_->items, item_atom::value, id, patch);
}

result<bool> service::set_item(const engine::item_meta& meta) {
  if (auto r = engine::validate_id(meta.id, impl_->opts.topology.model.limits.max_id_length);
      meta.id.empty() || r != engine::reject_reason::none)
    return rtrec::error{error_code::invalid_request,
                        "item id: "
                          + std::string{meta.id.empty() ? "empty_item" : engine::to_string(r)}};
  return impl_->call<bool>(impl_->items, item_atom::value, meta);
}

result<bool> service::remove_item(const std::string& id) {
  return impl_->call<bool>(impl_->items, remove_atom::value, id);
}

result<std::vector<engine::interaction>> service::user_recent(const std::string& user) {
  auto owner = impl_->router().profile_of(user);
  if (!owner)
    return impl_->convert(owner.error());
  auto r = impl_->call<user_interactions>(*owner, recent_atom::value, user);
  if (!r)
    return std::move(r.error());
  return std::move(r->items);
}

result<bool> service::forget_user(const std::string& user) {
  auto owner = impl_->router().profile_of(user);
  if (!owner)
    return impl_->convert(owner.error());
  return impl_->call<bool>(*owner, forget_atom::value, user);
}

result<bool> service::put_user(const std::string& user, const engine::user_patch& patch) {
  if (auto r = engine::validate_id(user, impl_->opts.topology.model.limits.max_id_length);
      user.empty() || r != engine::reject_reason::none)
    return rtrec::error{error_code::invalid_request,
                        "UserId: " + std::string{user.empty() ? "empty_user" : engine::to_string(r)}};
  if (auto why = patch.check(); !why.empty())
    return rtrec::error{error_code::invalid_request, why};
  auto owner = impl_->router().profile_of(user);
  if (!owner)
    return impl_->convert(owner.error());
  return impl_->call<bool>(*owner, user_atom::value, user, patch);
}

result<engine::user_record> service::user(const std::string& user) {
  auto owner = impl_->router().profile_of(user);
  if (!owner)
    return impl_->convert(owner.error());
  return impl_->call<engine::user_record>(*owner, user_atom::value, user);
}

namespace {

/// A list_users cursor: the profile shard and the slot to continue from,
/// written "<shard>.<slot>".
struct user_cursor {
  std::uint32_t shard = 0;
  std::uint64_t slot = 0;
};

std::optional<user_cursor> parse_cursor(const std::string& s, std::uint32_t shards) {
  user_cursor c;
  if (s.empty())
    return c;
  const auto dot = s.find('.');
  if (dot == std::string::npos
      || !absl::SimpleAtoi(absl::string_view{s}.substr(0, dot), &c.shard)
      || !absl::SimpleAtoi(absl::string_view{s}.substr(dot + 1), &c.slot) || c.shard >= shards)
    return std::nullopt;
  return c;
}

}  // namespace

result<user_listing> service::list_users(const std::string& cursor, std::size_t n) {
  const auto routes = impl_->router();
  const auto shards = routes.profile_count();
  auto at = parse_cursor(cursor, shards);
  if (!at)
    return rtrec::error{error_code::invalid_request,
                        "cursor \"" + cursor + "\" was not given by this server; start with an "
                        "empty cursor"};
  if (n == 0 || n > 10000)
    return rtrec::error{error_code::invalid_request,
                        "n must be between 1 and 10000 (got " + std::to_string(n) + ")"};
  user_listing out;
  while (at->shard < shards && out.users.size() < n) {
    const auto& shard = routes.profiles()[at->shard];
    if (!shard)
      return rtrec::error{error_code::shard_unavailable,
                          "list users: profile shard " + std::to_string(at->shard)
                            + " is on a node that is down; retry with the same cursor"};
    auto page = impl_->call<engine::user_page>(shard, users_atom::value, at->slot,
                                               static_cast<std::uint32_t>(n - out.users.size()));
    if (!page)
      return std::move(page.error());
    for (auto& u : page->users)
      out.users.push_back(std::move(u));
    if (page->done)
      *at = {at->shard + 1, 0};
    else
      at->slot = page->next;
  }
  if (at->shard < shards)
    out.cursor = std::to_string(at->shard) + "." + std::to_string(at->slot);
  return out;
}

// -- control --------------------------------------------------------------------------

namespace {

// Flushes each non-null shard of `profiles`; returns the events they applied.
result<std::uint64_t> flush_each(service::impl& s,
                                 const std::vector<profile_shard_actor>& profiles) {
  std::uint64_t applied = 0;
  for (auto& shard : profiles) {
    if (!shard)
      continue;  // on an unreachable node (cluster mode)
    auto r = s.call<std::uint64_t>(shard, flush_atom::value);
    if (!r)
      return r;
    applied += *r;
  }
  return applied;
}

}  // namespace

result<std::uint64_t> service::flush_local() {
  return flush_each(*impl_, impl_->topo.profiles);
}

result<std::uint64_t> service::flush() {
  // Shards on unreachable nodes are skipped: what they acknowledged went
  // down with them (cluster mode keeps state in memory).
  const auto routes = impl_->router();
  return flush_each(*impl_, routes.profiles());
}

result<service_stats> service::stats() {
  auto& s = *impl_;
  service_stats out;
  for (auto& a : s.topo.ingestors) {
    auto r = s.call<ingest_stats>(a, stats_atom::value);
    if (!r)
      return std::move(r.error());
    out.ingestors.push_back(std::move(*r));
  }
  out.partial_answers = s.partial_answers.load(std::memory_order_relaxed);
  out.scheduler = query_lane_counters(query_lane_of(*s.system));
  out.worker_threads = s.system->scheduler().num_workers();
  const auto routes = s.router();
  // Shards on unreachable nodes are left out (cluster mode).
  for (auto& a : routes.profiles()) {
    if (!a) {
      ++out.unreachable_shards;
      continue;
    }
    auto r = s.call<shard_stats>(a, stats_atom::value);
    if (!r)
      return std::move(r.error());
    out.users += r->users;
    out.events_applied += r->events_applied;
    out.profile_bytes += r->memory_bytes;
    out.profile_shards.push_back(*r);
  }
  for (auto& a : routes.items()) {
    if (!a) {
      ++out.unreachable_shards;
      continue;
    }
    auto r = s.call<item_shard_stats>(a, stats_atom::value);
    if (!r)
      return std::move(r.error());
    out.items = std::max<std::uint64_t>(out.items, r->model.items);
    out.item_bytes += r->model.memory_bytes;
    out.item_lag_p99_ns = std::max(out.item_lag_p99_ns, r->lag_p99_ns);
    out.item_shards.push_back(*r);
  }
  return out;
}

result<checkpoint_report> service::checkpoint() {
  auto& s = *impl_;
  if (!s.checkpoints)
    return rtrec::error{error_code::invalid_request,
                        "checkpoint: the service runs in memory only (set a data directory)"};
  if (s.gate.closed())
    return rtrec::error{error_code::shutting_down, "the service is stopped"};
  return s.convert(s.checkpoints->run(), "checkpoint");
}

durability_stats service::durability() {
  auto& s = *impl_;
  durability_stats out;
  out.enabled = s.wal != nullptr;
  if (s.wal)
    out.wal = s.wal->stats();
  out.recovery = s.recovery;
  if (s.checkpoints)
    s.checkpoints->fill(out);
  return out;
}

std::size_t service::in_flight_events() {
  return impl_->gate.in_flight();
}

std::size_t service::in_flight_peak() {
  return impl_->gate.peak();
}

cluster_status service::cluster() const {
  if (!impl_->cluster)
    return {};
  std::lock_guard<std::mutex> guard{impl_->cluster->mtx};
  auto out = impl_->cluster->status;
  out.durable = static_cast<bool>(impl_->wal);
  out.item_coverage.assign(out.map.item_owner.size(), {});
  for (const auto& [m, applied] : impl_->cluster->coverage)
    if (m < out.item_coverage.size())
      out.item_coverage[m] = applied;
  return out;
}

bool service::await_cluster(const std::function<bool(const cluster_status&)>& pred,
                            std::chrono::milliseconds timeout) const {
  auto& c = impl_->cluster;
  if (!c)
    return pred(cluster_status{});
  std::unique_lock<std::mutex> guard{c->mtx};
  return c->changed.wait_for(guard, timeout, [&] { return pred(c->status); });
}

const service_options& service::options() const noexcept {
  return impl_->opts;
}

std::int64_t service::now_ms() const {
  return impl_->clock();
}

}  // namespace rtrec
