// Tests of the profile store: the bounded, newest-first recent list; the
// bounded seen set that forgets its oldest entry first; dislikes; the item
// delta batch (first_time and negative flags, context items and offsets, the
// dictionary feed); find/erase/recent; and the per-user bounds under a long
// history.
#include "engine/profile_store.hpp"
#include "tests/engine/test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <random>
#include <set>
#include <string>
#include <vector>

namespace rtrec::engine {
namespace {

using test_support::make_event;

model_config small_config(std::size_t recent_max = 5, std::size_t pair_window = 3,
                          std::size_t seen_max = 100) {
  // The blend's rules would lengthen the context past the pair window.
  auto cfg = test_support::without_blend();
  cfg.recent_max = recent_max;
  cfg.pair_window = pair_window;
  cfg.seen_max = seen_max;
  cfg.recency_decay = 0.5;
  return cfg;
}

using test_support::keys_of;

/// Returns event k's context items from a batch.
std::vector<key_t> context_of(const item_delta_batch& b, std::size_t k) {
  const std::uint32_t begin = k == 0 ? 0 : b.ctx_end[k - 1];
  return {b.ctx_item.begin() + begin, b.ctx_item.begin() + b.ctx_end[k]};
}

TEST(ProfileStore, UnknownUser) {
  profile_store store(small_config());
  auto v = store.view("nobody");
  EXPECT_FALSE(v.known);
  EXPECT_TRUE(v.recent.empty());
  EXPECT_TRUE(v.seen.empty());
  EXPECT_TRUE(store.recent("nobody").empty());
  EXPECT_EQ(store.find("nobody"), nullptr);
  EXPECT_FALSE(store.erase("nobody"));
  EXPECT_EQ(store.users(), 0u);
}

TEST(ProfileStore, RecentIsBoundedAndNewestFirst) {
  profile_store store(small_config(/*recent_max=*/3));
  item_delta_batch out;
  for (int n = 0; n < 6; ++n)
    ASSERT_EQ(store.apply(make_event("u", "i" + std::to_string(n), 1000 + n), out),
              reject_reason::none);
  auto v = store.view("u");
  ASSERT_TRUE(v.known);
  EXPECT_EQ(v.recent, keys_of({"i5", "i4", "i3"}));
  ASSERT_EQ(v.recent_weight.size(), 3u);
  // View weight 1.0 times recency decay 0.5 per position back.
  EXPECT_FLOAT_EQ(v.recent_weight[0], 1.0f);
  EXPECT_FLOAT_EQ(v.recent_weight[1], 0.5f);
  EXPECT_FLOAT_EQ(v.recent_weight[2], 0.25f);
  // Seen still has every item, oldest first.
  EXPECT_EQ(v.seen, keys_of({"i0", "i1", "i2", "i3", "i4", "i5"}));
  EXPECT_EQ(store.users(), 1u);
  EXPECT_EQ(store.events_applied(), 6u);
}

TEST(ProfileStore, RepeatedItemMovesToFrontWithoutDuplicate) {
  profile_store store(small_config(/*recent_max=*/4));
  item_delta_batch out;
  for (const char* item : {"a", "b", "c"})
    store.apply(make_event("u", item, 1), out);
  store.apply(make_event("u", "a", 2), out);
  auto v = store.view("u");
  EXPECT_EQ(v.recent, keys_of({"a", "c", "b"}));
  EXPECT_EQ(v.seen.size(), 3u);

  // The kept weight is the larger of the two events' weights.
  store.apply(make_event("u", "b", 3, event_type::purchase), out);
  store.apply(make_event("u", "b", 4, event_type::view), out);
  v = store.view("u");
  EXPECT_EQ(v.recent, keys_of({"b", "a", "c"}));
  EXPECT_FLOAT_EQ(v.recent_weight[0], store.config().type_weight[4]);  // purchase
  const auto* p = store.find("u");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->recent.size(), 3u);
  EXPECT_EQ(p->events, 6u);
}

TEST(ProfileStore, SeenIsBoundedForgettingOldestFirst) {
  profile_store store(small_config(/*recent_max=*/3, /*pair_window=*/3, /*seen_max=*/4));
  item_delta_batch out;
  for (int n = 0; n < 10; ++n)
    store.apply(make_event("u", "i" + std::to_string(n), n), out);
  auto v = store.view("u");
  EXPECT_EQ(v.seen, keys_of({"i6", "i7", "i8", "i9"}));
  const auto* p = store.find("u");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->seen_count(), 4u);
  for (const char* gone : {"i0", "i1", "i2", "i3", "i4", "i5"})
    EXPECT_FALSE(p->has_seen(hash_id(gone))) << gone;

