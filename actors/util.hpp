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

}  // namespace rtrec
