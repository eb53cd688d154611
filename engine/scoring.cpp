#include "engine/scoring.hpp"

#include <absl/container/flat_hash_set.h>

#include <algorithm>

namespace rtrec::engine {

score_query make_query(const profile_view& view, const item_filter& filter) {
  score_query q;
  q.items = view.recent;
  q.weights = view.recent_weight;
  q.filter = filter;
  return q;
}

std::vector<scored> rank(const absl::flat_hash_map<key_t, double>& candidates,
                         const std::vector<key_t>& seen, bool exclude_seen,
                         std::size_t count) {
  absl::flat_hash_set<key_t> excluded;
  if (exclude_seen)
    excluded.insert(seen.begin(), seen.end());
  std::vector<scored> all;
  all.reserve(candidates.size());
  for (const auto& [k, v] : candidates)
    if (v > 0.0 && !excluded.contains(k))
      all.push_back({k, v});
  const auto keep = std::min(count, all.size());
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(), better);
  all.resize(keep);
  return all;
}

std::vector<scored> complete_keys(item_model& popularity, std::vector<scored> ranked,
                                  const std::vector<key_t>& seen,
                                  const recommend_options& o) {
  const std::size_t want = o.offset + o.n;
  if (ranked.size() > want)
    ranked.resize(want);
  if (ranked.size() < want) {
    absl::flat_hash_set<key_t> exclude;
    if (o.exclude_seen)
      exclude.insert(seen.begin(), seen.end());
    for (const auto& s : ranked)
      exclude.insert(s.key);
    auto fill = popularity.popular(want - ranked.size(), o.filter, exclude);
    if (!ranked.empty() && !fill.empty() && fill.front().score > 0.0) {
      // Keep the list sorted: popularity fill ranks below every CF candidate.
      const double scale = 0.5 * ranked.back().score / fill.front().score;
      for (auto& s : fill)
        s.score *= scale;
    }
    ranked.insert(ranked.end(), fill.begin(), fill.end());
  }
  if (o.offset >= ranked.size())
    return {};
  ranked.erase(ranked.begin(), ranked.begin() + static_cast<std::ptrdiff_t>(o.offset));
  return ranked;
}

std::vector<recommendation> complete(item_model& popularity, std::vector<scored> ranked,
                                     const std::vector<key_t>& seen,
                                     const recommend_options& o) {
  return resolve(popularity, complete_keys(popularity, std::move(ranked), seen, o));
}

std::vector<recommendation> resolve(const item_model& names, const std::vector<scored>& items) {
  std::vector<recommendation> out;
  out.reserve(items.size());
  for (const auto& s : items)
    if (const auto* name = names.name(s.key))
      out.push_back({*name, s.score});
  return out;
}

}  // namespace rtrec::engine
