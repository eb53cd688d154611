#include "engine/map_agreement.hpp"

#include <algorithm>

namespace rtrec::engine {

map_promise on_prepare(map_acceptor& a, std::uint64_t epoch) {
  if (epoch < a.promised)
    return {false, a.promised, {}};
  a.promised = epoch;
  return {true, a.promised, a.accepted};
}

bool on_accept(map_acceptor& a, const cluster_map& m) {
  if (m.epoch < a.promised)
    return false;
  a.promised = m.epoch;
  a.accepted = m;
  return true;
}

std::uint64_t proposal_epoch(std::uint64_t above, std::uint32_t node) {
  constexpr std::uint64_t node_bits = 16;
  const std::uint64_t low = node & ((std::uint64_t{1} << node_bits) - 1);
  std::uint64_t round = above >> node_bits;
  std::uint64_t e = (round << node_bits) | low;
  if (e <= above)
    e = ((round + 1) << node_bits) | low;
  return e;
}

map_proposer::map_proposer(std::uint64_t epoch, std::size_t acceptors, change c)
  : epoch_(epoch),
    majority_(acceptors / 2 + 1),
    change_(std::move(c)),
    promised_(acceptors, false),
    accepted_(acceptors, false),
    highest_seen_(epoch) {}

std::optional<cluster_map> map_proposer::on_promise(std::uint32_t from, const map_promise& p) {
  if (!p.ok) {
    on_refused(p.promised);
    return std::nullopt;
  }
  if (from >= promised_.size() || promised_[from] || proposed_ || refused())
    return std::nullopt;
  promised_[from] = true;
  ++promises_;
  if (!newest_ || p.accepted.epoch > newest_->epoch)
    newest_ = p.accepted;
  if (promises_ < majority_)
    return std::nullopt;
  proposed_ = true;
  cluster_map m = change_(*newest_);
  m.parent = newest_->epoch;
  m.epoch = epoch_;
  return m;
}

bool map_proposer::on_accepted(std::uint32_t from) {
  if (from < accepted_.size() && !accepted_[from]) {
    accepted_[from] = true;
    ++accepts_;
  }
  return accepts_ >= majority_;
}

void map_proposer::on_refused(std::uint64_t promised) {
  highest_seen_ = std::max(highest_seen_, promised);
}

}  // namespace rtrec::engine
