// Tests of the blend (engine/blend.hpp) and the sequential rules
// (engine/sequence_rules.hpp): rules counted with their position weights and
// decayed like co-occurrence, rows bounded and pruned to their strongest,
// at most seq_window row updates per event, the blended score equal to its
// formula recomputed from the model's parts, and the blend off (weights 0)
// leaving answers exactly as they were. Seeded workloads print their seed.
#include "engine/blend.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"
#include "engine/reference_model.hpp"
#include "engine/scoring.hpp"
#include "engine/sequence_rules.hpp"
#include "tests/engine/test_support.hpp"

namespace rtrec::engine {
namespace {

using test_support::make_event;

constexpr std::int64_t t0 = 1'700'000'000'000;
constexpr std::uint64_t seed = 20261205;

/// Feeds events through a profile store to one item model.
struct feeder {
  explicit feeder(const model_config& cfg) : store(cfg), model(cfg) {}
  void add(const std::string& user, const std::string& item, std::int64_t ts) {
    batch.clear();
    ASSERT_EQ(store.apply(make_event(user, item, ts), batch), reject_reason::none);
    model.apply(batch);
  }
  profile_store store;
  item_model model;
  item_delta_batch batch;
};

model_config rules_config() {
  model_config cfg;
  cfg.cooc_half_life_s = 0.0;
  cfg.trend_half_life_s = 0.0;
  cfg.seq_weight = 0.5;
  cfg.seq_window = 3;
  cfg.pair_window = 2;
  return cfg;
}

double rule(const item_model& m, const char* from, const char* to) {
  return m.rule(hash_id(from), hash_id(to));
}

TEST(sequence_rules, counts_with_position_weights) {
  feeder f{rules_config()};
  for (const char* item : {"a", "b", "c", "d", "e"})
    f.add("u", item, t0);
  // Views weigh 1; the p-th most recent predecessor (p = 0, 1, 2) adds 1/(p+1).
  EXPECT_DOUBLE_EQ(rule(f.model, "a", "b"), 1.0);
  EXPECT_DOUBLE_EQ(rule(f.model, "a", "c"), 0.5);
  EXPECT_DOUBLE_EQ(rule(f.model, "a", "d"), 1.0 / 3.0);
  EXPECT_DOUBLE_EQ(rule(f.model, "a", "e"), 0.0);  // outside the window of 3
  EXPECT_DOUBLE_EQ(rule(f.model, "b", "a"), 0.0);  // directed
  EXPECT_DOUBLE_EQ(rule(f.model, "d", "e"), 1.0);
  const auto* row = f.model.rules().find(hash_id("a"));
  ASSERT_NE(row, nullptr);
  EXPECT_DOUBLE_EQ(row->total, 1.0 + 0.5 + 1.0 / 3.0);
  // A repeated item forms no new rules (only first-time events do).
  f.add("u", "a", t0);
  EXPECT_DOUBLE_EQ(rule(f.model, "e", "a"), 0.0);
}

TEST(sequence_rules, decay_like_cooccurrence) {
  auto cfg = rules_config();
  const double half_life_s = 86400.0;
  cfg.cooc_half_life_s = half_life_s;
  feeder f{cfg};
  f.add("u1", "a", t0);
  f.add("u1", "b", t0);
  // One half-life later the same evidence is worth twice as much in stored
  // units (forward decay: older evidence is worth half of it now).
  const auto later = t0 + static_cast<std::int64_t>(half_life_s * 1000);
  f.add("u2", "a", later);
  f.add("u2", "c", later);
  EXPECT_NEAR(rule(f.model, "a", "c") / rule(f.model, "a", "b"), 2.0, 1e-9);
  // Many half-lives later (landmark moves, rows rescale) the ratio holds.
  const auto much_later = t0 + static_cast<std::int64_t>(400 * half_life_s * 1000);
  f.add("u3", "a", much_later);
  f.add("u3", "d", much_later);
  const double ab = rule(f.model, "a", "b"), ad = rule(f.model, "a", "d");
  ASSERT_GT(ad, 0.0);
  EXPECT_LT(ab / ad, 1e-100);
  EXPECT_TRUE(std::isfinite(f.model.rules().find(hash_id("a"))->total));
}

TEST(sequence_rules, prune_keeps_the_strongest) {
  std::mt19937_64 rng{seed};
  sequence_rules rules{4};  // rows pruned to 4 once they exceed 6
  std::map<std::uint32_t, double> truth;
  auto key_of = [](std::uint32_t x) { return static_cast<key_t>(x); };
  for (std::uint32_t t = 0; t < 7; ++t) {
    const double w = static_cast<double>(rng() % 1000) / 10.0 + 1.0;
    truth[t] += w;
    rules.add(1, t, w, key_of);
  }
  const auto* r = rules.find(1);
  ASSERT_NE(r, nullptr) << "seed " << seed;
  ASSERT_EQ(r->targets.size(), 4u) << "seed " << seed;
  std::vector<std::pair<double, std::uint32_t>> sorted;
  for (const auto& [t, w] : truth)
    sorted.push_back({-w, t});
  std::sort(sorted.begin(), sorted.end());
  std::set<std::uint32_t> want, got;
  for (std::size_t k = 0; k < 4; ++k)
    want.insert(sorted[k].second);
  for (std::size_t e = 0; e < r->targets.size(); ++e)
    got.insert(r->targets.neighbor(e));
  EXPECT_EQ(got, want) << "seed " << seed;
  EXPECT_EQ(rules.prunes(), 1u);
}

TEST(sequence_rules, bounded_rows_and_window_updates_per_event) {
  std::mt19937_64 rng{seed};
  auto cfg = rules_config();
  cfg.neighbors_max = 6;
  cfg.seq_window = 4;
  cfg.recent_max = 10;
  feeder f{cfg};
  std::map<std::string, std::vector<std::string>> history;  // distinct items, in order
  for (int k = 0; k < 5000; ++k) {
    const auto user = "u" + std::to_string(rng() % 40);
    const auto item = "i" + std::to_string(rng() % 60);
    auto& h = history[user];
    const bool first = std::find(h.begin(), h.end(), item) == h.end();
    const auto before = f.model.rules().updates();
    f.add(user, item, t0 + k);
    // One update per predecessor in the window (the recent list holds the
    // last recent_max distinct items, all positive here).
    const std::size_t prior = std::min<std::size_t>(h.size(), cfg.recent_max);
    const std::size_t want = first ? std::min(prior, cfg.seq_window) : 0;
    ASSERT_EQ(f.model.rules().updates() - before, want) << "seed " << seed << " event " << k;
    if (first)
      h.push_back(item);
  }
  for (const auto& [from, r] : f.model.rules().all())
    ASSERT_LE(r.targets.size(), cfg.neighbors_max + cfg.neighbors_max / 2) << "seed " << seed;
  EXPECT_GT(f.model.rules().prunes(), 0u) << "seed " << seed;
}

TEST(blend, scores_follow_the_formula) {
  std::mt19937_64 rng{seed};
  std::uniform_real_distribution<double> u{0.0, 5.0};
  std::vector<blend_parts> parts;
  for (int k = 0; k < 50; ++k)
    parts.push_back({static_cast<key_t>(k), u(rng), u(rng), u(rng)});
  parts[3].cf = 0.0;
  double mc = 0, ms = 0, mt = 0;
  for (const auto& p : parts) {
    mc = std::max(mc, p.cf);
    ms = std::max(ms, p.seq);
    mt = std::max(mt, p.trend);
  }
  std::vector<scored> out;
  blend_scores(parts, 0.8, 0.5, 0.1, out);
  ASSERT_EQ(out.size(), parts.size());
  for (std::size_t k = 0; k < parts.size(); ++k) {
    EXPECT_EQ(out[k].key, parts[k].key);
    EXPECT_NEAR(out[k].score,
                0.8 * parts[k].cf / mc + 0.5 * parts[k].seq / ms + 0.1 * parts[k].trend / mt,
                1e-12)
      << "seed " << seed;
  }
  // A term with no positive value adds nothing.
  for (auto& p : parts)
    p.seq = 0.0;
  out.clear();
  blend_scores(parts, 1.0, 0.5, 0.0, out);
  EXPECT_NEAR(out[0].score, parts[0].cf / mc, 1e-12);
}

// The trend the query reads (a dense copy per scoring record) must follow
// the items' trend, also when the trend's landmark moves: with a half-life
// of 5 s the 3,000 s stream spans an exponent of ~416, and the landmark
// moves (rescaling every item's trend) whenever it passed 128.
void model_scores_equal_the_formula(double trend_half_life_s) {
  SCOPED_TRACE("trend half-life " + std::to_string(trend_half_life_s) + " s");
  std::mt19937_64 rng{seed};
  auto cfg = rules_config();
  cfg.cooc_half_life_s = 3600.0;
  cfg.trend_weight = 0.2;
  cfg.blend_trend_half_life_s = trend_half_life_s;
  cfg.neighbors_max = 8;
  feeder f{cfg};
  for (int k = 0; k < 3000; ++k)
    f.add("u" + std::to_string(rng() % 30), "i" + std::to_string(rng() % 50),
          t0 + k * 1000);
  const auto& m = f.model;
  for (int n = 0; n < 30; ++n) {
    const auto view = f.store.view("u" + std::to_string(n));
    score_query q;
    q.items = view.recent;
    q.weights = view.recent_weight;
    q.exclude = view.seen;
    // The parts: cf from candidates(), rules and trend read one by one.
    absl::flat_hash_map<key_t, double> cf;
    m.candidates(q, cf);
    std::map<key_t, blend_parts> parts;
    for (const auto& [k, v] : cf)
      parts[k] = {k, v, 0.0, 0.0};
    const std::set<key_t> excluded(q.exclude.begin(), q.exclude.end());
    for (std::size_t i = 0; i < q.items.size(); ++i) {
      const auto* row = m.rules().find(q.items[i]);
      if (row == nullptr)
        continue;
      for (std::size_t e = 0; e < 60; ++e) {
        const key_t to = hash_id("i" + std::to_string(e));
        const double r = m.rule(q.items[i], to);
        if (r > 0.0 && !excluded.count(to)) {
          parts[to].key = to;
          parts[to].seq += q.weights[i] * r / row->total;
        }
      }
    }
    std::vector<blend_parts> flat;
    for (auto& [k, p] : parts) {
      p.trend = m.find(k)->trend;
      flat.push_back(p);
    }
    std::vector<scored> want, got;
    blend_scores(flat, 1.0, cfg.seq_weight, cfg.trend_weight, want);
    m.blended_candidates(q, got);
    std::sort(want.begin(), want.end(), by_better);
    std::sort(got.begin(), got.end(), by_better);
    ASSERT_EQ(got.size(), want.size()) << "seed " << seed << " user " << n;
    ASSERT_FALSE(got.empty()) << "seed " << seed << " user " << n;
    for (std::size_t k = 0; k < got.size(); ++k) {
      EXPECT_EQ(got[k].key, want[k].key) << "seed " << seed << " user " << n << " rank " << k;
      EXPECT_NEAR(got[k].score, want[k].score, 1e-9 * std::max(1.0, want[k].score))
        << "seed " << seed << " user " << n;
    }
  }
}

TEST(blend, model_scores_equal_the_formula_on_its_parts) {
  for (const double half_life : {600.0, 5.0})
    model_scores_equal_the_formula(half_life);
}

// Several item shards asked in turn (each adds its rows' and rules' partial
// sums to the earlier shards', the last blends) give every candidate the
// score one model owning every row gives, for 2 and 3 shards; rows are
// bounded (pruned) alike in both, since each row sees the same events.
TEST(blend, chained_shards_blend_like_one_model) {
  auto cfg = rules_config();
  cfg.cooc_half_life_s = 3600.0;
  cfg.trend_weight = 0.3;
  cfg.blend_trend_half_life_s = 600.0;
  cfg.neighbors_max = 8;
  cfg.popular_refresh_events = 0;
  for (std::uint32_t count : {2u, 3u}) {
    std::mt19937_64 rng{seed + count};
    profile_store store{cfg};
    item_model one{cfg};
    std::vector<item_model> shards;
    for (std::uint32_t m = 0; m < count; ++m)
      shards.emplace_back(cfg, m, count);
    item_delta_batch batch;
    for (int k = 0; k < 3000; ++k) {
      batch.clear();
      ASSERT_EQ(store.apply(make_event("u" + std::to_string(rng() % 30),
                                       "i" + std::to_string(rng() % 50), t0 + k * 1000),
                            batch),
                reject_reason::none);
      one.apply(batch);
      for (auto& m : shards)
        m.apply(batch);
    }
    std::size_t compared = 0, with_rules = 0;
    for (int n = 0; n < 30; ++n) {
      const auto view = store.view("u" + std::to_string(n));
      recommend_options o;
      auto q = make_query(view, o, false);
      q.names = false;
      std::vector<scored> want;
      one.blended_candidates(q, want);
      shard_scores chained;
      for (std::uint32_t m = 0; m < count; ++m) {
        const bool last = m + 1 == count;
        chained = score_chained_on_shard(shards[m], q, std::move(chained), last);
        ASSERT_EQ(chained.seq.size(), last ? 0u : chained.candidates.size())
          << "seed " << seed + count << " shards " << count;
        with_rules += static_cast<std::size_t>(std::count_if(
          chained.seq.begin(), chained.seq.end(), [](double x) { return x > 0.0; }));
      }
      std::map<key_t, double> got;
      for (const auto& c : chained.candidates)
        ASSERT_TRUE(got.emplace(c.key, c.score).second) << "candidate listed twice";
      ASSERT_EQ(got.size(), want.size()) << "seed " << seed + count << " user " << n;
      for (const auto& w : want) {
        auto it = got.find(w.key);
        ASSERT_NE(it, got.end()) << "seed " << seed + count << " user " << n;
        EXPECT_NEAR(it->second, w.score, 1e-9 * std::max(1.0, w.score))
          << "seed " << seed + count << " user " << n << " shards " << count;
      }
      compared += want.size();
    }
    EXPECT_GT(compared, 150u) << "shards " << count;
    EXPECT_GT(with_rules, 0u) << "no rules' partial sum crossed a shard: nothing tested";
  }
}

TEST(blend, weights_zero_leave_answers_unchanged) {
  std::mt19937_64 rng{seed};
  const model_config off = test_support::without_blend();
  auto zero = off;
  zero.seq_window = 25;  // knobs of a blend that is off change nothing
  zero.blend_trend_half_life_s = 1.0;
  reference_model a{off}, b{zero};
  std::vector<event> events;
  for (int k = 0; k < 4000; ++k) {
    const auto e = make_event("u" + std::to_string(rng() % 50), "i" + std::to_string(rng() % 80),
                              t0 + k * 1000);
    ASSERT_EQ(a.ingest(e), reject_reason::none);
    ASSERT_EQ(b.ingest(e), reject_reason::none);
  }
  for (int n = 0; n < 50; ++n) {
    const auto user = "u" + std::to_string(n);
    const auto ra = a.recommend_keys(user), rb = b.recommend_keys(user);
    ASSERT_EQ(ra.size(), rb.size()) << "seed " << seed;
    for (std::size_t k = 0; k < ra.size(); ++k) {
      EXPECT_EQ(ra[k].key, rb[k].key) << "seed " << seed;
      EXPECT_EQ(ra[k].score, rb[k].score) << "seed " << seed;
    }
  }
  EXPECT_EQ(b.items().rules().rows(), 0u);
}

}  // namespace
}  // namespace rtrec::engine

