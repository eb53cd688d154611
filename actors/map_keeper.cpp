#include "actors/map_keeper.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <stdexcept>

#include "storage/map_store.hpp"

namespace rtrec {

namespace {

using self_ptr = caf::stateful_actor<map_keeper_state, map_keeper_actor::base>*;

bool reached(const map_keeper_state& st, std::uint32_t n) {
  return n == st.cfg.self || (n < st.peers.size() && st.peers[n]);
}

std::size_t members(const map_keeper_state& st) {
  return st.cfg.initial.members.size();
}

// "" when `m` is a map of the cluster `want` is the first map of (the same
// members, shard counts and replica sets, and valid), else what is wrong.
std::string misfit(const engine::cluster_map& want, const engine::cluster_map& m) {
  if (!(m.members == want.members) || m.profiles.size() != want.profiles.size()
      || m.items.size() != want.items.size())
    return "it has " + std::to_string(m.members.size()) + " members, "
           + std::to_string(m.profiles.size()) + " profile and " + std::to_string(m.items.size())
           + " item shards; this node is configured with " + std::to_string(want.members.size())
           + " members, " + std::to_string(want.profiles.size()) + " and "
           + std::to_string(want.items.size());
  // Replica sets change only with membership (not built): another set is
  // another replication factor.
  for (auto kind : {engine::shard_kind::profile, engine::shard_kind::item})
    for (std::size_t s = 0; s < m.shards(kind).size(); ++s)
      if (m.shards(kind)[s].replicas != want.shards(kind)[s].replicas)
        return std::string{kind == engine::shard_kind::profile ? "profile" : "item"} + " shard "
               + std::to_string(s) + " has " + std::to_string(m.shards(kind)[s].replicas.size())
               + " copies where this node is configured with "
               + std::to_string(want.shards(kind)[s].replicas.size())
               + " (another replication factor?)";
  return engine::check_map(m);
}

// Sends a message to node n's keeper when reached (to itself for its own
// index: directly, unless a route to itself was given).
template <class... Ts>
void send_to(self_ptr self, std::uint32_t n, Ts&&... xs) {
  auto& st = self->state;
  if (n == st.cfg.self && !st.peers[n])
    self->send(caf::actor_cast<map_keeper_actor>(self), std::forward<Ts>(xs)...);
  else if (n < st.peers.size() && st.peers[n])
    self->send(caf::actor_cast<map_keeper_actor>(st.peers[n]), std::forward<Ts>(xs)...);
}

// An acceptor's answer: to the keeper of node `to` as reached, else to the
// sender (a peer that reached this node before it was told of the peer).
template <class Message>
void reply(self_ptr self, std::uint32_t to, Message msg) {
  if (reached(self->state, to))
    send_to(self, to, std::move(msg));
  else if (auto sender = self->current_sender())
    self->send(caf::actor_cast<map_keeper_actor>(sender), std::move(msg));
}

// Stores `next` as the acceptor before it answers; false (logged)
// when the CLUSTER file cannot be written: then it does not answer.
bool store(self_ptr self, const engine::map_acceptor& next) {
  auto& st = self->state;
  if (st.cfg.data_dir.empty())
    return true;
  try {
    storage::store_acceptor(st.cfg.data_dir, next, st.cfg.sync);
    return true;
  } catch (const std::exception& e) {
    spdlog::error("cluster map: node {} cannot store its promise ({}); it takes no part in "
                  "choosing maps until it can (free disk space or fix the data directory)",
                  st.cfg.self, e.what());
    return false;
  }
}

// The map the controller wants, derived from `base`: members it does not
// reach taken out (after the startup grace for one never reached), members
// it reaches back in, then the in-sync changes that still apply.
engine::cluster_map wanted(const map_keeper_state& st, const engine::cluster_map& base,
                           const std::vector<isr_change>& isr) {
  auto m = base;
  for (std::uint32_t n = 0; n < m.members.size(); ++n) {
    const bool up = reached(st, n);
    if (up && m.down[n] != 0)
      m = engine::node_up(std::move(m), n);
    else if (!up && m.down[n] == 0 && (st.reached_once[n] || st.grace_over))
      m = engine::node_down(std::move(m), n);
  }
  for (const auto& c : isr) {
    if (c.kind > static_cast<std::uint8_t>(engine::shard_kind::item))
      continue;
    const auto kind = static_cast<engine::shard_kind>(c.kind);
    const auto& r = c.request;
    if (r.epoch != base.epoch || c.shard >= m.shards(kind).size()
        || base.shards(kind)[c.shard].primary != r.from
        || m.shards(kind)[c.shard].primary != r.from)
      continue;  // the primary asks again under the newer map
    m = r.join ? engine::caught_up(std::move(m), kind, c.shard, r.replica)
               : engine::fell_behind(std::move(m), kind, c.shard, r.replica);
  }
  return m;
}

bool needs_proposal(map_keeper_state& st) {
  if (st.chosen.epoch == 0 || st.acceptor.accepted.epoch > st.chosen.epoch)
    return true;
  st.isr.erase(std::remove_if(st.isr.begin(), st.isr.end(),
                              [&](const isr_change& c) { return c.request.epoch < st.chosen.epoch; }),
               st.isr.end());
  auto want = wanted(st, st.chosen, st.isr);
  want.epoch = st.chosen.epoch;
  want.parent = st.chosen.parent;
  return !(want == st.chosen);
}

void maybe_propose(self_ptr self);

// Takes a chosen map newer than the one it knows and tells the listeners.
void learn(self_ptr self, const engine::cluster_map& m) {
  auto& st = self->state;
  st.seen = std::max(st.seen, m.epoch);
  if (m.epoch <= st.chosen.epoch)
    return;
  st.chosen = m;
  spdlog::info("cluster map: node {} learned map {} (derived from {})", st.cfg.self, m.epoch,
               m.parent);
  for (auto& l : st.cfg.listeners)
    caf::anon_send(l, map_atom::value, m);
  maybe_propose(self);
}

// Ends the running proposal; after a refusal the next waits its backoff.
void give_up(self_ptr self, bool refused) {
  auto& st = self->state;
  const auto e = st.proposal->epoch();
  st.seen = std::max(st.seen, st.proposal->highest_seen());
  st.proposal.reset();
  st.proposed.reset();
  if (!refused)
    return;
  st.retry_for = e;
  const auto wait = st.cfg.retry_backoff * (1 + st.cfg.self);
  spdlog::debug("cluster map: node {}'s proposal {} was refused (epoch {} seen); retrying in "
                "{} ms",
                st.cfg.self, e, st.seen, wait.count());
  self->delayed_send(self, wait, tick_atom::value, e);
}

void maybe_propose(self_ptr self) {
  auto& st = self->state;
  if (st.proposal || st.retry_for != 0 || controller_of(st) != st.cfg.self)
    return;
  std::size_t reachable = 0;
  for (std::uint32_t n = 0; n < members(st); ++n)
    reachable += reached(st, n) ? 1 : 0;
  if (reachable < members(st) / 2 + 1 || !needs_proposal(st))
    return;
  const auto e = engine::proposal_epoch(std::max(st.seen, st.acceptor.promised), st.cfg.self);
  st.seen = e;
  // The in-sync changes held go with this proposal (lost if it fails: the
  // primaries ask again).
  st.proposal.emplace(e, members(st),
                      [self, isr = std::move(st.isr)](const engine::cluster_map& newest) {
                        return wanted(self->state, newest, isr);
                      });
  st.isr.clear();
  ++st.proposals;
  for (std::uint32_t n = 0; n < members(st); ++n)
    send_to(self, n, map_prepare{st.cfg.self, e});
  self->delayed_send(self, st.cfg.proposal_timeout, tick_atom::value, e);
}

// -- the acceptor -------------------------------------------------------------

void on_prepare(self_ptr self, const map_prepare& m) {
  auto& st = self->state;
  st.seen = std::max(st.seen, m.epoch);
  auto next = st.acceptor;
  auto promise = engine::on_prepare(next, m.epoch);
  if (next.promised != st.acceptor.promised && !store(self, next))
    return;
  st.acceptor = std::move(next);
  reply(self, m.from, map_promised{st.cfg.self, m.epoch, std::move(promise)});
}

void on_accept(self_ptr self, const map_accept& m) {
  auto& st = self->state;
  if (auto why = misfit(st.cfg.initial, m.map); !why.empty()) {
    spdlog::error("cluster map: node {} refused map {} from node {}: {}", st.cfg.self, m.map.epoch,
                  m.from, why);
    return;
  }
  st.seen = std::max(st.seen, m.map.epoch);
  auto next = st.acceptor;
  if (engine::on_accept(next, m.map)) {
    if (!store(self, next))
      return;
    st.acceptor = std::move(next);
  }
  reply(self, m.from, map_accepted{st.cfg.self, m.map.epoch, st.acceptor.promised});
}

// -- the proposer ---------------------------------------------------------------

void on_promised(self_ptr self, const map_promised& m) {
  auto& st = self->state;
  st.seen = std::max(st.seen, m.promise.promised);
  if (!st.proposal || st.proposal->epoch() != m.epoch)
    return;
  auto out = st.proposal->on_promise(m.from, m.promise);
  if (st.proposal->refused()) {
    give_up(self, true);
    return;
  }
  if (!out)
    return;
  if (auto why = engine::check_map(*out); !why.empty()) {
    spdlog::error("cluster map: node {} derived an invalid map ({}); giving the proposal up",
                  st.cfg.self, why);
    give_up(self, true);
    return;
  }
  st.proposed = *out;
  for (std::uint32_t n = 0; n < members(st); ++n)
    send_to(self, n, map_accept{st.cfg.self, *out});
}

void on_accepted(self_ptr self, const map_accepted& m) {
  auto& st = self->state;
  st.seen = std::max(st.seen, m.promised);
  if (!st.proposal || !st.proposed || st.proposal->epoch() != m.epoch)
    return;
  if (m.promised != m.epoch) {
    st.proposal->on_refused(m.promised);
    give_up(self, true);
    return;
  }
  if (!st.proposal->on_accepted(m.from))
    return;
  auto map = std::move(*st.proposed);
  st.proposal.reset();
  st.proposed.reset();
  for (std::uint32_t n = 0; n < members(st); ++n)
    if (n != st.cfg.self)
      send_to(self, n, map_atom::value, map);
  learn(self, map);
  maybe_propose(self);  // more may have changed meanwhile
}

map_keeper_actor::behavior_type keeper(self_ptr self, map_keeper_config cfg,
                                       engine::map_acceptor acceptor,
                                       engine::cluster_map chosen) {
  auto& st = self->state;
  const auto n = cfg.initial.members.size();
  st.cfg = std::move(cfg);
  st.acceptor = std::move(acceptor);
  st.peers.resize(n);
  st.reached_once.assign(n, false);
  st.seen = st.acceptor.promised;
  if (chosen.epoch != 0)
    learn(self, chosen);
  self->delayed_send(self, st.cfg.startup_grace, tick_atom::value, std::uint64_t{0});
  return {
    [=](map_prepare& m) { on_prepare(self, m); },
    [=](map_accept& m) { on_accept(self, m); },
    [=](map_promised& m) { on_promised(self, m); },
    [=](map_accepted& m) { on_accepted(self, m); },
    [=](map_atom, engine::cluster_map& m) {
      if (auto why = misfit(self->state.cfg.initial, m); !why.empty()) {
        spdlog::error("cluster map: node {} ignored published map {}: {}", self->state.cfg.self,
                      m.epoch, why);
        return;
      }
      learn(self, m);
    },
    [=](map_atom) { return self->state.chosen; },
    [=](map_atom, caf::actor& listener) {
      auto& st = self->state;
      if (st.chosen.epoch != 0)
        caf::anon_send(listener, map_atom::value, st.chosen);
      st.cfg.listeners.push_back(std::move(listener));
    },
    [=](node_atom, std::uint32_t n, caf::strong_actor_ptr& keeper) {
      auto& st = self->state;
      if (n >= st.peers.size())
        return;
      st.peers[n] = std::move(keeper);
      if (n == st.cfg.self)
        return;  // the route to itself (direct when null)
      if (st.peers[n]) {
        st.reached_once[n] = true;
        // A node that was away learns the chosen map (and one that knows
        // an older map than this node learns it too: a restarted
        // controller).
        if (st.chosen.epoch != 0)
          send_to(self, n, map_atom::value, st.chosen);
      }
      maybe_propose(self);
    },
    [=](isr_change& c) {
      auto& st = self->state;
      const auto ctl = controller_of(st);
      if (ctl != st.cfg.self) {
        send_to(self, ctl, std::move(c));  // a lower index: no forwarding loop
        return;
      }
      st.isr.push_back(std::move(c));
      maybe_propose(self);
    },
    [=](tick_atom, std::uint64_t e) {
      auto& st = self->state;
      if (e == 0) {
        // The startup grace is over; from now on this tick comes every
        // proposal_timeout, and the controller publishes its chosen map
        // again (a keeper that missed it learns it).
        st.grace_over = true;
        if (controller_of(st) == st.cfg.self && st.chosen.epoch != 0)
          for (std::uint32_t n = 0; n < members(st); ++n)
            if (n != st.cfg.self)
              send_to(self, n, map_atom::value, st.chosen);
        self->delayed_send(self, st.cfg.proposal_timeout, tick_atom::value, std::uint64_t{0});
      } else if (st.proposal && st.proposal->epoch() == e) {
        spdlog::debug("cluster map: node {}'s proposal {} was not chosen within {} ms",
                      st.cfg.self, e, st.cfg.proposal_timeout.count());
        give_up(self, false);
      } else if (st.retry_for == e) {
        st.retry_for = 0;
      } else {
        return;
      }
      maybe_propose(self);
    },
  };
}

}  // namespace

std::uint32_t controller_of(const map_keeper_state& st) {
  for (std::uint32_t n = 0; n < st.cfg.self; ++n)
    if (n < st.peers.size() && st.peers[n])
      return n;
  return st.cfg.self;
}

map_keeper_actor spawn_map_keeper(caf::actor_system& sys, map_keeper_config cfg) {
  if (auto why = engine::check_map(cfg.initial); !why.empty() || cfg.initial.epoch == 0)
    throw std::invalid_argument("cluster map: the initial map is invalid: " + why);
  if (cfg.self >= cfg.initial.members.size())
    throw std::invalid_argument("cluster map: node " + std::to_string(cfg.self) + " is not among "
                                + std::to_string(cfg.initial.members.size()) + " members");
  engine::map_acceptor acceptor;
  acceptor.accepted = cfg.initial;
  acceptor.promised = cfg.initial.epoch;
  engine::cluster_map chosen = cfg.initial;  // every node computes it alike
  if (!cfg.data_dir.empty()) {
    if (auto stored = storage::load_acceptor(cfg.data_dir)) {
      if (auto why = misfit(cfg.initial, stored->accepted); !why.empty())
        throw std::runtime_error(storage::cluster_file_path(cfg.data_dir)
                                 + ": the stored cluster map does not fit this node's "
                                   "configuration ("
                                 + why
                                 + "); start the node with the node list and shard counts it "
                                   "was created with (membership changes are not supported yet)");
      acceptor = std::move(*stored);
      // What it accepted since the first map may not have been chosen:
      // it learns the chosen map from the controller (or chooses one).
      if (!(acceptor.accepted == cfg.initial))
        chosen = {};
    }
  }
  return sys.spawn(keeper, std::move(cfg), std::move(acceptor), std::move(chosen));
}

}  // namespace rtrec
