// Model configuration shared by the profile store, the item model and the
// reference model. Plain data with documented defaults; every field can be
// set from the command line or the embedded API.
#pragma once

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>

#include "engine/event.hpp"

namespace rtrec::engine {

struct model_config {
  /// Weight of one event of each type in the models (index = event_type).
  /// `rating` uses rating_weight(value) instead; `dislike` is always 0.
  std::array<float, event_type_count> type_weight{{1.0f, 1.5f, 2.0f, 1.0f, 3.0f, 0.0f}};
  /// A rating's weight: rating_base + rating_scale * value.
  float rating_base = 0.5f;
  float rating_scale = 0.1f;

  /// Recent interactions kept per user; the scoring window.
  std::size_t recent_max = 20;
  /// How many of the user's most recent items a new event forms pairs with.
  /// Bounds the per-event ingest cost whatever the user's history length.
  std::size_t pair_window = 5;
  /// Seen items remembered per user (excluded from recommendations); the
  /// oldest is forgotten first. Bounds memory per user. Raised to recent_max
  /// if smaller.
  std::size_t seen_max = 5000;
  /// Feedback records kept per user in its history (engine/feedback.hpp;
  /// the answers of GET /api/feedback...): the newest written, at most one
  /// per (type, item). Writing a record beyond it drops the user's oldest
  /// written record (its text too); lowering it drops the oldest at the next
  /// load of a snapshot. 0 keeps no history. Costs 32 bytes per record (up
  /// to a third more while dropped ones await compaction), plus the
  /// comment and timestamp text of the records that have them. It bounds
  /// the history only: the model keeps its own windows (recent_max,
  /// seen_max).
  std::size_t feedback_retention = 1000;
  /// Neighbors kept per item (rows are pruned to this size once they reach
  /// 1.5x). Bounds memory per item whatever its popularity.
  std::size_t neighbors_max = 100;
  /// Neighbors of each recent item a recommend query scores: its strongest
  /// score_neighbors by co-occurrence weight (ties: smaller key), the same
  /// order rows are pruned by; 0 = every stored neighbor. Bounds a query's
  /// work at recent_max * score_neighbors contributions whatever the rows
  /// hold (item-kNN's usual k). The bound picks by weight alone, before any
  /// neighbor is read: a hidden or filtered-out neighbor still takes its
  /// place. similar() always reads the whole row. MovieLens figures for
  /// quality and speed per value: docs/benchmarks.md.
  std::size_t score_neighbors = 0;
  /// Users remembered per item for user neighbors (engine/recent_users.hpp):
  /// the K most recent, on the item's item shard. Bounds a user-neighbor
  /// query at recent_max * item_users_max candidates and the memory at K
  /// entries (24 bytes each) per item; 0 = no lists (user neighbors answer
  /// nothing).
  std::size_t item_users_max = 32;

  /// Half-life of co-occurrence evidence, seconds of event time (0 = none).
  double cooc_half_life_s = 365.0 * 86400.0;
  /// Half-life of popularity / trending, seconds of event time (0 = none).
  double trend_half_life_s = 7.0 * 86400.0;
  /// Weight multiplier per position back in the user's recent list.
  double recency_decay = 0.85;
  /// sim(i,j) = c_ij / (n_i^alpha * n_j^(1-alpha)); 0.5 is cosine, larger
  /// values damp the pull of very popular neighbors j.
  double similarity_alpha = 0.7;

  /// The blend (engine/blend.hpp): a query's candidate j scores
  ///   cf_weight * cf(j)/max cf + seq_weight * seq(j)/max seq + trend_weight * trend(j)/max trend
  /// (maxima over the query's candidates; a term whose maximum is 0 adds 0),
  /// where cf is the item-to-item score, seq the sequential rules'
  /// (engine/sequence_rules.hpp) and trend a short half-life popularity.
  /// With both weights 0 the blend is off: scores are cf exactly as before,
  /// and neither rules nor trend are kept (no state, no ingest work).
  /// On by default, with weights tuned on held-out splits and synthetic
  /// data of several shapes (docs/benchmarks.md, "The blend, tuned again
  /// and costed"); its query cost in "The blend's query cost".
  double seq_weight = 0.6;
  double trend_weight = 0.3;
  /// The cf term's weight (the formula's implicit 1): other values, 0 in
  /// particular (ablation: rules and trend alone), turn the blend on.
  double cf_weight = 1.0;
  /// How many of the user's most recent items (newest first) a new event
  /// forms directed rules i -> j with (the per-event cost of the rules).
  std::size_t seq_window = 20;
  /// Half-life of the blend's trend term, seconds of event time (0 = none).
  double blend_trend_half_life_s = 30.0 * 86400.0;

  bool seq_on() const noexcept { return seq_weight > 0.0; }
  bool trend_on() const noexcept { return trend_weight > 0.0; }
  bool blend_on() const noexcept { return seq_on() || trend_on() || cf_weight != 1.0; }
  /// Context items a profile store sends with a first-time event: the pair
  /// window, or the longer of it and the rules' window when rules are on.
  std::size_t context_window() const noexcept {
    return seq_on() && seq_window > pair_window ? seq_window : pair_window;
  }

  /// Size of the cached popular list, and how many popularity updates may
  /// pass before it is recomputed. With 0 a query recomputes it whenever it
  /// changed (always exact); otherwise the item model recomputes it while
  /// applying the batch that crosses the count, never inside a query.
  std::size_t popular_cache = 1024;
  std::uint64_t popular_refresh_events = 20000;

  validation_limits limits;

  /// Returns the model weight of an event (0 for dislike).
  float weight_of(event_type type, double value) const noexcept {
    if (type == event_type::rating)
      return rating_base + rating_scale * static_cast<float>(value);
    return type_weight[static_cast<std::size_t>(type)];
  }
};

/// Returns the shard in [0, shards) that owns `key` (shards >= 1). The same
/// rule on every node.
inline std::uint32_t shard_of(key_t key, std::uint32_t shards) noexcept {
  // Keys are already uniformly distributed hashes; fold the high half in so
  // user and item shard counts that share factors don't correlate.
  return static_cast<std::uint32_t>((key ^ (key >> 32)) % shards);
}

}  // namespace rtrec::engine
