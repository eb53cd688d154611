// The item shard actor: a thin wrapper over engine::item_model. Applies delta
// batches from every profile shard (in each sender's order), answers partial
// candidate scores, similar items, popularity and item metadata changes, and
// measures the item-side lag.
//
// Each profile shard's batches form a stream checked for gaps
// (engine::delta_streams): a duplicate is skipped, a gap makes the shard ask
// the sender for a resync (the batches after what it has, re-derived from
// the sender's data directory; docs/replication.md, "Stage 1"). The
// catching up lives in actors/item_streams.cpp.
//
// A delta batch is applied in slices of item_apply_slice events; between
// two slices the shard lets a waiting query in (a high-priority message,
// announced by the query lane's mark; without the lane after every slice),
// so no query waits behind a whole batch.
//
// It also keeps the recent users of the items it owns (engine::recent_users)
// and answers user-neighbor contributions. After it starts, it asks each
// profile shard on another node once for its users' recent entries (a
// seed): recovery rebuilt the lists from this node's profile shards only.
//
// Item metadata arrives from the meta writer as one more stream (meta_op),
// taking its turn in the same queue as the delta batches: never applied
// while a snapshot is serialized, and recorded in it (shard_snapshot's
// applied, entry profile_shards).
#pragma once

#include <caf/all.hpp>

#include <deque>
#include <map>
#include <memory>

#include "actors/query_lane.hpp"
#include "actors/request.hpp"
#include "engine/delta_stream.hpp"
#include "engine/histogram.hpp"
#include "engine/item_model.hpp"
#include "engine/recent_users.hpp"
#include "actors/topology.hpp"
#include "engine/scoring.hpp"
#include "messages/messages.hpp"

namespace rtrec {

struct item_shard_state {
  static inline const char* name = "rtrec.item_shard";
  std::shared_ptr<engine::item_model> model;  // shared with a snapshot's serializer thread
  /// The most recent users of the items this shard owns: derived state, not
  /// in snapshots (recovery rebuilds it from the profiles).
  engine::recent_users users{0};
  std::uint32_t index = 0;
  std::uint64_t batches = 0;
  std::uint64_t name_lookups = 0;
  /// Per profile shard: how far its delta stream is applied (snapshots
  /// record it so recovery replays exactly the rest), and resyncs asked.
  engine::delta_streams streams;
  std::uint64_t duplicates = 0;  ///< batches skipped as already applied
  std::uint64_t gaps = 0;        ///< batches dropped because earlier ones were missing
  std::uint64_t resyncs = 0;     ///< resyncs answered and applied
  std::uint64_t resync_failures = 0;
  /// Deadlines of the resyncs asked, and per stream the profile shard
  /// incarnation asked last and the token of that request.
  request_deadlines deadlines;
  std::map<std::uint32_t, std::pair<caf::actor_addr, std::uint64_t>> resync_asked;
  std::uint64_t next_resync = 0;
  /// The item metadata stream (docs/replication.md, "Stage 1b") is stream
  /// `meta_stream` (= the profile shard count) of `streams`: operations
  /// checked for gaps like delta batches, resynced from the meta writer.
  /// Operations dropped at a gap wait here, by seq, for the resync that
  /// brings them (answered then, or failed with it); meta_sender is the meta
  /// writer that sent the last one.
  std::uint32_t meta_stream = 0;
  std::vector<std::pair<std::uint64_t, caf::typed_response_promise<bool>>> meta_waiting;
  caf::strong_actor_ptr meta_sender;
  /// Item shards in all (shard_of's modulus), for the seeds asked.
  std::uint32_t count = 1;
  /// Per profile shard: whether its recent users were asked for (a seed,
  /// once per remote stream after this shard started; docs/replication.md,
  /// "Recent users come back by a seed"), and the seeds not answered yet.
  std::vector<bool> seeded;
  std::uint32_t seeds_pending = 0;
  /// Flushes that arrived while a resync or a seed was under way: answered
  /// once none is (a flush means "everything sent before is applied").
  std::vector<caf::typed_response_promise<std::uint64_t>> waiting_flushes;
  engine::histogram lag;
  /// A snapshot in progress: a thread serializes the model while the shard
  /// answers queries and holds back delta batches, metadata operations and
  /// flushes (released in order when it is done): the meta writer may be on
  /// another node, whose writes do not wait for this node's checkpoints.
  bool snapshotting = false;
  struct held_op {
    enum kind_t { delta, flush, resync, meta, meta_resync } kind = delta;
    delta_batch batch;
    caf::strong_actor_ptr sender;  ///< delta, meta: who to ask for a resync
    resync_reply reply;            ///< resync
    caf::typed_response_promise<std::uint64_t> rp;  ///< delta, flush
    meta_op op;                                     ///< meta
    caf::typed_response_promise<bool> meta_rp;      ///< meta
    meta_resync_reply meta_reply;                   ///< meta_resync
  };
  /// Delta batches, flushes and resync replies in arrival order, worked
  /// through `slice` events at a time; after a slice the turn ends if a
  /// query waits (a batch may span turns: an apply_atom to itself goes on
  /// behind the query), and nothing is applied during a snapshot.
  std::deque<held_op> held;
  std::size_t slice = 0;  ///< topology_config::item_apply_slice (0 = no limit)
  /// held.front() is a delta batch judged to apply, its events before
  /// `front_next` applied (a snapshot finishes it before it starts).
  bool front_started = false;
  std::size_t front_next = 0;
  bool apply_sent = false;  ///< an apply_atom to itself is on its way
  /// The scheduler's query lane (nullptr under another scheduler): tells
  /// whether a query waits for this shard.
  query_lane_coordinator* lane = nullptr;
  caf::typed_response_promise<shard_snapshot> snapshot_rp;
  std::uint64_t snapshot_pause_ns = 0;
};

/// Behavior of item shard `index` of `count` under `cfg` (starting from
/// ctx.recovered's model for this shard when there is one).
item_shard_actor::behavior_type
item_shard(item_shard_actor::stateful_pointer<item_shard_state> self, topology_config cfg,
           std::uint32_t index, std::uint32_t count, topology_context ctx);

}  // namespace rtrec