  // A repeat of a remembered item does not refresh its age (insertion order).
  store.apply(make_event("u", "i6", 20), out);
  store.apply(make_event("u", "x", 21), out);
  v = store.view("u");
  EXPECT_EQ(v.seen, keys_of({"i7", "i8", "i9", "x"}));

  // A forgotten item comes back as new.
  out.clear();
  store.apply(make_event("u", "i0", 22), out);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_TRUE(out.flags[0] & item_delta_batch::first_time);
  v = store.view("u");
  EXPECT_EQ(v.seen, keys_of({"i8", "i9", "x", "i0"}));
}

TEST(ProfileStore, DislikeExcludesAndFeedsNothing) {
  profile_store store(small_config());
  item_delta_batch out;
  store.apply(make_event("u", "a", 1), out);
  store.apply(make_event("u", "b", 2), out);
  out.clear();
  ASSERT_EQ(store.apply(make_event("u", "bad", 3, event_type::dislike), out),
            reject_reason::none);
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out.item[0], hash_id("bad"));
  EXPECT_EQ(out.weight[0], 0.0f);
  EXPECT_TRUE(out.flags[0] & item_delta_batch::negative);
  EXPECT_TRUE(out.flags[0] & item_delta_batch::first_time);
  EXPECT_TRUE(context_of(out, 0).empty());
  EXPECT_TRUE(out.ctx_item.empty());
  EXPECT_TRUE(out.ctx_weight.empty());

  auto v = store.view("u");
  EXPECT_EQ(v.recent, keys_of({"b", "a"}));  // not in recent
  EXPECT_NE(std::find(v.seen.begin(), v.seen.end(), hash_id("bad")), v.seen.end());

  // Disliking an item already in the recent list removes it from there (it
  // no longer pairs with later events) but keeps it seen.
  out.clear();
  store.apply(make_event("u", "a", 4, event_type::dislike), out);
  EXPECT_EQ(out.weight[0], 0.0f);
  EXPECT_TRUE(out.flags[0] & item_delta_batch::negative);
  EXPECT_FALSE(out.flags[0] & item_delta_batch::first_time);
  v = store.view("u");
  EXPECT_EQ(v.recent, keys_of({"b"}));
  EXPECT_NE(std::find(v.seen.begin(), v.seen.end(), hash_id("a")), v.seen.end());

  out.clear();
  store.apply(make_event("u", "c", 5), out);
  EXPECT_EQ(context_of(out, 0), keys_of({"b"}));
}

