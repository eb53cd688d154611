#include "actors/ingestor.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace rtrec {

namespace {

using self_ptr = ingestor_actor::stateful_pointer<ingestor_state>;

// One request's answer, complete once every shard batch is answered.
struct pending_ack {
  ingest_result result;
  std::size_t waiting = 0;
  reply_to<ingest_result> reply;
  explicit pending_ack(reply_to<ingest_result> r) : reply(std::move(r)) {}
};

void finish_one(const std::shared_ptr<pending_ack>& p) {
  if (--p->waiting > 0)
    return;
  auto by_index = [](const auto& a, const auto& b) { return a.index < b.index; };
  std::sort(p->result.rejected.begin(), p->result.rejected.end(), by_index);
  std::sort(p->result.failed.begin(), p->result.failed.end(), by_index);
  p->reply.deliver(std::move(p->result));
}

void count_failed(self_ptr self, delivery_failure why, std::size_t n) {
  self->state.stats.failed_by_reason[static_cast<std::size_t>(why)] += n;
}

// Groups the valid events of `events` by owning shard, in batches of at most
// max_batch, in arrival order per shard; invalid ones go to p->result.
std::vector<std::pair<std::uint32_t, shard_batch>>
group(self_ptr self, std::vector<engine::event>& events, pending_ack& p) {
  auto& st = self->state;
  const auto shard_count = st.router.profile_count();
  std::vector<std::pair<std::uint32_t, shard_batch>> ready;
  // First each event's shard (no_shard: refused here), counted per shard,
  // so each batch is allocated once at its size instead of growing by
  // moves of whole events.
  constexpr std::uint32_t no_shard = ~std::uint32_t{0};
  std::vector<std::uint32_t> shard_of(events.size(), no_shard);
  std::vector<std::size_t> count(shard_count, 0);
  for (std::size_t k = 0; k < events.size(); ++k) {
    const auto& e = events[k];
    const auto index = static_cast<std::uint32_t>(k);
    if (auto r = engine::validate(e, st.limits); r != engine::reject_reason::none) {
      ++st.stats.rejected_by_reason[static_cast<std::size_t>(r)];
      p.result.rejected.push_back({index, r});
      continue;
    }
    if (shard_count == 0) {
      count_failed(self, delivery_failure::shard_unavailable, 1);
      p.result.failed.push_back({index, delivery_failure::shard_unavailable});
      continue;
    }
    shard_of[k] = st.router.profile_index(e.user);
    ++count[shard_of[k]];
  }
  std::vector<shard_batch> open(shard_count);
  auto start = [&](std::uint32_t s) {
    const auto n = std::min<std::size_t>(count[s], st.max_batch);
    open[s].events.reserve(n);
    open[s].index.reserve(n);
  };
  for (std::uint32_t s = 0; s < shard_count; ++s)
    start(s);
  for (std::size_t k = 0; k < events.size(); ++k) {
    const auto s = shard_of[k];
    if (s == no_shard)
      continue;
    auto& b = open[s];
    b.events.push_back(std::move(events[k]));
    b.index.push_back(static_cast<std::uint32_t>(k));
    --count[s];
    if (b.events.size() >= st.max_batch) {
      ready.emplace_back(s, std::move(b));
      b = shard_batch{};
      start(s);
    }
  }
  for (std::uint32_t s = 0; s < shard_count; ++s)
    if (!open[s].events.empty())
      ready.emplace_back(s, std::move(open[s]));
  return ready;
}

// Sends one shard's batch; its answer (or failure) completes one part of p.
void send_batch(self_ptr self, std::uint32_t s, shard_batch batch,
                const std::shared_ptr<pending_ack>& p) {
  auto& st = self->state;
  auto indices = std::make_shared<std::vector<std::uint32_t>>(batch.index);
  // Every event of a batch that got no answer is reported, never lost.
  auto failed = [self, s, p, indices](const caf::error& err) {
    spdlog::warn("ingestor: profile shard {} failed a batch of {} events: {}; they are "
                 "reported as shard_unavailable (retry them)",
                 s, indices->size(), self->system().render(err));
    count_failed(self, delivery_failure::shard_unavailable, indices->size());
    for (auto i : *indices)
      p->result.failed.push_back({i, delivery_failure::shard_unavailable});
    finish_one(p);
  };
  auto dest = st.router.profile(s);
  if (!dest) {
    failed(dest.error());
    return;
  }
  timed_request<ingest_result>(
    self, st.deadlines, *dest,
    [self, p](ingest_result& a) {
      auto& stats = self->state.stats;
      stats.accepted += a.accepted;
      p->result.accepted += a.accepted;
      p->result.duplicates += a.duplicates;
      for (auto& r : a.rejected) {
        ++stats.rejected_by_reason[static_cast<std::size_t>(r.reason)];
        p->result.rejected.push_back(r);
      }
      for (auto& f : a.failed) {
        count_failed(self, f.why, 1);
        p->result.failed.push_back(f);
      }
      finish_one(p);
    },
    [failed](caf::error& err) { failed(err); }, std::move(batch));
}

void ingest(self_ptr self, ingest_request& x, reply_to<ingest_result> reply) {
  auto& st = self->state;
  auto p = std::make_shared<pending_ack>(std::move(reply));
  ++st.stats.requests;
  st.stats.received += x.events.size();
  auto ready = group(self, x.events, *p);
  // Batches go out in arrival order per shard (CAF keeps the order of
  // messages between two actors).
  p->waiting = 1 + ready.size();  // the 1 is released below, after every batch is sent
  for (auto& [s, batch] : ready)
    send_batch(self, s, std::move(batch), p);
  finish_one(p);
}

}  // namespace

ingestor_actor::behavior_type
ingestor(ingestor_actor::stateful_pointer<ingestor_state> self, topology_config cfg,
         shard_router router, std::shared_ptr<reply_sink> sink) {
  auto& init = self->state;
  init.router = std::move(router);
  init.limits = cfg.model.limits;
  init.deadlines.set_timeout(cfg.request_timeout);
  init.max_batch = std::max<std::uint32_t>(1, cfg.max_batch);
  init.stats.rejected_by_reason.assign(engine::reject_reason_count, 0);
  init.stats.failed_by_reason.assign(delivery_failure_count, 0);
  init.sink = std::move(sink);
  return {
    [=](ingest_request& x) -> caf::typed_response_promise<ingest_result> {
      auto rp = self->make_response_promise<ingest_result>();
      ingest(self, x, reply_to<ingest_result>{rp});
      return rp;
    },
    [=](submit_atom, std::uint64_t ticket, ingest_request& x) {
      if (auto rp = ticketed<ingest_result>(self->state.sink, ticket, "ingestor"))
        ingest(self, x, std::move(*rp));
    },
    [=](stats_atom) -> ingest_stats { return self->state.stats; },
    [=](directory_atom, const shard_directory& d) { self->state.router.update(d, "ingestor"); },
    [=](tick_atom) { self->state.deadlines.on_tick(self); },
  };
}

}  // namespace rtrec
