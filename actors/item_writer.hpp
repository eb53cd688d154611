// The item writer actor: the one path for item metadata writes (set, patch,
// remove), so that they follow the same discipline as a profile shard's
// events: logged first, applied once the log says durable, acknowledged once
// applied. Every item shard holds every item's metadata, so a write goes to
// all of them; one that is unreachable refuses the write whole (nothing
// logged or applied).
//
// Writes run one at a time, in arrival order (an op queue in the state): a
// write waiting for the log or the shards holds back the next, so two
// writes to one item apply in the same order on every shard and in the log.
// A checkpoint's item snapshots are taken between two writes, so the meta
// seq it records is exactly what the snapshots include.
//
//   op --all item shards reachable?--no--> shard_unavailable
//        | (update: read the item from a shard, apply the patch)
//        +--log (meta stream, seq)--durable--> to every item shard --> answer
//                                  \--failed--> shard_unavailable, nothing applied
#pragma once

#include <caf/all.hpp>

#include <deque>
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
  std::uint64_t meta_seq = 0;  ///< last item-metadata log seq assigned
  std::deque<op> queue;        ///< front = the op running, if busy
  bool busy = false;
  /// What the running op does once its log record is durable (err empty)
  /// or failed.
  std::function<void(const std::string& err)> on_logged;
  request_deadlines deadlines;
};

/// Behavior of the item writer over `items`, continuing the metadata log
/// stream after `meta_seq` (recovery's).
item_writer_actor::behavior_type
item_writer(item_writer_actor::stateful_pointer<item_writer_state> self, topology_config cfg,
            std::vector<item_shard_actor> items, std::uint64_t meta_seq, topology_context ctx);

}  // namespace rtrec
