// Data that flows between the engine parts: from a profile store to the item
// models (item_delta_batch), from a profile to the scorer (profile_view,
// score_query) and back (scored). These are also the payloads of actor
// messages (messages/ adds their inspect() functions), so they are plain
// structs of vectors: cheap to move, easy to serialize.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "engine/event.hpp"

namespace rtrec::engine {

/// One candidate with its score. Ordering used everywhere: score descending,
/// then key ascending (deterministic tie-break).
struct scored {
  key_t key = 0;
  double score = 0.0;
};

inline bool better(const scored& a, const scored& b) noexcept {
  return a.score > b.score || (a.score == b.score && a.key < b.key);
}

/// better() as a function object: sorting through a function pointer does
/// not inline the comparison.
inline constexpr auto by_better = [](const scored& a, const scored& b) { return better(a, b); };

/// A recommendation as the caller sees it: string id and score.
struct recommendation {
  std::string item;
  double score = 0.0;
};

/// Per-event changes a profile store hands to the item models, flattened into
/// parallel vectors (one entry per event; context items in ctx_* ranges).
struct item_delta_batch {
  enum flag : std::uint8_t { first_time = 1, negative = 2 };
  std::vector<key_t> item;
  std::vector<float> weight;
  std::vector<std::int64_t> timestamp;
  std::vector<std::uint8_t> flags;
  /// The key of event k's user (the item side's per-item recent users,
  /// engine/recent_users.hpp).
  std::vector<key_t> user;
  /// Event k's context is ctx_item[ctx_end[k-1] .. ctx_end[k]) (ctx_end[-1]=0):
  /// the user's most recent distinct items before the event, newest first.
  std::vector<std::uint32_t> ctx_end;
  std::vector<key_t> ctx_item;
  std::vector<float> ctx_weight;
  /// Names of item keys this sender had not named before (dictionary feed).
  std::vector<key_t> new_keys;
  std::vector<std::string> new_ids;

  std::size_t size() const noexcept { return item.size(); }
  bool empty() const noexcept { return item.empty(); }
  void clear() noexcept {
    item.clear(); weight.clear(); timestamp.clear(); flags.clear(); user.clear();
    ctx_end.clear(); ctx_item.clear(); ctx_weight.clear();
    new_keys.clear(); new_ids.clear();
  }
};

/// What the scorer needs from a user's profile.
struct profile_view {
  bool known = false;
  /// Most recent distinct items first, with their query weights (event weight
  /// times recency decay).
  std::vector<key_t> recent;
  std::vector<float> recent_weight;
  /// Every item the user has seen or disliked (excluded from results).
  std::vector<key_t> seen;
};

/// A user's recent interaction, as reported to callers.
struct interaction {
  std::string item;
  event_type type = event_type::view;
  float weight = 0.0f;
  std::int64_t timestamp = 0;
};

/// Filters applied to candidates.
struct item_filter {
  std::string category;  ///< empty = any
};

/// A request for candidate scores from the rows an item model owns.
struct score_query {
  std::vector<key_t> items;
  std::vector<float> weights;
  item_filter filter;
  /// Candidates to leave out (the user's seen items).
  std::vector<key_t> exclude;
  /// How many popular items (not excluded) to return as well; 0 = none.
  std::uint32_t popular = 0;
  /// Whether to return names with keys.
  bool names = true;
  /// With names: name only the best names_top candidates (by this shard's
  /// partial score, ties: smaller key), which then come first in
  /// `candidates`; 0 = name every candidate. Copying a name per candidate
  /// was a large part of a query's cost; a page item left unnamed by every
  /// shard is resolved with a second request (recommender). Must be at least
  /// offset + n: a shard whose scores are complete (a single item shard, or
  /// the last of a chained query) returns only those best names_top.
  std::uint32_t names_top = 0;
};

/// One item shard's answer to a score_query: partial candidate scores from
/// its rows, and the popular list when asked. names[k] belongs to
/// candidates[k] (empty when not asked for; shorter than candidates when
/// only the best names_top are named).
///
/// With the blend on (model_config::blend_on()), a shard before the last of
/// a chained query cannot blend yet (a term's maximum is over the complete
/// candidates): its candidates carry the co-occurrence partial sums and
/// `seq[k]` the sequential rules' partial sum of candidates[k]; the last
/// shard adds its own and blends. Empty otherwise.
struct shard_scores {
  std::vector<scored> candidates;
  std::vector<double> seq;
  std::vector<std::string> names;
  std::vector<scored> popular;
  std::vector<std::string> popular_names;
};

/// Paging and filtering of a recommendation query.
struct recommend_options {
  std::size_t n = 10;
  std::size_t offset = 0;
  item_filter filter;
  bool exclude_seen = true;
};

/// Metadata of an item, set by the application.
struct item_meta {
  item_meta() = default;
  /// The fields in order; those only some items have may be left out.
  item_meta(std::string id_, std::vector<std::string> categories_, bool hidden_ = false,
            std::int64_t timestamp_ = 0, std::string timestamp_text_ = {},
            std::string labels_ = {}, std::string comment_ = {})
    : id(std::move(id_)), categories(std::move(categories_)), hidden(hidden_),
      timestamp(timestamp_), timestamp_text(std::move(timestamp_text_)),
      labels(std::move(labels_)), comment(std::move(comment_)) {}

