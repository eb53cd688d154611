// The recommend pipeline in steps, so the reference model can run them in one
// place and the actors each where its data lives:
//
//   profile_view --make_query--> score_query --item_model::candidates (per
//   shard, summed)--> candidates --rank--> top keys --complete (popularity
//   fill, offset, names)--> recommendations
#pragma once

#include <absl/container/flat_hash_map.h>

#include <string>
#include <vector>

#include "engine/item_model.hpp"
#include "engine/model_types.hpp"

namespace rtrec::engine {


/// Returns the query for a user's view: its recent items and weights, its
/// seen items excluded (when o.exclude_seen), and `popular` = offset + n
/// popular items asked from the shard that answers popularity.
score_query make_query(const profile_view& view, const recommend_options& o, bool popular);

/// Answers a score_query on one item model: partial scores from its rows,
/// without excluded items, plus the popular list when asked.
shard_scores score_on_shard(item_model& m, const score_query& q);

/// Answers one shard of a chained query (the recommender asks the item shards
/// in turn instead of merging their answers): `upstream` holds the earlier
/// shards' answers summed (their partial scores, one per candidate, and the
/// popular list); this shard adds its own partial scores (own + upstream:
/// bit for bit the sums that merging every shard's answer in shard order
/// gives) and passes the popular list on (or its own, when q.popular > 0).
/// On the `last` shard the scores are complete: with names_top > 0 (which
/// must then be at least offset + n) only the best names_top are returned,
/// named, with the popular list named. A shard before it is asked without
/// names and returns every candidate.
shard_scores score_chained_on_shard(item_model& m, const score_query& q, shard_scores upstream,
                                    bool last);

/// Merges shard answers (summed in shard order) into the final list: the
/// best offset + n candidates, filled from the popular list (see
/// fill_and_page), first `offset` dropped, names attached. The reference
/// model and the recommender actor both end here.
std::vector<recommendation> merge_shard_scores(const std::vector<shard_scores>& parts,
                                               const recommend_options& o);

/// The final page with the names the parts carried: names[k] belongs to
/// items[k] and is empty when no part named that item (see
/// score_query::names_top; resolve it elsewhere or drop it).
struct named_page {
  std::vector<scored> items;
  std::vector<std::string> names;
};
named_page merge_shard_page(const std::vector<shard_scores>& parts, const recommend_options& o);

/// Drops the unnamed items of a page and returns the rest as recommendations.
std::vector<recommendation> named_only(named_page page);

/// merge_shard_scores without the names: the final list as keys and scores.
std::vector<scored> merge_shard_keys(const std::vector<shard_scores>& parts,
                                     const recommend_options& o);

/// Appends the items of `popular` (best first, seen items already left out)
/// that `ranked` does not hold, until offset + n are listed, with scores
/// scaled below the last ranked score so the list stays sorted; then drops
/// the first `offset`.
std::vector<scored> fill_and_page(std::vector<scored> ranked, const std::vector<scored>& popular,
                                  const recommend_options& o);

/// Returns the best `count` candidates, best first (score desc, key asc),
/// leaving out candidates in `seen` when exclude_seen, and non-positive scores.
std::vector<scored> rank(const absl::flat_hash_map<key_t, double>& candidates,
                         const std::vector<key_t>& seen, bool exclude_seen,
                         std::size_t count);

/// Completes a ranked list on the model that answers popularity: appends the
/// most popular items not yet listed (and not seen, when exclude_seen) until
/// offset + n are listed, with scores scaled below the last ranked score so
/// the list stays sorted; drops the first `offset`; resolves names (an item
/// without a name is dropped).
std::vector<scored> complete_keys(item_model& popularity, std::vector<scored> ranked,
                                  const std::vector<key_t>& seen,
                                  const recommend_options& o);
/// complete_keys, then resolve.
std::vector<recommendation> complete(item_model& popularity, std::vector<scored> ranked,
                                     const std::vector<key_t>& seen,
                                     const recommend_options& o);

/// Resolves keys to names on `names` (unknown keys are dropped).
std::vector<recommendation> resolve(const item_model& names, const std::vector<scored>& items);

}  // namespace rtrec::engine