TEST(ProfileStore, FirstTimeFlagOnlyOnFirstInteraction) {
  profile_store store(small_config());
  item_delta_batch out;
  store.apply(make_event("u", "a", 1), out);
  store.apply(make_event("u", "b", 2), out);
  store.apply(make_event("u", "a", 3, event_type::purchase), out);
  store.apply(make_event("v", "a", 4), out);  // another user: first time for v
  ASSERT_EQ(out.size(), 4u);
  EXPECT_TRUE(out.flags[0] & item_delta_batch::first_time);
  EXPECT_TRUE(out.flags[1] & item_delta_batch::first_time);
  EXPECT_FALSE(out.flags[2] & item_delta_batch::first_time);
  EXPECT_TRUE(out.flags[3] & item_delta_batch::first_time);
  for (std::size_t k = 0; k < 4; ++k)
    EXPECT_FALSE(out.flags[k] & item_delta_batch::negative) << k;
  // A repeat carries its weight (popularity) but no context (no new pairs).
  EXPECT_FLOAT_EQ(out.weight[2], store.config().type_weight[4]);
  EXPECT_TRUE(context_of(out, 2).empty());
  EXPECT_EQ(out.timestamp, (std::vector<std::int64_t>{1, 2, 3, 4}));
}

TEST(ProfileStore, ContextIsRecentDistinctItemsNewestFirstWithinPairWindow) {
  profile_store store(small_config(/*recent_max=*/10, /*pair_window=*/3));
  item_delta_batch out;
  store.apply(make_event("u", "a", 1), out);                             // ctx: -
  store.apply(make_event("u", "b", 2, event_type::click), out);          // ctx: a
  store.apply(make_event("u", "c", 3, event_type::rating, 8.0), out);    // ctx: b a
  store.apply(make_event("u", "a", 4), out);                             // repeat: -
  store.apply(make_event("u", "d", 5), out);                             // ctx: a c b
  store.apply(make_event("u", "e", 6, event_type::like), out);           // ctx: d a c
  ASSERT_EQ(out.size(), 6u);
  ASSERT_EQ(out.ctx_end.size(), 6u);
  EXPECT_EQ(out.ctx_end, (std::vector<std::uint32_t>{0, 1, 3, 3, 6, 9}));
  EXPECT_TRUE(context_of(out, 0).empty());
  EXPECT_EQ(context_of(out, 1), keys_of({"a"}));
  EXPECT_EQ(context_of(out, 2), keys_of({"b", "a"}));
  EXPECT_TRUE(context_of(out, 3).empty());
  EXPECT_EQ(context_of(out, 4), keys_of({"a", "c", "b"}));
  EXPECT_EQ(context_of(out, 5), keys_of({"d", "a", "c"}));
  ASSERT_EQ(out.ctx_weight.size(), out.ctx_item.size());
  const auto& cfg = store.config();
  // Context weights are the context items' event weights (no recency decay).
  EXPECT_FLOAT_EQ(out.ctx_weight[0], cfg.type_weight[0]);  // a (view)
  EXPECT_FLOAT_EQ(out.ctx_weight[1], cfg.type_weight[1]);  // b (click)
  EXPECT_FLOAT_EQ(out.ctx_weight[2], cfg.type_weight[0]);  // a
  EXPECT_FLOAT_EQ(out.ctx_weight[4], cfg.weight_of(event_type::rating, 8.0));  // c
  EXPECT_FLOAT_EQ(out.weight[2], cfg.weight_of(event_type::rating, 8.0));
  EXPECT_FLOAT_EQ(out.weight[5], cfg.type_weight[2]);
}

TEST(ProfileStore, ContextOffsetsAcrossUsersInOneBatch) {
  profile_store store(small_config(/*recent_max=*/10, /*pair_window=*/2));
  item_delta_batch out;
  store.apply(make_event("u", "a", 1), out);
  store.apply(make_event("v", "x", 2), out);
  store.apply(make_event("u", "b", 3), out);
  store.apply(make_event("v", "y", 4), out);
  store.apply(make_event("u", "c", 5), out);
  store.apply(make_event("v", "z", 6), out);
  EXPECT_EQ(out.ctx_end, (std::vector<std::uint32_t>{0, 0, 1, 2, 4, 6}));
  EXPECT_EQ(context_of(out, 2), keys_of({"a"}));
  EXPECT_EQ(context_of(out, 3), keys_of({"x"}));
  EXPECT_EQ(context_of(out, 4), keys_of({"b", "a"}));
  EXPECT_EQ(context_of(out, 5), keys_of({"y", "x"}));
}

