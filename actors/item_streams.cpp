// The streams an item shard follows and how it catches up on them
// (actors/item_streams.hpp).
#include "actors/item_streams.hpp"

#include <spdlog/spdlog.h>

namespace rtrec::item_streams {

namespace {

void on_resync(self_ptr self, std::uint32_t source, resync_reply& r);
void on_meta_resync(self_ptr self, meta_resync_reply& r);
void fail_meta_waiting(item_shard_state& st, const caf::error& err);

// Whether `token` is the resync of `source` still awaited (one asked of an
// earlier incarnation of the profile shard is abandoned).
bool awaited(const item_shard_state& st, std::uint32_t source, std::uint64_t token) {
  auto it = st.resync_asked.find(source);
  return st.streams.resyncing(source) && it != st.resync_asked.end()
         && it->second.second == token;
}

// Asks `to` (the sender of stream `source`: a profile shard, or the meta
// writer for the metadata stream) for what came after what this shard has
// applied of the stream, unless it is already asked. A resync asked of
// another incarnation (its node restarted meanwhile: a request to a dead
// node fails only at its deadline) is asked again here. `on_reply` gets the
// answer (Reply) while it is still awaited.
template <class Reply, class Handle, class OnReply>
void ask_stream_resync(self_ptr self, std::uint32_t source, const Handle& to, const char* what,
                       OnReply on_reply) {
  auto& st = self->state;
  if (!to)
    return;
  auto it = st.resync_asked.find(source);
  if (st.streams.resyncing(source) && it != st.resync_asked.end()
      && it->second.first == to.address())
    return;
  const auto token = ++st.next_resync;
  st.resync_asked[source] = {to.address(), token};
  st.streams.set_resyncing(source, true);
  const auto from = st.streams.applied(source);
  spdlog::info("item shard {}: the {} stream has a gap after seq {}; asking its sender for a "
               "resync", st.index, what, from);
  timed_request<Reply>(
    self, st.deadlines, to,
    [self, source, token, on_reply](Reply& r) mutable {
      if (awaited(self->state, source, token))
        on_reply(r);
    },
    [self, source, token, what](caf::error& err) {
      auto& s = self->state;
      if (!awaited(s, source, token))
        return;
      s.streams.set_resyncing(source, false);
      ++s.resync_failures;
      spdlog::warn("item shard {}: resync of the {} stream failed: {}; asked again at its next "
                   "message", s.index, what, self->system().render(err));
      if (source == s.meta_stream)
        fail_meta_waiting(s, err);
      release_flushes(s);
    },
    resync_atom::value, from);
}

// Asks the meta writer (`sender`) for the metadata operations after what
// this shard has applied.
void ask_meta_resync(self_ptr self, const caf::strong_actor_ptr& sender) {
  auto writer = caf::actor_cast<item_writer_actor>(sender);
  ask_stream_resync<meta_resync_reply>(self, self->state.meta_stream, writer, "item metadata",
                                       [self](meta_resync_reply& r) { on_meta_resync(self, r); });
}

// Applies a metadata operation to the model; what the model says.
bool apply_meta_op(item_shard_state& st, const meta_op& x) {
  switch (x.kind) {
    case meta_op::set:
      return st.model->set_meta(x.meta);
    case meta_op::remove:
      return st.model->remove(x.id);
    default:
      return true;  // a marker
  }
}

// Answers the operations waiting for a resync that failed.
void fail_meta_waiting(item_shard_state& st, const caf::error& err) {
  auto waiting = std::move(st.meta_waiting);
  st.meta_waiting.clear();
  for (auto& w : waiting)
    w.second.deliver(err);
}

// A metadata resync's answer, in turn behind what the shard holds.
void on_meta_resync(self_ptr self, meta_resync_reply& r) {
  // In turn behind what is held: a delta batch may be half applied, and no
  // operation is applied while a snapshot is serialized.
  item_shard_state::held_op op;
  op.kind = item_shard_state::held_op::meta_resync;
  op.meta_reply = std::move(r);
  self->state.held.push_back(std::move(op));
  drain(self);
}

// A delta resync's answer, in turn behind what the shard holds.
void on_resync(self_ptr self, std::uint32_t source, resync_reply& r) {
  // In turn behind the batches held: one of them may be half applied.
  item_shard_state::held_op op;
  op.kind = item_shard_state::held_op::resync;
  op.batch.source = source;
  op.reply = std::move(r);
  self->state.held.push_back(std::move(op));
  drain(self);
}

}  // namespace

// Whether a resync or a seed is under way (a flush waits for them).
bool catching_up(const item_shard_state& st) {
  return st.streams.any_resyncing() || st.seeds_pending > 0;
}

// Answers the flushes held back by resyncs and seeds once none is under way.
void release_flushes(item_shard_state& st) {
  if (catching_up(st))
    return;
  auto waiting = std::move(st.waiting_flushes);
  st.waiting_flushes.clear();
  for (auto& rp : waiting)
    rp.deliver(st.batches);
}

// Answers a flush now, or once the resyncs and seeds under way are done.
void answer_flush(item_shard_state& st, caf::typed_response_promise<std::uint64_t>& rp) {
  if (catching_up(st))
    st.waiting_flushes.push_back(rp);
  else
    rp.deliver(st.batches);
}

// Asks profile shard `source` (`sender`) for the delta batches after what
// this shard has applied of its stream.
void ask_resync(self_ptr self, std::uint32_t source, const caf::strong_actor_ptr& sender) {
  auto shard = caf::actor_cast<profile_shard_actor>(sender);
  ask_stream_resync<resync_reply>(self, source, shard, "delta",
                                  [self, source](resync_reply& r) { on_resync(self, source, r); });
}

// Asks profile shard `source` (`sender`, on another node) for its users'
// entries of this shard's items, once after this shard started (the
// lists are derived state: recovery rebuilt them from this node's profile
// shards only). A failed seed is asked again at the stream's next batch.
void ask_seed(self_ptr self, std::uint32_t source, const caf::strong_actor_ptr& sender) {
  auto& st = self->state;
  if (source < st.seeded.size() && st.seeded[source])
    return;
  if (source >= st.seeded.size())
    st.seeded.resize(source + 1, false);
  auto shard = caf::actor_cast<profile_shard_actor>(sender);
  if (!shard || st.users.k() == 0 || shard.node() == self->node()) {
    st.seeded[source] = shard != nullptr;  // a local shard: recovery covered it
    return;
  }
  st.seeded[source] = true;
  ++st.seeds_pending;
  timed_request<engine::item_delta_batch>(
    self, st.deadlines, shard,
    [self, source](engine::item_delta_batch& seed) {
      auto& s = self->state;
      const auto& model = *s.model;
      s.users.apply(seed, [&model](engine::key_t item) { return model.owns(item); });
      --s.seeds_pending;
      spdlog::info("item shard {}: profile shard {} seeded {} recent-user entries", s.index,
                   source, seed.size());
      release_flushes(s);
    },
    [self, source](caf::error& err) {
      auto& s = self->state;
      s.seeded[source] = false;
      --s.seeds_pending;
      spdlog::warn("item shard {}: the recent users of profile shard {} could not be fetched: "
                   "{}; asked again at its next delta batch", s.index, source,
                   self->system().render(err));
      release_flushes(s);
    },
    seed_atom::value, st.index, st.count);
}

// held.front(), a metadata operation, applied and answered, or (a gap)
// kept waiting for the resync it asks for; a duplicate answers true.
void take_meta_front(self_ptr self) {
  auto& st = self->state;
  auto op = std::move(st.held.front());
  st.held.pop_front();
  const auto& x = op.op;
  if (x.seq == 0) {  // a writer without a log: no stream to check
    op.meta_rp.deliver(apply_meta_op(st, x));
    return;
  }
  st.meta_sender = op.sender;
  switch (st.streams.judge(st.meta_stream, x.prev, x.seq)) {
    case engine::delta_verdict::apply:
      st.streams.advance(st.meta_stream, x.seq);
      op.meta_rp.deliver(apply_meta_op(st, x));
      return;
    case engine::delta_verdict::duplicate:
      if (x.kind != meta_op::marker)
        ++st.duplicates;
      op.meta_rp.deliver(true);
      return;
    case engine::delta_verdict::gap:
      ++st.gaps;
      st.meta_waiting.emplace_back(x.seq, op.meta_rp);
      ask_meta_resync(self, op.sender);
      return;
  }
}

// The operations a resync of the metadata stream brought, applied in order
// (those applied meanwhile are skipped); the stream is then applied up to
// r.upto. Waiting operations it covers are answered; if some lie beyond
// (sent while it was read), the stream is asked again.
void apply_meta_resync(self_ptr self, const meta_resync_reply& r) {
  auto& st = self->state;
  const auto s = st.meta_stream;
  for (const auto& x : r.ops)
    if (x.seq > st.streams.applied(s)) {
      apply_meta_op(st, x);
      st.streams.advance(s, x.seq);
    }
  st.streams.advance(s, r.upto);
  st.streams.set_resyncing(s, false);
  ++st.resyncs;
  spdlog::info("item shard {}: resync of the item metadata stream applied {} operations; it is "
               "applied up to seq {}", st.index, r.ops.size(), st.streams.applied(s));
  auto waiting = std::move(st.meta_waiting);
  st.meta_waiting.clear();
  for (auto& w : waiting)
    if (w.first <= st.streams.applied(s))
      w.second.deliver(true);
    else
      st.meta_waiting.push_back(std::move(w));
  if (!st.meta_waiting.empty())
    ask_meta_resync(self, st.meta_sender);
  release_flushes(st);
}

// The batches a resync brought, applied in order (those applied meanwhile
// are skipped); the stream is then applied up to r.upto.
void apply_resync(item_shard_state& st, std::uint32_t source, const resync_reply& r) {
  for (const auto& b : r.batches)
    if (b.seq > st.streams.applied(source))
      apply_batch(st, b);
  st.streams.advance(source, r.upto);
  st.streams.set_resyncing(source, false);
  ++st.resyncs;
  spdlog::info("item shard {}: resync of profile shard {} applied {} batches; its stream is "
               "applied up to seq {}", st.index, source, r.batches.size(), r.upto);
  release_flushes(st);
}

}  // namespace rtrec::item_streams
