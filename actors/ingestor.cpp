#include "actors/ingestor.hpp"

#include "actors/util.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>

namespace rtrec {

namespace {

struct pending_ack {
  ingest_ack ack;
  std::size_t waiting = 0;
  caf::typed_response_promise<ingest_ack> rp;
};

void finish_one(const std::shared_ptr<pending_ack>& p) {
  if (--p->waiting == 0) {
    std::sort(p->ack.rejected.begin(), p->ack.rejected.end(),
              [](const rejection& a, const rejection& b) { return a.index < b.index; });
    p->rp.deliver(std::move(p->ack));
  }
}

using self_ptr = ingestor_actor::stateful_pointer<ingestor_state>;

// Keeps a tick pending while any deadline is.
void arm(self_ptr self) {
  auto& st = self->state;
  if (st.tick_armed || st.deadlines.empty())
    return;
  st.tick_armed = true;
  self->delayed_send(caf::actor_cast<ingestor_actor>(self), tick_interval(st.timeout),
                     tick_atom::value);
}

}  // namespace

ingestor_actor::behavior_type
ingestor(ingestor_actor::stateful_pointer<ingestor_state> self, topology_config cfg,
         std::vector<profile_shard_actor> shards) {
  self->state.shards = std::move(shards);
  self->state.limits = cfg.model.limits;
  self->state.timeout = cfg.request_timeout;
  self->state.max_batch = std::max<std::uint32_t>(1, cfg.max_batch);
  self->state.stats.rejected_by_reason.assign(engine::reject_reason_count, 0);
  return {
    [=](ingest_request& x) -> caf::typed_response_promise<ingest_ack> {
      auto& st = self->state;
      auto p = std::make_shared<pending_ack>();
      p->rp = self->make_response_promise<ingest_ack>();
      ++st.stats.requests;
      st.stats.received += x.events.size();
      const auto shard_count = static_cast<std::uint32_t>(st.shards.size());
      // One open batch per shard; full ones (max_batch) move to `ready`.
      std::vector<shard_batch> open(shard_count);
      std::vector<std::pair<std::uint32_t, shard_batch>> ready;
      for (std::size_t k = 0; k < x.events.size(); ++k) {
        auto& e = x.events[k];
        auto r = engine::validate(e, st.limits);
        if (r != engine::reject_reason::none || shard_count == 0) {
          if (r == engine::reject_reason::none)
            r = engine::reject_reason::shard_unavailable;
          ++st.stats.rejected_by_reason[static_cast<std::size_t>(r)];
          p->ack.rejected.push_back({static_cast<std::uint32_t>(k), r});
          continue;
        }
        const auto s = engine::shard_of(engine::hash_id(e.user), shard_count);
        auto& b = open[s];
        b.events.push_back(std::move(e));
        b.index.push_back(static_cast<std::uint32_t>(k));
        if (b.events.size() >= st.max_batch) {
          ready.emplace_back(s, std::move(b));
          b = shard_batch{};
        }
      }
      for (std::uint32_t s = 0; s < shard_count; ++s)
        if (!open[s].events.empty())
          ready.emplace_back(s, std::move(open[s]));
      // Batches go out in arrival order per shard (CAF keeps the order of
      // messages between two actors).
      p->waiting = 1;  // released below, after every batch is sent
      for (auto& [s, batch] : ready) {
        ++p->waiting;
        auto indices = batch.index;
        auto done = std::make_shared<bool>(false);
        // Every event of a batch that got no answer is reported, never lost.
        auto failed = [=](const std::string& why) {
          spdlog::warn("ingestor: profile shard {} failed a batch of {} events: {}; they "
                       "are reported as shard_unavailable (retry them)",
                       s, indices.size(), why);
          auto& stats = self->state.stats;
          stats.rejected_by_reason[static_cast<std::size_t>(
            engine::reject_reason::shard_unavailable)] += indices.size();
          for (auto i : indices)
            p->ack.rejected.push_back({i, engine::reject_reason::shard_unavailable});
          finish_one(p);
        };
        if (!st.shards[s]) {
          failed("its node is unreachable");
          continue;
        }
        const auto timeout = st.timeout;
        st.deadlines.add(self->clock().now() + timeout, done, [=] {
          failed("no answer within " + std::to_string(timeout.count() / 1000000) + " ms");
        });
        self->request(st.shards[s], caf::infinite, std::move(batch))
          .then(
            [=](shard_ack& a) {
              if (*done)
                return;  // already reported at its deadline
              *done = true;
              auto& stats = self->state.stats;
              stats.accepted += a.applied;
              p->ack.accepted += a.applied;
              p->ack.duplicates += a.duplicates;
              for (auto& r : a.rejected) {
                ++stats.rejected_by_reason[static_cast<std::size_t>(r.reason)];
                p->ack.rejected.push_back(r);
              }
              finish_one(p);
            },
            [=](caf::error& err) {
              if (*done)
                return;
              *done = true;
              failed(self->system().render(err));
            });
      }
      arm(self);
      finish_one(p);
      return p->rp;
    },
    [=](stats_atom) -> ingest_stats { return self->state.stats; },
    [=](directory_atom, const shard_directory& d) {
      update_handles(self->state.shards, d.profiles, "ingestor", "profile");
    },
    [=](tick_atom) {
      auto& st = self->state;
      st.tick_armed = false;
      st.deadlines.expire(self->clock().now());
      arm(self);
    },
  };
}

}  // namespace rtrec
