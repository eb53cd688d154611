#include "engine/replica_log.hpp"

#include <algorithm>

namespace rtrec::engine {

namespace {

bool contains(const std::vector<std::uint32_t>& xs, std::uint32_t x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

}  // namespace

std::uint64_t replica_log::epoch_at(std::uint64_t seq) const noexcept {
  if (seq == base_)
    return base_epoch_;
  const auto* r = record_at(seq);
  return r == nullptr ? 0 : r->epoch;
}

const replica_record* replica_log::record_at(std::uint64_t seq) const noexcept {
  return seq <= base_ || seq > last_seq() ? nullptr : &records_[seq - base_ - 1];
}

std::uint64_t replica_log::seq_of(std::uint64_t id) const {
  if (id == 0)
    return 0;
  auto it = ids_.find(id);
  return it == ids_.end() ? 0 : it->second;
}

void replica_log::adopt(std::uint64_t epoch, const shard_replicas& shard) {
  if (epoch <= map_epoch_)
    return;
  map_ = shard;
  map_epoch_ = epoch;
  epoch_seen_ = std::max(epoch_seen_, epoch);
  // A join asked in an older epoch can no longer be applied. What it knows
  // of the others stays valid: only it changed its log since (forget());
  // but who is alive is asked again (joins go only to replicas that
  // answered under this map: one taken out as down would be counted in
  // sync and hold every write).
  pending_.clear();
  heard_.clear();
}

void replica_log::forget(std::uint64_t own_from) {
  match_.clear();
  next_.clear();
  heard_.clear();
  own_from_ = own_from;
  high_committed_ = 0;
}

bool replica_log::primary() const noexcept {
  return map_.primary == self_ && map_epoch_ == epoch_seen_ && map_epoch_ > restart_epoch_;
}

std::optional<std::uint64_t> replica_log::append(std::uint64_t id, std::string payload) {
  if (!primary())
    return std::nullopt;
  if (auto seq = seq_of(id); seq != 0)
    return seq;
  const auto seq = last_seq() + 1;
  records_.push_back({seq, map_epoch_, id, std::move(payload)});
  if (id != 0)
    ids_[id] = seq;
  return seq;
}

std::vector<std::pair<std::uint32_t, ship_request>>
replica_log::ships(std::size_t max_records) const {
  std::vector<std::pair<std::uint32_t, ship_request>> out;
  if (!primary())
    return out;
  for (auto r : map_.replicas) {
    if (r == self_)
      continue;
    auto it = next_.find(r);
    // Optimistic at first: after the last record; a refusal backs up.
    auto next = it == next_.end() ? last_seq() + 1 : it->second;
    ship_request s;
    s.epoch = map_epoch_;
    s.from = self_;
    s.committed = committed();
    if (next <= base_) {
      // It needs records released here: the checkpoint instead, then the rest.
      s.snapshot_seq = base_;
      s.ids = released_ids_;
      next = base_ + 1;
    }
    s.prev_seq = next - 1;
    s.prev_epoch = epoch_at(s.prev_seq);
    for (auto seq = next; seq <= last_seq() && s.records.size() < max_records; ++seq)
      s.records.push_back(*record_at(seq));
    out.emplace_back(r, std::move(s));
  }
  return out;
}

void replica_log::on_answer(const ship_answer& a) {
  if (a.epoch > epoch_seen_) {  // a newer primary exists: deposed
    epoch_seen_ = a.epoch;
    return;
  }
  if (!primary() || a.epoch != map_epoch_ || a.stale)
    return;
  if (a.ok) {
    heard_.insert(a.from);
    match_[a.from] = std::max(match_[a.from], a.match);
    auto& next = next_.try_emplace(a.from, last_seq() + 1).first->second;
    next = std::max(next, a.verified + 1);
  } else {
    auto& next = next_.try_emplace(a.from, last_seq() + 1).first->second;
    next = std::max<std::uint64_t>(1, std::min(next, a.last + 1));
  }
}

bool replica_log::counts(std::uint32_t r) const {
  return contains(map_.in_sync, r) || pending_.count(r) != 0;
}

std::uint64_t replica_log::committed() const {
  if (!primary())
    return 0;
  auto c = synced_;
  for (auto r : map_.replicas)
    if (r != self_ && counts(r))
      c = std::min(c, match_of(r));
  high_committed_ = std::max(high_committed_, c);
  return c;
}

std::uint64_t replica_log::must_hold() const {
  committed();
  // Records before own_from_ may have been acknowledged by an earlier
  // primary; its own, up to the highest seq it ever took as committed.
  return std::max(own_from_ - 1, high_committed_);
}

std::uint64_t replica_log::match_of(std::uint32_t r) const {
  auto it = match_.find(r);
  return it == match_.end() ? 0 : it->second;
}

std::vector<isr_request> replica_log::join_requests() {
  std::vector<isr_request> out;
  if (!primary())
    return out;
  const auto acked = must_hold();
  for (auto r : map_.replicas) {
    if (r == self_ || contains(map_.in_sync, r))
      continue;
    // Asked again while pending: a request may be lost. Only a replica
    // that answered under this map is known to be there (with an empty log
    // every replica "holds" it, and one taken out as down still matches;
    // counted in sync it would hold every write).
    if (pending_.count(r) != 0 || (heard_.count(r) != 0 && match_of(r) >= acked)) {
      pending_.insert(r);
      out.push_back({map_epoch_, self_, r, true});
    }
  }
  return out;
}

std::optional<isr_request> replica_log::leave_request(std::uint32_t r) const {
  if (!primary() || r == self_ || !contains(map_.in_sync, r))
    return std::nullopt;
  return isr_request{map_epoch_, self_, r, false};
}

ship_answer replica_log::on_ship(const ship_request& s) {
  ship_answer a;
  a.from = self_;
  if (s.epoch < epoch_seen_) {
    a.epoch = epoch_seen_;
    a.stale = true;
    return a;
  }
  epoch_seen_ = s.epoch;  // a primary of a higher epoch exists: not this one
  a.epoch = epoch_seen_;
  if (verified_epoch_ != s.epoch || leader_ != s.from) {
    leader_ = s.from;
    verified_epoch_ = s.epoch;
    verified_ = 0;
  }
  if (s.snapshot_seq > applied_) {
    install(s);
    a.installed = true;
  }
  // Log matching: the record before the ship's first must agree. One it
  // released does: it was applied, so committed, the same on every replica.
  if (s.prev_seq > base_ &&
      (s.prev_seq > last_seq() || epoch_at(s.prev_seq) != s.prev_epoch)) {
    a.last = std::max(base_, std::min(last_seq(), s.prev_seq - 1));
    return a;
  }
  bool changed = a.installed;
  for (const auto& r : s.records) {
    if (r.seq <= base_)
      continue;  // released here: the same committed record
    if (r.seq <= last_seq()) {
      if (epoch_at(r.seq) == r.epoch)
        continue;  // the same record
      truncate(r.seq - 1);
    }
    records_.push_back(r);
    if (r.id != 0)
      ids_[r.id] = r.seq;
    changed = true;
  }
  // Its log is another's now: what it knew as a primary no longer holds.
  if (changed)
    forget(last_seq() + 1);
  verified_ = std::max(verified_, s.prev_seq + s.records.size());
  verified_ = std::min(verified_, last_seq());
  // Its records up to here are the primary's, and committed there.
  commit_known_ = std::max(commit_known_, std::min(s.committed, verified_));
  a.ok = true;
  a.verified = verified_;
  a.match = std::min(synced_, verified_);
  return a;
}

std::optional<ship_answer> replica_log::after_sync() const {
  if (!leader_ || verified_epoch_ != epoch_seen_)
    return std::nullopt;
  ship_answer a;
  a.epoch = epoch_seen_;
  a.from = self_;
  a.ok = true;
  a.verified = verified_;
  a.match = std::min(synced_, verified_);
  return a;
}

void replica_log::install(const ship_request& s) {
  // Its records after the checkpoint's stay when it holds the checkpoint's
  // last record (the same seq and epoch: the same log up to there).
  const bool keep_tail =
    s.snapshot_seq <= last_seq() && epoch_at(s.snapshot_seq) == s.prev_epoch;
  if (!keep_tail && last_seq() > s.snapshot_seq)
    note_replaced(s.snapshot_seq);
  std::vector<replica_record> tail;
  if (keep_tail)
    tail.assign(records_.begin() + static_cast<std::ptrdiff_t>(s.snapshot_seq - base_),
                records_.end());
  records_ = std::move(tail);
  base_ = s.snapshot_seq;
  base_epoch_ = s.prev_epoch;
  released_ids_ = s.ids;
  rebuild_ids();
  synced_ = keep_tail ? std::max(synced_, base_) : base_;
  applied_ = base_;
  commit_known_ = std::max(commit_known_, base_);
}

void replica_log::release(std::uint64_t upto) {
  if (upto <= base_ || upto > applied_)
    return;
  base_epoch_ = epoch_at(upto);
  for (auto seq = base_ + 1; seq <= upto; ++seq)
    if (auto id = record_at(seq)->id; id != 0)
      released_ids_[id] = seq;
  records_.erase(records_.begin(), records_.begin() + static_cast<std::ptrdiff_t>(upto - base_));
  base_ = upto;
}

void replica_log::truncate(std::uint64_t keep) {
  keep = std::max(keep, base_);  // released records were applied: never replaced
  if (keep >= last_seq())
    return;
  note_replaced(keep);
  for (auto seq = keep + 1; seq <= last_seq(); ++seq)
    ids_.erase(record_at(seq)->id);
  records_.resize(keep - base_);
  synced_ = std::min(synced_, keep);
}

std::pair<std::uint64_t, std::uint64_t> replica_log::take_applicable() {
  if (primary())
    commit_known_ = std::max(commit_known_, committed());
  const auto from = applied_;
  applied_ = std::max(applied_, std::min(commit_known_, synced_));
  return {from, applied_};
}

void replica_log::sync(std::uint64_t upto) noexcept {
  synced_ = std::max(synced_, std::min(upto, last_seq()));
}

std::optional<std::uint64_t> replica_log::take_replaced() noexcept {
  auto r = replaced_;
  replaced_.reset();
  return r;
}

void replica_log::note_replaced(std::uint64_t keep) noexcept {
  replaced_ = replaced_ ? std::min(*replaced_, keep) : keep;
}

void replica_log::rebuild_ids() {
  ids_ = released_ids_;
  for (const auto& r : records_)
    if (r.id != 0)
      ids_[r.id] = r.seq;
}

replica_persisted replica_log::persisted() const {
  replica_persisted p;
  p.base = base_;
  p.base_epoch = base_epoch_;
  p.released_ids = released_ids_;
  p.records.assign(records_.begin(),
                   records_.begin() + static_cast<std::ptrdiff_t>(synced_ - base_));
  p.epoch_seen = epoch_seen_;
  p.commit_known = commit_known_;
  p.applied = applied_;
  return p;
}

void replica_log::restore(replica_persisted p) {
  const auto last = p.base + p.records.size();
  records_ = std::move(p.records);
  base_ = p.base;
  base_epoch_ = p.base_epoch;
  released_ids_ = std::move(p.released_ids);
  synced_ = last;
  epoch_seen_ = p.epoch_seen;
  for (const auto& r : records_)
    epoch_seen_ = std::max(epoch_seen_, r.epoch);
  restart_epoch_ = epoch_seen_;
  commit_known_ = std::max(base_, std::min(p.commit_known, last));
  applied_ = std::max(base_, std::min(p.applied, commit_known_));
  rebuild_ids();
  map_epoch_ = 0;
  map_ = {};
  pending_.clear();
  forget(last_seq() + 1);
  leader_.reset();
  verified_ = 0;
  verified_epoch_ = 0;
  replaced_.reset();
}

void replica_log::crash() { restore(persisted()); }

}  // namespace rtrec::engine
