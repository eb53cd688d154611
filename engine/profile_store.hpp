// User profiles of one shard: each user's bounded list of recent
// interactions and bounded set of seen items. Applying an event updates the
// profile and appends what the item side must learn from it (the event and
// the user's recent items it pairs with) to an item_delta_batch.
//
// Knows nothing of sharding: the caller hands it only the users it owns.
// Per-event cost is O(recent_max + pair_window), whatever the user's history.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "engine/config.hpp"
#include "engine/event.hpp"
#include "engine/feedback.hpp"
#include "engine/model_types.hpp"
#include "engine/user_meta.hpp"

namespace rtrec::engine {

struct user_profile {
  struct recent_entry {
    key_t item = 0;
    std::int64_t timestamp = 0;
    float weight = 0.0f;
    event_type type = event_type::view;
  };
  /// Up to this many seen items are looked up by a linear scan of
  /// seen_order (no hash set allocated): most users have few interactions.
  static constexpr std::size_t small_seen = 32;

  std::string id;
  /// Oldest first; at most recent_max entries, one per distinct item.
  std::vector<recent_entry> recent;
  /// Seen items in insertion order from seen_head on (the oldest is forgotten
  /// first once seen_max is reached).
  std::vector<key_t> seen_order;
  std::size_t seen_head = 0;
  /// Index over the live part of seen_order once it outgrows small_seen.
  absl::flat_hash_set<key_t> seen_index;
  std::uint64_t events = 0;
  /// The user's feedback records (model_config::feedback_retention).
  feedback_log history;
  /// Set once the seen set may have forgotten an item that still has a
  /// feedback record. While it is clear, an item not seen has no record, so
  /// a first-time event appends without scanning the history.
  bool history_unseen = false;

  std::size_t seen_count() const noexcept { return seen_order.size() - seen_head; }
  /// Returns true if `item` is among the remembered seen items.
  bool has_seen(key_t item) const noexcept;
  /// Remembers `item` as seen (it must not be seen yet), forgetting the
  /// oldest when more than seen_max are remembered.
  void add_seen(key_t item, std::size_t seen_max);
  /// Forgets `item` as seen (nothing if it is not remembered).
  void forget_seen(key_t item);
};

class profile_store {
 public:
  explicit profile_store(model_config cfg);

  /// Applies a validated event. On success appends the item-side delta to
  /// `out` and returns reject_reason::none. Returns id_collision (and changes
  /// nothing) when e.user or e.item hashes to a key already owned by a
  /// different string.
  reject_reason apply(const event& e, item_delta_batch& out);

  /// Applies events[0..n) in order, exactly as n calls of apply() would, and
  /// stores each result in results[k] (resized to n). Faster: it prefetches
  /// the profiles of upcoming events while applying the current one.
  void apply_batch(const std::vector<event>& events, std::vector<reject_reason>& results,
                   item_delta_batch& out);

  /// Returns the scoring view of `user` (known=false for an unknown user).
  profile_view view(std::string_view user) const;

  /// Returns the user's recent interactions, newest first (empty if unknown).
  std::vector<interaction> recent(std::string_view user) const;

  /// Forgets everything about `user` (profile and metadata). Returns false
  /// if it was unknown.
  bool erase(std::string_view user);

  enum class upsert_outcome { created, updated, id_collision, not_found };
  /// Creates `user` (with no interactions) if unknown, then applies `patch`
  /// to its metadata. Returns, changing nothing, id_collision when the
  /// user's id hashes to a key owned by a different user id, not_found when
  /// the user is unknown and patch.must_exist.
  upsert_outcome upsert(std::string_view user, const user_patch& patch);

  /// Returns the user's id, metadata and event count (known=false if unknown).
  user_record record(std::string_view user) const;

  /// Returns up to n users in slot order starting at slot `from` (0 = the
  /// first), with the slot to continue from. A user present during a whole
  /// listing is returned exactly once; users added or forgotten meanwhile may
  /// or may not be (slots are reused).
  user_page list(std::uint64_t from, std::size_t n) const;

  // -- feedback history (profile_store_feedback.cpp) --------------------------

  /// Returns the user's feedback records that pass `f`, oldest written
  /// first (empty for an unknown user).
  std::vector<feedback_record> feedback(std::string_view user, const feedback_filter& f) const;

  /// Returns up to n records that pass `f`, in slot order and within a user
  /// in write order, starting after write number `after_seq` of the user in
  /// slot `from_slot` (0, 0: from the start). Visits at most `max_users`
  /// slots (>= 1), so a call's cost is bounded by max_users plus their
  /// records, whatever matches; the page says where to continue. A record
  /// present for a whole listing and not overwritten meanwhile is listed
  /// exactly once (an overwritten one moves to its user's end: listed again
  /// or later); users added or forgotten meanwhile may or may not be.
  feedback_page list_feedback(std::uint64_t from_slot, std::uint32_t after_seq, std::size_t n,
                              const feedback_filter& f, std::size_t max_users) const;

  /// Deletes the user's records of d.item (of every type, or of d.type).
  /// Then, when no record of the item is left in the history, the item also
  /// leaves the user's recent window (it no longer seeds the user's
  /// recommendations) and seen set (it may be recommended to the user
  /// again). What the item side learnt from the user's events (co-occurrence,
  /// popularity) and the user's event count stay. Returns how many records
  /// were deleted (0 and no change for an unknown user or item).
  std::size_t delete_feedback(const feedback_delete& d);

