// One record of a profile shard's log stream applied to that shard's state,
// the way the live shard applied it: the step recovery replays and a resync
// re-derives delta batches with (storage/rederive.hpp).
#pragma once

#include <cstddef>

#include "engine/dedup_window.hpp"
#include "engine/idempotent_apply.hpp"
#include "engine/profile_store.hpp"
#include "storage/wal.hpp"

namespace rtrec::storage {

/// Applies record `r` (events, forget_user, user_upsert or feedback_delete)
/// to `store` and `window`. The item delta of its events replaces `delta`'s contents
/// (empty for the other kinds); `outcome` is scratch. Returns the events
/// applied. Throws std::runtime_error for a kind that does not belong on a
/// profile shard's stream, and storage::corrupt for a payload that does
/// not decode.
std::size_t apply_profile_record(const log_record& r, engine::profile_store& store,
                                 engine::dedup_window& window, engine::batch_outcome& outcome,
                                 engine::item_delta_batch& delta);

}  // namespace rtrec::storage
