// Tests of the synthetic workload generator: determinism (same seed, same
// events; a pinned fingerprint), counts and batches, id ranges, the shape of
// the workload (item and user skew, taste affinity, type mix, ratings) and
// time order. Every randomised test prints its seed on failure.
#include "engine/synthetic.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtrec::engine {
namespace {

synthetic_config small_config(std::uint64_t seed, std::size_t events = 20'000) {
  synthetic_config cfg;
  cfg.seed = seed;
  cfg.users = 2'000;
  cfg.items = 10'000;
  cfg.events = events;
  return cfg;
}

std::vector<event> generate(const synthetic_config& cfg) {
  synthetic_generator gen(cfg);
  std::vector<event> out;
  event e;
  while (gen.next(e))
    out.push_back(e);
  return out;
}

/// Returns the index in "u123" / "i123", or SIZE_MAX when malformed.
std::size_t index_of(std::string_view id, char prefix) {
  if (id.size() < 2 || id[0] != prefix)
    return SIZE_MAX;
  std::size_t v = 0;
  for (char c : id.substr(1)) {
    if (c < '0' || c > '9')
      return SIZE_MAX;
    v = v * 10 + static_cast<std::size_t>(c - '0');
  }
  return v;
}

bool same_event(const event& a, const event& b) {
  return a.user == b.user && a.item == b.item && a.type == b.type && a.value == b.value
         && a.timestamp == b.timestamp && a.id == b.id;
}

TEST(SyntheticGenerator, SameSeedGivesTheSameSequence) {
  for (std::uint64_t seed : {1ULL, 42ULL, 0xDEADBEEFULL}) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    auto a = generate(small_config(seed));
    auto b = generate(small_config(seed));
    ASSERT_EQ(a.size(), b.size());
    for (std::size_t k = 0; k < a.size(); ++k)
      ASSERT_TRUE(same_event(a[k], b[k])) << "first difference at event " << k;
  }
}

