// A node's part in choosing the cluster map (docs/replication.md, "The map
// keeper"): its acceptor (stored in the data directory's CLUSTER file
// before it answers), its proposer while it is the controller (the lowest
// node index among itself and the peers it reaches), and its learner (a
// chosen map goes to the listeners). It carries engine/map_agreement.hpp
// over one-way messages and decides nothing else: the cluster manager tells
// it which peers it reaches, the listeners act on the maps.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "engine/map_agreement.hpp"
#include "messages/messages.hpp"

namespace rtrec {

struct map_keeper_config {
  std::uint32_t self = 0;  ///< this node's index in the map's members
  /// The map a cluster starts from (engine::initial_map of the configured
  /// nodes, shard counts and replication factor): chosen at epoch 1 when
  /// the data directory holds no CLUSTER file.
  engine::cluster_map initial;
  /// Where the CLUSTER file lives; empty = in memory only (tests, and
  /// nodes run without a data directory: such a node forgets its promises
  /// when it restarts, so it must come back with a new identity).
  std::string data_dir;
  bool sync = true;  ///< fsync the CLUSTER file before answering
  /// A proposal not chosen by then is given up and the next one starts.
  std::chrono::milliseconds proposal_timeout{1000};
  /// After a refusal, the next proposal waits this × (1 + self).
  std::chrono::milliseconds retry_backoff{50};
  /// A peer not reached since start is taken out as down only after this.
  std::chrono::milliseconds startup_grace{3000};
  /// Told (map_atom, map) of every newer chosen map (more subscribe with
  /// (map_atom, actor)).
  std::vector<caf::actor> listeners;
};

struct map_keeper_state {
  static inline const char* name = "rtrec.map_keeper";
  map_keeper_config cfg;
  engine::map_acceptor acceptor;
  engine::cluster_map chosen;  ///< epoch 0: none known yet
  /// Each node's keeper as reached now (null: not reached); self's entry is
  /// the route to itself, null = direct (tests route it through a lossy
  /// link, as the others).
  std::vector<caf::strong_actor_ptr> peers;
  std::vector<bool> reached_once;  ///< by node: reached since this keeper started
  bool grace_over = false;
  std::optional<engine::map_proposer> proposal;
  std::optional<engine::cluster_map> proposed;  ///< what the proposal sent in accept
  std::uint64_t seen = 0;  ///< the highest epoch any message named
  std::uint64_t retry_for = 0;  ///< waiting to retry after proposal `retry_for` was refused
  std::vector<isr_change> isr;  ///< held for the next proposal (controller only)
  std::uint64_t proposals = 0;  ///< started
};

/// Loads the acceptor from cfg.data_dir (or starts from cfg.initial) and
/// runs the keeper. Throws std::runtime_error before spawning when the
/// stored map does not fit cfg.initial (other members or shard counts) or
/// the CLUSTER file is damaged; the message names the file.
map_keeper_actor spawn_map_keeper(caf::actor_system& sys, map_keeper_config cfg);

/// The controller as seen from `st`: the lowest index it reaches (itself
/// included).
std::uint32_t controller_of(const map_keeper_state& st);

}  // namespace rtrec
