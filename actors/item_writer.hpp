// The item writer actor: the one path for item metadata writes (set, patch,
// remove), so that they follow the same discipline as a profile shard's
// events: logged first, applied once the log says durable, acknowledged once
// applied. Every item shard holds every item's metadata, so a write goes to
// all of them. With a log, one that is unreachable gets it later by a
// resync; without one, it refuses the write whole (nothing logged or
// applied).
//
// One item writer per cluster writes: the **meta writer**, on the node that
// hosts item shard 0 (docs/replication.md, "Stage 1b"). Every other node's
// item writer forwards its writes to it (shard_unavailable while its node is
// down), so all writes are ordered by one log. The meta writer sends each
// as a meta_op numbered by its log record, checked for gaps by the item
// shards; an item shard that missed some asks it for a resync, answered from
// the log by a reader actor (actors/meta_resync.cpp). When an item shard's
// handle changes (its node came back) the meta writer sends it a marker, so
// it catches up without waiting for the next write.
//
// Writes start in arrival order (an op queue in the state) and are
// pipelined: a set or a remove is logged as soon as it arrives and sent to
// the item shards as soon as the log says durable, without waiting for the
// answers to the writes before it; log records become durable in seq order,
// so the shards get the operations in log order (and check it by seq). A
// patch (read, change, write) and a checkpoint's snapshots run alone: they
// wait until every write before them is answered and hold back the ones
// after them, so a patch reads what every earlier write left and the
// snapshots are taken between two writes.
//
//   op --all item shards reachable?--no--> shard_unavailable
//        | (update: read the item from a shard, apply the patch)
//        +--log (meta stream, seq)--durable--> to every item shard --> answer
//                                  \--failed--> shard_unavailable, nothing applied
#pragma once

#include <caf/all.hpp>

#include <deque>
#include <map>
#include <memory>
#include <variant>

#include "actors/request.hpp"
#include "actors/shard_router.hpp"
#include "actors/topology.hpp"
#include "messages/messages.hpp"

namespace rtrec {

struct item_writer_state {
  static inline const char* name = "rtrec.item_writer";
  struct set_op {
    engine::item_meta meta;
    caf::typed_response_promise<bool> rp;
  };
  struct update_op {
    std::string id;
    engine::item_patch patch;
    caf::typed_response_promise<engine::item_meta> rp;
  };
  struct remove_op {
    std::string id;
    caf::typed_response_promise<bool> rp;
  };
  struct snapshot_op {
    caf::typed_response_promise<item_snapshots> rp;
  };
  using op = std::variant<set_op, update_op, remove_op, snapshot_op>;

  shard_router router;  ///< item shards only
  /// The item shards this node hosts (null: another node's), as spawned:
  /// a checkpoint takes only theirs.
  std::vector<item_shard_actor> local;
  std::shared_ptr<storage::wal> wal;
  wall_clock_fn clock;
  /// Whether this is the meta writer (this node hosts item shard 0); if
  /// not, writes go to `forward_to`, the meta writer (null: unreachable).
  bool meta_writer = true;
  item_writer_actor forward_to;
  std::uint64_t meta_seq = 0;     ///< last item-metadata log seq assigned
  std::uint64_t meta_logged = 0;  ///< ... of those, the last one durable
  std::uint64_t meta_sent = 0;    ///< the last operation sent (the next one's prev)
  /// Per item shard, the handle the last operation or marker went to.
  std::vector<caf::actor_addr> told;
  /// The data directory (for resyncs read back from the log), and the
  /// resyncs being read: token -> the item shard's promise.
  storage::recovery_options data;
  std::map<std::uint64_t, caf::typed_response_promise<meta_resync_reply>> resyncs;
  std::uint64_t next_resync = 0;
  std::deque<op> queue;  ///< ops not started yet
  std::size_t running = 0;  ///< ops started and not answered
  bool alone = false;       ///< the running op is a patch or a snapshot
  bool starting = false;    ///< start_next() is on the stack
  /// Per log seq: what its op does once the record is durable (err empty)
  /// or failed.
  std::map<std::uint64_t, std::function<void(const std::string& err)>> on_logged;
  request_deadlines deadlines;
};

/// Behavior of the item writer over `items`, continuing the metadata log
/// stream after `meta_seq` (recovery's). It is the meta writer when it hosts
/// item shard 0 (items[0] not null).
item_writer_actor::behavior_type
item_writer(item_writer_actor::stateful_pointer<item_writer_state> self, topology_config cfg,
            std::vector<item_shard_actor> items, std::uint64_t meta_seq, topology_context ctx);

/// The meta writer's answer to an item shard's resync of the meta stream
/// after `from` (actors/meta_resync.cpp).
caf::result<meta_resync_reply>
start_meta_resync(item_writer_actor::stateful_pointer<item_writer_state> self, std::uint64_t from);
void finish_meta_resync(item_writer_actor::stateful_pointer<item_writer_state> self,
                        std::uint64_t token, meta_resync_reply& r, const std::string& err);

}  // namespace rtrec
