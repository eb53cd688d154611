// Tests of the recommend pipeline steps: make_query copies the view, rank()
// (seen exclusion, non-positive scores dropped, score-then-key order, count),
// complete_keys()/complete() (popularity fill that skips seen and listed
// items, scaled below the ranked part, offset, name resolution) and resolve().
#include "engine/scoring.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/profile_store.hpp"
#include "tests/engine/test_support.hpp"

namespace rtrec::engine {
namespace {

constexpr std::int64_t t0 = 1'700'000'000'000;

using test_support::keys;

using test_support::keys_of;

using test_support::names;

bool non_increasing(const std::vector<scored>& v) {
  for (std::size_t k = 1; k < v.size(); ++k)
    if (v[k].score > v[k - 1].score)
      return false;
  return true;
}

// -- make_query --------------------------------------------------------------

TEST(ScoringMakeQuery, CopiesRecentWeightsAndFilter) {
  profile_view v;
  v.known = true;
  v.recent = {3, 1, 2};
  v.recent_weight = {1.0f, 0.5f, 0.25f};
  v.seen = {1, 2, 3, 4};
  recommend_options o;
  o.n = 5;
  o.offset = 2;
  o.filter.category = "books";
  auto q = make_query(v, o, true);
  EXPECT_EQ(q.items, v.recent);
  EXPECT_EQ(q.weights, v.recent_weight);
  EXPECT_EQ(q.filter.category, "books");
  EXPECT_EQ(q.exclude, v.seen);
  EXPECT_EQ(q.popular, 7u);
  o.exclude_seen = false;
  auto q2 = make_query(v, o, false);
  EXPECT_TRUE(q2.exclude.empty());
  EXPECT_EQ(q2.popular, 0u);
}

TEST(ScoringShard, ScoreOnShardExcludesAndMergeEqualsComplete) {
  // Item-to-item's partial sums add up across shards; the blend's are
  // chained instead (ChainedShardsGiveTheMergedPageBitForBit, blend_test).
  model_config cfg = test_support::without_blend();
  cfg.popular_refresh_events = 0;
  item_model m{cfg};
  item_delta_batch b;
  // Three items pair with "a"; "p" is only popular.
  auto add = [&](const char* item, std::initializer_list<const char*> ctx) {
    b.item.push_back(hash_id(item));
    b.weight.push_back(1.0f);
    b.timestamp.push_back(1000);
    b.flags.push_back(item_delta_batch::first_time);
    for (auto* c : ctx) {
      b.ctx_item.push_back(hash_id(c));
      b.ctx_weight.push_back(1.0f);
    }
    b.ctx_end.push_back(static_cast<std::uint32_t>(b.ctx_item.size()));
    b.new_keys.push_back(hash_id(item));
    b.new_ids.push_back(item);
  };
  add("a", {});
  add("b", {"a"});
  add("c", {"a"});
  add("d", {"a", "b"});
  for (int k = 0; k < 5; ++k)
    add("p", {});
  m.apply(b);
  profile_view v;
  v.known = true;
  v.recent = {hash_id("a")};
  v.recent_weight = {1.0f};
  v.seen = {hash_id("a"), hash_id("c")};
  recommend_options o;
  o.n = 3;
  auto part = score_on_shard(m, make_query(v, o, true));
  for (const auto& c : part.candidates)
    EXPECT_NE(c.key, hash_id("c")) << "an excluded item was scored";
  ASSERT_EQ(part.names.size(), part.candidates.size());
  auto merged = merge_shard_scores({part}, o);
  absl::flat_hash_map<key_t, double> acc;
  m.candidates(make_query(v, o, false), acc);
  auto want = complete(m, rank(acc, v.seen, true, o.n), v.seen, o);
  ASSERT_EQ(merged.size(), want.size());
  for (std::size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ(merged[k].item, want[k].item) << k;
    EXPECT_DOUBLE_EQ(merged[k].score, want[k].score) << k;
  }
  EXPECT_EQ(merged.back().item, "p");  // the popularity fill
}

// 4,000 events of 60 users over 120 items (skewed to small numbers), applied
// to the store and every model.
void feed_60_users(std::mt19937_64& rng, profile_store& store,
                   const std::vector<item_model*>& models) {
  item_delta_batch batch;
  for (int n = 0; n < 4'000; ++n) {
    batch.clear();
    const auto u = "u" + std::to_string(rng() % 60);
    const auto i = "i" + std::to_string(std::min(rng() % 120, rng() % 120));
    ASSERT_EQ(store.apply(test_support::make_event(u, i, t0 + n), batch), reject_reason::none);
    for (auto* m : models)
      m->apply(batch);
  }
}

TEST(ScoringShard, NamesTopNamesOnlyTheBestAndLeavesTheRestToResolve) {
  const std::uint64_t seed = 8128;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937_64 rng{seed};
  model_config cfg;
  cfg.popular_refresh_events = 0;
  profile_store store{cfg};
  std::vector<item_model> shards;
  for (std::uint32_t s = 0; s < 2; ++s)
    shards.emplace_back(cfg, s, 2);
  std::vector<item_model*> all;
  for (auto& m : shards)
    all.push_back(&m);
  ASSERT_NO_FATAL_FAILURE(feed_60_users(rng, store, all));
  std::size_t unnamed_on_pages = 0;
  for (std::uint32_t top : {1u, 3u, 12u}) {
    for (int u = 0; u < 60; ++u) {
      const auto view = store.view("u" + std::to_string(u));
      recommend_options o;
      o.n = 5;
      std::vector<shard_scores> all_named, top_named;
      for (std::size_t m = 0; m < shards.size(); ++m) {
        auto q = make_query(view, o, m == 0);
        all_named.push_back(score_on_shard(shards[m], q));
        q.names_top = top;
        top_named.push_back(score_on_shard(shards[m], q));
        const auto& full = all_named.back();
        const auto& part = top_named.back();
        // Every candidate is still there with its score; only names are cut.
        ASSERT_EQ(part.candidates.size(), full.candidates.size()) << "u" << u;
        std::map<key_t, double> a, b;
        for (const auto& c : full.candidates)
          a[c.key] = c.score;
        for (const auto& c : part.candidates)
          b[c.key] = c.score;
        ASSERT_EQ(a, b) << "u" << u;
        ASSERT_EQ(part.names.size(), std::min<std::size_t>(top, part.candidates.size()));
        // The named ones come first and are the best: none after them beats
        // any of them; each name is its item's.
        for (std::size_t k = 0; k < part.names.size(); ++k) {
          EXPECT_EQ(part.names[k], *shards[m].name(part.candidates[k].key)) << "u" << u;
          for (std::size_t j = part.names.size(); j < part.candidates.size(); ++j)
            ASSERT_FALSE(better(part.candidates[j], part.candidates[k])) << "u" << u;
        }
        EXPECT_EQ(part.popular_names, full.popular_names);
      }
      const auto want = merge_shard_page(all_named, o);
      const auto got = merge_shard_page(top_named, o);
      ASSERT_EQ(keys(got.items), keys(want.items)) << "u" << u;
      ASSERT_EQ(got.names.size(), got.items.size());
      for (std::size_t k = 0; k < got.items.size(); ++k) {
        ASSERT_FALSE(want.names[k].empty());
        if (got.names[k].empty())
          ++unnamed_on_pages;
        else
          EXPECT_EQ(got.names[k], want.names[k]) << "u" << u;
      }
      // named_only() keeps the named ones in order, and equals the old merge
      // when every name is there.
      const auto kept = named_only(got);
      std::size_t named = 0;
      for (const auto& n : got.names)
        named += n.empty() ? 0 : 1;
      ASSERT_EQ(kept.size(), named);
      const auto old = merge_shard_scores(all_named, o);
      ASSERT_EQ(names(named_only(want)), names(old));
    }
  }
  // With a bound of 1 some page items were named by no shard.
  EXPECT_GT(unnamed_on_pages, 0u);
}

// A model that owns every row (one item shard) has complete scores, so with
// names_top it returns only its best names_top candidates, all named, and the
// page is the one the full list gives.
TEST(ScoringShard, OneShardWithNamesTopReturnsOnlyItsBestAndTheSamePage) {
  const std::uint64_t seed = 5150;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  std::mt19937_64 rng{seed};
  model_config cfg;
  cfg.popular_refresh_events = 0;
  profile_store store{cfg};
  item_model one{cfg, 0, 1};
  ASSERT_NO_FATAL_FAILURE(feed_60_users(rng, store, {&one}));
  std::size_t cut = 0;
  for (std::uint32_t top : {5u, 8u, 40u}) {
    for (int u = 0; u < 60; ++u) {
      const auto view = store.view("u" + std::to_string(u));
      recommend_options o;
      o.n = 5;
      o.offset = top - 5;  // names_top = offset + n, the least allowed
      auto q = make_query(view, o, true);
      const auto full = score_on_shard(one, q);
      q.names_top = top;
      const auto part = score_on_shard(one, q);
      auto best = full.candidates;
      const auto keep = std::min<std::size_t>(top, best.size());
      std::partial_sort(best.begin(), best.begin() + static_cast<std::ptrdiff_t>(keep), best.end(),
                        better);
      best.resize(keep);
      auto got = part.candidates;
      std::sort(got.begin(), got.end(), better);
      ASSERT_EQ(keys(got), keys(best)) << "u" << u << " top " << top;
      ASSERT_EQ(part.names.size(), part.candidates.size()) << "u" << u;
      for (std::size_t k = 0; k < part.names.size(); ++k)
        EXPECT_EQ(part.names[k], *one.name(part.candidates[k].key)) << "u" << u;
      cut += full.candidates.size() > part.candidates.size() ? 1 : 0;
      const auto want = merge_shard_scores({full}, o);
      const auto page = merge_shard_scores({part}, o);
      ASSERT_EQ(names(page), names(want)) << "u" << u << " top " << top;
    }
  }
  EXPECT_GT(cut, 0u) << "no list was long enough to be cut";
}

// Asking the shards in turn (each adds its partial scores to the earlier
// ones') gives bit for bit the page that merging every shard's answer gives,
// for 2 and 3 shards; the last shard returns only its best names_top, all
// named.
TEST(ScoringShard, ChainedShardsGiveTheMergedPageBitForBit) {
  const std::uint64_t seed = 6174;
  SCOPED_TRACE("seed=" + std::to_string(seed));
  for (std::uint32_t count : {2u, 3u}) {
    std::mt19937_64 rng{seed};
    // Merged per-shard partial sums are the reference: item-to-item alone.
    model_config cfg = test_support::without_blend();
    cfg.popular_refresh_events = 0;
    profile_store store{cfg};
    std::vector<item_model> shards;
    for (std::uint32_t s = 0; s < count; ++s)
      shards.emplace_back(cfg, s, count);
    std::vector<item_model*> all;
    for (auto& m : shards)
      all.push_back(&m);
    ASSERT_NO_FATAL_FAILURE(feed_60_users(rng, store, all));
    std::size_t compared = 0;
    for (int u = 0; u < 60; ++u) {
      const auto view = store.view("u" + std::to_string(u));
      recommend_options o;
      o.n = 5;
      o.offset = static_cast<std::size_t>(u % 3);
      std::vector<shard_scores> parts;
      for (std::uint32_t m = 0; m < count; ++m)
        parts.push_back(score_on_shard(shards[m], make_query(view, o, m == 0)));
      const auto want = merge_shard_scores(parts, o);
      shard_scores chained;
      for (std::uint32_t m = 0; m < count; ++m) {
        const bool last = m + 1 == count;
        auto q = make_query(view, o, m == 0);
        q.names = last;
        q.names_top = last ? static_cast<std::uint32_t>(o.offset + o.n) : 0;
        chained = score_chained_on_shard(shards[m], q, std::move(chained), last);
      }
      ASSERT_LE(chained.candidates.size(), o.offset + o.n) << "shards " << count << " u" << u;
      ASSERT_EQ(chained.names.size(), chained.candidates.size());
      const auto got = merge_shard_scores({chained}, o);
      ASSERT_EQ(got.size(), want.size()) << "shards " << count << " u" << u;
      for (std::size_t k = 0; k < got.size(); ++k) {
        ASSERT_EQ(got[k].item, want[k].item) << "shards " << count << " u" << u;
        ASSERT_EQ(got[k].score, want[k].score) << "shards " << count << " u" << u;
      }
      compared += got.size();
    }
    EXPECT_GT(compared, 200u) << "shards " << count;
  }
}

// -- rank --------------------------------------------------------------------

TEST(ScoringRank, ExcludesSeenDropsNonPositiveAndSorts) {
  absl::flat_hash_map<key_t, double> c{
      {10, 0.5}, {11, 2.0}, {12, 0.0}, {13, -1.0}, {14, 3.0}, {15, 1.0}, {16, 2.0}};
  auto r = rank(c, {14}, true, 10);
  EXPECT_EQ(keys(r), (std::vector<key_t>{11, 16, 15, 10}));  // 11/16 tie: key asc
  EXPECT_DOUBLE_EQ(r[0].score, 2.0);
  EXPECT_DOUBLE_EQ(r[3].score, 0.5);

  // Not excluding seen: 14 leads.
  r = rank(c, {14}, false, 10);
  EXPECT_EQ(keys(r), (std::vector<key_t>{14, 11, 16, 15, 10}));
}

TEST(ScoringRank, RespectsCount) {
  absl::flat_hash_map<key_t, double> c{{1, 1.0}, {2, 4.0}, {3, 3.0}, {4, 2.0}};
  EXPECT_EQ(keys(rank(c, {}, true, 2)), (std::vector<key_t>{2, 3}));
  EXPECT_EQ(keys(rank(c, {}, true, 4)), (std::vector<key_t>{2, 3, 4, 1}));
  EXPECT_EQ(keys(rank(c, {}, true, 100)), (std::vector<key_t>{2, 3, 4, 1}));
  EXPECT_TRUE(rank(c, {}, true, 0).empty());
  EXPECT_TRUE(rank({}, {}, true, 10).empty());
  EXPECT_TRUE(rank(c, {1, 2, 3, 4}, true, 10).empty());
}

TEST(ScoringRank, TiesAreBrokenByKeyAscending) {
  absl::flat_hash_map<key_t, double> c;
  for (key_t k = 100; k > 0; --k)
    c[k * 7919] = 1.0;
  auto r = rank(c, {}, true, 100);
  ASSERT_EQ(r.size(), 100u);
  for (std::size_t k = 1; k < r.size(); ++k)
    EXPECT_LT(r[k - 1].key, r[k].key);
}

TEST(ScoringRank, MatchesAFullSortOnRandomInput) {
  const std::uint64_t seed = 8080;
  std::mt19937_64 rng{seed};
  for (int round = 0; round < 50; ++round) {
    absl::flat_hash_map<key_t, double> c;
    std::vector<key_t> seen;
    const int n = 1 + static_cast<int>(rng() % 300);
    for (int k = 0; k < n; ++k) {
      const key_t key = 1 + rng() % 500;
      c[key] = static_cast<double>(static_cast<int>(rng() % 21) - 5) / 4.0;  // ties, <= 0
      if (rng() % 4 == 0)
        seen.push_back(key);
    }
    const std::size_t count = rng() % 60;
    const std::set<key_t> seen_set(seen.begin(), seen.end());
    std::vector<scored> want;
    for (const auto& [k, v] : c)
      if (v > 0.0 && !seen_set.count(k))
        want.push_back({k, v});
    std::sort(want.begin(), want.end(), better);
    if (want.size() > count)
      want.resize(count);
    auto got = rank(c, seen, true, count);
    ASSERT_EQ(keys(got), keys(want)) << "seed=" << seed << " round=" << round;
  }
}

// -- complete ------------------------------------------------------------------

/// An item model without decay: popularity p1 6 events, p2 5, p3 4, p4 3,
/// p5 2, c1 1, c2 1; p2 and p4 are in category "even"; every item named.
class ScoringComplete : public ::testing::Test {
 protected:
  ScoringComplete() : model_(config()) {}
  void SetUp() override {
    profile_store store(config());
    item_delta_batch b;
    int user = 0;
    auto add = [&](const std::string& item, int times) {
      for (int n = 0; n < times; ++n, ++user) {
        event e;
        e.user = "u" + std::to_string(user);
        e.item = item;
        e.timestamp = t0 + user;
        b.clear();
        ASSERT_EQ(store.apply(e, b), reject_reason::none);
        model_.apply(b);
      }
    };
    add("p1", 6);
    add("p2", 5);
    add("p3", 4);
    add("p4", 3);
    add("p5", 2);
    add("c1", 1);
    add("c2", 1);
    ASSERT_TRUE(model_.set_meta({"p2", {"even"}, false, 0}));
    ASSERT_TRUE(model_.set_meta({"p4", {"even"}, false, 0}));
  }
  static model_config config() {
    model_config cfg;
    cfg.trend_half_life_s = 0.0;
    cfg.popular_refresh_events = 0;
    return cfg;
  }
  item_model model_;
};

TEST_F(ScoringComplete, FillsWithPopularItemsNotSeenNotListed) {
  // c1 and p1 are ranked; p1 is also the most popular: it must not repeat.
  std::vector<scored> ranked{{hash_id("c1"), 4.0}, {hash_id("p1"), 2.0}};
  recommend_options o;
  o.n = 5;
  auto out = complete_keys(model_, ranked, {hash_id("p2")}, o);
  EXPECT_EQ(keys(out), keys_of({"c1", "p1", "p3", "p4", "p5"}));
  EXPECT_DOUBLE_EQ(out[0].score, 4.0);
  EXPECT_DOUBLE_EQ(out[1].score, 2.0);
  // The fill is scaled so its best is half the last ranked score.
  EXPECT_NEAR(out[2].score, 1.0, 1e-12);
  EXPECT_NEAR(out[3].score, 1.0 * 3.0 / 4.0, 1e-12);
  EXPECT_NEAR(out[4].score, 1.0 * 2.0 / 4.0, 1e-12);
  EXPECT_TRUE(non_increasing(out));
  const auto listed = keys(out);
  const std::set<key_t> distinct(listed.begin(), listed.end());
  EXPECT_EQ(distinct.size(), out.size());
}

TEST_F(ScoringComplete, ListStaysSortedWhenTheFillIsMorePopularThanRankedScores) {
  // Ranked scores far below raw popularity counts.
  std::vector<scored> ranked{{hash_id("c2"), 0.003}, {hash_id("c1"), 0.001}};
  recommend_options o;
  o.n = 6;
  auto out = complete_keys(model_, ranked, {}, o);
  ASSERT_EQ(out.size(), 6u);
  EXPECT_EQ(keys(out), keys_of({"c2", "c1", "p1", "p2", "p3", "p4"}));
  EXPECT_TRUE(non_increasing(out));
  EXPECT_LT(out[2].score, out[1].score);
  for (const auto& s : out)
    EXPECT_GT(s.score, 0.0);
}

TEST_F(ScoringComplete, EmptyRankedIsPlainPopularity) {
  recommend_options o;
  o.n = 3;
  auto out = complete_keys(model_, {}, {hash_id("p1")}, o);
  EXPECT_EQ(keys(out), keys_of({"p2", "p3", "p4"}));
  EXPECT_DOUBLE_EQ(out[0].score, 5.0);  // unscaled
  EXPECT_DOUBLE_EQ(out[2].score, 3.0);
  // exclude_seen = false: seen items may be filled.
  o.exclude_seen = false;
  out = complete_keys(model_, {}, {hash_id("p1")}, o);
  EXPECT_EQ(keys(out), keys_of({"p1", "p2", "p3"}));
}

TEST_F(ScoringComplete, OffsetDropsTheFirstEntries) {
  std::vector<scored> ranked{{hash_id("c1"), 4.0}, {hash_id("c2"), 2.0}};
  recommend_options all;
  all.n = 6;
  auto full = complete_keys(model_, ranked, {}, all);
  ASSERT_EQ(full.size(), 6u);
  recommend_options page;
  page.n = 3;
  page.offset = 2;
  auto part = complete_keys(model_, ranked, {}, page);
  ASSERT_EQ(part.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k) {
    EXPECT_EQ(part[k].key, full[k + 2].key) << k;
    EXPECT_DOUBLE_EQ(part[k].score, full[k + 2].score) << k;
  }
  // Offset inside the ranked part.
  page.offset = 1;
  part = complete_keys(model_, ranked, {}, page);
  EXPECT_EQ(keys(part), (std::vector<key_t>{full[1].key, full[2].key, full[3].key}));
  // Offset past everything available: empty.
  page.offset = 100;
  EXPECT_TRUE(complete_keys(model_, ranked, {}, page).empty());
}

TEST_F(ScoringComplete, RankedLongerThanWantedIsTruncated) {
  std::vector<scored> ranked;
  for (int k = 0; k < 10; ++k)
    ranked.push_back({static_cast<key_t>(100 + k), 10.0 - k});
  recommend_options o;
  o.n = 3;
  o.offset = 2;
  auto out = complete_keys(model_, ranked, {}, o);
  EXPECT_EQ(keys(out), (std::vector<key_t>{102, 103, 104}));
}

TEST_F(ScoringComplete, FillHonoursTheFilter) {
  recommend_options o;
  o.n = 5;
  o.filter.category = "even";
  auto out = complete_keys(model_, {}, {}, o);
  EXPECT_EQ(keys(out), keys_of({"p2", "p4"}));
}

TEST_F(ScoringComplete, FillSkipsHiddenItems) {
  ASSERT_TRUE(model_.remove("p1"));
  recommend_options o;
  o.n = 2;
  EXPECT_EQ(keys(complete_keys(model_, {}, {}, o)), keys_of({"p2", "p3"}));
}

TEST_F(ScoringComplete, CompleteResolvesNamesAndDropsUnknownKeys) {
  std::vector<scored> ranked{{hash_id("c1"), 4.0}, {hash_id("ghost"), 3.0}};
  recommend_options o;
  o.n = 4;
  auto k = complete_keys(model_, ranked, {}, o);
  EXPECT_EQ(keys(k), keys_of({"c1", "ghost", "p1", "p2"}));
  auto r = complete(model_, ranked, {}, o);
  EXPECT_EQ(names(r), (std::vector<std::string>{"c1", "p1", "p2"}));
  EXPECT_DOUBLE_EQ(r[0].score, 4.0);
  EXPECT_NEAR(r[1].score, 1.5, 1e-12);  // 0.5 * 3.0 (ghost's score) scaled fill
  EXPECT_NEAR(r[2].score, 1.5 * 5.0 / 6.0, 1e-12);
}

TEST_F(ScoringComplete, ResolveKeepsOrderAndScores) {
  std::vector<scored> items{{hash_id("p3"), 9.0}, {12345, 8.0}, {hash_id("p1"), 7.0}};
  auto r = resolve(model_, items);
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].item, "p3");
  EXPECT_DOUBLE_EQ(r[0].score, 9.0);
  EXPECT_EQ(r[1].item, "p1");
  EXPECT_DOUBLE_EQ(r[1].score, 7.0);
  EXPECT_TRUE(resolve(model_, {}).empty());
}

}  // namespace
}  // namespace rtrec::engine
