// Tests of the item model: co-occurrence values and their symmetry, the
// similarity ranking, bounded rows that keep the strongest neighbors,
// sharding (summed shard candidates equal a single model's), popularity with
// forward decay (half-life ratios, landmark rescale over a long span), hidden
// items, the category filter, popular() exclusions and the popular cache.
// Events reach the model the production way: through a profile_store batch.
#include "engine/item_model.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
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

/// Feeds events through a profile store to any number of item models.
class feeder {
 public:
  explicit feeder(const model_config& cfg) : store_(cfg) {}
  void attach(item_model& m) { models_.push_back(&m); }
  void add(const std::string& user, const std::string& item, std::int64_t ts,
           event_type type = event_type::view, double value = 0.0) {
    batch_.clear();
    ASSERT_EQ(store_.apply(test_support::make_event(user, item, ts, type, value), batch_), reject_reason::none) << user << " " << item;
    for (auto* m : models_)
      m->apply(batch_);
  }
  profile_store& store() { return store_; }

 private:
  profile_store store_;
  std::vector<item_model*> models_;
  item_delta_batch batch_;
};

/// No decay, cosine similarity, exact popularity: values computable by hand.
model_config plain_config() {
  model_config cfg;
  cfg.cooc_half_life_s = 0.0;
  cfg.trend_half_life_s = 0.0;
  cfg.similarity_alpha = 0.5;
  cfg.popular_refresh_events = 0;
  return cfg;
}

std::map<key_t, double> candidates_of(const item_model& m,
                                      std::initializer_list<std::pair<const char*, float>> q,
                                      const item_filter& f = {}) {
  score_query query;
  for (const auto& [id, w] : q) {
    query.items.push_back(hash_id(id));
    query.weights.push_back(w);
  }
  query.filter = f;
  absl::flat_hash_map<key_t, double> out;
  m.candidates(query, out);
  return {out.begin(), out.end()};
}

using test_support::keys;

using test_support::keys_of;

score_query make_query_for(const profile_view& view) {
  score_query q;
  q.items = view.recent;
  q.weights = view.recent_weight;
  return q;
}

bool sorted_best_first(const std::vector<scored>& v) {
  for (std::size_t k = 1; k < v.size(); ++k)
    if (!better(v[k - 1], v[k]))
      return false;
  return true;
}

// -- co-occurrence and similarity --------------------------------------------

TEST(ItemModel, CooccurrenceIsSymmetric) {
  auto cfg = plain_config();
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  f.add("u1", "x", t0);
  f.add("u1", "y", t0 + 1);
  f.add("u2", "y", t0 + 2);
  f.add("u2", "x", t0 + 3);
  // c_xy = 1 + 1, n_x = n_y = 2: cosine 1 both ways.
  auto sx = m.similar(hash_id("x"), 10, {});
  auto sy = m.similar(hash_id("y"), 10, {});
  ASSERT_EQ(sx.size(), 1u);
  ASSERT_EQ(sy.size(), 1u);
  EXPECT_EQ(sx[0].key, hash_id("y"));
  EXPECT_EQ(sy[0].key, hash_id("x"));
  EXPECT_DOUBLE_EQ(sx[0].score, 1.0);
  EXPECT_DOUBLE_EQ(sy[0].score, 1.0);
  EXPECT_EQ(m.find(hash_id("x"))->norm, 2.0);
  EXPECT_EQ(m.find(hash_id("y"))->norm, 2.0);

  // Unequal norms with alpha 0.7: the two directions differ only through the
  // norms, so both rows hold the same c_xy = 2.
  auto cfg7 = plain_config();
  cfg7.similarity_alpha = 0.7;
  item_model m7(cfg7);
  feeder f7(cfg7);
  f7.attach(m7);
  f7.add("u1", "x", t0);
  f7.add("u1", "y", t0 + 1);
  f7.add("u2", "y", t0 + 2);
  f7.add("u2", "x", t0 + 3);
  f7.add("u3", "x", t0 + 4);  // n_x = 3, n_y = 2
  auto cx = candidates_of(m7, {{"x", 1.0f}});
  auto cy = candidates_of(m7, {{"y", 1.0f}});
  ASSERT_EQ(cx.size(), 1u);
  ASSERT_EQ(cy.size(), 1u);
  EXPECT_NEAR(cx[hash_id("y")], 2.0 / (std::pow(3.0, 0.7) * std::pow(2.0, 0.3)), 1e-12);
  EXPECT_NEAR(cy[hash_id("x")], 2.0 / (std::pow(2.0, 0.7) * std::pow(3.0, 0.3)), 1e-12);
}

TEST(ItemModel, CooccurrenceWeightsAreEventWeightProducts) {
  auto cfg = plain_config();
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  f.add("u", "a", t0, event_type::purchase);  // w 3
  f.add("u", "b", t0 + 1, event_type::click);  // w 1.5, pairs with a: 4.5
  f.add("u", "b", t0 + 2, event_type::like);  // repeat: popularity only
  EXPECT_DOUBLE_EQ(m.find(hash_id("a"))->norm, 9.0);
  EXPECT_DOUBLE_EQ(m.find(hash_id("b"))->norm, 2.25);
  EXPECT_DOUBLE_EQ(m.find(hash_id("b"))->popularity, 3.5);
  EXPECT_EQ(m.find(hash_id("b"))->events, 2u);
  auto c = candidates_of(m, {{"a", 2.0f}});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NEAR(c[hash_id("b")], 2.0 * 4.5 / std::sqrt(9.0 * 2.25), 1e-12);
  const auto st = m.stats();
  EXPECT_EQ(st.events, 3u);
  EXPECT_EQ(st.pair_updates, 2u);  // one pair, two rows
  EXPECT_EQ(st.rows, 2u);
  EXPECT_EQ(st.row_entries, 2u);
  EXPECT_EQ(st.items, 2u);
  EXPECT_EQ(m.latest_timestamp(), t0 + 2);
  ASSERT_NE(m.name(hash_id("a")), nullptr);
  EXPECT_EQ(*m.name(hash_id("a")), "a");
  EXPECT_EQ(m.name(hash_id("zzz")), nullptr);
  EXPECT_EQ(m.find(hash_id("zzz")), nullptr);
}

