// rtrec::testing — comparing two recommendation lists, as the model-based
// tests (topology vs reference model) and the cluster tests (cluster vs
// embedded engine) do.
//
// Equality stated: the same items in the same order with scores equal within
// a relative tolerance of 1e-9. Shards sum partial scores in another order
// than the reference, so scores can differ in their last bits; items whose
// scores are within that tolerance of each other ("ties") may therefore
// appear in either order among themselves, and a tie at the end of the list
// may be cut at either item. Exact equality also needs rows that were never
// pruned (pruning depends on arrival interleaving); the tests use room enough
// and assert that no pruning happened.
#pragma once

#include <algorithm>
#include <cmath>
#include <set>
#include <string>
#include <vector>

#include "engine/model_types.hpp"

namespace rtrec::testing {

constexpr double score_tolerance = 1e-9;

inline bool near(double a, double b) {
  return std::abs(a - b) <= score_tolerance * std::max({1.0, std::abs(a), std::abs(b)});
}

/// Returns "" when `got` matches `want` as stated above, else a description.
inline std::string compare(const std::vector<engine::recommendation>& got,
                           const std::vector<engine::recommendation>& want) {
  if (got.size() != want.size())
    return "size " + std::to_string(got.size()) + " != " + std::to_string(want.size());
  std::size_t k = 0;
  while (k < want.size()) {
    // The run of reference entries tied with want[k].
    std::size_t end = k + 1;
    while (end < want.size() && near(want[end].score, want[k].score))
      ++end;
    std::multiset<std::string> a, b;
    for (std::size_t j = k; j < end; ++j) {
      if (!near(got[j].score, want[j].score))
        return "score at " + std::to_string(j) + ": " + std::to_string(got[j].score)
               + " != " + std::to_string(want[j].score);
      a.insert(got[j].item);
      b.insert(want[j].item);
    }
    if (a != b && end != want.size())
      return "items differ in the tie run starting at " + std::to_string(k) + " (first: "
             + got[k].item + " vs " + want[k].item + ")";
    k = end;
  }
  return {};
}

/// "item:score item:score ..." for failure messages.
inline std::string describe(const std::vector<engine::recommendation>& r) {
  std::string out;
  for (const auto& x : r)
    out += x.item + ":" + std::to_string(x.score) + " ";
  return out;
}

}  // namespace rtrec::testing
