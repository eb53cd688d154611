// shard_router: the one place that maps a user or an item to its shard and
// the shard to the handle that reaches it now. Knows nothing of what the
// shards do (Seastar's sharded<> / Redpanda's router split).
//
//   user  --hash_id, mod S--> profile shard s --handles--> handle, or
//   item  --hash_id, mod M--> item shard m    --handles--> shard_unavailable
//
// One process: every handle is set. Cluster mode: the cluster manager's
// directory (update()) replaces the handles; a null handle is a shard whose
// node is unreachable, and asking for it answers shard_unavailable naming the
// shard, at once.
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "messages/messages.hpp"

namespace rtrec {

class shard_router {
 public:
  shard_router() = default;
  shard_router(std::vector<profile_shard_actor> profiles, std::vector<item_shard_actor> items)
    : profiles_(std::move(profiles)), items_(std::move(items)) {}

  /// Index of the profile shard that owns `user` (0 with no shards).
  std::uint32_t profile_index(std::string_view user) const noexcept;
  /// Index of the item shard that owns `item`'s row (0 with no shards).
  std::uint32_t item_index(std::string_view item) const noexcept;

  /// The handle of profile shard `s`, or shard_unavailable naming it when
  /// there is none (its node is unreachable, or no such shard).
  caf::expected<profile_shard_actor> profile(std::uint32_t s) const;
  caf::expected<item_shard_actor> item(std::uint32_t m) const;
  /// The owners of `user` and of `item`.
  caf::expected<profile_shard_actor> profile_of(std::string_view user) const {
    return profile(profile_index(user));
  }
  caf::expected<item_shard_actor> item_of(std::string_view item) const {
    return this->item(item_index(item));
  }
  /// Every item shard's handle, or shard_unavailable naming the first that
  /// is unreachable (writes that must reach every item shard).
  caf::expected<std::vector<item_shard_actor>> all_items() const;

  /// All handles by shard index (null: unreachable).
  const std::vector<profile_shard_actor>& profiles() const noexcept { return profiles_; }
  const std::vector<item_shard_actor>& items() const noexcept { return items_; }
  std::uint32_t profile_count() const noexcept {
    return static_cast<std::uint32_t>(profiles_.size());
  }
  std::uint32_t item_count() const noexcept { return static_cast<std::uint32_t>(items_.size()); }

  /// Takes the handles of a cluster directory, for the kinds this router
  /// routes (a router built with no profile shards, like a profile shard's,
  /// ignores the directory's profile shards). A directory for other shard
  /// counts is refused (logged as an error naming `who`; nodes configured
  /// with different counts) and changes nothing.
  void update(const shard_directory& d, const char* who);

 private:
  std::vector<profile_shard_actor> profiles_;
  std::vector<item_shard_actor> items_;
};

}  // namespace rtrec
