// Sequential rules of one item shard: directed evidence i -> j that item j
// followed item i within a user's recent window, for the source items i the
// shard owns (beside their co-occurrence rows, on the same shard, so a query
// reads both for the same recent items).
//
// An event on item j whose user's recent distinct items were c_0, c_1, ...
// (newest first) adds, for each of the first `window` of them,
//   w_j * g / (p + 1)   to rule c_p -> j
// where w_j is the event's weight and g its forward-decay multiplier (the
// co-occurrence's, item_model.hpp): nearer predecessors count more, as in
// the sequential rules of Ludewig & Jannach (2018). Each rule row also keeps
// the total it was ever given (its out-evidence, decayed the same way), so
// a query reads a rule as a confidence: rule(i -> j) / total(i).
//
// Cost per event: at most `window` row updates, each a scan of one row of
// at most 1.5 * rules_max entries; a row is pruned to its strongest
// rules_max (ties: smaller key) when it outgrows that, as co-occurrence rows
// are. Targets are named by the caller's dense record indices (item_model's
// scoring records), so a query reads a target's record with no hash probe.
#pragma once

#include <absl/container/flat_hash_map.h>

#include <cstddef>
#include <cstdint>

#include "engine/event.hpp"
#include "engine/neighbor_row.hpp"

namespace rtrec::engine {

/// The rules out of one source item.
struct rule_row {
  neighbor_row targets;  ///< target record index -> decayed evidence
  double total = 0.0;    ///< decayed sum of every increment this row got
};

class sequence_rules {
 public:
  /// Rows keep at most rules_max targets once pruned (rules_max >= 1).
  explicit sequence_rules(std::size_t rules_max = 100);

  /// Adds `inc` to rule from -> to (`to` a record index; key_of(index)
  /// returns its key, used only to break ties when the row is pruned).
  template <class KeyOf>
  void add(key_t from, std::uint32_t to, double inc, KeyOf key_of) {
    add_to(rows_[from], to, inc, key_of);
  }
  /// The same on a row the caller already found (rows(from) or row_of()).
  template <class KeyOf>
  void add_to(rule_row& r, std::uint32_t to, double inc, KeyOf key_of) {
    const std::size_t limit = rules_max_ + rules_max_ / 2;
    r.targets.add(to, inc, limit + 1);
    r.total += inc;
    ++updates_;
    if (r.targets.size() > limit) {
      r.targets.prune_to(rules_max_, key_of);
      ++prunes_;
    }
  }
  /// Requests the table slot of `from`'s row (a hint: changes nothing).
  void prefetch(key_t from) const { rows_.prefetch(from); }
  /// Requests the target indices of `from`'s row, when it has one.
  void prefetch_targets(key_t from) const {
    if (auto it = rows_.find(from); it != rows_.end())
      for (std::size_t at = 0; at < it->second.targets.size(); at += 16)
        __builtin_prefetch(it->second.targets.neighbors() + at);
  }
  /// Returns the row of `from`, creating an empty one if absent.
  rule_row& row_of(key_t from) { return rows_[from]; }

  /// Returns the rules out of `from`, or nullptr when it has none.
  const rule_row* find(key_t from) const {
    auto it = rows_.find(from);
    return it == rows_.end() || it->second.targets.empty() ? nullptr : &it->second;
  }

  /// Multiplies every weight and total by `factor` (a decay landmark move).
  void rescale(double factor);

  std::size_t rows() const noexcept { return rows_.size(); }
  std::size_t entries() const;
  std::size_t heap_bytes() const;
  std::uint64_t updates() const noexcept { return updates_; }
  std::uint64_t prunes() const noexcept { return prunes_; }
  std::size_t rules_max() const noexcept { return rules_max_; }

  /// Every row, for snapshots (serialization.cpp).
  const absl::flat_hash_map<key_t, rule_row>& all() const noexcept { return rows_; }
  /// Replaces every row (a snapshot load; indices must be the caller's).
  void replace(absl::flat_hash_map<key_t, rule_row> rows, std::uint64_t updates,
               std::uint64_t prunes) {
    rows_ = std::move(rows);
    updates_ = updates;
    prunes_ = prunes;
  }

 private:
  std::size_t rules_max_;
  absl::flat_hash_map<key_t, rule_row> rows_;
  std::uint64_t updates_ = 0;
  std::uint64_t prunes_ = 0;
};

}  // namespace rtrec::engine
