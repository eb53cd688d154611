#include "storage/retention.hpp"

#include <algorithm>
#include <limits>

#include "storage/snapshot.hpp"
#include "storage/wal.hpp"

namespace rtrec::storage {

retention_plan plan_retention(const std::string& root, const std::vector<bool>& local_profiles,
                              const item_coverage_map& coverage, std::uint32_t item_shards) {
  retention_plan plan;
  for (std::uint32_t m = 0; m < item_shards; ++m)
    if (coverage.find(m) == coverage.end())
      return plan;
  plan.complete = true;
  // cover[p]: the least any item shard holds of profile shard p's stream.
  std::vector<std::uint64_t> cover(local_profiles.size(),
                                   std::numeric_limits<std::uint64_t>::max());
  // cover_meta: the same for the item metadata stream (entry
  // local_profiles.size() of a coverage; 0 when a node did not report it).
  auto cover_meta = std::numeric_limits<std::uint64_t>::max();
  const auto meta_entry = local_profiles.size();
  for (const auto& [m, applied] : coverage) {
    for (std::size_t p = 0; p < cover.size(); ++p)
      cover[p] = std::min(cover[p], p < applied.size() ? applied[p] : 0);
    cover_meta = std::min(cover_meta, meta_entry < applied.size() ? applied[meta_entry] : 0);
  }
  for (auto id : list_checkpoints(root)) {  // newest first
    const auto man = read_manifest(root, id);
    bool fits = true;
    for (std::size_t p = 0; p < cover.size() && fits; ++p)
      fits = !local_profiles[p] || (p < man.profile_seq.size() && man.profile_seq[p] <= cover[p]);
    if (!fits)
      continue;
    plan.base = id;
    for (std::uint32_t p = 0; p < man.profile_shards; ++p)
      plan.covered[p] = man.profile_seq[p];
    plan.covered[meta_stream] = std::min(man.meta_seq, cover_meta);
    break;
  }
  return plan;
}

item_coverage_map kept_coverage(const std::string& root, const std::vector<bool>& local_items) {
  item_coverage_map out;
  const auto ids = list_checkpoints(root);
  if (ids.empty())
    return out;
  const auto oldest = read_manifest(root, ids.back());
  for (std::uint32_t m = 0; m < oldest.item_applied.size(); ++m)
    if (m < local_items.size() && local_items[m]) {
      out[m] = oldest.item_applied[m];
      out[m].push_back(m < oldest.item_meta_applied.size() ? oldest.item_meta_applied[m] : 0);
    }
  return out;
}

}  // namespace rtrec::storage
