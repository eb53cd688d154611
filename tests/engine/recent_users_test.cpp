// Tests of engine/recent_users: who an item lists (the K most recent, the
// latest time and largest weight per user, a dislike takes a user off), that
// the lists do not depend on how different users' events interleave, and
// that user neighbors computed over item shards equal a brute-force
// computation from the raw events (the formula of recent_users.hpp), for
// several shard counts; plus the reference model's answer.
#include "engine/recent_users.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <random>
#include <set>

#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"
#include "engine/reference_model.hpp"
#include "tests/engine/test_support.hpp"

namespace rtrec::engine {
namespace {

constexpr std::int64_t t0 = 1'700'000'000'000;
using test_support::make_event;

std::set<key_t> listed(const recent_users& r, key_t item) {
  std::set<key_t> out;
  if (const auto* l = r.users_of(item))
    for (const auto& m : *l)
      out.insert(m.user);
  return out;
}

TEST(RecentUsers, KeepsTheKMostRecentAndTheirStrongestWeight) {
  recent_users r{2};
  r.add(7, 1, 10, 1.0f);
  r.add(7, 2, 20, 2.0f);
  r.add(7, 3, 15, 1.0f);  // full: 1 (time 10) leaves
  EXPECT_EQ(listed(r, 7), (std::set<key_t>{2, 3}));
  EXPECT_EQ(r.evictions(), 1u);
  r.add(7, 4, 5, 9.0f);  // older than everyone listed: not taken
  EXPECT_EQ(listed(r, 7), (std::set<key_t>{2, 3}));
  r.add(7, 3, 30, 0.5f);  // again: later time, the larger weight stays
  r.add(7, 5, 20, 1.0f);  // ties 2 on time: the larger key is the more recent
  EXPECT_EQ(listed(r, 7), (std::set<key_t>{3, 5}));
  for (const auto& m : *r.users_of(7))
    if (m.user == 3) {
      EXPECT_EQ(m.timestamp, 30);
      EXPECT_EQ(m.weight, 1.0f);
    }
  r.remove(7, 3);
  EXPECT_EQ(listed(r, 7), (std::set<key_t>{5}));
  EXPECT_EQ(r.entries(), 1u);
  r.remove(7, 5);
  EXPECT_EQ(r.users_of(7), nullptr);
  EXPECT_EQ(r.items(), 0u);
  recent_users off{0};
  off.add(7, 1, 10, 1.0f);
  EXPECT_EQ(off.users_of(7), nullptr);
}

/// A seeded workload with timestamps increasing in event order. With
/// `likes_only`, likes only: every event of a user on an item has the same
/// weight, and none takes a user off a list.
std::vector<event> workload(std::uint64_t seed, int events, int users, int items,
                            bool likes_only = false) {
  std::mt19937_64 rng{seed};
  std::vector<event> out;
  for (int n = 0; n < events; ++n) {
    const auto u = rng() % static_cast<std::uint64_t>(users);
    const auto i = std::min(rng() % static_cast<std::uint64_t>(items),
                            rng() % static_cast<std::uint64_t>(items));
    auto type = static_cast<event_type>(rng() % event_type_count);
    if (likes_only)
      type = event_type::like;
    out.push_back(make_event("u" + std::to_string(u), "i" + std::to_string(i), t0 + n * 1000,
                             type, type == event_type::rating ? double(rng() % 11) : 0.0));
  }
  return out;
}

// Every user's events through its own profile store shard (S of them), the
// deltas applied to `lists` (one per item shard, owning by shard_of).
struct sharded {
  sharded(const model_config& cfg, std::uint32_t s, std::uint32_t m) {
    for (std::uint32_t k = 0; k < s; ++k)
      profiles.push_back(std::make_unique<profile_store>(cfg));
    for (std::uint32_t k = 0; k < m; ++k) {
      models.push_back(std::make_unique<item_model>(cfg, k, m));
      lists.push_back(std::make_unique<recent_users>(cfg.item_users_max));
    }
  }
  void ingest(const event& e) {
    item_delta_batch d;
    ASSERT_EQ(profiles[shard_of(hash_id(e.user), profiles.size())]->apply(e, d),
              reject_reason::none);
    for (std::size_t m = 0; m < models.size(); ++m) {
      models[m]->apply(d);
      lists[m]->apply(d, [&](key_t i) { return models[m]->owns(i); });
    }
  }
  std::vector<scored> neighbors(const std::string& user) const {
    const auto view = profiles[shard_of(hash_id(user), profiles.size())]->view(user);
    std::vector<user_neighbor_parts> parts;
    for (std::size_t m = models.size(); m-- > 0;)  // any order: the sums are the same
      parts.push_back(user_neighbor_contributions(*lists[m], *models[m],
                                                  {view.recent, view.recent_weight}));
    return rank_user_neighbors(parts, hash_id(user));
  }
  std::vector<std::unique_ptr<profile_store>> profiles;
  std::vector<std::unique_ptr<item_model>> models;
  std::vector<std::unique_ptr<recent_users>> lists;
};

TEST(RecentUsers, ListsDoNotDependOnHowUsersInterleave) {
  const std::uint64_t seed = 4242;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  model_config cfg;
  cfg.item_users_max = 1000;  // no evictions
  auto events = workload(seed, 3000, 40, 60);
  sharded a{cfg, 1, 1}, b{cfg, 1, 1};
  for (const auto& e : events)
    a.ingest(e);
  // Another interleaving that keeps each user's own order: users in turn.
  std::map<std::string, std::vector<event>> by_user;
  for (const auto& e : events)
    by_user[e.user].push_back(e);
  for (const auto& [user, es] : by_user)
    for (const auto& e : es)
      b.ingest(e);
  ASSERT_EQ(a.lists[0]->evictions(), 0u);
  for (int i = 0; i < 60; ++i) {
    const auto item = hash_id("i" + std::to_string(i));
    EXPECT_EQ(listed(*a.lists[0], item), listed(*b.lists[0], item)) << "item i" << i;
  }
}

// The formula of recent_users.hpp computed from the raw events alone: per
// item, the K users with the latest positive events (since their last
// dislike of it), each with its largest weight. With evictions this equals
// the incremental lists when timestamps grow with arrival, a user's events
// on an item all weigh the same (a user re-entering a list starts its weight
// anew) and there are no dislikes (a dislike in a full list leaves a place
// that the users evicted before cannot take back): the small-K runs use such
// workloads.
std::vector<scored> brute_force(const std::vector<event>& events, const model_config& cfg,
                                const profile_view& view, key_t self, const item_model& model) {
  struct mark {
    std::int64_t ts = 0;
    float w = 0;
  };
  std::map<key_t, std::map<key_t, mark>> by_item;  // item -> user -> mark
  for (const auto& e : events) {
    auto& users = by_item[hash_id(e.item)];
    if (e.type == event_type::dislike) {
      users.erase(hash_id(e.user));
      continue;
    }
    auto& m = users[hash_id(e.user)];
    m.ts = std::max(m.ts, e.timestamp);
    m.w = std::max(m.w, cfg.weight_of(e.type, e.value));
  }
  std::map<key_t, double> score;
  for (std::size_t k = 0; k < view.recent.size(); ++k) {
    const auto item = view.recent[k];
    std::vector<std::pair<std::pair<std::int64_t, key_t>, float>> users;
    for (const auto& [u, m] : by_item[item])
      users.push_back({{m.ts, u}, m.w});
    std::sort(users.rbegin(), users.rend());  // most recent first
    users.resize(std::min(users.size(), cfg.item_users_max));
    const double damping = std::log2(2.0 + double(model.find(item)->events));
    for (const auto& [when, w] : users)
      if (when.second != self)
        score[when.second] += view.recent_weight[k] * double(w) / damping;
  }
  std::vector<scored> out;
  for (const auto& [u, s] : score)
    out.push_back({u, s});
  std::sort(out.begin(), out.end(), by_better);
  return out;
}

class RecentUsersSharded : public ::testing::TestWithParam<std::tuple<std::uint32_t, std::size_t>> {};

TEST_P(RecentUsersSharded, NeighborsEqualABruteForceComputation) {
  const auto [shards, k] = GetParam();
  for (std::uint64_t seed : {11u, 12u, 13u}) {
    SCOPED_TRACE("seed=" + std::to_string(seed) + " item shards=" + std::to_string(shards) +
                 " K=" + std::to_string(k));
    model_config cfg;
    cfg.item_users_max = k;
    cfg.recent_max = 8;
    auto events = workload(seed, 2500, 50, 40, k < 100);
    sharded s{cfg, 3, shards};
    reference_model ref{cfg};
    for (const auto& e : events) {
      s.ingest(e);
      ref.ingest(e);
    }
    std::size_t nonempty = 0;
    for (int u = 0; u < 50; ++u) {
      const auto user = "u" + std::to_string(u);
      const auto view = s.profiles[shard_of(hash_id(user), 3)]->view(user);
      const auto want = brute_force(events, cfg, view, hash_id(user), ref.items());
      const auto got = s.neighbors(user);
      ASSERT_EQ(got.size(), want.size()) << user;
      for (std::size_t j = 0; j < got.size(); ++j) {
        ASSERT_EQ(got[j].key, want[j].key) << user << " rank " << j;
        ASSERT_NEAR(got[j].score, want[j].score, 1e-12 * want[j].score) << user;
      }
      // The reference model answers the same, named.
      const auto named = ref.user_neighbors(user, 5, 1);
      ASSERT_EQ(named.size(), std::min<std::size_t>(5, want.size() > 0 ? want.size() - 1 : 0));
      for (std::size_t j = 0; j < named.size(); ++j) {
        EXPECT_EQ(hash_id(named[j].item), want[j + 1].key);
        EXPECT_DOUBLE_EQ(named[j].score, want[j + 1].score);
      }
      nonempty += got.empty() ? 0 : 1;
    }
    EXPECT_GT(nonempty, 40u) << "the workload should give most users neighbors";
  }
}

INSTANTIATE_TEST_SUITE_P(ShardsAndK, RecentUsersSharded,
                         ::testing::Combine(::testing::Values(1u, 2u, 3u),
                                            ::testing::Values(std::size_t{3},
                                                              std::size_t{1000})));

TEST(RecentUsers, CostIsBoundedByRecentMaxTimesK) {
  model_config cfg;
  cfg.item_users_max = 4;
  cfg.recent_max = 5;
  sharded s{cfg, 1, 2};
  // 200 users all touch the same 10 items: every list is full.
  for (int u = 0; u < 200; ++u)
    for (int i = 0; i < 10; ++i)
      s.ingest(make_event("u" + std::to_string(u), "i" + std::to_string(i), t0 + u * 100 + i));
  std::size_t entries = 0;
  for (const auto& l : s.lists)
    entries += l->entries();
  EXPECT_EQ(entries, 10u * 4u);
  // A query reads at most recent_max * K listed users.
  const auto view = s.profiles[0]->view("u0");
  std::size_t read = 0;
  for (std::size_t m = 0; m < 2; ++m)
    read += user_neighbor_contributions(*s.lists[m], *s.models[m],
                                        {view.recent, view.recent_weight})
              .users.size();
  EXPECT_LE(read, cfg.recent_max * cfg.item_users_max);
  // u0 is long gone from every list: the most recent users are its neighbors.
  const auto got = s.neighbors("u0");
  ASSERT_FALSE(got.empty());
  EXPECT_EQ(got.front().key, hash_id("u199"));
}

}  // namespace
}  // namespace rtrec::engine
