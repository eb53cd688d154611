// A profile shard's answer to an item shard that found a gap in its delta
// stream (docs/replication.md, "Stage 1: durable nodes"): a worker actor on
// its own thread re-derives the batches from the data directory while the
// shard goes on; the batches the shard sends meanwhile are kept and added to
// the answer, so the item shard ends up with the whole stream up to where the
// shard is.
#include <spdlog/spdlog.h>

#include "actors/profile_shard.hpp"
#include "actors/worker.hpp"
#include "storage/rederive.hpp"

namespace rtrec {

namespace {

using self_ptr = profile_shard_actor::stateful_pointer<profile_shard_state>;

// The re-derived batches of shard `index` as a stream starting after `from`.
resync_reply as_reply(std::vector<storage::rederived_batch> batches, std::uint32_t index,
                      std::uint64_t from, std::uint64_t upto) {
  resync_reply out;
  out.upto = upto;
  out.batches.reserve(batches.size());
  auto prev = from;
  for (auto& b : batches) {
    out.batches.push_back(delta_batch{std::move(b.delta), index, b.seq, 0, prev});
    prev = b.seq;
  }
  return out;
}

// Re-derives, sends the result to `shard` and quits.
void rederive_worker(caf::event_based_actor* self, profile_shard_actor shard,
                     storage::recovery_options opts, std::uint32_t index, std::uint64_t from,
                     std::uint64_t upto, std::uint64_t token) {
  resync_reply r;
  std::string err;
  try {
    r = as_reply(storage::rederive_deltas(opts, index, from, upto), index, from, upto);
  } catch (const std::exception& e) {
    err = e.what();
  }
  self->send(shard, resync_atom::value, token, std::move(r), std::move(err));
  self->quit();
}

}  // namespace

void retain_for_resyncs(profile_shard_state& st, const delta_batch& msg) {
  if (!st.resyncs.empty())
    st.resync_tail.push_back(msg);
}

caf::result<resync_reply> start_resync(self_ptr self, std::uint64_t from) {
  auto& st = self->state;
  if (st.data.data_dir.empty())
    return caf::make_error(error_code::shard_unavailable,
                           "profile shard " + std::to_string(st.index)
                             + " keeps no data directory, so it cannot re-derive the delta "
                               "batches an item shard missed; run the node with --data-dir");
  const auto upto = st.applied_seq;
  if (from >= upto)
    return resync_reply{{}, upto};
  const auto token = ++st.next_resync;
  auto rp = self->make_response_promise<resync_reply>();
  st.resyncs.emplace(token, profile_shard_state::resync_job{upto, rp});
  auto me = caf::actor_cast<profile_shard_actor>(self);
  spawn_worker(self, rederive_worker, me, st.data, st.index, from, upto, token);
  spdlog::info("profile shard {}: re-deriving delta batches ({}, {}] for a resync", st.index,
               from, upto);
  return rp;
}

void finish_resync(self_ptr self, std::uint64_t token, resync_reply& r, const std::string& err) {
  auto& st = self->state;
  auto it = st.resyncs.find(token);
  if (it == st.resyncs.end())
    return;
  auto job = std::move(it->second);
  st.resyncs.erase(it);
  if (!err.empty()) {
    job.rp.deliver(caf::make_error(error_code::shard_unavailable, err));
  } else {
    for (const auto& b : st.resync_tail)
      if (b.seq > job.upto)
        r.batches.push_back(b);
    r.upto = std::max(r.upto, st.applied_seq);  // every later record's batch is in the tail
    job.rp.deliver(std::move(r));
  }
  if (st.resyncs.empty())
    st.resync_tail.clear();
}

}  // namespace rtrec
