#include "engine/scoring.hpp"

#include <absl/container/flat_hash_set.h>

#include <algorithm>

namespace rtrec::engine {

score_query make_query(const profile_view& view, const recommend_options& o, bool popular) {
  score_query q;
  q.items = view.recent;
  q.weights = view.recent_weight;
  q.filter = o.filter;
  if (o.exclude_seen)
    q.exclude = view.seen;
  q.popular = popular ? static_cast<std::uint32_t>(o.offset + o.n) : 0;
  return q;
}

shard_scores score_on_shard(item_model& m, const score_query& q) {
  // A model that owns every row (one shard) scores completely.
  return score_chained_on_shard(m, q, {}, m.shards() == 1);
}

shard_scores score_chained_on_shard(item_model& m, const score_query& q, shard_scores upstream,
                                    bool last) {
  shard_scores out;
  // Complete scores on the last shard: nothing after the best names_top
  // (>= offset + n) can reach the page, so candidates() keeps only those
  // (with a small heap, never listing the rest). Leaves out q.exclude
  // itself (in its per-item records).
  const bool cut = last && q.names && q.names_top > 0;
  if (m.config().blend_on()) {
    // The blend needs every candidate's complete signals: the shards before
    // the last pass their partial sums on (out.seq beside the co-occurrence
    // sums), the last adds its own and blends.
    m.blended_partials(q, upstream, last, out, cut ? q.names_top : 0);
  } else {
    m.candidates(q, out.candidates, upstream.candidates, cut ? q.names_top : 0);
  }
  out.popular = std::move(upstream.popular);
  if (q.popular > 0)
    out.popular = m.popular(q.popular, q.filter,
                            absl::flat_hash_set<key_t>(q.exclude.begin(), q.exclude.end()));
  auto& c = out.candidates;
  // Name every candidate, or (names_top) only the best few, which then go
  // first; the rest are looked up once the page is known.
  if (!cut && q.names && q.names_top > 0 && c.size() > q.names_top) {
    const auto top = c.begin() + static_cast<std::ptrdiff_t>(q.names_top);
    std::nth_element(c.begin(), top, c.end(), by_better);
  }
  const auto named = q.names ? (q.names_top > 0 ? std::min<std::size_t>(q.names_top, c.size())
                                                : c.size())
                             : 0;
  out.names.reserve(named);
  for (std::size_t k = 0; k < named; ++k) {
    const auto* n = m.name(c[k].key);
    out.names.push_back(n != nullptr ? *n : std::string{});
  }
  if (q.names) {
    out.popular_names.reserve(out.popular.size());
    for (const auto& p : out.popular) {
      const auto* n = m.name(p.key);
      out.popular_names.push_back(n != nullptr ? *n : std::string{});
    }
  }
  return out;
}

std::vector<scored> merge_shard_keys(const std::vector<shard_scores>& parts,
                                     const recommend_options& o) {
  std::size_t total = 0, total_popular = 0;
  for (const auto& part : parts) {
    total += part.candidates.size();
    total_popular += part.popular.size();
  }
  absl::flat_hash_map<key_t, double> acc;
  acc.reserve(total);
  std::vector<scored> popular;
  popular.reserve(total_popular);
  for (const auto& part : parts) {
    for (const auto& c : part.candidates)
      acc[c.key] += c.score;
    popular.insert(popular.end(), part.popular.begin(), part.popular.end());
  }
  return fill_and_page(rank(acc, {}, false, o.offset + o.n), popular, o);
}

named_page merge_shard_page(const std::vector<shard_scores>& parts, const recommend_options& o) {
  named_page out;
  out.items = merge_shard_keys(parts, o);
  const auto& page = out.items;
  // Names only for the page: one pass over the named parts until each is
  // found.
  absl::flat_hash_map<key_t, std::size_t> slot;
  slot.reserve(page.size());
  for (std::size_t k = 0; k < page.size(); ++k)
    slot.emplace(page[k].key, k);
  std::vector<const std::string*> names(page.size(), nullptr);
  std::size_t missing = page.size();
  auto take = [&](const std::vector<scored>& keys, const std::vector<std::string>& of) {
    for (std::size_t k = 0; missing > 0 && k < keys.size() && k < of.size(); ++k)
      if (auto it = slot.find(keys[k].key); it != slot.end() && names[it->second] == nullptr) {
        names[it->second] = &of[k];
        --missing;
      }
  };
  for (const auto& part : parts) {
    take(part.candidates, part.names);
    take(part.popular, part.popular_names);
  }
  out.names.reserve(page.size());
  for (const auto* n : names)
    out.names.push_back(n != nullptr ? *n : std::string{});
  return out;
}

std::vector<recommendation> named_only(named_page page) {
  std::vector<recommendation> out;
  out.reserve(page.items.size());
  for (std::size_t k = 0; k < page.items.size() && k < page.names.size(); ++k)
    if (!page.names[k].empty())
      out.push_back({std::move(page.names[k]), page.items[k].score});
  return out;
}

std::vector<recommendation> merge_shard_scores(const std::vector<shard_scores>& parts,
                                               const recommend_options& o) {
  return named_only(merge_shard_page(parts, o));
}

std::vector<scored> fill_and_page(std::vector<scored> ranked, const std::vector<scored>& popular,
                                  const recommend_options& o) {
  const std::size_t want = o.offset + o.n;
  if (ranked.size() > want)
    ranked.resize(want);
  if (ranked.size() < want) {
    absl::flat_hash_set<key_t> listed;
    for (const auto& s : ranked)
      listed.insert(s.key);
    std::vector<scored> fill;
    for (const auto& s : popular) {
      if (ranked.size() + fill.size() >= want)
        break;
      if (!listed.contains(s.key))
        fill.push_back(s);
    }
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
  std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(), by_better);
  all.resize(keep);
  return all;
}

std::vector<scored> complete_keys(item_model& popularity, std::vector<scored> ranked,
                                  const std::vector<key_t>& seen,
                                  const recommend_options& o) {
  const std::size_t want = o.offset + o.n;
  std::vector<scored> popular;
  if (ranked.size() < want) {
    absl::flat_hash_set<key_t> exclude;
    if (o.exclude_seen)
      exclude.insert(seen.begin(), seen.end());
    popular = popularity.popular(want, o.filter, exclude);
  }
  return fill_and_page(std::move(ranked), popular, o);
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
