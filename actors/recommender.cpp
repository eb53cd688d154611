#include "actors/recommender.hpp"

#include "engine/scoring.hpp"

namespace rtrec {

namespace {

using self_ptr = recommender_actor::stateful_pointer<recommender_state>;
using promise = caf::typed_response_promise<recommendations>;
constexpr auto high = caf::message_priority::high;

caf::error unavailable(self_ptr self, const char* step, const caf::error& err) {
  return caf::make_error(error_code::shard_unavailable,
                         std::string{step} + ": " + self->system().render(err));
}

void finish(self_ptr self, finish_request req, promise rp) {
  self->request<high>(self->state.items.front(), self->state.timeout, finish_atom::value,
                      std::move(req))
    .then([=](recommendations& r) mutable { rp.deliver(std::move(r)); },
          [=](caf::error& err) mutable { rp.deliver(unavailable(self, "finish", err)); });
}

struct gather {
  std::vector<candidates> parts;
  std::size_t pending = 0;
  bool failed = false;
  finish_request req;
};

}  // namespace

recommender_actor::behavior_type
recommender(recommender_actor::stateful_pointer<recommender_state> self, topology_config cfg,
            std::vector<profile_shard_actor> profiles, std::vector<item_shard_actor> items) {
  self->state.profiles = std::move(profiles);
  self->state.items = std::move(items);
  self->state.timeout = cfg.request_timeout;
  return {
    [=](recommend_request& x) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      auto& st = self->state;
      if (x.n > max_results || x.offset > max_results) {
        rp.deliver(caf::make_error(error_code::invalid_request,
                                   "n and offset must each be at most 10000"));
        return rp;
      }
      if (st.profiles.empty() || st.items.empty()) {
        rp.deliver(caf::make_error(error_code::shard_unavailable, "no shards configured"));
        return rp;
      }
      auto g = std::make_shared<gather>();
      g->req.n = x.n;
      g->req.offset = x.offset;
      g->req.category = x.category;
      g->req.exclude_seen = x.exclude_seen;
      const auto owner = engine::shard_of(engine::hash_id(x.user),
                                          static_cast<std::uint32_t>(st.profiles.size()));
      self->request<high>(st.profiles[owner], st.timeout, profile_atom::value, x.user)
        .then(
          [=](engine::profile_view& v) mutable {
            auto& st = self->state;
            g->req.seen = std::move(v.seen);
            if (!v.known || v.recent.empty()) {
              finish(self, std::move(g->req), rp);
              return;
            }
            auto q = engine::make_query(v, {g->req.category});
            g->parts.resize(st.items.size());
            g->pending = st.items.size();
            for (std::size_t m = 0; m < st.items.size(); ++m)
              self->request<high>(st.items[m], st.timeout, score_atom::value, q)
                .then(
                  [=](candidates& c) mutable {
                    g->parts[m] = std::move(c);
                    if (--g->pending > 0 || g->failed)
                      return;
                    // Sum in shard order: deterministic for a given topology.
                    absl::flat_hash_map<engine::key_t, double> acc;
                    for (const auto& part : g->parts)
                      for (std::size_t k = 0; k < part.keys.size(); ++k)
                        acc[part.keys[k]] += part.scores[k];
                    g->req.ranked = engine::rank(acc, g->req.seen, g->req.exclude_seen,
                                                 std::size_t{g->req.offset} + g->req.n);
                    finish(self, std::move(g->req), rp);
                  },
                  [=](caf::error& err) mutable {
                    if (!g->failed) {
                      g->failed = true;
                      rp.deliver(unavailable(self, "score", err));
                    }
                  });
          },
          [=](caf::error& err) mutable { rp.deliver(unavailable(self, "profile", err)); });
      return rp;
    },
    [=](similar_atom, std::string& item, std::uint32_t n, std::string& category) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      auto& st = self->state;
      if (n > max_results || st.items.empty()) {
        rp.deliver(caf::make_error(error_code::invalid_request,
                                   "n must be at most 10000 and item shards must exist"));
        return rp;
      }
      auto owner = engine::shard_of(engine::hash_id(item), static_cast<std::uint32_t>(st.items.size()));
      self->request<high>(st.items[owner], st.timeout, similar_atom::value, std::move(item), n,
                          std::move(category))
        .then([=](recommendations& r) mutable { rp.deliver(std::move(r)); },
              [=](caf::error& err) mutable { rp.deliver(unavailable(self, "similar", err)); });
      return rp;
    },
    [=](popular_atom, std::uint32_t n, std::string& category) -> promise {
      auto rp = self->make_response_promise<recommendations>();
      auto& st = self->state;
      if (n > max_results || st.items.empty()) {
        rp.deliver(caf::make_error(error_code::invalid_request,
                                   "n must be at most 10000 and item shards must exist"));
        return rp;
      }
      self->request<high>(st.items.front(), st.timeout, popular_atom::value, n, std::move(category))
        .then([=](recommendations& r) mutable { rp.deliver(std::move(r)); },
              [=](caf::error& err) mutable { rp.deliver(unavailable(self, "popular", err)); });
      return rp;
    },
  };
}

}  // namespace rtrec
