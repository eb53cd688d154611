// An item shard applies a delta batch in slices (item_model::apply(batch,
// from, to), recent_users::apply(batch, owns, from, to)) so that queries get
// in between. The property that matters: a batch applied as consecutive
// ranges leaves exactly the state one whole apply leaves. A seeded synthetic
// stream (the blend on, so the sequential rules and the trend are fed; small
// rows and a small popular cache, so pruning and cache refreshes happen
// inside the stream) goes through one profile store; each of its batches is
// applied whole to one set of item shards and in slices of 1, 7 and 64
// events to others, and everything the shards answer is compared, scores
// bit for bit.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"
#include "engine/recent_users.hpp"
#include "engine/synthetic.hpp"

namespace rtrec::engine {
namespace {

model_config blend_config() {
  model_config cfg;
  cfg.recent_max = 24;
  cfg.pair_window = 5;
  cfg.neighbors_max = 8;  // rows are pruned
  cfg.popular_cache = 16;
  cfg.popular_refresh_events = 50;  // the cache is refreshed inside the stream
  cfg.seq_weight = 0.6;
  cfg.trend_weight = 0.3;
  cfg.seq_window = 20;
  cfg.item_users_max = 6;
  return cfg;
}

struct shard_set {
  shard_set(const model_config& cfg, std::uint32_t shards) {
    for (std::uint32_t s = 0; s < shards; ++s) {
      models.emplace_back(cfg, s, shards);
      users.emplace_back(cfg.item_users_max);
    }
  }
  // Applies `b` in ranges of `slice` events (0 = whole).
  void apply(const item_delta_batch& b, std::size_t slice) {
    for (std::size_t s = 0; s < models.size(); ++s) {
      auto& m = models[s];
      auto owns = [&m](key_t item) { return m.owns(item); };
      if (slice == 0) {
        m.apply(b);
        users[s].apply(b, owns);
        continue;
      }
      for (std::size_t from = 0; from < b.size(); from += slice) {
        m.apply(b, from, from + slice);
        users[s].apply(b, owns, from, from + slice);
      }
    }
  }
  std::vector<item_model> models;
  std::vector<recent_users> users;
};

std::vector<scored> by_key(std::vector<scored> v) {
  std::sort(v.begin(), v.end(), [](const scored& x, const scored& y) { return x.key < y.key; });
  return v;
}

void expect_same_lists(const std::vector<scored>& x, const std::vector<scored>& y,
                       const char* what, key_t item) {
  ASSERT_EQ(x.size(), y.size()) << what << ", item key " << item;
  for (std::size_t k = 0; k < x.size(); ++k) {
    EXPECT_EQ(x[k].key, y[k].key) << what << ", item key " << item << ", rank " << k;
    EXPECT_EQ(x[k].score, y[k].score) << what << ", item key " << item << ", rank " << k;
  }
}

// Observably the same shards (hash tables salt their layout per table, so
// saved bytes differ between equal models): counts, every item's entry,
// similar lists, every rule between the items, popular lists, blended
// candidates for every user's profile, and the recent-user lists.
void expect_same(shard_set& a, shard_set& b, const std::vector<key_t>& items,
                 const profile_store& store, std::size_t users, std::size_t slice) {
  SCOPED_TRACE("slice " + std::to_string(slice));
  const item_filter any;
  for (std::size_t s = 0; s < a.models.size(); ++s) {
    SCOPED_TRACE("shard " + std::to_string(s));
    auto& ma = a.models[s];
    auto& mb = b.models[s];
    const auto sa = ma.stats(), sb = mb.stats();
    EXPECT_EQ(sa.events, sb.events);
    EXPECT_EQ(sa.pair_updates, sb.pair_updates);
    EXPECT_EQ(sa.prunes, sb.prunes);
    EXPECT_EQ(sa.items, sb.items);
    EXPECT_EQ(sa.rows, sb.rows);
    EXPECT_EQ(sa.row_entries, sb.row_entries);
    EXPECT_EQ(ma.rules().entries(), mb.rules().entries());
    EXPECT_EQ(ma.rules().prunes(), mb.rules().prunes());
    EXPECT_EQ(ma.latest_timestamp(), mb.latest_timestamp());
    for (const auto i : items) {
      const auto* ea = ma.find(i);
      const auto* eb = mb.find(i);
      ASSERT_EQ(ea == nullptr, eb == nullptr) << "item key " << i;
      if (ea != nullptr) {
        EXPECT_EQ(ea->id, eb->id);
        EXPECT_EQ(ea->norm, eb->norm);
        EXPECT_EQ(ea->popularity, eb->popularity);
        EXPECT_EQ(ea->events, eb->events);
        EXPECT_EQ(ea->last_timestamp, eb->last_timestamp);
      }
      expect_same_lists(ma.similar(i, 10, any), mb.similar(i, 10, any), "similar", i);
      for (const auto j : items)
        if (ma.rule(i, j) != mb.rule(i, j))
          ADD_FAILURE() << "rule " << i << " -> " << j << ": " << ma.rule(i, j) << " vs "
                        << mb.rule(i, j);
      const auto* u = a.users[s].users_of(i);
      const auto* v = b.users[s].users_of(i);
      ASSERT_EQ(u == nullptr, v == nullptr) << "recent users of item key " << i;
      if (u == nullptr)
        continue;
      ASSERT_EQ(u->size(), v->size()) << "recent users of item key " << i;
      for (std::size_t k = 0; k < u->size(); ++k) {
        EXPECT_EQ((*u)[k].user, (*v)[k].user);
        EXPECT_EQ((*u)[k].timestamp, (*v)[k].timestamp);
        EXPECT_EQ((*u)[k].weight, (*v)[k].weight);
      }
    }
    // From the popular cache (16), stale until its refresh: refreshed at the
    // same points of the stream.
    expect_same_lists(ma.popular(5, any), mb.popular(5, any), "popular", 0);
    for (std::size_t u = 0; u < users; ++u) {
      const auto view = store.view(synthetic_generator::user_id(u));
      if (!view.known)
        continue;
      score_query q;
      q.items = view.recent;
      q.weights = view.recent_weight;
      std::vector<scored> x, y;
      ma.blended_candidates(q, x);
      mb.blended_candidates(q, y);
      expect_same_lists(by_key(std::move(x)), by_key(std::move(y)), "blended", u);
    }
    EXPECT_EQ(a.users[s].entries(), b.users[s].entries());
    EXPECT_EQ(a.users[s].evictions(), b.users[s].evictions());
    if (::testing::Test::HasFailure())
      return;
  }
}

TEST(ItemApplyRange, SlicedBatchesLeaveTheStateOfWholeOnes) {
  const std::uint64_t seed = 20261206;
  SCOPED_TRACE("seed " + std::to_string(seed));
  const auto cfg = blend_config();
  synthetic_config sc;
  sc.seed = seed;
  sc.users = 300;
  sc.items = 400;
  sc.events = 20'000;
  sc.tastes = 8;
  synthetic_generator gen{sc};
  ASSERT_EQ(gen.error(), "");

  constexpr std::uint32_t shards = 2;
  const std::vector<std::size_t> slices{1, 7, 64};
  profile_store store{cfg};
  shard_set whole{cfg, shards};
  std::vector<shard_set> sliced;
  for (std::size_t k = 0; k < slices.size(); ++k)
    sliced.emplace_back(cfg, shards);

  std::mt19937_64 rng{seed};
  std::vector<event> events;
  std::vector<reject_reason> results;
  item_delta_batch batch;
  std::vector<key_t> items;
  std::size_t batches = 0, largest = 0;
  while (true) {
    events.clear();
    // Batch sizes from 1 to 300: some below, some above every slice.
    if (gen.next_batch(events, 1 + rng() % 300) == 0)
      break;
    batch.clear();
    store.apply_batch(events, results, batch);
    for (const auto& e : events)
      items.push_back(hash_id(e.item));
    std::sort(items.begin(), items.end());
    items.erase(std::unique(items.begin(), items.end()), items.end());
    whole.apply(batch, 0);
    for (std::size_t k = 0; k < slices.size(); ++k)
      sliced[k].apply(batch, slices[k]);
    largest = std::max(largest, batch.size());
    if (++batches % 40 == 0)
      for (std::size_t k = 0; k < slices.size(); ++k)
        expect_same(whole, sliced[k], items, store, sc.users, slices[k]);
    if (::testing::Test::HasFailure())
      return;
  }
  ASSERT_GT(largest, 64u) << "no batch spanned several slices";
  ASSERT_GT(whole.models[0].stats().items, 0u);
  for (std::size_t k = 0; k < slices.size(); ++k)
    expect_same(whole, sliced[k], items, store, sc.users, slices[k]);
  EXPECT_GT(batches, 60u);
}

}  // namespace
}  // namespace rtrec::engine
