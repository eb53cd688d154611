#include "actors/profile_shard.hpp"

#include <spdlog/spdlog.h>

#include "actors/util.hpp"

namespace rtrec {

namespace {

using self_ptr = profile_shard_actor::stateful_pointer<profile_shard_state>;

void release_deferred(self_ptr self) {
  auto& st = self->state;
  while (!st.deferred.empty() && st.deltas_in_flight < st.max_in_flight) {
    auto& [rp, ack] = st.deferred.front();
    rp.deliver(std::move(ack));
    st.deferred.pop_front();
  }
}

void send_delta(self_ptr self, engine::item_delta_batch&& delta) {
  auto& st = self->state;
  delta_batch msg{std::move(delta), st.index, ++st.seq, steady_ns()};
  // Every item shard gets a copy but the last, which gets the original.
  for (std::size_t m = 0; m < st.items.size(); ++m) {
    ++st.deltas_in_flight;
    auto& item = st.items[m];
    auto req = m + 1 == st.items.size() ? self->request(item, st.timeout, std::move(msg))
                                        : self->request(item, st.timeout, msg);
    std::move(req)
      .then(
        [=](std::uint64_t) {
          --self->state.deltas_in_flight;
          release_deferred(self);
        },
        [=](caf::error& err) {
          auto& s = self->state;
          --s.deltas_in_flight;
          ++s.delta_failures;
          spdlog::error("profile shard {}: item shard did not apply delta batch: {}; the item "
                        "side misses those events (check the item shard's health)",
                        s.index, self->system().render(err));
          release_deferred(self);
        });
  }
}

}  // namespace

profile_shard_actor::behavior_type
profile_shard(profile_shard_actor::stateful_pointer<profile_shard_state> self,
              topology_config cfg, std::uint32_t index, std::vector<item_shard_actor> items) {
  auto& st = self->state;
  st.store = std::make_unique<engine::profile_store>(cfg.model);
  st.items = std::move(items);
  st.index = index;
  st.timeout = cfg.request_timeout;
  st.max_in_flight = static_cast<std::uint64_t>(cfg.max_deltas_in_flight)
                     * std::max<std::size_t>(1, st.items.size());
  return {
    [=](shard_batch& x) -> caf::typed_response_promise<shard_ack> {
      auto rp = self->make_response_promise<shard_ack>();
      auto& st = self->state;
      shard_ack ack;
      engine::item_delta_batch delta;
      std::vector<engine::reject_reason> results;
      st.store->apply_batch(x.events, results, delta);
      for (std::size_t k = 0; k < x.events.size(); ++k) {
        auto r = results[k];
        if (r == engine::reject_reason::none) {
          ++ack.applied;
        } else {
          ++st.rejected;
          ack.rejected.push_back({k < x.index.size() ? x.index[k] : static_cast<std::uint32_t>(k), r});
        }
      }
      if (!delta.empty() && !st.items.empty())
        send_delta(self, std::move(delta));
      if (st.deltas_in_flight < st.max_in_flight && st.deferred.empty()) {
        rp.deliver(std::move(ack));
      } else {
        ++st.acks_deferred_total;
        st.deferred.emplace_back(rp, std::move(ack));
      }
      return rp;
    },
    [=](profile_atom, const std::string& user) -> engine::profile_view {
      return self->state.store->view(user);
    },
    [=](recent_atom, const std::string& user) -> user_interactions {
      return {self->state.store->recent(user)};
    },
    [=](forget_atom, const std::string& user) -> bool {
      return self->state.store->erase(user);
    },
    [=](flush_atom) -> caf::typed_response_promise<std::uint64_t> {
      auto rp = self->make_response_promise<std::uint64_t>();
      auto& st = self->state;
      const auto applied = st.store->events_applied();
      if (st.items.empty()) {
        rp.deliver(applied);
        return rp;
      }
      auto pending = std::make_shared<std::size_t>(st.items.size());
      auto failed = std::make_shared<bool>(false);
      for (auto& item : st.items)
        self->request(item, st.timeout, flush_atom::value)
          .then(
            [=](std::uint64_t) mutable {
              if (--*pending == 0 && !*failed)
                rp.deliver(applied);
            },
            [=](caf::error& err) mutable {
              if (!*failed) {
                *failed = true;
                rp.deliver(caf::make_error(error_code::shard_unavailable,
                                           "flush: an item shard did not answer: "
                                             + self->system().render(err)));
              }
            });
      return rp;
    },
    [=](stats_atom) -> shard_stats {
      auto& st = self->state;
      shard_stats s;
      s.shard = st.index;
      s.users = st.store->users();
      s.events_applied = st.store->events_applied();
      s.rejected = st.rejected;
      s.memory_bytes = st.store->memory_bytes();
      s.deltas_in_flight = st.deltas_in_flight;
      s.acks_deferred = st.acks_deferred_total;
      s.delta_failures = st.delta_failures;
      return s;
    },
  };
}

}  // namespace rtrec
