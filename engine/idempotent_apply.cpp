#include "engine/idempotent_apply.hpp"

#include <absl/container/flat_hash_set.h>

#include <string_view>

namespace rtrec::engine {

void apply_idempotent(profile_store& store, dedup_window& window,
                      const std::vector<event>& events, std::int64_t now_ms, batch_outcome& out,
                      item_delta_batch& delta) {
  const auto n = events.size();
  out.results.assign(n, reject_reason::none);
  out.duplicate.assign(n, 0);
  out.applied = 0;
  out.duplicates = 0;
  bool any_id = false;
  absl::flat_hash_set<std::string_view> in_batch;
  for (std::size_t k = 0; k < n; ++k) {
    const auto& id = events[k].id;
    if (id.empty())
      continue;
    any_id = true;
    if (window.contains(id) || !in_batch.insert(id).second) {
      out.duplicate[k] = 1;
      ++out.duplicates;
    }
  }
  if (out.duplicates == 0) {
    store.apply_batch(events, out.results, delta);
  } else {
    std::vector<event> fresh;
    std::vector<std::size_t> where;
    fresh.reserve(n - out.duplicates);
    for (std::size_t k = 0; k < n; ++k)
      if (!out.duplicate[k]) {
        fresh.push_back(events[k]);
        where.push_back(k);
      }
    std::vector<reject_reason> results;
    store.apply_batch(fresh, results, delta);
    for (std::size_t j = 0; j < where.size(); ++j)
      out.results[where[j]] = results[j];
  }
  for (std::size_t k = 0; k < n; ++k) {
    if (out.duplicate[k] || out.results[k] != reject_reason::none)
      continue;
    ++out.applied;
    if (any_id && !events[k].id.empty())
      window.insert(events[k].id, now_ms);
  }
}

}  // namespace rtrec::engine
