// A user's feedback history (Gorse's feedback table, per user): the records
// {FeedbackType, UserId, ItemId, Timestamp, Comment} the user's events left,
// at most one per (type, item), bounded by model_config::feedback_retention.
// The profile store keeps one feedback_log per user (engine/profile_store.hpp)
// and applies every accepted event to it:
//
//   event (type, item) --no record yet-------------> append (newest)
//                      --record exists, overwrite---> remove it, append (newest)
//                      --record exists, insert------> unchanged (Gorse's POST)
//   then, over feedback_retention records: drop the oldest written
//
// "Oldest" is by write order: each appended record gets the user's next
// write number (seq), so a log is always in seq order and a listing can
// resume after any (user slot, seq) pair. Plain data, no I/O.
#pragma once

#include <cstddef>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include "engine/event.hpp"

namespace rtrec::engine {

/// One feedback record as callers see it.
struct feedback_record {
  event_type type = event_type::view;
  std::string user;
  std::string item;
  std::int64_t timestamp = 0;  ///< ms since the Unix epoch
  double value = 0;            ///< the event's Value (as a float: 7 digits)
  /// The Timestamp exactly as it was written (empty: given as Unix seconds
  /// or not given; answer `timestamp` formatted).
  std::string timestamp_text;
  std::string comment;
};

/// Which records a read returns: every record, or only those of one type,
/// one item, or written for a time no later than until_ms (Gorse hides
/// future-dated feedback from a user's and an item's feedback).
struct feedback_filter {
  bool any_type = true;
  event_type type = event_type::view;  ///< with any_type false
  std::string item;                    ///< empty: any item
  std::int64_t until_ms = std::numeric_limits<std::int64_t>::max();
};

/// A deletion: the user's records of `item`, of every type or only `type`.
struct feedback_delete {
  std::string user;
  std::string item;
  bool any_type = true;
  event_type type = event_type::view;  ///< with any_type false
};

/// One page of a profile shard's feedback (profile_store::list_feedback):
/// the records and where to continue (done: nothing is left).
struct feedback_page {
  std::vector<feedback_record> records;
  std::uint64_t next_slot = 0;
  std::uint32_t next_seq = 0;  ///< continue after this seq of next_slot's user
  bool done = true;
};

/// One stored record (32 bytes); its name, user and texts live elsewhere.
struct feedback_entry {
  key_t item = 0;
  std::int64_t timestamp = 0;
  std::uint32_t seq = 0;      ///< the user's write number, ascending in a log
  float value = 0;            ///< the event's Value
  event_type type = event_type::view;
  bool has_text = false;      ///< a timestamp text or comment is stored aside
};

/// One user's records in write order (oldest first). Appending is amortized
/// O(1), also when the oldest is dropped; finding a (type, item) is a scan.
class feedback_log {
 public:
  static constexpr std::size_t npos = ~std::size_t{0};

  std::size_t size() const noexcept { return entries_.size() - head_; }
  bool empty() const noexcept { return size() == 0; }
  const feedback_entry& operator[](std::size_t k) const noexcept { return entries_[head_ + k]; }
  /// The last write number given (0: none yet).
  std::uint32_t last_seq() const noexcept { return seq_; }

  /// Returns the position of the record of (type, item), or npos.
  std::size_t find(key_t item, event_type type) const noexcept;
  /// Returns whether any record of `item` is left.
  bool has_item(key_t item) const noexcept;
  /// Returns the first position whose seq is greater than `seq`.
  std::size_t after(std::uint32_t seq) const noexcept;

  /// Appends a record with the next write number. When the numbers run out,
  /// the records are renumbered 1..size() first (a listing paused on this
  /// user may then repeat some of its records).
  void append(key_t item, std::int64_t timestamp, event_type type, float value, bool has_text);
  /// Removes the record at position k.
  void remove(std::size_t k);
  /// Drops the oldest records until at most `max` are left, calling
  /// dropped(entry) for each before it goes.
  template <class F>
  void trim(std::size_t max, F&& dropped) {
    while (size() > max) {
      dropped(entries_[head_]);
      ++head_;
    }
    compact();
  }
  /// Replaces the records (oldest first, seq ascending, each at most
  /// last_seq) and the last write number (loading a snapshot).
  void assign(std::vector<feedback_entry> entries, std::uint32_t last_seq);

  /// Heap bytes held.
  std::size_t memory_bytes() const noexcept { return entries_.capacity() * sizeof(feedback_entry); }

 private:
  /// Moves the live records to the front once the dropped ones are a
  /// quarter of the vector (so it holds at most 4/3 of the records).
  void compact();

  std::vector<feedback_entry> entries_;
  std::size_t head_ = 0;
  std::uint32_t seq_ = 0;
};

/// Returns whether entry `x` passes `f`, whose item (if any) has key
/// `filter_item`.
inline bool passes(const feedback_entry& x, const feedback_filter& f, key_t filter_item) noexcept {
  return (f.any_type || x.type == f.type) && (f.item.empty() || x.item == filter_item)
         && x.timestamp <= f.until_ms;
}

}  // namespace rtrec::engine
