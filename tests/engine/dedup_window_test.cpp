// Tests of the dedup window: duplicates are recognised, ids are forgotten
// oldest first by count and by age (also when the caller's clock goes
// backwards), the disabled mode remembers nothing, copies are independent,
// and a save/load round trip gives a window that behaves identically under
// further inserts, while bad snapshots throw std::runtime_error.
#include "engine/dedup_window.hpp"

#include <gtest/gtest.h>

#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <utility>

namespace rtrec::engine {
namespace {

TEST(DedupWindow, RemembersIdsAndIgnoresEmptyOnes) {
  dedup_window w{10, 0};
  EXPECT_FALSE(w.contains("a"));
  w.insert("a", 1);
  w.insert("b", 2);
  EXPECT_TRUE(w.contains("a"));
  EXPECT_TRUE(w.contains("b"));
  EXPECT_FALSE(w.contains("c"));
  EXPECT_FALSE(w.contains("ab"));
  w.insert("a", 3);  // already remembered: no-op
  EXPECT_EQ(w.size(), 2u);
  w.insert("", 4);
  EXPECT_FALSE(w.contains(""));
  EXPECT_EQ(w.size(), 2u);
  EXPECT_GT(w.memory_bytes(), 0u);
}

TEST(DedupWindow, KeepsFullIds) {
  dedup_window w{100, 0};
  const std::string long_a(300, 'x');
  std::string long_b = long_a;
  long_b.back() = 'y';
  w.insert(long_a, 1);
  EXPECT_TRUE(w.contains(long_a));
  EXPECT_FALSE(w.contains(long_b));
  EXPECT_FALSE(w.contains(long_a.substr(1)));
}

TEST(DedupWindow, ForgetsOldestBeyondMaxIds) {
  dedup_window w{3, 0};
  for (int k = 0; k < 5; ++k)
    w.insert("e" + std::to_string(k), k);
  EXPECT_EQ(w.size(), 3u);
  EXPECT_FALSE(w.contains("e0"));
  EXPECT_FALSE(w.contains("e1"));
  EXPECT_TRUE(w.contains("e2"));
  EXPECT_TRUE(w.contains("e4"));
  // A forgotten id is new again.
  w.insert("e0", 10);
  EXPECT_TRUE(w.contains("e0"));
  EXPECT_FALSE(w.contains("e2"));
}

TEST(DedupWindow, ForgetsIdsOlderThanMaxAge) {
  dedup_window w{100, 1000};
  w.insert("a", 0);
  w.insert("b", 500);
  w.insert("c", 1000);  // cutoff 0: "a" (at 0) is not before it
  EXPECT_TRUE(w.contains("a"));
  w.insert("d", 1001);  // cutoff 1: "a" goes
  EXPECT_FALSE(w.contains("a"));
  EXPECT_TRUE(w.contains("b"));
  w.insert("e", 2600);  // cutoff 1600: b, c, d go
  EXPECT_EQ(w.size(), 1u);
  EXPECT_TRUE(w.contains("e"));
  // No age limit: nothing expires.
  dedup_window forever{100, 0};
  forever.insert("a", 0);
  forever.insert("b", std::int64_t{1} << 60);
  EXPECT_TRUE(forever.contains("a"));
}

TEST(DedupWindow, ClockGoingBackwardsKeepsInsertionOrder) {
  dedup_window w{100, 1000};
  w.insert("a", 5000);
  w.insert("b", 3000);  // the clock went back
  w.insert("c", 5500);  // cutoff 4500: "a" is the oldest and not too old: stop
  EXPECT_TRUE(w.contains("a"));
  EXPECT_TRUE(w.contains("b"));
  w.insert("d", 6100);  // cutoff 5100: "a" goes, then "b"
  EXPECT_FALSE(w.contains("a"));
  EXPECT_FALSE(w.contains("b"));
  EXPECT_TRUE(w.contains("c"));
  // Extreme times do not overflow.
  w.insert("lo", std::numeric_limits<std::int64_t>::min());
  w.insert("hi", std::numeric_limits<std::int64_t>::max());
  EXPECT_TRUE(w.contains("hi"));
}

TEST(DedupWindow, DisabledRemembersNothing) {
  dedup_window w{0, 1000};
  w.insert("a", 1);
  EXPECT_FALSE(w.contains("a"));
  EXPECT_EQ(w.size(), 0u);
}

TEST(DedupWindow, CopiesAndMovesAreIndependentAndValid) {
  dedup_window w{4, 0};
  for (int k = 0; k < 4; ++k)
    w.insert("a-rather-long-event-id-" + std::to_string(k), k);
  dedup_window copy{w};
  w.insert("x", 10);  // forgets id 0 in w only
  EXPECT_FALSE(w.contains("a-rather-long-event-id-0"));
  EXPECT_TRUE(copy.contains("a-rather-long-event-id-0"));
  dedup_window moved{std::move(copy)};
  EXPECT_TRUE(moved.contains("a-rather-long-event-id-0"));
  moved.insert("y", 11);
  EXPECT_FALSE(moved.contains("a-rather-long-event-id-0"));
  EXPECT_TRUE(moved.contains("y"));
  dedup_window assigned{1, 0};
  assigned = moved;
  EXPECT_TRUE(assigned.contains("y"));
  EXPECT_EQ(assigned.size(), moved.size());
}

TEST(DedupWindow, SaveLoadRoundTripBehavesIdentically) {
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng{seed};
    dedup_window a{50, 2000};
    std::int64_t now = 1'700'000'000'000;
    auto step = [&](dedup_window& w1, dedup_window* w2) {
      now += static_cast<std::int64_t>(rng() % 100) - 10;  // sometimes backwards
      const std::string id = "ev-" + std::to_string(rng() % 120);
      if (w2 != nullptr) {
        ASSERT_EQ(w1.contains(id), w2->contains(id)) << id;
      }
      w1.insert(id, now);
      if (w2 != nullptr)
        w2->insert(id, now);
    };
    for (int k = 0; k < 500; ++k)
      step(a, nullptr);
    std::string blob;
    a.save(blob);
    dedup_window b{50, 2000};
    b.insert("stale", 0);  // replaced by load
    b.load(blob);
    EXPECT_FALSE(b.contains("stale"));
    ASSERT_EQ(a.size(), b.size());
    for (int k = 0; k < 120; ++k)
      ASSERT_EQ(a.contains("ev-" + std::to_string(k)), b.contains("ev-" + std::to_string(k)));
    for (int k = 0; k < 2000; ++k)
      step(a, &b);
    ASSERT_EQ(a.size(), b.size());
  }
}

TEST(DedupWindow, LoadKeepsTheNewestMaxIds) {
  dedup_window a{10, 0};
  for (int k = 0; k < 10; ++k)
    a.insert("e" + std::to_string(k), k);
  std::string blob;
  a.save(blob);
  dedup_window small{3, 0};
  small.load(blob);
  EXPECT_EQ(small.size(), 3u);
  EXPECT_TRUE(small.contains("e9"));
  EXPECT_TRUE(small.contains("e7"));
  EXPECT_FALSE(small.contains("e6"));
  dedup_window off{0, 0};
  off.load(blob);
  EXPECT_EQ(off.size(), 0u);
}

TEST(DedupWindow, BadSnapshotsThrowAndLeaveTheWindowUnchanged) {
  dedup_window a{100, 0};
  for (int k = 0; k < 20; ++k)
    a.insert("id-" + std::to_string(k), k);
  std::string blob;
  a.save(blob);
  dedup_window b{100, 0};
  b.insert("keep", 1);
  EXPECT_THROW(b.load(""), std::runtime_error);
  for (std::size_t len = 0; len < blob.size(); ++len)
    EXPECT_THROW(b.load(std::string_view{blob}.substr(0, len)), std::runtime_error) << len;
  EXPECT_THROW(b.load(blob + "x"), std::runtime_error);
  std::mt19937_64 rng{7};
  for (int k = 0; k < 200; ++k) {
    std::string garbage(rng() % 200, '\0');
    for (auto& c : garbage)
      c = static_cast<char>(rng());
    EXPECT_THROW(b.load(garbage), std::runtime_error);
  }
  EXPECT_TRUE(b.contains("keep"));
  EXPECT_EQ(b.size(), 1u);
  // Corrupted bytes inside a valid blob: an error or a usable window, never a crash.
  for (int k = 0; k < 300; ++k) {
    std::string bad = blob;
    bad[rng() % bad.size()] = static_cast<char>(rng());
    dedup_window c{100, 0};
    try {
      c.load(bad);
      c.insert("more", 100);
      EXPECT_TRUE(c.contains("more"));
    } catch (const std::runtime_error&) {
    }
  }
}

}  // namespace
}  // namespace rtrec::engine
