// Tests of the log-linear histogram: percentiles within 6.25% of the exact
// value (never below it) on random data of several shapes, exact small
// values, max, count, mean, merge, reset and the empty histogram.
#include "engine/histogram.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <vector>

namespace rtrec::engine {
namespace {

/// The exact value histogram::percentile(q) approximates: the element of
/// rank floor(q * n) (capped at n - 1) in sorted order.
std::uint64_t exact_percentile(std::vector<std::uint64_t> v, double q) {
  std::sort(v.begin(), v.end());
  auto rank = static_cast<std::size_t>(q * static_cast<double>(v.size()));
  if (rank >= v.size())
    rank = v.size() - 1;
  return v[rank];
}

void check_percentiles(const histogram& h, const std::vector<std::uint64_t>& values,
                       std::uint64_t seed, const char* shape) {
  for (double q : {0.0, 0.01, 0.1, 0.25, 0.5, 0.75, 0.9, 0.95, 0.99, 0.999, 1.0}) {
    const auto want = exact_percentile(values, q);
    const auto got = h.percentile(q);
    ASSERT_GE(got, want) << shape << " q=" << q << " seed=" << seed;
    ASSERT_LE(static_cast<double>(got - want), 0.0625 * static_cast<double>(want))
        << shape << " q=" << q << " want=" << want << " got=" << got << " seed=" << seed;
  }
}

TEST(Histogram, EmptyHistogram) {
  histogram h;
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.mean(), 0.0);
  EXPECT_EQ(h.percentile(0.0), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  EXPECT_EQ(h.percentile(1.0), 0u);
}

TEST(Histogram, SmallValuesAreExact) {
  histogram h;
  for (std::uint64_t v = 0; v < 16; ++v)
    h.record(v);
  EXPECT_EQ(h.count(), 16u);
  EXPECT_EQ(h.max(), 15u);
  for (std::uint64_t v = 0; v < 16; ++v)
    EXPECT_EQ(h.percentile(static_cast<double>(v) / 16.0), v) << v;
  EXPECT_DOUBLE_EQ(h.mean(), 7.5);
}

TEST(Histogram, SingleValue) {
  histogram h;
  h.record(1'000'003);
  EXPECT_EQ(h.count(), 1u);
  EXPECT_EQ(h.max(), 1'000'003u);
  // The bucket's upper bound is capped by the maximum: exact here.
  EXPECT_EQ(h.percentile(0.0), 1'000'003u);
  EXPECT_EQ(h.percentile(0.5), 1'000'003u);
  EXPECT_EQ(h.percentile(1.0), 1'000'003u);
}

TEST(Histogram, PercentilesWithinBoundOnRandomData) {
  const std::uint64_t seed = 987654321;
  std::mt19937_64 rng{seed};
  {
    histogram h;
    std::vector<std::uint64_t> v;
    std::uniform_int_distribution<std::uint64_t> d(0, 1'000'000);
    for (int n = 0; n < 100'000; ++n)
      v.push_back(d(rng));
    for (auto x : v)
      h.record(x);
    check_percentiles(h, v, seed, "uniform");
  }
  {
    histogram h;
    std::vector<std::uint64_t> v;
    std::lognormal_distribution<double> d(10.0, 2.5);  // latencies: long tail
    for (int n = 0; n < 100'000; ++n)
      v.push_back(static_cast<std::uint64_t>(std::min(d(rng), 1e18)));
    for (auto x : v)
      h.record(x);
    check_percentiles(h, v, seed, "lognormal");
  }
  {
    histogram h;
    std::vector<std::uint64_t> v;
    for (int n = 0; n < 20'000; ++n)
      v.push_back(rng() >> (rng() % 64));  // every magnitude up to 2^64
    for (auto x : v)
      h.record(x);
    check_percentiles(h, v, seed, "all magnitudes");
    EXPECT_EQ(h.max(), *std::max_element(v.begin(), v.end())) << "seed=" << seed;
  }
}

TEST(Histogram, EveryValueLandsWithinBound) {
  // For single values across the range, the reported value is within 6.25%.
  const std::uint64_t seed = 42;
  std::mt19937_64 rng{seed};
  for (int n = 0; n < 10'000; ++n) {
    const std::uint64_t v = rng() >> (rng() % 64);
    histogram h;
    h.record(v);
    h.record(std::numeric_limits<std::uint64_t>::max());  // so the cap is not v
    const auto got = h.percentile(0.0);
    ASSERT_GE(got, v) << "v=" << v << " seed=" << seed;
    ASSERT_LE(static_cast<double>(got - v), 0.0625 * static_cast<double>(v))
        << "v=" << v << " seed=" << seed;
  }
}

TEST(Histogram, MaxCountMean) {
  histogram h;
  h.record(10);
  h.record(1'000);
  h.record(100);
  EXPECT_EQ(h.count(), 3u);
  EXPECT_EQ(h.max(), 1'000u);
  EXPECT_DOUBLE_EQ(h.mean(), 370.0);
  EXPECT_EQ(h.percentile(1.0), 1'000u);
  h.record(std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(h.max(), std::numeric_limits<std::uint64_t>::max());
  EXPECT_EQ(h.percentile(1.0), std::numeric_limits<std::uint64_t>::max());
}

TEST(Histogram, MergeEqualsRecordingEverything) {
  const std::uint64_t seed = 555;
  std::mt19937_64 rng{seed};
  histogram a, b, all;
  std::vector<std::uint64_t> values;
  for (int n = 0; n < 50'000; ++n) {
    const std::uint64_t v = rng() % 10'000'000;
    values.push_back(v);
    all.record(v);
    (n % 3 == 0 ? a : b).record(v);
  }
  histogram merged = a;
  merged.merge(b);
  EXPECT_EQ(merged.count(), all.count());
  EXPECT_EQ(merged.count(), values.size());
  EXPECT_EQ(merged.max(), all.max());
  EXPECT_DOUBLE_EQ(merged.mean(), all.mean());
  for (double q : {0.0, 0.1, 0.5, 0.9, 0.99, 1.0})
    EXPECT_EQ(merged.percentile(q), all.percentile(q)) << "q=" << q << " seed=" << seed;
  check_percentiles(merged, values, seed, "merged");
  // Merging an empty histogram changes nothing; merging into one copies.
  histogram empty;
  merged.merge(empty);
  EXPECT_EQ(merged.count(), all.count());
  empty.merge(all);
  EXPECT_EQ(empty.count(), all.count());
  EXPECT_EQ(empty.max(), all.max());
  EXPECT_EQ(empty.percentile(0.5), all.percentile(0.5));
}

TEST(Histogram, MergeTakesTheLargerMax) {
  histogram a, b;
  a.record(5);
  b.record(5'000);
  a.merge(b);
  EXPECT_EQ(a.max(), 5'000u);
  b.merge(a);
  EXPECT_EQ(b.max(), 5'000u);
  EXPECT_EQ(b.count(), 3u);
}

TEST(Histogram, Reset) {
  histogram h;
  for (std::uint64_t v = 1; v < 1'000; ++v)
    h.record(v);
  h.reset();
  EXPECT_EQ(h.count(), 0u);
  EXPECT_EQ(h.max(), 0u);
  EXPECT_EQ(h.percentile(0.5), 0u);
  h.record(7);
  EXPECT_EQ(h.percentile(0.5), 7u);
}

}  // namespace
}  // namespace rtrec::engine