TEST(ItemModel, CandidatesSumOverQueryItems) {
  auto cfg = plain_config();
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  f.add("u1", "a", t0);
  f.add("u1", "c", t0 + 1);
  f.add("u2", "b", t0 + 2);
  f.add("u2", "c", t0 + 3);
  // n_a = n_b = 1, n_c = 2, c_ac = c_bc = 1.
  auto c = candidates_of(m, {{"a", 1.0f}, {"b", 0.5f}});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_NEAR(c[hash_id("c")], 1.5 / std::sqrt(2.0), 1e-12);
  // Candidates accumulate into an existing map.
  score_query q;
  q.items = {hash_id("a")};
  q.weights = {1.0f};
  absl::flat_hash_map<key_t, double> out{{hash_id("c"), 10.0}};
  m.candidates(q, out);
  EXPECT_NEAR(out[hash_id("c")], 10.0 + 1.0 / std::sqrt(2.0), 1e-12);
  // Unknown query items give nothing.
  EXPECT_TRUE(candidates_of(m, {{"nope", 1.0f}}).empty());
}

TEST(ItemModel, ARowNeighborWithoutAnEntryIsSkippedUntilItIsKnown) {
  // A batch can name a context item the model never saw as an item (rows
  // hold it by record index, with no entry behind it).
  auto cfg = plain_config();
  item_model m(cfg);
  const key_t a = hash_id("a"), ghost = hash_id("ghost");
  item_delta_batch b;
  b.new_keys = {a};
  b.new_ids = {"a"};
  b.item = {a};
  b.weight = {1.0f};
  b.timestamp = {t0};
  b.flags = {item_delta_batch::first_time};
  b.ctx_end = {1};
  b.ctx_item = {ghost};
  b.ctx_weight = {1.0f};
  m.apply(b);
  EXPECT_EQ(m.stats().row_entries, 2u);  // a -> ghost and ghost -> a
  EXPECT_EQ(m.find(ghost), nullptr);
  EXPECT_TRUE(candidates_of(m, {{"a", 1.0f}}).empty());
  EXPECT_TRUE(candidates_of(m, {{"ghost", 1.0f}}).empty());
  EXPECT_TRUE(m.similar(a, 10, {}).empty());
  // An upstream sum for it passes on unchanged: this shard knows nothing of it.
  score_query q;
  q.items = {a};
  q.weights = {1.0f};
  std::vector<scored> out;
  m.candidates(q, out, {{ghost, 2.5}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].key, ghost);
  EXPECT_EQ(out[0].score, 2.5);
  // Once known (metadata only: norm 0, so similarity 0), it is a candidate.
  ASSERT_TRUE(m.set_meta({"ghost", {}, false, 0}));
  auto c = candidates_of(m, {{"a", 1.0f}});
  ASSERT_EQ(c.size(), 1u);
  EXPECT_EQ(c[ghost], 0.0);
  out.clear();
  m.candidates(q, out, {{ghost, 2.5}});
  ASSERT_EQ(out.size(), 1u);
  EXPECT_EQ(out[0].score, 2.5);  // 0.0 + 2.5: summed in its record now
  // A snapshot keeps the row and the record.
  std::string blob;
  m.save(blob);
  item_model loaded(cfg);
  loaded.load(blob);
  EXPECT_EQ(candidates_of(loaded, {{"a", 1.0f}}), c);
  EXPECT_EQ(loaded.stats().row_entries, 2u);
}

TEST(ItemModel, SimilarRanksTheMoreCooccurringItemFirst) {
  auto cfg = model_config{};
  cfg.cooc_half_life_s = 0.0;
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  std::int64_t t = t0;
  // b and c each have three users; b co-occurs with a three times, c once.
  for (const char* u : {"u1", "u2", "u3"}) {
    f.add(u, "a", ++t);
    f.add(u, "b", ++t);
  }
  f.add("u4", "a", ++t);
  f.add("u4", "c", ++t);
  f.add("u5", "c", ++t);
  f.add("u6", "c", ++t);
  auto s = m.similar(hash_id("a"), 10, {});
  ASSERT_EQ(s.size(), 2u);
  EXPECT_EQ(s[0].key, hash_id("b"));
  EXPECT_EQ(s[1].key, hash_id("c"));
  EXPECT_GT(s[0].score, s[1].score);
  EXPECT_NEAR(s[0].score / s[1].score, 3.0, 1e-9);  // equal norms: ratio of counts
  auto top1 = m.similar(hash_id("a"), 1, {});
  ASSERT_EQ(top1.size(), 1u);
  EXPECT_EQ(top1[0].key, hash_id("b"));
  EXPECT_TRUE(m.similar(hash_id("a"), 0, {}).empty());
  EXPECT_TRUE(m.similar(hash_id("unknown"), 10, {}).empty());
  EXPECT_TRUE(m.similar(hash_id("u1"), 10, {}).empty());  // a user key, not an item
}

TEST(ItemModel, DislikesFeedNoModel) {
  auto cfg = plain_config();
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  f.add("u", "a", t0);
  f.add("u", "b", t0 + 1, event_type::dislike);
  f.add("u", "c", t0 + 2);
  const auto* b = m.find(hash_id("b"));
  ASSERT_NE(b, nullptr);  // named by the batch
  EXPECT_EQ(b->popularity, 0.0);
  EXPECT_EQ(b->norm, 0.0);
  EXPECT_EQ(keys(m.similar(hash_id("c"), 10, {})), keys_of({"a"}));
  EXPECT_EQ(keys(m.popular(10, {})).size(), 2u);
  auto c = candidates_of(m, {{"a", 1.0f}});
  EXPECT_EQ(c.count(hash_id("b")), 0u);
}

// -- bounded rows --------------------------------------------------------------

