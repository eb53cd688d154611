// Choosing the cluster map by a majority (docs/replication.md, "The map is
// agreed by a majority"): Paxos with the map's epoch as the ballot.
//
//   proposer                          acceptor (every member)
//     prepare(e) ------------------->  on_prepare: promise e unless it
//                                      promised more; answer with the
//     <----------------- promise ----  newest map it accepted
//     majority promised: map = change(newest accepted map among them),
//     epoch e, parent = that map's epoch
//     accept(map) ------------------>  on_accept: accept unless it promised
//     <---------------- accepted ----  more than e (the acceptor persists
//     majority accepted: chosen        before it answers)
//
// At most one map is proposed per epoch (proposal_epoch() gives each member
// its own epochs), so at most one is chosen per epoch. A majority that chose
// map M and the majority a later proposer heard from share an acceptor,
// which accepted M (or a map derived from it) before it promised the later
// epoch: so every proposal derives from M, and the chosen maps form one
// chain by their parent epochs. A node acts on a map only once it is chosen.
//
// Plain C++17 state machines: no CAF, no I/O, no clock. The cluster actors
// carry the messages; tests/engine/map_agreement_test.cpp runs them through
// a seeded simulation with lost, repeated and reordered messages.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <vector>

#include "engine/cluster_map.hpp"

namespace rtrec::engine {

/// An acceptor's state; all of it is persisted before it answers.
struct map_acceptor {
  std::uint64_t promised = 0;  ///< no epoch below this is promised or accepted
  cluster_map accepted;        ///< the newest map it accepted

  template <class A>
  void fields(A& a) {
    a.value(promised);
    accepted.fields(a);
  }
};

/// An acceptor's answer to prepare(epoch).
struct map_promise {
  bool ok = false;
  std::uint64_t promised = 0;  ///< after the call: a refusal names the higher promise
  cluster_map accepted;        ///< the newest map it accepted (when ok)
};

/// prepare(epoch) at acceptor `a`: promises `epoch` unless it promised more.
map_promise on_prepare(map_acceptor& a, std::uint64_t epoch);

/// accept(m) at acceptor `a`: true if it accepted (m.epoch >= its promise;
/// a.accepted becomes m), false if it promised a higher epoch.
bool on_accept(map_acceptor& a, const cluster_map& m);

/// The smallest epoch above `above` that only member `node` proposes
/// (epochs carry the member index in their low 16 bits).
std::uint64_t proposal_epoch(std::uint64_t above, std::uint32_t node);

/// One proposal: from prepare to chosen (or refused: retry with
/// proposal_epoch(highest_seen(), node)).
class map_proposer {
 public:
  /// What the proposal changes, applied to the newest accepted map.
  using change = std::function<cluster_map(const cluster_map&)>;

  map_proposer(std::uint64_t epoch, std::size_t acceptors, change c);

  std::uint64_t epoch() const noexcept { return epoch_; }

  /// Acceptor `from` answered prepare. Returns the map to send in accept()
  /// once a majority promised (once; nullopt otherwise).
  std::optional<cluster_map> on_promise(std::uint32_t from, const map_promise& p);

  /// Acceptor `from` accepted this proposal's map; true once a majority has
  /// (the map is chosen; true again on later calls).
  bool on_accepted(std::uint32_t from);

  /// An acceptor refused (prepare or accept) because it promised `promised`.
  void on_refused(std::uint64_t promised);

  /// Whether an acceptor refused: this proposal cannot be chosen any more.
  bool refused() const noexcept { return highest_seen_ > epoch_; }
  /// The highest epoch an acceptor named.
  std::uint64_t highest_seen() const noexcept { return highest_seen_; }

 private:
  std::uint64_t epoch_;
  std::size_t majority_;
  change change_;
  std::vector<bool> promised_;
  std::vector<bool> accepted_;
  std::size_t promises_ = 0;
  std::size_t accepts_ = 0;
  bool proposed_ = false;
  std::optional<cluster_map> newest_;
  std::uint64_t highest_seen_ = 0;
};

}  // namespace rtrec::engine