TEST(ProfileStore, NewKeysOnlyTheFirstTimeAnItemIsNamed) {
  profile_store store(small_config());
  item_delta_batch out;
  store.apply(make_event("u", "a", 1), out);
  store.apply(make_event("u", "b", 2), out);
  store.apply(make_event("v", "a", 3), out);
  store.apply(make_event("u", "a", 4), out);
  EXPECT_EQ(out.new_keys, keys_of({"a", "b"}));
  EXPECT_EQ(out.new_ids, (std::vector<std::string>{"a", "b"}));
  out.clear();
  store.apply(make_event("w", "b", 5), out);
  store.apply(make_event("w", "c", 6, event_type::dislike), out);  // named too
  EXPECT_EQ(out.new_keys, keys_of({"c"}));
  EXPECT_EQ(out.new_ids, (std::vector<std::string>{"c"}));
}

TEST(ProfileStore, FindAndEraseRespectTheStoredString) {
  profile_store store(small_config());
  item_delta_batch out;
  store.apply(make_event("alice", "a", 1), out);
  store.apply(make_event("bob", "b", 2), out);
  const auto* p = store.find("alice");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->id, "alice");
  EXPECT_EQ(store.find("Alice"), nullptr);
  EXPECT_EQ(store.find("alic"), nullptr);
  EXPECT_FALSE(store.erase("Alice"));
  EXPECT_EQ(store.users(), 2u);

  EXPECT_TRUE(store.erase("alice"));
  EXPECT_EQ(store.users(), 1u);
  EXPECT_EQ(store.find("alice"), nullptr);
  EXPECT_FALSE(store.view("alice").known);
  EXPECT_TRUE(store.recent("alice").empty());
  EXPECT_FALSE(store.erase("alice"));
  EXPECT_NE(store.find("bob"), nullptr);  // others untouched
  EXPECT_EQ(store.view("bob").recent, keys_of({"b"}));

  // An erased user starts again from nothing.
  out.clear();
  store.apply(make_event("alice", "a", 3), out);
  EXPECT_TRUE(out.flags[0] & item_delta_batch::first_time);
  EXPECT_TRUE(out.new_keys.empty());  // the item dictionary is kept
  EXPECT_EQ(store.find("alice")->events, 1u);
}

TEST(ProfileStore, RecentReturnsNamesNewestFirst) {
  profile_store store(small_config(/*recent_max=*/3));
  item_delta_batch out;
  store.apply(make_event("u", "first", 10), out);
  store.apply(make_event("u", "second", 20, event_type::click), out);
  store.apply(make_event("u", "third", 30, event_type::rating, 4.0), out);
  store.apply(make_event("u", "fourth", 40, event_type::purchase), out);
  auto r = store.recent("u");
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(r[0].item, "fourth");
  EXPECT_EQ(r[0].type, event_type::purchase);
  EXPECT_EQ(r[0].timestamp, 40);
  EXPECT_FLOAT_EQ(r[0].weight, store.config().type_weight[4]);
  EXPECT_EQ(r[1].item, "third");
  EXPECT_EQ(r[1].type, event_type::rating);
  EXPECT_FLOAT_EQ(r[1].weight, store.config().weight_of(event_type::rating, 4.0));
  EXPECT_EQ(r[2].item, "second");
  EXPECT_EQ(r[2].timestamp, 20);
}

