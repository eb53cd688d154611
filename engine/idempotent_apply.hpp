// Applying a batch of events exactly once per event id: the step a profile
// shard runs for every logged batch, and recovery runs again for every
// replayed one (so both reach the same state).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/dedup_window.hpp"
#include "engine/profile_store.hpp"

namespace rtrec::engine {

/// What became of each event of a batch.
struct batch_outcome {
  /// Per event: none when applied or a duplicate, else why it was refused.
  std::vector<reject_reason> results;
  /// Per event: 1 when its id was already applied (acknowledged again, not
  /// applied a second time).
  std::vector<std::uint8_t> duplicate;
  std::size_t applied = 0;
  std::size_t duplicates = 0;
};

/// Applies `events` in order to `store`, except those whose non-empty id
/// `window` remembers or that repeat an id earlier in the same batch; then
/// remembers the ids of the applied events at `now_ms`. The item-side delta
/// of the applied events is appended to `delta`. Deterministic: the same
/// store, window, events and now_ms always give the same result.
void apply_idempotent(profile_store& store, dedup_window& window,
                      const std::vector<event>& events, std::int64_t now_ms, batch_outcome& out,
                      item_delta_batch& delta);

}  // namespace rtrec::engine
