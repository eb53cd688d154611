// The meta writer's answer to an item shard that found a gap in the item
// metadata stream (docs/replication.md, "Stage 1b"): a reader actor on its
// own thread reads the operations back from the log while the writer goes
// on. Operations sent after the point read up to reach the item shard live;
// one it dropped meanwhile makes it ask again.
#include <spdlog/spdlog.h>

#include "actors/item_writer.hpp"
#include "actors/worker.hpp"
#include "storage/meta_log.hpp"

namespace rtrec {

namespace {

using self_ptr = item_writer_actor::stateful_pointer<item_writer_state>;

// The log's operations as the stream the item shard asked for (after `from`).
meta_resync_reply as_reply(std::vector<storage::meta_entry> entries, std::uint64_t from,
                           std::uint64_t upto) {
  meta_resync_reply out;
  out.upto = upto;
  out.ops.reserve(entries.size());
  auto prev = from;
  for (auto& e : entries) {
    meta_op op;
    op.kind = e.remove ? meta_op::remove : meta_op::set;
    op.meta = std::move(e.meta);
    op.id = std::move(e.id);
    op.seq = e.seq;
    op.prev = prev;
    prev = e.seq;
    out.ops.push_back(std::move(op));
  }
  return out;
}

// Reads the operations in (from, upto], sends them to `writer` and quits.
void meta_reader(caf::event_based_actor* self, item_writer_actor writer, std::string wal_dir,
                 std::uint64_t from, std::uint64_t upto, std::uint64_t token) {
  meta_resync_reply r;
  std::string err;
  try {
    r = as_reply(storage::read_meta_entries(wal_dir, from, upto), from, upto);
  } catch (const std::exception& e) {
    err = e.what();
  }
  self->send(writer, resync_atom::value, token, std::move(r), std::move(err));
  self->quit();
}

}  // namespace

caf::result<meta_resync_reply> start_meta_resync(self_ptr self, std::uint64_t from) {
  auto& st = self->state;
  if (!st.meta_writer)
    return caf::make_error(error_code::shard_unavailable,
                           "this node's item writer is not the meta writer (the node hosting "
                           "item shard 0 is); ask that one");
  if (st.data.data_dir.empty())
    return caf::make_error(error_code::shard_unavailable,
                           "the meta writer keeps no data directory, so it cannot resend the "
                           "item metadata an item shard missed; run the node with --data-dir");
  const auto upto = st.meta_logged;
  if (from >= upto)
    return meta_resync_reply{{}, upto};
  const auto token = ++st.next_resync;
  auto rp = self->make_response_promise<meta_resync_reply>();
  st.resyncs.emplace(token, rp);
  auto me = caf::actor_cast<item_writer_actor>(self);
  auto dir = storage::wal_dir(st.data.data_dir);
  spawn_worker(self, meta_reader, me, std::move(dir), from, upto, token);
  spdlog::info("item writer: reading item metadata operations ({}, {}] back for a resync", from,
               upto);
  return rp;
}

void finish_meta_resync(self_ptr self, std::uint64_t token, meta_resync_reply& r,
                        const std::string& err) {
  auto& st = self->state;
  auto it = st.resyncs.find(token);
  if (it == st.resyncs.end())
    return;
  auto rp = std::move(it->second);
  st.resyncs.erase(it);
  if (!err.empty())
    rp.deliver(caf::make_error(error_code::shard_unavailable, err));
  else
    rp.deliver(std::move(r));
}

}  // namespace rtrec
