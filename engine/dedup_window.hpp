// A bounded memory of recently applied event ids, so that an event retried by
// a client (same id, e.g. after a timeout) is acknowledged again but applied
// to the model only once.
//
// Ids are forgotten oldest first (insertion order) once they are older than
// max_age_ms or more than max_ids are remembered; a retry that comes later
// than that is applied again. Full ids are kept: two different ids are never
// taken for one another. The engine never reads a clock: the caller passes
// the time of each insert().
#pragma once

#include <absl/container/flat_hash_set.h>

#include <cstddef>
#include <cstdint>
#include <deque>
#include <string>
#include <string_view>

namespace rtrec::engine {

/// Remembers recently applied event ids so a retried event is acknowledged
/// again but applied once. Not thread-safe (one per shard). O(1) amortized per
/// operation; about 60 bytes per remembered id plus ids longer than 15 bytes.
class dedup_window {
 public:
  /// max_ids = 0 disables the window (nothing remembered, nothing is a
  /// duplicate). max_age_ms <= 0: no age limit.
  dedup_window(std::size_t max_ids, std::int64_t max_age_ms);

  dedup_window(const dedup_window& other);
  dedup_window& operator=(const dedup_window& other);
  dedup_window(dedup_window&&) = default;
  dedup_window& operator=(dedup_window&&) = default;
  ~dedup_window() = default;

  /// Returns true if `id` is remembered (a duplicate). Empty ids are never
  /// duplicates.
  bool contains(std::string_view id) const;

  /// Remembers `id` as applied at `now_ms` (no-op for empty ids or if already
  /// remembered), first forgetting ids remembered before now_ms - max_age_ms,
  /// then the oldest ones while more than max_ids are remembered. now_ms is
  /// caller time; it may go backwards: insertion order is taken as age order
  /// (forgetting stops at the first id that is not too old).
  void insert(std::string_view id, std::int64_t now_ms);

  /// Returns how many ids are remembered (at most max_ids).
  std::size_t size() const noexcept { return order_.size(); }

  /// Returns the approximate heap bytes held.
  std::size_t memory_bytes() const noexcept;

  /// Appends a snapshot of the remembered ids and their times to `out`
  /// (columns in the codec of engine/binary_codec.hpp; the limits are not
  /// included). Throws only std::bad_alloc (`out` may then hold part of a
  /// snapshot). Defined in serialization.cpp.
  void save(std::string& out) const;

  /// Replaces the remembered ids with the snapshot `bytes` (exactly one
  /// save() output), keeping the newest max_ids of them (none when disabled);
  /// ages are checked at the next insert(). Throws std::runtime_error naming
  /// the problem when `bytes` is empty, truncated, too long or malformed; the
  /// window is then unchanged.
  void load(std::string_view bytes);

 private:
  struct entry {
    std::string id;
    std::int64_t time = 0;
  };
  void rebuild_index();

  std::size_t max_ids_;
  std::int64_t max_age_ms_;
  /// Oldest first. A deque never moves its elements on push_back/pop_front
  /// (nor when the deque itself is moved), so index_ may point into them.
  std::deque<entry> order_;
  absl::flat_hash_set<std::string_view> index_;
};

}  // namespace rtrec::engine