  /// Feedback records held, over every user.
  std::uint64_t feedback_records() const noexcept { return feedback_records_; }

  /// Returns the profile of `user`, or nullptr.
  const user_profile* find(std::string_view user) const;
  /// Returns the id of the user whose key is `user`, or "" if none.
  std::string id_of(key_t user) const;
  /// Calls f(user key, entry) for every recent entry of every user, in no
  /// particular order (recovery rebuilds the item side's recent users).
  template <class F>
  void for_each_recent(F&& f) const {
    for (const auto& [uk, slot] : users_)
      for (const auto& r : profile_at(slot).recent)
        f(uk, r);
  }

  std::size_t users() const noexcept { return users_.size(); }
  std::uint64_t events_applied() const noexcept { return events_applied_; }
  /// Approximate heap bytes held (profiles, sets, dictionary).
  std::size_t memory_bytes() const noexcept;
  const model_config& config() const noexcept { return cfg_; }

  /// Appends a snapshot of the whole state to `out` (every profile with its
  /// recent list, seen items and counters, free slots, the item name
  /// dictionary, events_applied()); the config is not included. Columns
  /// in the codec of engine/binary_codec.hpp, in native byte order: read it
  /// back with load() of the same build. Throws only std::bad_alloc (`out` may
  /// then hold part of a snapshot). Defined in serialization.cpp.
  void save(std::string& out) const;

  /// Replaces the whole state with the snapshot `bytes` (exactly one save()
  /// output). The store must have been built with the config of the store
  /// that saved it; afterwards every query and every further event behaves
  /// exactly as on the saved store. Throws std::runtime_error naming the
  /// problem when `bytes` is empty, truncated, too long or malformed, and then
  /// leaves the store unchanged.
  void load(std::string_view bytes);

 private:
  reject_reason apply_keyed(const event& e, key_t uk, key_t ik, item_delta_batch& out);
  /// The record of profile `p` (whose user key is uk).
  user_record record_of(const user_profile& p, key_t uk) const;
  /// Applies event `e` (user key uk, item key ik; first_time: the item was
  /// not in the seen set before it) to the user's history.
  void record_feedback(user_profile& p, key_t uk, key_t ik, const event& e, bool first_time);
  /// Forgets the stored texts of entry `x` of user uk, if it has some.
  void drop_text(key_t uk, const feedback_entry& x);
  /// Appends the record of entry `x` of profile `p` (user key uk) to `out`.
  void add_record(const user_profile& p, key_t uk, const feedback_entry& x,
                  std::vector<feedback_record>& out) const;
  /// Adds the records of profile `p` (user key uk) from position `from`
  /// that pass `f` (item key fk) to `page`, up to n in all; returns false
  /// (page not done, next set) when it stopped because n were reached.
  bool page_user(const user_profile& p, std::uint64_t slot, std::size_t from,
                 const feedback_filter& f, key_t fk, std::size_t n, feedback_page& page) const;
  /// Adds an empty profile for `id` (key uk, which must be unused).
  absl::flat_hash_map<key_t, std::uint32_t>::iterator add_profile(key_t uk, std::string_view id);
  user_profile& profile_at(std::uint32_t slot) noexcept {
    return chunks_[slot >> chunk_bits][slot & (chunk_size - 1)];
  }
  const user_profile& profile_at(std::uint32_t slot) const noexcept {
    return chunks_[slot >> chunk_bits][slot & (chunk_size - 1)];
  }

  model_config cfg_;
  // Profiles live in fixed-size chunks (stable addresses: growing never moves
  // a profile, so there is no long stall); users_ maps a user key to its
  // slot, small enough that a lookup touches one cache line of the table.
  static constexpr std::uint32_t chunk_bits = 12;
  static constexpr std::uint32_t chunk_size = 1u << chunk_bits;
  std::vector<std::unique_ptr<user_profile[]>> chunks_;
  std::uint32_t slots_used_ = 0;
  std::vector<std::uint32_t> free_slots_;
  absl::flat_hash_map<key_t, std::uint32_t> users_;
  absl::flat_hash_map<key_t, std::string> item_names_;
  /// Metadata of the users that have any (user key -> metadata).
  absl::flat_hash_map<key_t, user_meta> meta_;
  /// The texts of the feedback entries that have them (has_text).
  struct text_key {
    key_t user = 0;
    key_t item = 0;
    event_type type = event_type::view;
    bool operator==(const text_key& o) const noexcept {
      return user == o.user && item == o.item && type == o.type;
    }
    template <class H>
    friend H AbslHashValue(H h, const text_key& k) {
      return H::combine(std::move(h), k.user, k.item, static_cast<std::uint8_t>(k.type));
    }
  };
  struct feedback_text {
    std::string timestamp_text;
    std::string comment;
  };
  absl::flat_hash_map<text_key, feedback_text> feedback_text_;
  std::uint64_t feedback_records_ = 0;
  std::uint64_t events_applied_ = 0;
};

/// Returns the scoring view of an anonymous session: a profile built from
/// `events` alone (in order, each already validated; their user ids are
/// ignored), exactly as a stored user with those events would have. Events
/// that a profile would refuse are skipped.
profile_view session_view(const model_config& cfg, const std::vector<event>& events);

}  // namespace rtrec::engine
