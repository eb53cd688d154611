#include "actors/shard_router.hpp"

#include <spdlog/spdlog.h>

#include "engine/config.hpp"
#include "engine/event.hpp"

namespace rtrec {

namespace {

template <class Handle>
caf::expected<Handle> pick(const std::vector<Handle>& handles, std::uint32_t s, const char* kind) {
  if (s < handles.size() && handles[s])
    return handles[s];
  return caf::make_error(error_code::shard_unavailable,
                         std::string{kind} + " shard " + std::to_string(s)
                           + (s < handles.size() ? " is on a node that is unreachable (see "
                                                   "/api/cluster); retry when it is back"
                                                 : " does not exist"));
}

// Replaces `handles` by the directory's `ptrs`, if the counts agree.
template <class Handle>
void take(std::vector<Handle>& handles, const std::vector<caf::strong_actor_ptr>& ptrs,
          const char* who, const char* kind) {
  if (handles.empty())
    return;  // this router does not route to that kind
  if (ptrs.size() != handles.size()) {
    spdlog::error("{}: directory lists {} {} shards, this node has {}; ignored (every node "
                  "must be configured with the same shard counts)",
                  who, ptrs.size(), kind, handles.size());
    return;
  }
  for (std::size_t k = 0; k < ptrs.size(); ++k)
    handles[k] = caf::actor_cast<Handle>(ptrs[k]);
}

}  // namespace

std::uint32_t shard_router::profile_index(std::string_view user) const noexcept {
  return profiles_.empty() ? 0 : engine::shard_of(engine::hash_id(user), profile_count());
}

std::uint32_t shard_router::item_index(std::string_view item) const noexcept {
  return items_.empty() ? 0 : engine::shard_of(engine::hash_id(item), item_count());
}

caf::expected<profile_shard_actor> shard_router::profile(std::uint32_t s) const {
  return pick(profiles_, s, "profile");
}

caf::expected<item_shard_actor> shard_router::item(std::uint32_t m) const {
  return pick(items_, m, "item");
}

caf::expected<std::vector<item_shard_actor>> shard_router::all_items() const {
  for (std::uint32_t m = 0; m < items_.size(); ++m)
    if (!items_[m])
      return caf::make_error(error_code::shard_unavailable,
                             "item shard " + std::to_string(m)
                               + " is on an unreachable node; item writes need every item "
                                 "shard (retry when the node is back)");
  if (items_.empty())
    return caf::make_error(error_code::shard_unavailable, "no item shards configured");
  return items_;
}

void shard_router::update(const shard_directory& d, const char* who) {
  take(profiles_, d.profiles, who, "profile");
  take(items_, d.items, who, "item");
}

}  // namespace rtrec
