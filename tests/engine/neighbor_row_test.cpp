// Tests of neighbor_row, the packed co-occurrence row: a seeded random
// sequence of adds, lookups, keeps and scalings checked against a std::map
// after every step (finds at every position of the 8-wide scan and its
// tail), and the capacity cap that keeps a full row at its largest size.
#include "engine/neighbor_row.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <map>
#include <random>
#include <vector>

namespace rtrec::engine {
namespace {

std::map<std::uint32_t, double> contents(const neighbor_row& r) {
  std::map<std::uint32_t, double> out;
  for (std::size_t e = 0; e < r.size(); ++e) {
    EXPECT_EQ(r.neighbors()[e], r.neighbor(e));
    EXPECT_EQ(r.weights()[e], r.weight(e));
    EXPECT_TRUE(out.emplace(r.neighbor(e), r.weight(e)).second)
      << "neighbor " << r.neighbor(e) << " stored twice";
  }
  return out;
}

TEST(NeighborRow, EmptyRowFindsNothing) {
  neighbor_row r;
  EXPECT_TRUE(r.empty());
  EXPECT_EQ(r.find(0), 0u);
  EXPECT_EQ(r.find(7), 0u);
}

TEST(NeighborRow, FindsEveryPositionOfTheScanAndItsTail) {
  // Sizes around multiples of 8 (the vector step), each entry looked up.
  for (std::uint32_t n : {1u, 7u, 8u, 9u, 15u, 16u, 17u, 100u, 151u}) {
    neighbor_row r;
    for (std::uint32_t x = 0; x < n; ++x)
      r.add(1000 + 3 * x, x + 0.5, 151);
    ASSERT_EQ(r.size(), n);
    for (std::uint32_t x = 0; x < n; ++x) {
      ASSERT_EQ(r.find(1000 + 3 * x), x) << "size " << n;
      ASSERT_EQ(r.weight(x), x + 0.5);
    }
    // Absent values: between, below and above the stored ones, and values
    // whose low or high 16 bits match a stored one.
    for (std::uint32_t y : {0u, 999u, 1001u, 1000u + 3 * n, 0x10000u + 1000u, 0xFFFFFFFFu})
      EXPECT_EQ(r.find(y), r.size()) << "size " << n << " value " << y;
  }
}

TEST(NeighborRow, RandomOperationsMatchAMap) {
  const std::uint64_t seed = 20261127;
  SCOPED_TRACE(testing::Message() << "seed " << seed);
  std::mt19937_64 rng(seed);
  neighbor_row r;
  std::map<std::uint32_t, double> model;
  for (int step = 0; step < 20000; ++step) {
    const auto op = rng() % 100;
    // Small values collide often; large ones exercise the full 32 bits.
    const std::uint32_t x = rng() % 2 == 0 ? static_cast<std::uint32_t>(rng() % 300)
                                           : static_cast<std::uint32_t>(rng());
    if (op < 70) {
      const double inc = static_cast<double>(rng() % 1000) / 8.0;
      r.add(x, inc, 200);
      model[x] += inc;
    } else if (op < 95) {
      const std::size_t at = r.find(x);
      if (auto it = model.find(x); it == model.end()) {
        ASSERT_EQ(at, r.size()) << "step " << step;
      } else {
        ASSERT_LT(at, r.size()) << "step " << step;
        ASSERT_EQ(r.neighbor(at), x);
        ASSERT_EQ(r.weight(at), it->second);
      }
    } else if (op < 99 && !r.empty()) {
      // Keep a random subset in a random order.
      std::vector<std::size_t> pos(r.size());
      for (std::size_t e = 0; e < pos.size(); ++e)
        pos[e] = e;
      std::shuffle(pos.begin(), pos.end(), rng);
      pos.resize(rng() % (pos.size() + 1));
      std::map<std::uint32_t, double> kept;
      for (const std::size_t p : pos)
        kept.emplace(r.neighbor(p), r.weight(p));
      const std::vector<std::size_t> order = pos;
      std::vector<std::uint32_t> expected_order;
      for (const std::size_t p : order)
        expected_order.push_back(r.neighbor(p));
      r.keep(order);
      model = kept;
      ASSERT_EQ(r.size(), expected_order.size());
      for (std::size_t e = 0; e < r.size(); ++e)
        ASSERT_EQ(r.neighbor(e), expected_order[e]) << "keep changed the order";
    } else {
      r.scale(0.5);
      for (auto& [k, v] : model)
        v *= 0.5;
    }
    if (step % 97 == 0) {
      ASSERT_EQ(contents(r), model) << "step " << step;
    }
  }
  EXPECT_EQ(contents(r), model);
}

TEST(NeighborRow, GrowthStopsAtTheLargestSize) {
  // An item_model row holds at most 1.5 * neighbors_max + 1 entries: with
  // 100 neighbors, 151. Doubling would reserve 256.
  neighbor_row r;
  for (std::uint32_t x = 0; x < 151; ++x)
    r.add(x, 1.0, 151);
  EXPECT_EQ(r.heap_bytes(), 151 * (sizeof(std::uint32_t) + sizeof(double)));
  // Adding to present entries never grows it.
  for (std::uint32_t x = 0; x < 151; ++x)
    r.add(x, 1.0, 151);
  EXPECT_EQ(r.heap_bytes(), 151 * (sizeof(std::uint32_t) + sizeof(double)));
  EXPECT_EQ(r.weight(r.find(150)), 2.0);
  // A row that has to grow past the cap still takes the entry.
  r.add(500, 1.0, 151);
  EXPECT_EQ(r.size(), 152u);
  EXPECT_EQ(r.find(500), 151u);
}

TEST(NeighborRow, NewEntryStartsFromPositiveZero) {
  // As a map's value-initialised 0.0 += inc: -0.0 becomes +0.0.
  neighbor_row r;
  r.add(1, -0.0, 4);
  EXPECT_FALSE(std::signbit(r.weight(0)));
}

}  // namespace
}  // namespace rtrec::engine
