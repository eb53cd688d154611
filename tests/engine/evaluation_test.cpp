// Tests of the prequential evaluator: HR, MRR and NDCG at k on hand-made
// sequences with known values, the k cut-off, coverage, and the empty state.
#include "engine/evaluation.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

namespace rtrec::engine {
namespace {

std::vector<scored> list_of(std::initializer_list<key_t> keys) {
  std::vector<scored> out;
  double score = 10.0;
  for (key_t k : keys)
    out.push_back({k, score--});
  return out;
}

TEST(Evaluation, EmptyIsAllZero) {
  prequential_evaluator ev(10);
  const auto r = ev.result();
  EXPECT_EQ(r.k, 10u);
  EXPECT_EQ(r.events, 0u);
  EXPECT_EQ(r.hits, 0u);
  EXPECT_EQ(r.hr_at_k, 0.0);
  EXPECT_EQ(r.mrr_at_k, 0.0);
  EXPECT_EQ(r.ndcg_at_k, 0.0);
  EXPECT_EQ(r.coverage, 0.0);
  EXPECT_EQ(r.catalog, 0u);
  EXPECT_EQ(r.recommended_items, 0u);
}

TEST(Evaluation, HitAtOneHitAtThreeAndMiss) {
  prequential_evaluator ev(5);
  ev.record(1, list_of({1, 2, 3}));     // hit at rank 1
  ev.record(4, list_of({2, 3, 4, 5}));  // hit at rank 3
  ev.record(6, list_of({1, 2, 3}));     // miss
  const auto r = ev.result();
  EXPECT_EQ(r.events, 3u);
  EXPECT_EQ(r.hits, 2u);
  EXPECT_DOUBLE_EQ(r.hr_at_k, 2.0 / 3.0);
  EXPECT_DOUBLE_EQ(r.mrr_at_k, (1.0 + 1.0 / 3.0 + 0.0) / 3.0);
  // NDCG with one relevant item: 1/log2(rank + 1): 1 at rank 1, 0.5 at rank 3.
  EXPECT_DOUBLE_EQ(r.ndcg_at_k, (1.0 + 0.5 + 0.0) / 3.0);
  EXPECT_DOUBLE_EQ(r.ndcg_at_k, 0.5);
}

TEST(Evaluation, OnlyTheFirstKCount) {
  prequential_evaluator ev(2);
  ev.record(3, list_of({1, 2, 3}));  // rank 3 > k: a miss
  ev.record(2, list_of({1, 2, 3}));  // rank 2: a hit
  const auto r = ev.result();
  EXPECT_EQ(r.hits, 1u);
  EXPECT_DOUBLE_EQ(r.hr_at_k, 0.5);
  EXPECT_DOUBLE_EQ(r.mrr_at_k, 0.25);
  EXPECT_DOUBLE_EQ(r.ndcg_at_k, 0.5 / std::log2(3.0));
  // Item 3 was never within the top 2.
  EXPECT_EQ(r.recommended_items, 2u);
}

TEST(Evaluation, EmptyListIsAMiss) {
  prequential_evaluator ev(10);
  ev.record(1, {});
  ev.record(1, list_of({1}));
  const auto r = ev.result();
  EXPECT_EQ(r.events, 2u);
  EXPECT_EQ(r.hits, 1u);
  EXPECT_DOUBLE_EQ(r.hr_at_k, 0.5);
  EXPECT_DOUBLE_EQ(r.mrr_at_k, 0.5);
  EXPECT_DOUBLE_EQ(r.ndcg_at_k, 0.5);
}

TEST(Evaluation, Coverage) {
  prequential_evaluator ev(3);
  // Stream items: 1, 2, 3, 4 (catalog 4). Recommended within top 3: 1, 2, 3.
  ev.record(1, list_of({2}));
  ev.record(2, list_of({1, 3}));
  ev.record(3, list_of({2, 3, 1, 4}));  // 4 is beyond k
  ev.record(4, list_of({}));
  const auto r = ev.result();
  EXPECT_EQ(r.catalog, 4u);
  EXPECT_EQ(r.recommended_items, 3u);
  EXPECT_DOUBLE_EQ(r.coverage, 3.0 / 4.0);
  // Repeats count once.
  ev.record(1, list_of({2, 3}));
  EXPECT_DOUBLE_EQ(ev.result().coverage, 3.0 / 4.0);
  EXPECT_EQ(ev.result().catalog, 4u);
  ev.record(4, list_of({4}));
  EXPECT_DOUBLE_EQ(ev.result().coverage, 1.0);
}

TEST(Evaluation, CoverageIsAFractionOfTheCatalog) {
  // Items recommended but never in the stream do not push coverage above 1.
  prequential_evaluator ev(5);
  ev.record(1, list_of({7, 8, 9, 1}));
  const auto r = ev.result();
  EXPECT_EQ(r.catalog, 1u);
  EXPECT_EQ(r.recommended_items, 4u);
  EXPECT_DOUBLE_EQ(r.coverage, 1.0);
  EXPECT_LE(r.coverage, 1.0);
}

TEST(Evaluation, MatchesADirectComputationOnRandomInput) {
  const std::uint64_t seed = 1234;
  std::mt19937_64 rng{seed};
  const std::size_t k = 10;
  prequential_evaluator ev(k);
  double hits = 0, rr = 0, dcg = 0;
  const int n = 5'000;
  for (int s = 0; s < n; ++s) {
    const key_t item = 1 + rng() % 50;
    std::vector<scored> top;
    const std::size_t len = rng() % 15;
    for (std::size_t r = 0; r < len; ++r)
      top.push_back({1 + 50 + r, 1.0});  // never the item ...
    if (len > 0 && rng() % 2 == 0) {
      const std::size_t at = rng() % len;  // ... unless placed
      top[at].key = item;
      if (at < k) {
        hits += 1;
        rr += 1.0 / static_cast<double>(at + 1);
        dcg += 1.0 / std::log2(static_cast<double>(at + 2));
      }
    }
    ev.record(item, top);
  }
  const auto r = ev.result();
  EXPECT_EQ(r.events, static_cast<std::size_t>(n));
  EXPECT_EQ(r.hits, static_cast<std::size_t>(hits)) << "seed=" << seed;
  EXPECT_NEAR(r.hr_at_k, hits / n, 1e-12) << "seed=" << seed;
  EXPECT_NEAR(r.mrr_at_k, rr / n, 1e-12) << "seed=" << seed;
  EXPECT_NEAR(r.ndcg_at_k, dcg / n, 1e-12) << "seed=" << seed;
  EXPECT_GE(r.hr_at_k, r.ndcg_at_k);
  EXPECT_GE(r.ndcg_at_k, r.mrr_at_k);
}

}  // namespace
}  // namespace rtrec::engine
