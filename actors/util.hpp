// Small helpers shared by the actor wrappers and their clients.
#pragma once

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <vector>

#include "engine/model_types.hpp"
#include "messages/messages.hpp"

namespace rtrec {

/// Steady-clock time in nanoseconds (for lag measurement between actors).
inline std::int64_t steady_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(
           std::chrono::steady_clock::now().time_since_epoch())
    .count();
}

/// Unwraps a recommendations reply into its list (or passes the error on).
inline caf::expected<std::vector<engine::recommendation>>
items_of(caf::expected<recommendations> r) {
  if (!r)
    return std::move(r.error());
  return std::move(r->items);
}

/// Replaces `handles` by the directory's `ptrs` (cluster mode; a null entry
/// is a shard whose node is unreachable). A directory for another shard
/// count is refused with an error (nodes configured with different counts).
template <class Handle>
void update_handles(std::vector<Handle>& handles, const std::vector<caf::strong_actor_ptr>& ptrs,
                    const char* who, const char* what) {
  if (ptrs.size() != handles.size()) {
    spdlog::error("{}: directory lists {} {} shards, this node has {}; ignored (every node "
                  "must be configured with the same shard counts)",
                  who, ptrs.size(), what, handles.size());
    return;
  }
  for (std::size_t k = 0; k < ptrs.size(); ++k)
    handles[k] = caf::actor_cast<Handle>(ptrs[k]);
}

}  // namespace rtrec
