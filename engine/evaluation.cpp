#include "engine/evaluation.hpp"

#include <cmath>

namespace rtrec::engine {

void prequential_evaluator::record(key_t item, const std::vector<scored>& topk) {
  ++events_;
  catalog_.insert(item);
  const std::size_t limit = topk.size() < k_ ? topk.size() : k_;
  for (std::size_t r = 0; r < limit; ++r) {
    recommended_.insert(topk[r].key);
    if (topk[r].key == item) {
      ++hits_;
      rr_sum_ += 1.0 / static_cast<double>(r + 1);
      dcg_sum_ += 1.0 / std::log2(static_cast<double>(r + 2));
    }
  }
}

eval_result prequential_evaluator::result() const {
  eval_result r;
  r.k = k_;
  r.events = events_;
  r.hits = hits_;
  r.catalog = catalog_.size();
  r.recommended_items = recommended_.size();
  if (events_ > 0) {
    const auto n = static_cast<double>(events_);
    r.hr_at_k = static_cast<double>(hits_) / n;
    r.mrr_at_k = rr_sum_ / n;
    r.ndcg_at_k = dcg_sum_ / n;
  }
  if (!catalog_.empty()) {
    std::size_t covered = 0;
    for (auto k : recommended_)
      covered += catalog_.contains(k) ? 1 : 0;
    r.coverage = static_cast<double>(covered) / static_cast<double>(catalog_.size());
  }
  return r;
}

}  // namespace rtrec::engine
