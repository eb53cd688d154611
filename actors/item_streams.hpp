// The streams an item shard follows (docs/replication.md, "Stage 1",
// "Stage 1b"): each profile shard's delta batches and the meta writer's
// item metadata operations, checked for gaps and caught up by resyncs, and
// the recent-user seeds asked once per remote stream. Internal to the item
// shard actor (actors/item_shard.cpp holds its queue and its answers;
// actors/item_streams.cpp the catching up); the resync answers and
// metadata operations take their turn in the shard's queue (drain()).
#pragma once

#include "actors/item_shard.hpp"

namespace rtrec::item_streams {

using self_ptr = item_shard_actor::stateful_pointer<item_shard_state>;

// -- in actors/item_shard.cpp ---------------------------------------------------

/// Works through the shard's queue (held) as far as it may now.
void drain(self_ptr self);
/// Applies a delta batch whole: counted, its stream advanced, its lag measured.
void apply_batch(item_shard_state& st, const delta_batch& x);

// -- in actors/item_streams.cpp -------------------------------------------------

/// Whether a resync or a seed is under way (a flush waits for them).
bool catching_up(const item_shard_state& st);
/// Answers the flushes held back by resyncs and seeds once none is under way.
void release_flushes(item_shard_state& st);
/// Answers a flush now, or once the resyncs and seeds under way are done.
void answer_flush(item_shard_state& st, caf::typed_response_promise<std::uint64_t>& rp);
/// Asks profile shard `source` (`sender`) for the delta batches after what
/// the shard has applied of its stream (once per gap and incarnation).
void ask_resync(self_ptr self, std::uint32_t source, const caf::strong_actor_ptr& sender);
/// Asks profile shard `source` (`sender`, on another node) once for its
/// users' recent entries of the shard's items.
void ask_seed(self_ptr self, std::uint32_t source, const caf::strong_actor_ptr& sender);
/// The batches a delta resync brought, applied in order.
void apply_resync(item_shard_state& st, std::uint32_t source, const resync_reply& r);
/// held.front(), a metadata operation: applied and answered, skipped as a
/// duplicate, or (a gap) kept waiting for the resync it asks for.
void take_meta_front(self_ptr self);
/// The operations a metadata resync brought, applied in order.
void apply_meta_resync(self_ptr self, const meta_resync_reply& r);

}  // namespace rtrec::item_streams