TEST(ProfileStore, LongHistoryStaysBounded) {
  const std::uint64_t seed = 7001;
  std::mt19937_64 rng{seed};
  auto cfg = small_config(/*recent_max=*/20, /*pair_window=*/10, /*seen_max=*/500);
  profile_store store(cfg);
  item_delta_batch out;
  std::size_t max_ctx = 0;
  for (int n = 0; n < 10'000; ++n) {
    out.clear();
    const auto type = static_cast<event_type>(rng() % 5);  // no dislikes
    ASSERT_EQ(store.apply(make_event("heavy", "i" + std::to_string(rng() % 3000), n, type, 3.0),
                          out),
              reject_reason::none)
        << "seed=" << seed;
    ASSERT_EQ(out.size(), 1u);
    max_ctx = std::max<std::size_t>(max_ctx, out.ctx_item.size());
    const auto* p = store.find("heavy");
    ASSERT_LE(p->recent.size(), cfg.recent_max) << "seed=" << seed << " n=" << n;
    ASSERT_LE(p->seen_count(), cfg.seen_max) << "seed=" << seed << " n=" << n;
    if (!p->seen_index.empty()) {
      ASSERT_EQ(p->seen_index.size(), p->seen_count()) << "seed=" << seed << " n=" << n;
    }
    ASSERT_LE(p->seen_order.size(), 2 * cfg.seen_max + 1) << "seed=" << seed;
  }
  const auto* p = store.find("heavy");
  EXPECT_EQ(p->recent.size(), cfg.recent_max) << "seed=" << seed;
  EXPECT_EQ(p->seen_count(), cfg.seen_max) << "seed=" << seed;
  EXPECT_EQ(p->events, 10'000u);
  EXPECT_EQ(max_ctx, cfg.pair_window) << "seed=" << seed;
  auto v = store.view("heavy");
  EXPECT_EQ(v.recent.size(), cfg.recent_max);
  EXPECT_EQ(v.seen.size(), cfg.seen_max);
  // Recent entries are distinct.
  auto sorted = v.recent;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(std::unique(sorted.begin(), sorted.end()), sorted.end()) << "seed=" << seed;
  // Every seen entry is a member of the seen set, and vice versa.
  for (key_t k : v.seen)
    EXPECT_TRUE(p->has_seen(k)) << "seed=" << seed;
}

TEST(ProfileStore, DefaultBoundsHoldForTenThousandDistinctItems) {
  const model_config cfg;  // recent_max 20, seen_max 5000, the blend on
  profile_store store(cfg);
  item_delta_batch out;
  for (int n = 0; n < 10'000; ++n) {
    out.clear();
    ASSERT_EQ(store.apply(make_event("heavy", "item-" + std::to_string(n), n), out),
              reject_reason::none);
    ASSERT_LE(out.ctx_item.size(), cfg.context_window()) << "n=" << n;
  }
  const auto* p = store.find("heavy");
  ASSERT_NE(p, nullptr);
  EXPECT_EQ(p->recent.size(), cfg.recent_max);
  EXPECT_EQ(p->seen_count(), cfg.seen_max);
  EXPECT_LE(p->seen_order.size(), 2 * cfg.seen_max + 1);
  EXPECT_TRUE(p->has_seen(hash_id("item-9999")));
  EXPECT_TRUE(p->has_seen(hash_id("item-5000")));
  EXPECT_FALSE(p->has_seen(hash_id("item-4999")));  // the oldest went first
  EXPECT_FALSE(p->has_seen(hash_id("item-0")));
  const auto v = store.view("heavy");
  EXPECT_EQ(v.recent.front(), hash_id("item-9999"));
  EXPECT_EQ(v.recent.back(), hash_id("item-9980"));
  EXPECT_EQ(v.seen.front(), hash_id("item-5000"));
  EXPECT_EQ(v.seen.back(), hash_id("item-9999"));
}

TEST(ProfileStore, RecentMatchesAReferenceList) {
  const std::uint64_t seed = 99;
  std::mt19937_64 rng{seed};
  auto cfg = small_config(/*recent_max=*/6, /*pair_window=*/4, /*seen_max=*/1000);
  profile_store store(cfg);
  std::vector<key_t> expected;  // newest first
  item_delta_batch out;
  for (int n = 0; n < 2'000; ++n) {
    const std::string item = "i" + std::to_string(rng() % 15);
    const bool dislike = rng() % 10 == 0;
    const key_t k = hash_id(item);
    // Expected context of a first-time positive event: the list before it.
    const auto before = store.view("u");
    const bool first = std::find(before.seen.begin(), before.seen.end(), k) == before.seen.end();
    std::vector<key_t> want_ctx;
    if (first && !dislike)
      for (std::size_t j = 0; j < expected.size() && want_ctx.size() < cfg.pair_window; ++j)
        want_ctx.push_back(expected[j]);
    out.clear();
    store.apply(make_event("u", item, n, dislike ? event_type::dislike : event_type::view), out);
    ASSERT_EQ(context_of(out, 0), want_ctx) << "seed=" << seed << " n=" << n;
    expected.erase(std::remove(expected.begin(), expected.end(), k), expected.end());
    if (!dislike) {
      expected.insert(expected.begin(), k);
      if (expected.size() > cfg.recent_max)
        expected.pop_back();
    }
    ASSERT_EQ(store.view("u").recent, expected) << "seed=" << seed << " n=" << n;
  }
}

// The seen list is a linear scan up to user_profile::small_seen entries and
// an index beyond: membership and order must match a plain reference list
// on both sides of that switch and across forgetting.
TEST(ProfileStore, SeenMatchesAReferenceAcrossTheSmallListSwitch) {
  const std::uint64_t seed = 4711;
  const std::size_t small = user_profile::small_seen;
  for (std::size_t seen_max : {std::size_t{1}, std::size_t{5}, small - 1, small, small + 1,
                               2 * small + 3}) {
    std::mt19937_64 rng{seed + seen_max};
    profile_store store(small_config(/*recent_max=*/8, /*pair_window=*/4, seen_max));
    // seen_max is raised to recent_max: an item in the recent list stays seen.
    ASSERT_EQ(store.config().seen_max, std::max<std::size_t>(seen_max, 8));
    const std::size_t limit = store.config().seen_max;
    std::vector<key_t> expected;  // oldest first
    item_delta_batch out;
    const std::uint64_t universe = 3 * seen_max + 10;
    for (int n = 0; n < 3'000; ++n) {
      const std::string item = "i" + std::to_string(rng() % universe);
      const key_t k = hash_id(item);
      const bool was_seen = std::find(expected.begin(), expected.end(), k) != expected.end();
      out.clear();
      const auto type = rng() % 8 == 0 ? event_type::dislike : event_type::view;
      ASSERT_EQ(store.apply(make_event("u", item, n, type), out), reject_reason::none);
      ASSERT_EQ((out.flags[0] & item_delta_batch::first_time) != 0, !was_seen)
          << "seed=" << seed << " seen_max=" << seen_max << " n=" << n;
      if (!was_seen) {
        expected.push_back(k);
        if (expected.size() > limit)
          expected.erase(expected.begin());
      }
      const auto* p = store.find("u");
      ASSERT_EQ(p->seen_count(), expected.size()) << "seed=" << seed << " seen_max=" << seen_max;
      ASSERT_EQ(store.view("u").seen, expected)
          << "seed=" << seed << " seen_max=" << seen_max << " n=" << n;
      for (std::uint64_t i = 0; i < universe; ++i) {
        const key_t q = hash_id("i" + std::to_string(i));
        const bool want = std::find(expected.begin(), expected.end(), q) != expected.end();
        ASSERT_EQ(p->has_seen(q), want)
            << "seed=" << seed << " seen_max=" << seen_max << " n=" << n << " item i" << i;
      }
    }
  }
}

TEST(ProfileStore, MemoryBytesGrowsWithUsers) {
  profile_store store(small_config());
  const auto empty = store.memory_bytes();
  item_delta_batch out;
  for (int n = 0; n < 100; ++n)
    store.apply(make_event("user-" + std::to_string(n), "item-" + std::to_string(n), n), out);
  EXPECT_GT(store.memory_bytes(), empty);
  EXPECT_EQ(store.users(), 100u);
}

}  // namespace
}  // namespace rtrec::engine