TEST(SyntheticGenerator, DifferentSeedsGiveDifferentSequences) {
  const std::uint64_t seed_a = 1, seed_b = 2;
  SCOPED_TRACE(::testing::Message() << "seeds=" << seed_a << "," << seed_b);
  auto a = generate(small_config(seed_a, 2'000));
  auto b = generate(small_config(seed_b, 2'000));
  std::size_t differing = 0;
  for (std::size_t k = 0; k < a.size(); ++k)
    differing += same_event(a[k], b[k]) ? 0 : 1;
  EXPECT_GT(differing, a.size() * 9 / 10);
}

// Pins the exact sequence so an accidental change of sampling order, PRNG or
// arithmetic (or a platform that computes differently) is caught. If the
// generator is changed on purpose, update the constant: recorded synthetic
// workloads then no longer match.
TEST(SyntheticGenerator, SequenceFingerprintIsPinned) {
  std::uint64_t h = 1469598103934665603ULL;  // FNV-1a 64
  auto mix = [&h](std::string_view s) {
    for (unsigned char c : s) {
      h ^= c;
      h *= 1099511628211ULL;
    }
  };
  for (const auto& e : generate(small_config(42, 5'000))) {
    mix(e.user);
    mix(e.item);
    mix(std::to_string(static_cast<int>(e.type)));
    mix(std::to_string(static_cast<int>(e.value * 2)));
    mix(std::to_string(e.timestamp));
  }
  EXPECT_EQ(h, 0x3a5f05eaf9a60088ULL) << "fingerprint 0x" << std::hex << h;
}

TEST(SyntheticGenerator, ProducesExactlyTheConfiguredCount) {
  auto cfg = small_config(7, 12'345);
  synthetic_generator gen(cfg);
  EXPECT_TRUE(gen.error().empty());
  EXPECT_EQ(gen.remaining(), 12'345u);
  event e;
  std::size_t n = 0;
  while (gen.next(e))
    ++n;
  EXPECT_EQ(n, 12'345u);
  EXPECT_EQ(gen.produced(), 12'345u);
  EXPECT_EQ(gen.remaining(), 0u);
  event untouched;
  untouched.user = "keep";
  EXPECT_FALSE(gen.next(untouched));
  EXPECT_EQ(untouched.user, "keep");

  cfg.events = 0;
  synthetic_generator empty(cfg);
  EXPECT_FALSE(empty.next(e));
}

TEST(SyntheticGenerator, NextBatchAppendsAndMatchesNext) {
  const std::uint64_t seed = 11;
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  auto cfg = small_config(seed, 2'500);
  auto expected = generate(cfg);
  synthetic_generator gen(cfg);
  std::vector<event> out(3);  // existing content must stay
  out[0].user = "existing";
  EXPECT_EQ(gen.next_batch(out, 1'000), 1'000u);
  EXPECT_EQ(gen.next_batch(out, 1'000), 1'000u);
  EXPECT_EQ(gen.next_batch(out, 1'000), 500u);
  EXPECT_EQ(gen.next_batch(out, 1'000), 0u);
  ASSERT_EQ(out.size(), 3u + 2'500u);
  EXPECT_EQ(out[0].user, "existing");
  for (std::size_t k = 0; k < expected.size(); ++k)
    ASSERT_TRUE(same_event(out[3 + k], expected[k])) << "event " << k;
}

TEST(SyntheticGenerator, IdsAreWithinRange) {
  EXPECT_EQ(synthetic_generator::user_id(17), "u17");
  EXPECT_EQ(synthetic_generator::item_id(0), "i0");
  for (std::uint64_t seed : {3ULL, 4ULL}) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    synthetic_config cfg = small_config(seed);
    cfg.users = 37;  // small, odd sizes hit the edges
    cfg.items = 101;
    cfg.tastes = 7;
    std::vector<std::size_t> user_hits(cfg.users), item_hits(cfg.items);
    for (const auto& e : generate(cfg)) {
      auto u = index_of(e.user, 'u');
      auto i = index_of(e.item, 'i');
      ASSERT_LT(u, cfg.users) << e.user;
      ASSERT_LT(i, cfg.items) << e.item;
      ASSERT_EQ(synthetic_generator::user_id(u), e.user);
      ASSERT_TRUE(e.id.empty());
      ++user_hits[u];
      ++item_hits[i];
    }
    // 20'000 events over 37 users: every user shows up.
    EXPECT_EQ(std::count(user_hits.begin(), user_hits.end(), 0u), 0);
  }
}

double top_share(const std::vector<std::size_t>& hits, std::size_t top) {
  auto sorted = hits;
  std::sort(sorted.begin(), sorted.end(), std::greater<>());
  double all = 0, best = 0;
  for (std::size_t k = 0; k < sorted.size(); ++k) {
    all += static_cast<double>(sorted[k]);
    if (k < top)
      best += static_cast<double>(sorted[k]);
  }
  return best / all;
}

TEST(SyntheticGenerator, ItemPopularityIsSkewed) {
  const std::uint64_t seed = 5;
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  auto cfg = small_config(seed, 200'000);
  std::vector<std::size_t> hits(cfg.items);
  for (const auto& e : generate(cfg))
    ++hits[index_of(e.item, 'i')];
  // Global Zipf(1) over 10'000 items would give the top 100 about
  // H(100)/H(10000) = 53%; the 75% of picks made by Zipf within a cluster are
  // flatter at the top, which brings it to about 40%. Uniform would be 1%.
  const double share = top_share(hits, cfg.items / 100);
  EXPECT_GT(share, 0.30);
  EXPECT_LT(share, 0.60);
  EXPECT_EQ(std::max_element(hits.begin(), hits.end()) - hits.begin(), 0)
      << "item 0 is the most popular";

  cfg.zipf_exponent = 0.0;  // uniform: the top 1% holds little more than 1%
  std::vector<std::size_t> flat(cfg.items);
  for (const auto& e : generate(cfg))
    ++flat[index_of(e.item, 'i')];
  EXPECT_LT(top_share(flat, cfg.items / 100), 0.03);
}

TEST(SyntheticGenerator, UserActivityFollowsItsExponent) {
  const std::uint64_t seed = 6;
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  auto cfg = small_config(seed, 200'000);
  cfg.user_zipf_exponent = 1.0;
  std::vector<std::size_t> skewed(cfg.users);
  for (const auto& e : generate(cfg))
    ++skewed[index_of(e.user, 'u')];
  EXPECT_GT(top_share(skewed, cfg.users / 100), 0.30);  // H(20)/H(2000) ~ 0.44
  EXPECT_EQ(std::max_element(skewed.begin(), skewed.end()) - skewed.begin(), 0);

  cfg.user_zipf_exponent = 0.0;
  std::vector<std::size_t> flat(cfg.users);
  for (const auto& e : generate(cfg))
    ++flat[index_of(e.user, 'u')];
  EXPECT_LT(top_share(flat, cfg.users / 100), 0.02);  // 1% plus noise
}

double in_taste_fraction(const synthetic_config& cfg) {
  synthetic_generator gen(cfg);
  event e;
  std::size_t in = 0, n = 0;
  while (gen.next(e)) {
    ++n;
    in += gen.taste_of_user(index_of(e.user, 'u')) == gen.taste_of_item(index_of(e.item, 'i'));
  }
  return static_cast<double>(in) / static_cast<double>(n);
}

TEST(SyntheticGenerator, InTasteFractionFollowsAffinity) {
  for (std::uint64_t seed : {8ULL, 9ULL}) {
    SCOPED_TRACE(::testing::Message() << "seed=" << seed);
    auto cfg = small_config(seed, 100'000);
    // Affinity plus the share of global picks that land in the own cluster
    // by chance (about 1/64 of the remaining 25%).
    const double f = in_taste_fraction(cfg);
    EXPECT_GT(f, cfg.taste_affinity - 0.01);
    EXPECT_LT(f, cfg.taste_affinity + 0.04);

    cfg.taste_affinity = 1.0;
    EXPECT_DOUBLE_EQ(in_taste_fraction(cfg), 1.0);
    cfg.taste_affinity = 0.0;
    EXPECT_LT(in_taste_fraction(cfg), 0.06);
  }
}

TEST(SyntheticGenerator, TastesAreInRangeAndUsed) {
  auto cfg = small_config(10);
  cfg.tastes = 13;
  synthetic_generator gen(cfg);
  std::vector<std::size_t> user_clusters(cfg.tastes), item_clusters(cfg.tastes);
  for (std::size_t u = 0; u < cfg.users; ++u) {
    ASSERT_LT(gen.taste_of_user(u), cfg.tastes);
    ++user_clusters[gen.taste_of_user(u)];
  }
  for (std::size_t i = 0; i < cfg.items; ++i) {
    ASSERT_LT(gen.taste_of_item(i), cfg.tastes);
    ++item_clusters[gen.taste_of_item(i)];
  }
  EXPECT_EQ(std::count(user_clusters.begin(), user_clusters.end(), 0u), 0);
  EXPECT_EQ(std::count(item_clusters.begin(), item_clusters.end(), 0u), 0);
}

TEST(SyntheticGenerator, MoreTastesThanItemsFallsBackToGlobalPicks) {
  auto cfg = small_config(12, 5'000);
  cfg.items = 5;
  cfg.tastes = 1'000;  // most clusters are empty
  std::size_t n = 0;
  for (const auto& e : generate(cfg)) {
    ASSERT_LT(index_of(e.item, 'i'), cfg.items);
    ++n;
  }
  EXPECT_EQ(n, cfg.events);
}

TEST(SyntheticGenerator, TimestampsAdvanceDeterministically) {
  auto cfg = small_config(13, 10'000);
  cfg.events_per_second = 5'000.0;  // 0.2 ms per event
  auto events = generate(cfg);
  ASSERT_EQ(events.size(), 10'000u);
  EXPECT_EQ(events.front().timestamp, cfg.start_timestamp_ms);
  for (std::size_t k = 1; k < events.size(); ++k)
    ASSERT_LE(events[k - 1].timestamp, events[k].timestamp) << "event " << k;
  EXPECT_EQ(events.back().timestamp, cfg.start_timestamp_ms + 1'999);  // floor(9999 * 0.2)

  cfg.events_per_second = 0.5;  // one event every 2 s
  auto slow = generate(cfg);
  EXPECT_EQ(slow[3].timestamp - slow[2].timestamp, 2'000);
}

TEST(SyntheticGenerator, TypeMixFollowsTheProbabilities) {
  const std::uint64_t seed = 14;
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  auto cfg = small_config(seed, 200'000);
  std::vector<double> counts(event_type_count);
  for (const auto& e : generate(cfg))
    counts[static_cast<std::size_t>(e.type)] += 1.0;
  const double expected[] = {cfg.p_view, cfg.p_click, cfg.p_like,
                             cfg.p_rating, cfg.p_purchase, cfg.p_dislike};
  double total = 0;
  for (double p : expected)
    total += p;
  for (std::size_t t = 0; t < event_type_count; ++t)
    EXPECT_NEAR(counts[t] / static_cast<double>(cfg.events), expected[t] / total, 0.005)
        << to_string(static_cast<event_type>(t));

  // Weights need not sum to 1; a zero weight never appears.
  synthetic_config only = small_config(seed, 10'000);
  only.p_view = only.p_click = only.p_like = only.p_rating = only.p_dislike = 0.0;
  only.p_purchase = 3.0;
  for (const auto& e : generate(only))
    ASSERT_EQ(e.type, event_type::purchase);
}

TEST(SyntheticGenerator, RatingsAreHalfStepsAndHigherInTaste) {
  const std::uint64_t seed = 15;
  SCOPED_TRACE(::testing::Message() << "seed=" << seed);
  auto cfg = small_config(seed, 200'000);
  synthetic_generator gen(cfg);
  event e;
  double in_sum = 0, out_sum = 0;
  std::size_t in_n = 0, out_n = 0;
  while (gen.next(e)) {
    if (e.type != event_type::rating) {
      ASSERT_EQ(e.value, 0.0);
      continue;
    }
    ASSERT_GE(e.value, 1.0);
    ASSERT_LE(e.value, 5.0);
    ASSERT_EQ(e.value * 2, std::floor(e.value * 2)) << e.value;
    ASSERT_EQ(validate(e), reject_reason::none);
    const bool in = gen.taste_of_user(index_of(e.user, 'u')) == gen.taste_of_item(index_of(e.item, 'i'));
    (in ? in_sum : out_sum) += e.value;
    ++(in ? in_n : out_n);
  }
  ASSERT_GT(in_n, 1'000u);
  ASSERT_GT(out_n, 1'000u);
  EXPECT_NEAR(in_sum / static_cast<double>(in_n), 4.0, 0.1);
  EXPECT_NEAR(out_sum / static_cast<double>(out_n), 2.7, 0.1);
}

TEST(SyntheticGenerator, InvalidConfigurationsProduceNothing) {
  struct bad_case {
    const char* field;
    void (*apply)(synthetic_config&);
  };
  const bad_case cases[] = {
      {"users", [](synthetic_config& c) { c.users = 0; }},
      {"items", [](synthetic_config& c) { c.items = 0; }},
      {"tastes", [](synthetic_config& c) { c.tastes = 0; }},
      {"zipf_exponent", [](synthetic_config& c) { c.zipf_exponent = -1.0; }},
      {"user_zipf_exponent", [](synthetic_config& c) { c.user_zipf_exponent = std::nan(""); }},
      {"taste_affinity", [](synthetic_config& c) { c.taste_affinity = 1.5; }},
      {"events_per_second", [](synthetic_config& c) { c.events_per_second = 0.0; }},
      {"start_timestamp_ms", [](synthetic_config& c) { c.start_timestamp_ms = -1; }},
      {"year 9999", [](synthetic_config& c) { c.events_per_second = 1e-10; }},
      {"probabilities", [](synthetic_config& c) { c.p_click = -0.1; }},
      {"probabilities", [](synthetic_config& c) {
         c.p_view = c.p_click = c.p_like = c.p_rating = c.p_purchase = c.p_dislike = 0.0;
       }},
  };
  for (const auto& bc : cases) {
    auto cfg = small_config(1, 100);
    bc.apply(cfg);
    synthetic_generator gen(cfg);
    EXPECT_NE(gen.error().find(bc.field), std::string::npos)
        << "case " << bc.field << ": error '" << gen.error() << "'";
    EXPECT_EQ(validate_config(cfg), gen.error());
    EXPECT_EQ(gen.remaining(), 0u);
    event e;
    EXPECT_FALSE(gen.next(e)) << bc.field;
    EXPECT_EQ(gen.produced(), 0u);
  }
  EXPECT_EQ(validate_config(synthetic_config{}), "");
}

TEST(SyntheticGenerator, DefaultConfigurationScalesToAMillionUsers) {
  synthetic_config cfg;  // 1M users, 100k items
  cfg.events = 1'000'000;
  SCOPED_TRACE(::testing::Message() << "seed=" << cfg.seed);
  synthetic_generator gen(cfg);
  ASSERT_TRUE(gen.error().empty()) << gen.error();
  std::vector<event> batch;
  std::size_t total = 0, max_user = 0, max_item = 0;
  while (gen.next_batch(batch, 10'000) > 0) {
    for (const auto& e : batch) {
      max_user = std::max(max_user, index_of(e.user, 'u'));
      max_item = std::max(max_item, index_of(e.item, 'i'));
    }
    total += batch.size();
    batch.clear();
  }
  EXPECT_EQ(total, cfg.events);
  EXPECT_LT(max_user, cfg.users);
  EXPECT_GT(max_user, cfg.users / 2);  // the long tail of users is reached
  EXPECT_LT(max_item, cfg.items);
}

}  // namespace
}  // namespace rtrec::engine
