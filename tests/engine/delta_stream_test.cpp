// engine::delta_streams: which delta batch an item shard applies, skips or
// treats as a gap (docs/replication.md, "Stage 1: durable nodes").
#include "engine/delta_stream.hpp"

#include <gtest/gtest.h>

#include <random>

using rtrec::engine::delta_streams;
using rtrec::engine::delta_verdict;

TEST(DeltaStreams, NextBatchAppliesDuplicateSkipsMissingPredecessorIsAGap) {
  delta_streams s{{0, 0}};
  EXPECT_EQ(s.judge(0, 0, 1), delta_verdict::apply);  // the first batch
  s.advance(0, 1);
  EXPECT_EQ(s.judge(0, 1, 4), delta_verdict::apply);  // seqs 2, 3 had no item side
  s.advance(0, 4);
  EXPECT_EQ(s.judge(0, 1, 4), delta_verdict::duplicate);
  EXPECT_EQ(s.judge(0, 0, 3), delta_verdict::duplicate);
  EXPECT_EQ(s.judge(0, 7, 9), delta_verdict::gap);  // batch 7 never arrived
  // Streams are independent.
  EXPECT_EQ(s.judge(1, 0, 2), delta_verdict::apply);
  EXPECT_EQ(s.judge(1, 2, 3), delta_verdict::gap);
}

TEST(DeltaStreams, MarkersChangeNothingWhenUpToDateAndShowAGapWhenBehind) {
  delta_streams s{{5}};
  EXPECT_EQ(s.judge(0, 5, 5), delta_verdict::duplicate);
  EXPECT_EQ(s.judge(0, 3, 3), delta_verdict::duplicate);
  EXPECT_EQ(s.judge(0, 8, 8), delta_verdict::gap);
}

TEST(DeltaStreams, AdvanceNeverMovesBackAndGrowsForNewStreams) {
  delta_streams s;
  EXPECT_EQ(s.applied(3), 0u);
  s.advance(3, 10);
  s.advance(3, 7);
  EXPECT_EQ(s.applied(3), 10u);
  EXPECT_EQ(s.applied().size(), 4u);
  EXPECT_FALSE(s.resyncing(3));
  s.set_resyncing(3, true);
  EXPECT_TRUE(s.resyncing(3));
  EXPECT_FALSE(s.resyncing(9));
}

// Any loss pattern: applying only what the rule says apply, and closing each
// gap by a resync of everything after `applied`, reaches the whole stream
// exactly once.
TEST(DeltaStreams, LossyDeliveryWithResyncsAppliesEveryBatchExactlyOnce) {
  for (std::uint64_t seed = 1; seed <= 20; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng{seed};
    std::vector<std::uint64_t> stream;  // seqs of batches with an item side
    std::uint64_t seq = 0;
    for (int k = 0; k < 200; ++k) {
      seq += 1 + rng() % 3;
      stream.push_back(seq);
    }
    delta_streams s{{0}};
    std::vector<int> applied_count(seq + 1, 0);
    // The profile shard answers with every batch after `applied` up to
    // where it is (`upto`).
    auto resync = [&](std::uint64_t upto) {
      for (auto q : stream)
        if (q > s.applied(0) && q <= upto) {
          ++applied_count[q];
          s.advance(0, q);
        }
    };
    std::uint64_t prev = 0;
    for (auto q : stream) {
      const bool lost = rng() % 5 == 0;
      const bool repeated = rng() % 7 == 0;
      for (int copy = 0; copy < (lost ? 0 : repeated ? 2 : 1); ++copy)
        switch (s.judge(0, prev, q)) {
          case delta_verdict::apply:
            ++applied_count[q];
            s.advance(0, q);
            break;
          case delta_verdict::duplicate:
            break;
          case delta_verdict::gap:
            resync(q);
            break;
        }
      prev = q;
    }
    if (s.judge(0, prev, prev) == delta_verdict::gap)  // the final marker
      resync(prev);
    for (auto q : stream)
      ASSERT_EQ(applied_count[q], 1) << "batch " << q;
  }
}