namespace rtrec::engine {
namespace {

// apply_batch() must be exactly n calls of apply(): same results, same
// deltas, same profiles (it only adds prefetching).
TEST(ProfileStore, ApplyBatchEqualsApplyOneByOne) {
  const std::uint64_t seed = 90210;
  std::mt19937_64 rng{seed};
  model_config cfg;
  cfg.recent_max = 6;
  cfg.pair_window = 3;
  cfg.seen_max = 40;
  profile_store one{cfg}, batched{cfg};
  for (int round = 0; round < 50; ++round) {
    std::vector<event> events;
    const auto len = 1 + rng() % 300;
    for (std::size_t k = 0; k < len; ++k) {
      event e;
      e.user = "u" + std::to_string(rng() % 60);
      e.item = "i" + std::to_string(rng() % 200);
      e.type = rng() % 10 == 0 ? event_type::dislike : event_type::view;
      e.timestamp = round * 1000 + static_cast<std::int64_t>(k);
      events.push_back(e);
    }
    item_delta_batch a, b;
    std::vector<reject_reason> results;
    batched.apply_batch(events, results, b);
    ASSERT_EQ(results.size(), events.size()) << "seed=" << seed;
    for (std::size_t k = 0; k < events.size(); ++k)
      ASSERT_EQ(one.apply(events[k], a), results[k]) << "seed=" << seed << " k=" << k;
    ASSERT_EQ(a.item, b.item) << "seed=" << seed;
    ASSERT_EQ(a.flags, b.flags) << "seed=" << seed;
    ASSERT_EQ(a.ctx_end, b.ctx_end) << "seed=" << seed;
    ASSERT_EQ(a.ctx_item, b.ctx_item) << "seed=" << seed;
    ASSERT_EQ(a.new_ids, b.new_ids) << "seed=" << seed;
  }
  EXPECT_EQ(one.users(), batched.users());
  for (int u = 0; u < 60; ++u) {
    auto id = "u" + std::to_string(u);
    auto va = one.view(id), vb = batched.view(id);
    EXPECT_EQ(va.recent, vb.recent) << id << " seed=" << seed;
    EXPECT_EQ(va.seen, vb.seen) << id << " seed=" << seed;
  }
  // Forgetting a user frees its slot for reuse without touching others.
  ASSERT_TRUE(batched.erase("u1"));
  EXPECT_EQ(batched.find("u1"), nullptr);
  item_delta_batch c;
  std::vector<reject_reason> results;
  batched.apply_batch({make_event("new-user", "i1", 1)}, results, c);
  ASSERT_EQ(results.front(), reject_reason::none);
  EXPECT_EQ(batched.view("new-user").recent.size(), 1u);
  EXPECT_EQ(batched.view("u2").recent, one.view("u2").recent);
}

// -- user metadata (Gorse's user object) ------------------------------------------

user_patch labels_patch(std::string labels, std::string comment = "") {
  user_patch p;
  p.set_labels = true;
  p.labels = std::move(labels);
  p.set_comment = !comment.empty();
  p.comment = std::move(comment);
  return p;
}

TEST(ProfileStoreUsers, UpsertCreatesAUserWithoutInteractionsAndPatchesOnlySetFields) {
  profile_store store{small_config()};
  using outcome = profile_store::upsert_outcome;
  EXPECT_EQ(store.upsert("alice", labels_patch("[\"a\"]", "first")), outcome::created);
  EXPECT_EQ(store.users(), 1u);
  auto r = store.record("alice");
  ASSERT_TRUE(r.known);
  EXPECT_EQ(r.id, "alice");
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(r.meta.labels, "[\"a\"]");
  EXPECT_EQ(r.meta.comment, "first");
  EXPECT_TRUE(store.view("alice").recent.empty());

  user_patch sub;
  sub.set_subscribe = true;
  sub.subscribe = {"news"};
  EXPECT_EQ(store.upsert("alice", sub), outcome::updated);
  r = store.record("alice");
  EXPECT_EQ(r.meta.labels, "[\"a\"]") << "a field not set in the patch is kept";
  EXPECT_EQ(r.meta.subscribe, std::vector<std::string>{"news"});

  item_delta_batch out;
  ASSERT_EQ(store.apply(make_event("alice", "i1", 1000), out), reject_reason::none);
  EXPECT_EQ(store.record("alice").events, 1u);
  EXPECT_EQ(store.record("alice").meta.comment, "first") << "events keep the metadata";
}

TEST(ProfileStoreUsers, MustExistRefusesAnUnknownUserAndEraseForgetsTheMetadata) {
  profile_store store{small_config()};
  using outcome = profile_store::upsert_outcome;
  auto p = labels_patch("1");
  p.must_exist = true;
  EXPECT_EQ(store.upsert("bob", p), outcome::not_found);
  EXPECT_FALSE(store.record("bob").known);
  EXPECT_EQ(store.users(), 0u);
  EXPECT_EQ(store.upsert("bob", labels_patch("1")), outcome::created);
  EXPECT_TRUE(store.erase("bob"));
  EXPECT_FALSE(store.record("bob").known);
  EXPECT_EQ(store.upsert("bob", user_patch{}), outcome::created);
  EXPECT_TRUE(store.record("bob").meta.empty()) << "a forgotten user's metadata is gone";
}

TEST(ProfileStoreUsers, ListVisitsEveryUserExactlyOnceAcrossPages) {
  profile_store store{small_config()};
  item_delta_batch out;
  std::set<std::string> want;
  for (int k = 0; k < 50; ++k) {
    const auto id = "u" + std::to_string(k);
    if (k % 2 == 0)
      store.apply(make_event(id, "i1", 1000), out);
    else
      store.upsert(id, labels_patch(std::to_string(k)));
    want.insert(id);
  }
  for (int k = 0; k < 50; k += 7) {  // free slots in the middle
    store.erase("u" + std::to_string(k));
    want.erase("u" + std::to_string(k));
  }
  for (std::size_t page_size : {1u, 3u, 50u, 100u}) {
    std::multiset<std::string> got;
    std::uint64_t from = 0;
    for (int pages = 0; pages < 200; ++pages) {
      auto page = store.list(from, page_size);
      EXPECT_LE(page.users.size(), page_size);
      for (const auto& u : page.users) {
        got.insert(u.id);
        EXPECT_TRUE(u.known);
      }
      if (page.done)
        break;
      from = page.next;
    }
    EXPECT_EQ(got, std::multiset<std::string>(want.begin(), want.end())) << page_size;
  }
}

TEST(ProfileStoreUsers, UserMetaCheckNamesTheFieldOverItsLimit) {
  user_patch p;
  EXPECT_EQ(p.check(), "");
  p.set_comment = true;
  p.comment.assign(user_meta_limits::comment_bytes + 1, 'x');
  EXPECT_NE(p.check().find("Comment"), std::string::npos);
  p.comment.clear();
  p.set_subscribe = true;
  p.subscribe.assign(user_meta_limits::subscribe_max + 1, "s");
  EXPECT_NE(p.check().find("Subscribe"), std::string::npos);
  p.subscribe = {std::string(user_meta_limits::subscribe_bytes + 1, 's')};
  EXPECT_NE(p.check().find("Subscribe[0]"), std::string::npos);
  p.subscribe.clear();
  p.set_labels = true;
  p.labels.assign(user_meta_limits::labels_bytes + 1, '1');
  EXPECT_NE(p.check().find("Labels"), std::string::npos);
}

}  // namespace
}  // namespace rtrec::engine