  std::string id;
  std::vector<std::string> categories;
  bool hidden = false;
  /// Creation time, ms since the epoch (0 = unknown).
  std::int64_t timestamp = 0;
  /// The Timestamp exactly as the application wrote it (empty: none given,
  /// or given as Unix seconds), answered back as it came.
  std::string timestamp_text;
  /// Gorse's Labels as serialized JSON text (empty: none).
  std::string labels;
  /// Gorse's Comment (empty: none).
  std::string comment;

  /// True when any of the fields only some items have is set (they are
  /// stored, logged and saved only then).
  bool has_extras() const noexcept {
    return !timestamp_text.empty() || !labels.empty() || !comment.empty();
  }
};

/// One page of items in key order (item_model::page()): `cursor` resumes
/// after the last item of this page, empty on the last page.
struct item_page {
  std::vector<item_meta> items;
  std::string cursor;
};

/// Changes to an item's metadata: a field changes only when its set_* flag
/// is true (plain flags rather than optionals, so the struct travels between
/// actors as it is).
struct item_patch {
  bool set_hidden = false;
  bool hidden = false;
  bool set_categories = false;
  std::vector<std::string> categories;
  bool set_timestamp = false;
  std::int64_t timestamp = 0;
  std::string timestamp_text;  ///< with set_timestamp: the text given (may be empty)
  bool set_labels = false;
  std::string labels;  ///< serialized JSON; empty clears
  bool set_comment = false;
  std::string comment;
  /// Added to the categories unless already there (empty: none).
  std::string add_category;
  /// Removed from the categories (empty: none).
  std::string remove_category;

  /// Applies the set fields to `m` (categories first set, then added, then
  /// removed).
  void apply(item_meta& m) const {
    if (set_hidden)
      m.hidden = hidden;
    if (set_categories)
      m.categories = categories;
    if (set_timestamp) {
      m.timestamp = timestamp;
      m.timestamp_text = timestamp_text;
    }
    if (set_labels)
      m.labels = labels;
    if (set_comment)
      m.comment = comment;
    auto has = [&](const std::string& c) {
      for (const auto& x : m.categories)
        if (x == c)
          return true;
      return false;
    };
    if (!add_category.empty() && !has(add_category))
      m.categories.push_back(add_category);
    if (!remove_category.empty()) {
      std::vector<std::string> kept;
      for (auto& x : m.categories)
        if (x != remove_category)
          kept.push_back(std::move(x));
      m.categories = std::move(kept);
    }
  }
};

/// Counters and sizes of one item model (item_model::stats()).
struct item_model_stats {
  std::uint64_t events = 0;
  std::uint64_t pair_updates = 0;
  std::uint64_t prunes = 0;
  std::uint64_t collisions = 0;
  std::size_t items = 0;
  std::size_t rows = 0;
  std::size_t row_entries = 0;
  std::size_t memory_bytes = 0;
};

}  // namespace rtrec::engine