namespace rtrec::engine {
namespace {

/// Every user's blended candidates, sorted, on `m` with profiles `s`.
std::vector<std::vector<scored>> all_answers(const item_model& m, profile_store& s, int users) {
  std::vector<std::vector<scored>> out;
  for (int n = 0; n < users; ++n) {
    const auto view = s.view("u" + std::to_string(n));
    score_query q;
    q.items = view.recent;
    q.weights = view.recent_weight;
    q.exclude = view.seen;
    std::vector<scored> got;
    m.blended_candidates(q, got);
    std::sort(got.begin(), got.end(), by_better);
    out.push_back(std::move(got));
  }
  return out;
}

void expect_same(const std::vector<std::vector<scored>>& a,
                 const std::vector<std::vector<scored>>& b) {
  ASSERT_EQ(a.size(), b.size()) << "seed " << seed;
  for (std::size_t u = 0; u < a.size(); ++u) {
    ASSERT_EQ(a[u].size(), b[u].size()) << "seed " << seed << " user " << u;
    for (std::size_t k = 0; k < a[u].size(); ++k) {
      EXPECT_EQ(a[u][k].key, b[u][k].key) << "seed " << seed << " user " << u;
      EXPECT_EQ(a[u][k].score, b[u][k].score) << "seed " << seed << " user " << u;
    }
  }
}

TEST(blend, snapshot_round_trip_keeps_rules_and_trend) {
  std::mt19937_64 rng{seed};
  auto cfg = rules_config();
  cfg.trend_weight = 0.3;
  cfg.neighbors_max = 5;
  cfg.cooc_half_life_s = 60.0;  // landmark moves during the stream
  cfg.blend_trend_half_life_s = 30.0;
  feeder f{cfg};
  std::vector<event> later;
  for (int k = 0; k < 6000; ++k) {
    auto e = make_event("u" + std::to_string(rng() % 30), "i" + std::to_string(rng() % 50),
                        t0 + k * 500);
    if (k < 4000) {
      f.add(e.user, e.item, e.timestamp);
    } else {
      later.push_back(e);
    }
  }
  std::string blob;
  f.model.save(blob);
  std::uint32_t version = 0;
  std::memcpy(&version, blob.data() + 4, 4);
  EXPECT_EQ(version, 2u);
  item_model copy{cfg};
  copy.load(blob);
  EXPECT_EQ(copy.rules().entries(), f.model.rules().entries());
  EXPECT_EQ(copy.rules().updates(), f.model.rules().updates());
  expect_same(all_answers(copy, f.store, 30), all_answers(f.model, f.store, 30));
  // The same further events give the same answers on both.
  for (const auto& e : later) {
    f.batch.clear();
    ASSERT_EQ(f.store.apply(e, f.batch), reject_reason::none);
    f.model.apply(f.batch);
    copy.apply(f.batch);
  }
  expect_same(all_answers(copy, f.store, 30), all_answers(f.model, f.store, 30));
  // A truncated blend section is refused, leaving the model as it was.
  item_model other{cfg};
  EXPECT_THROW(other.load(std::string_view{blob}.substr(0, blob.size() - 3)), std::runtime_error);
  EXPECT_EQ(other.rules().rows(), 0u);
}

TEST(blend, blend_off_snapshots_stay_version_1_and_load_into_a_blend_model) {
  model_config off = test_support::without_blend();
  off.cooc_half_life_s = 0.0;
  feeder f{off};
  for (int k = 0; k < 200; ++k)
    f.add("u" + std::to_string(k % 7), "i" + std::to_string(k % 13), t0 + k);
  std::string blob;
  f.model.save(blob);
  std::uint32_t version = 0;
  std::memcpy(&version, blob.data() + 4, 4);
  EXPECT_EQ(version, 1u);
  auto on = off;
  on.seq_weight = 0.5;
  on.trend_weight = 0.1;
  item_model m{on};
  m.load(blob);  // the blend starts with no rules and no trend
  EXPECT_EQ(m.rules().rows(), 0u);
  EXPECT_EQ(m.stats().items, f.model.stats().items);
}

}  // namespace
}  // namespace rtrec::engine
