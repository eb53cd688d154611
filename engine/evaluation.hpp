// Prequential (test-then-train) evaluation: for each event in time order the
// caller asks the top-K for the event's user (seen items excluded), records it
// here with the event's item, then ingests the event. This class only counts.
#pragma once

#include <absl/container/flat_hash_set.h>

#include <cstdint>
#include <vector>

#include "engine/event.hpp"
#include "engine/model_types.hpp"

namespace rtrec::engine {

struct eval_result {
  std::size_t k = 0;
  std::size_t events = 0;
  std::size_t hits = 0;
  double hr_at_k = 0.0;    ///< hits / events
  double mrr_at_k = 0.0;   ///< mean of 1/rank over events (0 on a miss)
  double ndcg_at_k = 0.0;  ///< mean of 1/log2(rank+1) (one relevant item)
  double coverage = 0.0;   ///< distinct stream items ever recommended / distinct items in the stream
  std::size_t catalog = 0;
  std::size_t recommended_items = 0;
};

class prequential_evaluator {
 public:
  explicit prequential_evaluator(std::size_t k) : k_(k) {}

  /// Records one test-then-train step: `topk` was answered before `item` was
  /// ingested. Only the first k entries of topk count.
  void record(key_t item, const std::vector<scored>& topk);

  /// Returns the metrics so far (all zero before the first record).
  eval_result result() const;

 private:
  std::size_t k_;
  std::size_t events_ = 0;
  std::size_t hits_ = 0;
  double rr_sum_ = 0.0;
  double dcg_sum_ = 0.0;
  absl::flat_hash_set<key_t> catalog_;
  absl::flat_hash_set<key_t> recommended_;
};

}  // namespace rtrec::engine