TEST(ItemModel, RowsAreBoundedAndKeepTheStrongestNeighbors) {
  model_config cfg;
  cfg.cooc_half_life_s = 0.0;
  ASSERT_EQ(cfg.neighbors_max, 100u);
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  std::int64_t t = t0;
  std::vector<std::string> strong;
  for (int s = 0; s < 10; ++s)
    strong.push_back("strong" + std::to_string(s));
  int user = 0;
  auto pair_with_hot = [&](const std::string& item) {
    const std::string u = "u" + std::to_string(user++);
    f.add(u, item, ++t);
    f.add(u, "hot", ++t);
  };
  for (int r = 0; r < 5; ++r)
    for (const auto& s : strong)
      pair_with_hot(s);
  for (int k = 0; k < 5'000; ++k) {
    pair_with_hot("weak" + std::to_string(k));
    if (k % 100 == 0)
      pair_with_hot(strong[static_cast<std::size_t>(k / 100) % strong.size()]);
  }
  const auto st = m.stats();
  EXPECT_GT(st.prunes, 0u);
  const std::size_t limit = cfg.neighbors_max + cfg.neighbors_max / 2;
  auto hot_row = m.similar(hash_id("hot"), 100'000, {});
  EXPECT_LE(hot_row.size(), limit);
  EXPECT_GE(hot_row.size(), cfg.neighbors_max);
  // Every other row holds exactly one entry (the hot item).
  EXPECT_EQ(st.rows, 1u + 10u + 5'000u);
  EXPECT_EQ(st.row_entries, (st.rows - 1) + hot_row.size());
  EXPECT_LE(st.row_entries, (st.rows - 1) + limit);
  // The ten strong neighbors (10 co-occurrences each) are the top ten.
  std::set<key_t> top10;
  for (std::size_t k = 0; k < 10 && k < hot_row.size(); ++k)
    top10.insert(hot_row[k].key);
  for (const auto& s : strong) {
    EXPECT_TRUE(top10.count(hash_id(s))) << s << " was pruned from the hot row";
    EXPECT_EQ(keys(m.similar(hash_id(s), 10, {})), keys_of({"hot"})) << s;
  }
  EXPECT_TRUE(sorted_best_first(hot_row));
}

TEST(ItemModel, RowsStayBoundedUnderRandomLoad) {
  const std::uint64_t seed = 31337;
  std::mt19937_64 rng{seed};
  model_config cfg;
  cfg.neighbors_max = 8;
  cfg.pair_window = 10;
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  for (int n = 0; n < 20'000; ++n)
    f.add("u" + std::to_string(rng() % 500), "i" + std::to_string(std::min(rng() % 400, rng() % 400)),
          t0 + n * 1000);
  const auto st = m.stats();
  EXPECT_GT(st.prunes, 0u) << "seed=" << seed;
  EXPECT_LE(st.row_entries, st.rows * (cfg.neighbors_max + cfg.neighbors_max / 2)) << "seed=" << seed;
  for (int i = 0; i < 400; ++i) {
    auto row = m.similar(hash_id("i" + std::to_string(i)), 1'000, {});
    ASSERT_LE(row.size(), 12u) << "seed=" << seed << " item i" << i;
  }
}

// Queries read each neighbor's norm^(1 - alpha) and hidden flag from a dense
// table that mirrors the item entries. Every way an entry changes (new items,
// norms growing and rescaled by decay, set_meta hiding and showing, remove,
// load) must reach it: candidates() must equal, bit for bit, the scores built
// from similar(), which reads the entries themselves.
TEST(ItemModel, DenseScoresMatchTheItemTableThroughEveryChange) {
  const std::uint64_t seed = 4242;
  std::mt19937_64 rng{seed};
  model_config cfg;
  cfg.similarity_alpha = 0.7;
  cfg.cooc_half_life_s = 600;  // landmark moves: norms are rescaled
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  std::int64_t t = t0;
  auto feed = [&](int events) {
    for (int n = 0; n < events; ++n, t += 1000)
      f.add("u" + std::to_string(rng() % 200),
            "i" + std::to_string(std::min(rng() % 300, rng() % 300)), t);
  };
  std::size_t compared = 0;
  auto check = [&](const item_model& model, const char* when) {
    for (int i = 0; i < 300; ++i) {
      const auto* e = model.find(hash_id("i" + std::to_string(i)));
      if (e == nullptr)
        continue;
      ASSERT_EQ(e->norm_pow, e->norm > 0.0 ? std::pow(e->norm, 1.0 - cfg.similarity_alpha) : 0.0)
        << when << "; seed=" << seed << " item i" << i;
    }
    for (int u = 0; u < 200; ++u) {
      const auto view = f.store().view("u" + std::to_string(u));
      auto q = make_query_for(view);
      for (const std::string category : {"", "books", "seen left out"}) {
        // The third pass: no filter, the user's seen items excluded.
        const bool excluding = category == "seen left out";
        q.filter.category = excluding ? "" : category;
        q.exclude = excluding ? view.seen : std::vector<key_t>{};
        std::map<key_t, double> want;
        for (std::size_t n = 0; n < q.items.size(); ++n)
          for (const auto& s : model.similar(q.items[n], 100'000, q.filter))
            want[s.key] += q.weights[n] * s.score;
        for (const auto k : q.exclude)
          want.erase(k);
        std::vector<scored> got;
        model.candidates(q, got);
        absl::flat_hash_map<key_t, double> summed{{hash_id("seeded"), 1.0}};
        model.candidates(q, summed);
        ASSERT_EQ(got.size(), want.size()) << when << "; seed=" << seed << " u" << u;
        ASSERT_EQ(summed.size(), want.size() + 1) << when << "; seed=" << seed << " u" << u;
        for (const auto& c : got) {
          const auto it = want.find(c.key);
          ASSERT_NE(it, want.end()) << when << "; seed=" << seed << " u" << u;
          ASSERT_EQ(c.score, it->second) << when << "; seed=" << seed << " u" << u;
          ASSERT_EQ(summed[c.key], c.score) << when << "; seed=" << seed;
          const auto* e = model.find(c.key);
          ASSERT_NE(e, nullptr);
          ASSERT_FALSE(e->hidden) << when << "; seed=" << seed;
          if (!q.filter.category.empty()) {
            ASSERT_EQ(e->id, "i1") << when << "; seed=" << seed;
          }
          ++compared;
        }
        if (excluding && !q.exclude.empty()) {
          // Upstream sums: an excluded item is dropped whether this model
          // knows it or not; an unknown one that is not excluded passes on.
          std::vector<scored> with_upstream;
          const std::vector<scored> upstream{{q.exclude.front(), 5.0},
                                             {hash_id("unknown-excluded"), 1.0},
                                             {hash_id("unknown-kept"), 2.0}};
          q.exclude.push_back(hash_id("unknown-excluded"));
          model.candidates(q, with_upstream, upstream);
          ASSERT_EQ(with_upstream.size(), want.size() + 1) << when << "; seed=" << seed;
          std::size_t kept = 0;
          for (const auto& c : with_upstream) {
            ASSERT_TRUE(std::find(q.exclude.begin(), q.exclude.end(), c.key) == q.exclude.end())
              << when << "; seed=" << seed << " u" << u;
            kept += c.key == hash_id("unknown-kept") && c.score == 2.0;
          }
          ASSERT_EQ(kept, 1u) << when << "; seed=" << seed;
        }
      }
    }
  };
  feed(5'000);
  ASSERT_TRUE(m.set_meta({"i1", {"books"}, false, 0}));
  ASSERT_TRUE(m.set_meta({"i2", {}, true, 0}));
  ASSERT_TRUE(m.remove("i3"));
  ASSERT_TRUE(m.set_meta({"new-only-by-meta", {"books"}, false, 0}));
  check(m, "after hiding");
  // Hidden items come back; new items and later events grow norms, and a
  // long gap moves the decay landmark (every norm rescaled).
  ASSERT_TRUE(m.set_meta({"i2", {}, false, 0}));
  t += 3'600'000;
  feed(2'000);
  ASSERT_TRUE(m.remove("i5"));
  check(m, "after showing again and decay");
  std::string bytes;
  m.save(bytes);
  item_model loaded(cfg);
  loaded.load(bytes);
  check(loaded, "after load");
  // The loaded model keeps its table in step with later changes too.
  f.attach(loaded);
  feed(1'000);
  ASSERT_TRUE(loaded.set_meta({"i5", {}, false, 0}));
  check(loaded, "after load and more events");
  EXPECT_GT(compared, 4'000u) << "seed=" << seed;
}

// -- sharding ------------------------------------------------------------------

TEST(ItemModel, ScoreNeighborsScoresOnlyEachRowsStrongestNeighbors) {
  // Item "a" co-occurs k times with b<k> (k = 1..6) and 4 times with "t", so
  // b4 and t tie; "x" co-occurs once with "y" only (a row shorter than the
  // bound).
  auto all_cfg = plain_config();
  auto cfg = all_cfg;
  cfg.score_neighbors = 3;
  item_model all(all_cfg), bounded(cfg);
  feeder f(all_cfg);
  f.attach(all);
  f.attach(bounded);
  std::int64_t t = t0;
  int user = 0;
  auto pair = [&](const std::string& i, const std::string& j, int times) {
    for (int n = 0; n < times; ++n) {
      const std::string u = "u" + std::to_string(user++);
      f.add(u, i, ++t);
      f.add(u, j, ++t);
    }
  };
  for (int k = 1; k <= 6; ++k)
    pair("a", "b" + std::to_string(k), k);
  pair("a", "t", 4);
  pair("x", "y", 1);
  ASSERT_FALSE(testing::Test::HasFatalFailure());

  auto every = candidates_of(all, {{"a", 1.0f}});
  ASSERT_EQ(every.size(), 7u);
  // The third place goes to the smaller key of the tie b4 / t.
  const key_t b4 = hash_id("b4"), tk = hash_id("t");
  const std::set<key_t> want{hash_id("b6"), hash_id("b5"), std::min(b4, tk)};
  auto got = candidates_of(bounded, {{"a", 1.0f}});
  std::set<key_t> got_keys;
  for (const auto& [k, v] : got) {
    got_keys.insert(k);
    // Scores are the unbounded model's, bit for bit.
    EXPECT_EQ(v, every.at(k));
  }
  EXPECT_EQ(got_keys, want);

  // A row no longer than the bound is read whole; rows still sum.
  auto both = candidates_of(bounded, {{"a", 1.0f}, {"x", 0.5f}});
  EXPECT_EQ(both.size(), 4u);
  EXPECT_EQ(both.at(hash_id("y")), candidates_of(all, {{"x", 0.5f}}).at(hash_id("y")));

  // similar() is not bounded: it reads the whole row.
  EXPECT_EQ(bounded.similar(hash_id("a"), 100, {}).size(), 7u);

  // A hidden neighbor among the strongest is skipped, not replaced by the
  // next one: the bound picks neighbors by weight before reading them.
  ASSERT_TRUE(bounded.set_meta({"b6", {}, true, 0}));
  auto hidden = candidates_of(bounded, {{"a", 1.0f}});
  EXPECT_EQ(hidden.size(), 2u);
  EXPECT_EQ(hidden.count(hash_id("b6")), 0u);
}

TEST(ItemModel, ShardedCandidatesSumToTheSingleModel) {
  for (std::uint32_t shards : {2u, 3u}) {
    for (std::size_t bound : {0u, 3u}) {
      SCOPED_TRACE("score_neighbors=" + std::to_string(bound));
      const std::uint64_t seed = 4242 + shards;
      std::mt19937_64 rng{seed};
      model_config cfg;
      cfg.neighbors_max = 6;  // pruning on
      cfg.score_neighbors = bound;
      cfg.cooc_half_life_s = 3600.0;
      cfg.trend_half_life_s = 600.0;
      item_model single(cfg, 0, 1);
      std::vector<item_model> parts;
      for (std::uint32_t s = 0; s < shards; ++s)
        parts.emplace_back(cfg, s, shards);
      feeder f(cfg);
      f.attach(single);
      for (auto& p : parts)
        f.attach(p);
      const int users = 300, items = 200;
      for (int n = 0; n < 6'000; ++n) {
        const auto type = static_cast<event_type>(rng() % event_type_count);
        // 0.1 cooc half-life per event: 600 half-lives in all, several rescales.
        f.add("u" + std::to_string(rng() % users),
              "i" + std::to_string(std::min(rng() % items, rng() % items)),
              t0 + std::int64_t{n} * 360'000, type, 1.0 + static_cast<double>(rng() % 9));
        if (testing::Test::HasFatalFailure())
          return;
      }
      for (int i = 0; i < items; ++i) {
        const key_t k = hash_id("i" + std::to_string(i));
        int owners = 0;
        for (const auto& p : parts)
          owners += p.owns(k) ? 1 : 0;
        ASSERT_EQ(owners, 1) << "seed=" << seed << " item i" << i;
        ASSERT_TRUE(single.owns(k));
      }
      std::size_t nonempty = 0;
      for (int u = 0; u < users; ++u) {
        auto view = f.store().view("u" + std::to_string(u));
        score_query q;
        q.items = view.recent;
        q.weights = view.recent_weight;
        absl::flat_hash_map<key_t, double> want, got;
        single.candidates(q, want);
        for (const auto& p : parts)
          p.candidates(q, got);
        ASSERT_EQ(got.size(), want.size()) << "seed=" << seed << " shards=" << shards << " u" << u;
        for (const auto& [k, v] : want) {
          auto it = got.find(k);
          ASSERT_NE(it, got.end()) << "seed=" << seed << " shards=" << shards << " u" << u;
          ASSERT_TRUE(std::isfinite(v)) << "seed=" << seed;
          ASSERT_NEAR(it->second, v, 1e-9 * std::abs(v))
              << "seed=" << seed << " shards=" << shards << " u" << u;
        }
        nonempty += want.empty() ? 0 : 1;
      }
      EXPECT_GT(nonempty, static_cast<std::size_t>(users) / 2) << "seed=" << seed;
      // similar() on the owning shard equals the single model's.
      for (int i = 0; i < items; ++i) {
        const key_t k = hash_id("i" + std::to_string(i));
        const auto& owner = parts[shard_of(k, shards)];
        auto a = single.similar(k, 20, {});
        auto b = owner.similar(k, 20, {});
        ASSERT_EQ(keys(a), keys(b)) << "seed=" << seed << " shards=" << shards << " item i" << i;
        for (std::size_t j = 0; j < a.size(); ++j)
          ASSERT_NEAR(a[j].score, b[j].score, 1e-9 * std::abs(a[j].score)) << "seed=" << seed;
        for (const auto& p : parts)
          if (&p != &owner) {
            ASSERT_TRUE(p.similar(k, 20, {}).empty()) << "seed=" << seed;
          }
      }
      // Popularity is replicated: every shard answers the same list.
      auto pop = single.popular(50, {});
      for (auto& p : parts) {
        auto other = p.popular(50, {});
        ASSERT_EQ(keys(other), keys(pop)) << "seed=" << seed;
      }
    }
  }
}

TEST(ItemModel, BestKeepsExactlyTheTopOfTheFullList) {
  // candidates(q, out, upstream, best) must append the same entries (keys
  // and bit-equal sums) as the best `best` of the full list, including
  // upstream candidates this shard passes on unchanged, and append after
  // what `out` already holds.
  const std::uint64_t seed = 1127;
  std::mt19937_64 rng{seed};
  model_config cfg;
  cfg.neighbors_max = 8;
  item_model s0(cfg, 0, 2), s1(cfg, 1, 2);
  feeder f(cfg);
  f.attach(s0);
  f.attach(s1);
  for (int n = 0; n < 5'000; ++n) {
    f.add("u" + std::to_string(rng() % 200), "i" + std::to_string(std::min(rng() % 300, rng() % 300)),
          t0 + n * 1000);
    if (testing::Test::HasFatalFailure())
      return;
  }
  std::size_t checked = 0;
  for (int u = 0; u < 200; ++u) {
    auto view = f.store().view("u" + std::to_string(u));
    score_query q = make_query_for(view);
    q.exclude = view.seen;
    std::vector<scored> upstream;
    s0.candidates(q, upstream);
    // Candidates no shard knows: passed on by s1 (one ties an existing score).
    upstream.push_back({hash_id("nowhere-1"), 1e9});
    upstream.push_back({hash_id("nowhere-2"), upstream.empty() ? 0.0 : upstream.front().score});
    std::vector<scored> full;
    s1.candidates(q, full, upstream);
    std::sort(full.begin(), full.end(), better);
    for (std::size_t best : {std::size_t{1}, std::size_t{3}, std::size_t{10}, std::size_t{42},
                             full.size(), full.size() + 5}) {
      std::vector<scored> got{{7, 7.0}};  // appended after
      s1.candidates(q, got, upstream, best);
      ASSERT_EQ(got.front().key, 7u);
      got.erase(got.begin());
      std::sort(got.begin(), got.end(), better);
      const std::size_t want = std::min(best, full.size());
      ASSERT_EQ(got.size(), want) << "seed=" << seed << " u" << u << " best=" << best;
      for (std::size_t k = 0; k < want; ++k) {
        ASSERT_EQ(got[k].key, full[k].key) << "seed=" << seed << " u" << u << " best=" << best;
        ASSERT_EQ(got[k].score, full[k].score) << "seed=" << seed << " u" << u;
      }
      checked += want;
    }
  }
  EXPECT_GT(checked, 10'000u);
}

// -- popularity and decay -----------------------------------------------------

TEST(ItemModel, PopularityHalvesPerHalfLife) {
  model_config cfg;
  cfg.trend_half_life_s = 3600.0;
  cfg.popular_refresh_events = 0;
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  f.add("u1", "old", t0);
  f.add("u2", "new", t0 + 3'600'000);
  auto p = m.popular(10, {});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].key, hash_id("new"));
  EXPECT_EQ(p[1].key, hash_id("old"));
  EXPECT_NEAR(p[0].score / p[1].score, 2.0, 1e-6);
  EXPECT_NEAR(p[0].score, 1.0, 1e-9);  // decayed to the latest event: itself
  // Three events one half-life old outweigh one fresh event (1.5 vs 1).
  f.add("u3", "old", t0);
  f.add("u4", "old", t0);
  p = m.popular(10, {});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].key, hash_id("old"));
  EXPECT_NEAR(p[0].score, 1.5, 1e-9);
  // Without decay, counts decide.
  auto plain = plain_config();
  item_model q(plain);
  feeder g(plain);
  g.attach(q);
  g.add("u1", "old", t0);
  g.add("u2", "old", t0);
  g.add("u3", "new", t0 + 1'000'000'000);
  p = q.popular(10, {});
  ASSERT_EQ(p.size(), 2u);
  EXPECT_EQ(p[0].key, hash_id("old"));
  EXPECT_DOUBLE_EQ(p[0].score, 2.0);
  EXPECT_DOUBLE_EQ(p[1].score, 1.0);
}

TEST(ItemModel, ForwardDecayRescaleOverAThousandHalfLives) {
  model_config cfg;
  cfg.trend_half_life_s = 1.0;
  cfg.cooc_half_life_s = 1.0;
  cfg.popular_refresh_events = 0;
  cfg.similarity_alpha = 0.7;
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  const std::int64_t h = 1000;  // one half-life in ms
  const int span = 1000;
  // (timestamp, item) in time order; expected score = sum 2^-(T - t)/H.
  std::vector<std::pair<std::int64_t, std::string>> events;
  for (int k = 0; k <= span; ++k) {
    events.emplace_back(t0 + k * h, "steady");
    if (k % 10 == 0)
      events.emplace_back(t0 + k * h, "g" + std::to_string(k));
  }
  const std::int64_t end = t0 + span * h;
  events.emplace_back(end - 3 * h, "z");
  events.emplace_back(end - h, "y");
  events.emplace_back(end, "x");
  std::stable_sort(events.begin(), events.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  std::map<key_t, double> expected;
  for (std::size_t n = 0; n < events.size(); ++n) {
    const auto& [ts, item] = events[n];
    f.add("u" + std::to_string(n % 7), item, ts);
    expected[hash_id(item)] += std::pow(2.0, -static_cast<double>(end - ts) / h);
  }
  auto p = m.popular(1'000, {});
  ASSERT_GE(p.size(), 4u);
  EXPECT_EQ(p[0].key, hash_id("steady"));
  EXPECT_NEAR(p[0].score, 2.0, 1e-6);
  std::map<key_t, double> got;
  for (const auto& s : p) {
    ASSERT_TRUE(std::isfinite(s.score)) << s.key;
    ASSERT_GE(s.score, 0.0);
    got[s.key] = s.score;
  }
  for (const auto& [k, want] : expected) {
    if (want < 1e-200)
      continue;  // decayed beyond double range: may be gone
    ASSERT_TRUE(got.count(k)) << "missing item with expected score " << want;
    EXPECT_NEAR(got[k] / want, 1.0, 1e-6) << "expected " << want << " got " << got[k];
  }
  EXPECT_NEAR(got[hash_id("x")] / got[hash_id("y")], 2.0, 1e-6);
  EXPECT_NEAR(got[hash_id("x")] / got[hash_id("z")], 8.0, 1e-6);
  EXPECT_NEAR(got[hash_id("g1000")] / got[hash_id("g990")], 1024.0, 1e-3);
  // The cached norm powers were recomputed at each rescale, not scaled.
  for (const auto& [k, want] : expected) {
    if (const auto* e = m.find(k)) {
      EXPECT_EQ(e->norm_pow, e->norm > 0.0 ? std::pow(e->norm, 1.0 - cfg.similarity_alpha) : 0.0)
        << e->id;
    }
  }
  // Co-occurrence scores stay finite after the rescales.
  for (const char* item : {"steady", "x", "y", "z", "g1000", "g500", "g0"}) {
    for (const auto& s : m.similar(hash_id(item), 100, {}))
      ASSERT_TRUE(std::isfinite(s.score) && s.score >= 0.0) << item;
  }
  for (int u = 0; u < 7; ++u) {
    auto view = f.store().view("u" + std::to_string(u));
    absl::flat_hash_map<key_t, double> c;
    m.candidates(make_query_for(view), c);
    for (const auto& [k, v] : c)
      ASSERT_TRUE(std::isfinite(v)) << "u" << u;
  }
}

TEST(ItemModel, PopularRanksBestFirstAndHonoursN) {
  auto cfg = plain_config();
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  // Counts: a 4, b 3, c 3, d 1. b and c tie: smaller key first.
  int u = 0;
  for (auto [item, count] : std::vector<std::pair<const char*, int>>{
           {"a", 4}, {"b", 3}, {"c", 3}, {"d", 1}})
    for (int n = 0; n < count; ++n, ++u)
      f.add("u" + std::to_string(u), item, t0 + u);
  auto p = m.popular(10, {});
  ASSERT_EQ(p.size(), 4u);
  EXPECT_TRUE(sorted_best_first(p));
  EXPECT_EQ(p[0].key, hash_id("a"));
  EXPECT_EQ(p[3].key, hash_id("d"));
  EXPECT_EQ(p[1].key, std::min(hash_id("b"), hash_id("c")));
  EXPECT_EQ(m.popular(2, {}).size(), 2u);
  EXPECT_TRUE(m.popular(0, {}).empty());
}

TEST(ItemModel, PopularExcludeSet) {
  auto cfg = plain_config();
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  for (int n = 0; n < 5; ++n)
    for (int k = 0; k <= n; ++k)
      f.add("u" + std::to_string(k), "i" + std::to_string(n), t0 + n * 10 + k);
  // Popularity: i4 5, i3 4, i2 3, i1 2, i0 1.
  absl::flat_hash_set<key_t> exclude{hash_id("i4"), hash_id("i2")};
  auto p = m.popular(10, {}, exclude);
  EXPECT_EQ(keys(p), keys_of({"i3", "i1", "i0"}));
  p = m.popular(2, {}, exclude);
  EXPECT_EQ(keys(p), keys_of({"i3", "i1"}));
  // The same through the category (full scan) path.
  for (int n = 0; n < 5; ++n)
    ASSERT_TRUE(m.set_meta({"i" + std::to_string(n), {"all"}, false, 0}));
  p = m.popular(10, {"all"}, exclude);
  EXPECT_EQ(keys(p), keys_of({"i3", "i1", "i0"}));
}

// -- hidden items and categories ---------------------------------------------

TEST(ItemModel, HiddenItemsNeverAppear) {
  const std::uint64_t seed = 5150;
  std::mt19937_64 rng{seed};
  auto cfg = model_config{};
  cfg.popular_cache = 8;
  cfg.popular_refresh_events = 1'000'000;  // the cache must not leak hidden items either
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  // The hidden items are the most popular and co-occur with everything.
  ASSERT_TRUE(m.set_meta({"pre_hidden", {}, true, 0}));
  for (int n = 0; n < 3'000; ++n) {
    const std::string u = "u" + std::to_string(rng() % 100);
    f.add(u, "i" + std::to_string(rng() % 50), t0 + 3 * n);
    if (n % 3 == 0) {
      f.add(u, "meta_hidden", t0 + 3 * n + 1);
      f.add(u, "removed", t0 + 3 * n + 1);
      f.add(u, "pre_hidden", t0 + 3 * n + 2);
    }
  }
  const key_t banned[] = {hash_id("meta_hidden"), hash_id("removed"), hash_id("pre_hidden")};
  // Fill the popular cache while they are still visible.
  const auto before = keys(m.popular(5, {}));
  EXPECT_NE(std::find(before.begin(), before.end(), hash_id("removed")), before.end());
  ASSERT_TRUE(m.set_meta({"meta_hidden", {}, true, 0}));
  ASSERT_TRUE(m.remove("removed"));
  EXPECT_FALSE(m.remove("never-seen"));
  EXPECT_TRUE(m.find(hash_id("removed"))->hidden);

  auto check = [&](const std::vector<scored>& list, const char* where) {
    for (const auto& s : list)
      for (key_t b : banned)
        ASSERT_NE(s.key, b) << where << " seed=" << seed;
  };
  for (std::size_t n : {1u, 5u, 20u, 100u})
    check(m.popular(n, {}), "popular");
  for (int i = 0; i < 50; ++i)
    check(m.similar(hash_id("i" + std::to_string(i)), 100, {}), "similar");
  for (int u = 0; u < 100; ++u) {
    auto view = f.store().view("u" + std::to_string(u));
    absl::flat_hash_map<key_t, double> c;
    m.candidates(make_query_for(view), c);
    for (key_t b : banned)
      ASSERT_EQ(c.count(b), 0u) << "candidates u" << u << " seed=" << seed;
  }
  // More events for a hidden item do not bring it back.
  f.add("late", "removed", t0 + 100'000);
  check(m.popular(100, {}), "popular after event");
  EXPECT_FALSE(m.visible(hash_id("removed"), {}));
  EXPECT_TRUE(m.visible(hash_id("i1"), {}));
}

TEST(ItemModel, CategoryFilter) {
  auto cfg = plain_config();
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  ASSERT_TRUE(m.set_meta({"book1", {"books"}, false, 0}));
  ASSERT_TRUE(m.set_meta({"book2", {"books", "sale"}, false, 0}));
  ASSERT_TRUE(m.set_meta({"film1", {"films"}, false, 0}));
  ASSERT_TRUE(m.set_meta({"film2", {"films", "sale"}, false, 0}));
  for (int u = 0; u < 6; ++u) {
    const std::string user = "u" + std::to_string(u);
    f.add(user, "seed", t0 + 10 * u);
    f.add(user, "book1", t0 + 10 * u + 1);
    if (u < 5)
      f.add(user, "film1", t0 + 10 * u + 2);
    if (u < 4)
      f.add(user, "book2", t0 + 10 * u + 3);
    if (u < 3)
      f.add(user, "film2", t0 + 10 * u + 4);
    f.add(user, "plain", t0 + 10 * u + 5);  // no categories
  }
  const item_filter books{"books"}, films{"films"}, sale{"sale"}, none{"nothing"};
  auto set_of = [](const std::vector<scored>& v) {
    std::set<key_t> s;
    for (const auto& x : v)
      s.insert(x.key);
    return s;
  };
  auto expect_set = [](std::initializer_list<const char*> ids) {
    std::set<key_t> s;
    for (const char* id : ids)
      s.insert(hash_id(id));
    return s;
  };
  EXPECT_EQ(set_of(m.similar(hash_id("seed"), 10, books)), expect_set({"book1", "book2"}));
  EXPECT_EQ(set_of(m.similar(hash_id("seed"), 10, films)), expect_set({"film1", "film2"}));
  EXPECT_EQ(set_of(m.similar(hash_id("seed"), 10, sale)), expect_set({"book2", "film2"}));
  EXPECT_TRUE(m.similar(hash_id("seed"), 10, none).empty());
  EXPECT_EQ(m.similar(hash_id("seed"), 10, {}).size(), 5u);

  EXPECT_EQ(keys(m.popular(10, books)), keys_of({"book1", "book2"}));
  EXPECT_EQ(keys(m.popular(10, films)), keys_of({"film1", "film2"}));
  EXPECT_EQ(keys(m.popular(10, sale)), keys_of({"book2", "film2"}));
  EXPECT_EQ(keys(m.popular(1, sale)), keys_of({"book2"}));
  EXPECT_TRUE(m.popular(10, none).empty());

  auto c = candidates_of(m, {{"seed", 1.0f}}, films);
  EXPECT_EQ(c.size(), 2u);
  EXPECT_TRUE(c.count(hash_id("film1")) && c.count(hash_id("film2")));
  EXPECT_TRUE(m.visible(hash_id("book1"), books));
  EXPECT_FALSE(m.visible(hash_id("book1"), films));
  EXPECT_FALSE(m.visible(hash_id("plain"), books));
  EXPECT_TRUE(m.visible(hash_id("plain"), {}));
}

// -- the popular cache -------------------------------------------------------

TEST(ItemModel, PopularRefreshZeroIsAlwaysExact) {
  const std::uint64_t seed = 606;
  std::mt19937_64 rng{seed};
  auto cfg = plain_config();
  cfg.popular_refresh_events = 0;
  cfg.popular_cache = 4;
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  std::map<key_t, double> counts;
  for (int n = 0; n < 500; ++n) {
    const std::string item = "i" + std::to_string(rng() % 12);
    f.add("u" + std::to_string(n), item, t0 + n);
    counts[hash_id(item)] += 1.0;
    std::vector<scored> want;
    for (const auto& [k, v] : counts)
      want.push_back({k, v});
    std::sort(want.begin(), want.end(), better);
    for (std::size_t top : {1u, 3u, 10u}) {
      auto got = m.popular(top, {});
      const auto expect_n = std::min<std::size_t>(top, want.size());
      ASSERT_EQ(got.size(), expect_n) << "seed=" << seed << " n=" << n;
      for (std::size_t k = 0; k < expect_n; ++k) {
        ASSERT_EQ(got[k].key, want[k].key) << "seed=" << seed << " n=" << n << " rank " << k;
        ASSERT_DOUBLE_EQ(got[k].score, want[k].score) << "seed=" << seed;
      }
    }
  }
}

TEST(ItemModel, PopularCacheIsServedStaleUntilRefresh) {
  auto cfg = plain_config();
  cfg.popular_refresh_events = 100;
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  int user = 0;
  auto add = [&](const char* item, int times) {
    for (int n = 0; n < times; ++n, ++user)
      f.add("u" + std::to_string(user), item, t0 + user);
  };
  add("a", 3);
  add("b", 2);
  EXPECT_EQ(keys(m.popular(10, {})), keys_of({"a", "b"}));  // builds the cache
  // Up to popular_refresh_events updates may pass: the cached list is served.
  add("c", 100);
  auto stale = m.popular(10, {});
  EXPECT_EQ(keys(stale), keys_of({"a", "b"}));
  EXPECT_DOUBLE_EQ(stale[0].score, 3.0);
  // One more update: the next query recomputes.
  add("c", 1);
  auto fresh = m.popular(10, {});
  EXPECT_EQ(keys(fresh), keys_of({"c", "a", "b"}));
  EXPECT_DOUBLE_EQ(fresh[0].score, 101.0);
  // A category query always scans, so it is exact even with a stale cache.
  add("d", 100);  // exactly popular_refresh_events updates
  ASSERT_TRUE(m.set_meta({"d", {"x"}, false, 0}));
  EXPECT_EQ(keys(m.popular(10, {"x"})), keys_of({"d"}));
}

TEST(ItemModel, PopularBeyondTheCacheSizeScansEverything) {
  auto cfg = plain_config();
  cfg.popular_cache = 2;
  cfg.popular_refresh_events = 1'000'000;
  item_model m(cfg);
  feeder f(cfg);
  f.attach(m);
  int user = 0;
  for (int i = 0; i < 6; ++i)
    for (int n = 0; n <= i; ++n, ++user)
      f.add("u" + std::to_string(user), "i" + std::to_string(i), t0 + user);
  EXPECT_EQ(keys(m.popular(2, {})), keys_of({"i5", "i4"}));
  EXPECT_EQ(keys(m.popular(5, {})), keys_of({"i5", "i4", "i3", "i2", "i1"}));
  absl::flat_hash_set<key_t> exclude{hash_id("i5")};
  EXPECT_EQ(keys(m.popular(2, {}, exclude)), keys_of({"i4", "i3"}));
}

TEST(ItemModel, SetMetaAndRemoveRespectTheStoredString) {
  auto cfg = plain_config();
  item_model m(cfg);
  ASSERT_TRUE(m.set_meta({"a", {"c1", "c2"}, false, 5}));
  const auto* e = m.find(hash_id("a"));
  ASSERT_NE(e, nullptr);
  EXPECT_EQ(e->id, "a");
  EXPECT_EQ(e->categories, (std::vector<std::string>{"c1", "c2"}));
  EXPECT_FALSE(e->hidden);
  EXPECT_FALSE(m.remove("A"));
  EXPECT_FALSE(m.find(hash_id("a"))->hidden);
  EXPECT_TRUE(m.remove("a"));
  EXPECT_TRUE(m.find(hash_id("a"))->hidden);
  EXPECT_TRUE(m.popular(10, {}).empty());  // metadata alone gives no popularity
}

TEST(ItemModel, DeletedItemsAreUnknownToMetaAndPageUntilSetAgain) {
  item_model m(plain_config());
  item_meta a{"a", {"c"}, false, 5, "five", "[1]", "note"};
  ASSERT_TRUE(m.set_meta(a));
  auto got = m.meta("a");
  ASSERT_TRUE(got);
  EXPECT_EQ(got->timestamp_text, "five");
  EXPECT_EQ(got->labels, "[1]");
  EXPECT_EQ(got->comment, "note");
  EXPECT_FALSE(m.meta("A"));
  EXPECT_TRUE(m.remove("a"));
  EXPECT_FALSE(m.remove("a"));  // already deleted
  EXPECT_FALSE(m.meta("a"));
  EXPECT_TRUE(m.page("", 10)->items.empty());
  ASSERT_TRUE(m.set_meta({"a", {}, false, 0}));  // back, without the old extras
  got = m.meta("a");
  ASSERT_TRUE(got);
  EXPECT_TRUE(got->labels.empty());
  EXPECT_EQ(m.find(hash_id("a"))->extras, nullptr);
}

TEST(ItemModel, PagesListEveryItemOnceInKeyOrder) {
  item_model m(plain_config());
  for (int k = 0; k < 50; ++k)
    ASSERT_TRUE(m.set_meta({"i" + std::to_string(k), {}, false, 0}));
  ASSERT_TRUE(m.remove("i7"));
  std::vector<key_t> keys;
  std::string cursor;
  int pages = 0;
  do {
    auto p = m.page(cursor, 8);
    ASSERT_TRUE(p);
    ASSERT_LE(p->items.size(), 8u);
    for (const auto& x : p->items)
      keys.push_back(hash_id(x.id));
    cursor = p->cursor;
    ASSERT_LT(++pages, 20);
  } while (!cursor.empty());
  EXPECT_EQ(pages, 7);  // 49 items
  ASSERT_EQ(keys.size(), 49u);
  EXPECT_TRUE(std::is_sorted(keys.begin(), keys.end()));
  EXPECT_EQ(std::adjacent_find(keys.begin(), keys.end()), keys.end());
  EXPECT_EQ(std::find(keys.begin(), keys.end(), hash_id("i7")), keys.end());
  EXPECT_TRUE(m.page("", 49)->cursor.empty());   // exactly all: the last page
  EXPECT_FALSE(m.page("", 48)->cursor.empty());
  EXPECT_FALSE(m.page("nope", 5));
  EXPECT_FALSE(m.page("0123456789ABCDEF", 5));  // lower-case hex only
  EXPECT_FALSE(m.page("0123456789abcde", 5));
}

// An item first seen at time 0 and then at a later time is listed once by
// latest() (its index entry moves instead of being duplicated).
TEST(ItemModelLatest, AnItemFirstSeenAtTimeZeroIsListedOnce) {
  auto cfg = plain_config();
  item_model m{cfg};
  feeder f{cfg};
  f.attach(m);
  f.add("u1", "late", 5000, event_type::like);
  f.add("u2", "zero", 0, event_type::like);
  f.add("u3", "zero", 9000, event_type::like);
  auto l = m.latest(10, {});
  std::vector<key_t> got;
  for (auto& x : l)
    got.push_back(x.key);
  EXPECT_EQ(std::count(got.begin(), got.end(), hash_id("zero")), 1);
  EXPECT_EQ(l.size(), 2u);
}

}  // namespace
}  // namespace rtrec::engine
