// A query's output sink: every candidate offered, or only the `best` best
// (by better()), kept in a heap with the worst in front once full. Most
// candidates then lose one comparison to that front. Used by the
// co-occurrence query (item_model.cpp) and the blended one (blend.cpp).
#pragma once

#include <algorithm>
#include <cstddef>
#include <vector>

#include "engine/model_types.hpp"

namespace rtrec::engine {

struct top_k {
  std::vector<scored>& out;  ///< the candidates go after out[base]
  std::size_t base;
  std::size_t best;  ///< 0: keep every candidate

  void offer(key_t key, double score) {
    if (best == 0) {
      out.push_back({key, score});
      return;
    }
    const std::size_t kept = out.size() - base;
    if (kept < best) {
      out.push_back({key, score});  // may move out: heap() only after it
      if (kept + 1 == best)
        std::make_heap(heap(), out.end(), by_better);
    } else if (better({key, score}, out[base])) {
      std::pop_heap(heap(), out.end(), by_better);
      out.back() = {key, score};
      std::push_heap(heap(), out.end(), by_better);
    }
  }

  std::vector<scored>::iterator heap() { return out.begin() + static_cast<std::ptrdiff_t>(base); }
};

}  // namespace rtrec::engine
