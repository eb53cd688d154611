#include "engine/replica_journal.hpp"

#include <algorithm>

namespace rtrec::engine {

void replica_journal::issue(std::vector<journal_write>& out, const journal_write& w) {
  in_flight f;
  f.number = ++issued_;
  if (w.kind == journal_write::marker)
    f.keep = w.keep;
  if (w.kind == journal_write::state)
    f.epoch_seen = w.epoch_seen;
  f.stored = stored_;
  in_flight_.push_back(f);
  out.push_back(w);
}

std::vector<journal_write> replica_journal::changes(replica_log& log) {
  std::vector<journal_write> out;
  if (auto keep = log.take_replaced(); keep && *keep < high_) {
    // The stored records after keep are replaced: void them first.
    journal_write m;
    m.kind = journal_write::marker;
    m.keep = *keep;
    m.seq = high_;
    stored_ = std::min(stored_, *keep);
    issue(out, m);
  }
  // Records up to base() are in the checkpoint (the carrier stored it).
  stored_ = std::max(stored_, log.base());
  while (stored_ < log.last_seq()) {
    journal_write r;
    r.kind = journal_write::record;
    r.seq = ++stored_;
    high_ = std::max(high_, stored_);
    issue(out, r);
  }
  if (log.commit_known() > commit_ || log.epoch_seen() > epoch_) {
    commit_ = std::max(commit_, log.commit_known());
    epoch_ = std::max(epoch_, log.epoch_seen());
    journal_write s;
    s.kind = journal_write::state;
    s.commit = commit_;
    s.epoch_seen = epoch_;
    issue(out, s);
  }
  return out;
}

std::uint64_t replica_journal::durable(std::uint64_t n) {
  std::uint64_t stored = 0;
  bool any = false;
  while (!in_flight_.empty() && in_flight_.front().number <= n) {
    const auto& f = in_flight_.front();
    stored = f.stored;
    any = true;
    durable_epoch_ = std::max(durable_epoch_, f.epoch_seen);
    in_flight_.pop_front();
  }
  if (!any)
    return 0;
  // A marker still in flight replaced records after its keep: those the
  // store holds durably are the void ones, not the log's.
  for (const auto& f : in_flight_)
    stored = std::min(stored, f.keep);
  return stored;
}

bool replica_journal::ready(const replica_log& log) const noexcept {
  return log.primary() && durable_epoch_ >= log.map_epoch();
}

void replica_journal::restart(std::uint64_t written, std::uint64_t stored, std::uint64_t commit,
                              std::uint64_t epoch_seen) {
  in_flight_.clear();
  issued_ = written;
  stored_ = stored;
  high_ = std::max(high_, stored);
  commit_ = commit;
  epoch_ = epoch_seen;
  durable_epoch_ = epoch_seen;
}

}  // namespace rtrec::engine
