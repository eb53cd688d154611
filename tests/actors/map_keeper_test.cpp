// The map keepers of several nodes choosing the cluster map
// (actors/map_keeper.hpp; docs/replication.md, "The map keeper"), on the
// deterministic scheduler, each with its own data directory.
//
// Node i reaches node j's keeper (and its own) through a link actor (i -> j) that passes,
// loses or holds back each message (released later: late and reordered);
// the test plays the cluster managers: it tells each keeper which peers it
// reaches. Every map sent in an accept passes a link first and is recorded
// there, so the checks see every map proposed: one per epoch, each valid,
// new primaries from the in-sync set of the map they derive from, and the
// chosen maps one chain by their parent epochs.
#include <gtest/gtest.h>
#include <unistd.h>

#include <caf/all.hpp>

#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "actors/map_keeper.hpp"
#include "engine/cluster_map.hpp"
#include "storage/map_store.hpp"

using namespace rtrec;
namespace fs = std::filesystem;
using namespace std::chrono_literals;

namespace {

using keeper_actor = caf::stateful_actor<map_keeper_state, map_keeper_actor::base>;

// What the links saw: every map sent in an accept, by epoch.
struct recorder {
  std::map<std::uint64_t, std::vector<engine::cluster_map>> proposed;
};

struct link_state {
  static inline const char* name = "test.map_link";
  std::vector<caf::message> held;
};

// fate(): 0 pass, 1 lose, 2 hold back (until release_atom).
using release_atom = caf::atom_constant<caf::atom("release")>;

caf::behavior map_link(caf::stateful_actor<link_state>* self, caf::actor to,
                       std::shared_ptr<std::function<int()>> fate,
                       std::shared_ptr<recorder> rec) {
  auto route = [=](caf::message m) {
    switch ((*fate)()) {
      case 0:
        self->send(to, std::move(m));
        break;
      case 1:
        break;
      default:
        self->state.held.push_back(std::move(m));
    }
  };
  return {
    [=](map_prepare& m) { route(caf::make_message(std::move(m))); },
    [=](map_promised& m) { route(caf::make_message(std::move(m))); },
    [=](map_accept& m) {
      rec->proposed[m.map.epoch].push_back(m.map);
      route(caf::make_message(std::move(m)));
    },
    [=](map_accepted& m) { route(caf::make_message(std::move(m))); },
    [=](map_atom a, engine::cluster_map& m) { route(caf::make_message(a, std::move(m))); },
    [=](isr_change& m) { route(caf::make_message(std::move(m))); },
    [=](release_atom) {
      auto held = std::move(self->state.held);
      self->state.held.clear();
      for (auto& m : held)
        self->send(to, std::move(m));
    },
  };
}

std::vector<engine::node_address> addresses(std::uint32_t n) {
  std::vector<engine::node_address> out;
  for (std::uint32_t k = 0; k < n; ++k)
    out.push_back({"127.0.0.1", static_cast<std::uint16_t>(7100 + k)});
  return out;
}

class map_keepers : public ::testing::Test {
 protected:
  map_keepers() {
    register_messages(cfg_);
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path()
           / ("rtrec_map_keeper_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    rec_ = std::make_shared<recorder>();
    fate_ = std::make_shared<std::function<int()>>([] { return 0; });
  }

  ~map_keepers() override {
    for (auto& k : keepers_)
      if (k)
        caf::anon_send_exit(k, caf::exit_reason::user_shutdown);
    for (auto& row : links_)
      for (auto& l : row)
        if (l)
          caf::anon_send_exit(l, caf::exit_reason::user_shutdown);
    sched_->run();
    keepers_.clear();
    links_.clear();
    sys_.reset();
    fs::remove_all(dir_);
  }

  // n nodes, 6 profile and 3 item shards, replication factor 2; every node
  // reaches every other.
  void start(std::uint32_t n) {
    initial_ = engine::initial_map(addresses(n), 6, 3, 2);
    keepers_.resize(n);
    links_.assign(n, std::vector<caf::actor>(n));
    reach_.assign(n, std::vector<bool>(n, false));
    for (std::uint32_t k = 0; k < n; ++k)
      spawn(k);
    for (std::uint32_t i = 0; i < n; ++i)
      for (std::uint32_t j = 0; j < n; ++j)
        reach(i, j, true);  // i == j: its route to itself, through a link too
    sched_->run();
  }

  map_keeper_config config(std::uint32_t k) const {
    map_keeper_config c;
    c.self = k;
    c.initial = initial_;
    c.data_dir = (dir_ / ("node" + std::to_string(k))).string();
    c.sync = false;
    c.proposal_timeout = 1000ms;
    c.retry_backoff = 50ms;
    c.startup_grace = 3000ms;
    return c;
  }

  void spawn(std::uint32_t k) {
    fs::create_directories(dir_ / ("node" + std::to_string(k)));
    keepers_[k] = spawn_map_keeper(*sys_, config(k));
    // The links into k lead to the new keeper.
    for (std::uint32_t i = 0; i < keepers_.size(); ++i) {
      if (links_[i][k])
        caf::anon_send_exit(links_[i][k], caf::exit_reason::user_shutdown);
      links_[i][k] = sys_->spawn(map_link, caf::actor_cast<caf::actor>(keepers_[k]), fate_, rec_);
    }
  }

  // Node i's cluster manager reaches node j (or lost it).
  void reach(std::uint32_t i, std::uint32_t j, bool up) {
    reach_[i][j] = up;
    if (!keepers_[i])
      return;
    caf::anon_send(keepers_[i], node_atom::value, j,
                   up && keepers_[j] ? caf::actor_cast<caf::strong_actor_ptr>(links_[i][j])
                                     : caf::strong_actor_ptr{});
  }

  // kill -9: the keeper is gone; the others lose it.
  void kill(std::uint32_t k) {
    caf::anon_send_exit(keepers_[k], caf::exit_reason::kill);
    sched_->run();
    keepers_[k] = nullptr;
    for (std::uint32_t i = 0; i < keepers_.size(); ++i)
      if (i != k)
        reach(i, k, false);
  }

  // Starts k again from its data directory; it reaches and is reached by
  // the nodes in `peers`.
  void restart(std::uint32_t k, const std::vector<std::uint32_t>& peers) {
    spawn(k);
    reach(k, k, true);
    for (auto j : peers) {
      reach(k, j, true);
      reach(j, k, true);
    }
    sched_->run();
  }

  map_keeper_state& state(std::uint32_t k) {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(keepers_[k]);
    return dynamic_cast<keeper_actor&>(*ptr).state;
  }

  void advance(caf::timespan d) {
    sched_->advance_time(d);
    sched_->run();
  }

  void release_held() {
    for (auto& row : links_)
      for (auto& l : row)
        if (l)
          caf::anon_send(l, release_atom::value);
    sched_->run();
  }

  // Records what the live keepers know chosen; "" when every invariant
  // holds, else what broke.
  std::string check() {
    for (std::uint32_t k = 0; k < keepers_.size(); ++k)
      if (keepers_[k] && state(k).chosen.epoch != 0)
        chosen_[state(k).chosen.epoch] = state(k).chosen;
    for (const auto& [e, maps] : rec_->proposed) {
      for (const auto& m : maps) {
        if (!(m == maps.front()))
          return "two different maps proposed for epoch " + std::to_string(e);
        if (auto why = engine::check_map(m); !why.empty())
          return "map " + std::to_string(e) + ": " + why;
      }
      const auto& m = maps.front();
      const auto* parent = map_of(m.parent);
      if (m.parent >= e || parent == nullptr)
        return "map " + std::to_string(e) + " derives from unknown map " + std::to_string(m.parent);
      for (auto kind : {engine::shard_kind::profile, engine::shard_kind::item})
        for (std::size_t s = 0; s < m.shards(kind).size(); ++s) {
          const auto& now = m.shards(kind)[s];
          const auto& before = parent->shards(kind)[s];
          if (now.primary != before.primary && now.primary != engine::no_node
              && std::find(before.in_sync.begin(), before.in_sync.end(), now.primary)
                   == before.in_sync.end())
            return "map " + std::to_string(e) + ": the new primary " + std::to_string(now.primary)
                   + " of a shard was not in sync in map " + std::to_string(m.parent);
        }
    }
    std::uint64_t previous = 0;
    for (const auto& [e, m] : chosen_) {
      const auto* p = map_of(e);
      if (p == nullptr || !(*p == m))
        return "chosen map " + std::to_string(e) + " is not the map proposed for its epoch";
      // Its ancestry reaches the chosen map before it.
      std::uint64_t at = e;
      while (at > previous && at != 1)
        at = map_of(at)->parent;
      if (previous != 0 && at != previous)
        return "chosen map " + std::to_string(e) + " does not derive from chosen map "
               + std::to_string(previous);
      previous = e;
    }
    return {};
  }

  const engine::cluster_map* map_of(std::uint64_t e) const {
    if (e == initial_.epoch)
      return &initial_;
    auto it = rec_->proposed.find(e);
    return it == rec_->proposed.end() ? nullptr : &it->second.front();
  }

  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  fs::path dir_;
  engine::cluster_map initial_;
  std::vector<map_keeper_actor> keepers_;
  std::vector<std::vector<caf::actor>> links_;  ///< links_[i][j]: i reaches j through it
  std::vector<std::vector<bool>> reach_;
  std::shared_ptr<recorder> rec_;
  std::shared_ptr<std::function<int()>> fate_;
  std::map<std::uint64_t, engine::cluster_map> chosen_;
};

// The shards node n is primary of.
std::size_t primaries_on(const engine::cluster_map& m, std::uint32_t n) {
  std::size_t count = 0;
  for (const auto* shards : {&m.profiles, &m.items})
    for (const auto& s : *shards)
      count += s.primary == n ? 1 : 0;
  return count;
}

TEST_F(map_keepers, every_node_starts_from_the_same_first_map_without_a_round) {
  start(3);
  for (std::uint32_t k = 0; k < 3; ++k) {
    EXPECT_EQ(state(k).chosen.epoch, 1u);
    EXPECT_TRUE(state(k).chosen == initial_);
    EXPECT_EQ(state(k).proposals, 0u) << "node " << k;
  }
  advance(3000ms);  // the startup grace passes: everyone is reached, nothing changes
  EXPECT_EQ(state(0).proposals, 0u);
  EXPECT_TRUE(rec_->proposed.empty());
}

TEST_F(map_keepers, a_node_lost_by_the_controller_is_taken_out_and_back_in) {
  start(3);
  ASSERT_GT(primaries_on(initial_, 2), 0u) << "node 2 should be primary of some shard";
  reach(0, 2, false);
  reach(1, 2, false);
  sched_->run();
  // Node 2 was reached before: no grace; the controller (0) chose a map.
  const auto down = state(0).chosen;
  EXPECT_GT(down.epoch, 1u);
  EXPECT_EQ(down.parent, 1u);
  EXPECT_EQ(down.down[2], 1);
  EXPECT_EQ(primaries_on(down, 2), 0u) << "every shard node 2 led has a new primary";
  EXPECT_TRUE(state(1).chosen == down) << "node 1 learned it";
  EXPECT_EQ(state(2).chosen.epoch, 1u) << "node 2 is cut off: it learns nothing";
  EXPECT_EQ(check(), "");
  // Node 2 is back: it learns the map from the controller, which puts it
  // back in (primary nowhere yet: it must catch up first).
  reach(0, 2, true);
  reach(1, 2, true);
  sched_->run();
  const auto up = state(0).chosen;
  EXPECT_GT(up.epoch, down.epoch);
  EXPECT_EQ(up.down[2], 0);
  EXPECT_EQ(primaries_on(up, 2), 0u);
  for (std::uint32_t k = 0; k < 3; ++k)
    EXPECT_TRUE(state(k).chosen == up) << "node " << k << " knows map " << state(k).chosen.epoch;
  EXPECT_EQ(check(), "");
}

TEST_F(map_keepers, the_next_lowest_node_takes_over_when_the_controller_is_lost) {
  start(3);
  kill(0);
  sched_->run();
  EXPECT_EQ(controller_of(state(1)), 1u);
  const auto m = state(1).chosen;
  EXPECT_GT(m.epoch, 1u);
  EXPECT_EQ(m.epoch & 0xffff, 1u) << "proposed by node 1";
  EXPECT_EQ(m.down[0], 1);
  EXPECT_EQ(primaries_on(m, 0), 0u);
  EXPECT_TRUE(state(2).chosen == m);
  EXPECT_EQ(check(), "");
  // Node 0 restarts from its directory: it knows its promises, no chosen
  // map, and becomes the controller again; its first round re-chooses.
  restart(0, {1, 2});
  const auto back = state(0).chosen;
  EXPECT_GT(back.epoch, m.epoch);
  EXPECT_EQ(back.down[0], 0);
  for (std::uint32_t k = 0; k < 3; ++k)
    EXPECT_TRUE(state(k).chosen == back) << "node " << k;
  EXPECT_EQ(check(), "");
}

TEST_F(map_keepers, a_restarted_acceptor_keeps_its_promise_and_its_accepted_map) {
  start(3);
  reach(0, 2, false);
  reach(1, 2, false);
  sched_->run();
  const auto promised = state(1).acceptor.promised;
  const auto accepted = state(1).acceptor.accepted;
  ASSERT_GT(accepted.epoch, 1u);
  kill(1);
  restart(1, {});  // reaches nobody yet
  EXPECT_EQ(state(1).acceptor.promised, promised);
  EXPECT_TRUE(state(1).acceptor.accepted == accepted);
  EXPECT_EQ(state(1).chosen.epoch, 0u) << "what it accepted may not have been chosen";
  // A prepare below its promise is refused (its answer says so).
  caf::anon_send(keepers_[1], map_prepare{2, promised - 1});
  sched_->run();
  EXPECT_EQ(state(1).acceptor.promised, promised);
  // Reached again, it learns the chosen map from the controller.
  reach(0, 1, true);
  reach(1, 0, true);
  sched_->run();
  EXPECT_TRUE(state(1).chosen == state(0).chosen);
  EXPECT_EQ(check(), "");
}

TEST_F(map_keepers, a_node_never_reached_is_taken_out_only_after_the_startup_grace) {
  initial_ = engine::initial_map(addresses(3), 6, 3, 2);
  keepers_.resize(3);
  links_.assign(3, std::vector<caf::actor>(3));
  reach_.assign(3, std::vector<bool>(3, false));
  spawn(0);
  spawn(1);
  reach(0, 1, true);
  reach(1, 0, true);
  sched_->run();
  advance(2999ms);
  EXPECT_EQ(state(0).chosen.epoch, 1u) << "node 2 may still be starting";
  advance(1ms);
  EXPECT_EQ(state(0).chosen.down[2], 1) << "past the grace node 2 is down";
  EXPECT_EQ(check(), "");
}

TEST_F(map_keepers, an_in_sync_join_sent_to_any_node_reaches_the_controller) {
  start(3);
  reach(0, 2, false);
  reach(1, 2, false);
  sched_->run();
  reach(0, 2, true);
  reach(1, 2, true);
  sched_->run();
  const auto m = state(0).chosen;
  // A shard node 2 replicates but is not in sync for.
  std::uint32_t shard = 0;
  for (; shard < m.profiles.size(); ++shard) {
    const auto& s = m.profiles[shard];
    if (std::count(s.replicas.begin(), s.replicas.end(), 2u) == 1
        && std::count(s.in_sync.begin(), s.in_sync.end(), 2u) == 0)
      break;
  }
  ASSERT_LT(shard, m.profiles.size());
  const auto primary = m.profiles[shard].primary;
  // A stale request (an older epoch) changes nothing.
  caf::anon_send(keepers_[2], isr_change{0, shard, {m.epoch - 1, primary, 2, true}});
  sched_->run();
  EXPECT_EQ(state(0).chosen.epoch, m.epoch);
  // To node 2 (not the controller): forwarded to node 0.
  caf::anon_send(keepers_[2], isr_change{0, shard, {m.epoch, primary, 2, true}});
  sched_->run();
  const auto joined = state(0).chosen;
  EXPECT_GT(joined.epoch, m.epoch);
  const auto& isr = joined.profiles[shard].in_sync;
  EXPECT_EQ(std::count(isr.begin(), isr.end(), 2u), 1);
  EXPECT_TRUE(state(2).chosen == joined);
  EXPECT_EQ(check(), "");
}

TEST_F(map_keepers, a_round_whose_messages_are_lost_is_retried_after_its_deadline) {
  start(3);
  *fate_ = [] { return 1; };  // the network loses everything
  reach(0, 2, false);
  reach(1, 2, false);
  sched_->run();
  EXPECT_EQ(state(0).chosen.epoch, 1u);
  EXPECT_EQ(state(0).proposals, 1u);
  *fate_ = [] { return 0; };
  advance(999ms);
  EXPECT_EQ(state(0).proposals, 1u) << "retried before its deadline";
  advance(1ms);
  EXPECT_EQ(state(0).proposals, 2u);
  EXPECT_EQ(state(0).chosen.down[2], 1);
  EXPECT_TRUE(state(1).chosen == state(0).chosen);
  EXPECT_EQ(check(), "");
}

TEST_F(map_keepers, two_would_be_controllers_choose_at_most_one_map_per_epoch) {
  start(3);
  // 0 and 1 lose each other; 2 reaches both: each of 0 and 1 is the lowest
  // index it reaches, and each wants the other out.
  reach(0, 1, false);
  reach(1, 0, false);
  for (int round = 0; round < 20; ++round) {
    sched_->run();
    ASSERT_EQ(check(), "") << "round " << round;
    advance(1000ms);
  }
  ASSERT_EQ(check(), "");
  EXPECT_GE(chosen_.size(), 2u) << "some map was chosen";
  // Healed: one map with nobody down, known to all.
  reach(0, 1, true);
  reach(1, 0, true);
  for (int round = 0; round < 5; ++round)
    advance(1000ms);
  ASSERT_EQ(check(), "");
  for (std::uint32_t k = 0; k < 3; ++k) {
    EXPECT_TRUE(state(k).chosen == state(0).chosen) << "node " << k;
    EXPECT_EQ(std::count(state(k).chosen.down.begin(), state(k).chosen.down.end(), 1), 0);
  }
}

TEST_F(map_keepers, a_stored_map_of_another_cluster_stops_the_node_with_a_clear_message) {
  start(3);
  reach(0, 2, false);
  reach(1, 2, false);
  sched_->run();
  kill(1);
  auto other = config(1);
  other.initial = engine::initial_map(addresses(4), 6, 3, 2);
  try {
    auto k = spawn_map_keeper(*sys_, other);
    ADD_FAILURE() << "a keeper started on a map of 3 members configured with 4";
    caf::anon_send_exit(k, caf::exit_reason::kill);
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("CLUSTER"), std::string::npos) << what;
    EXPECT_NE(what.find("3 members"), std::string::npos) << what;
    EXPECT_NE(what.find("4 members"), std::string::npos) << what;
  }
  // The same members with another replication factor: refused too.
  other.initial = engine::initial_map(addresses(3), 6, 3, 3);
  try {
    auto k = spawn_map_keeper(*sys_, other);
    ADD_FAILURE() << "a keeper started on a map of 2 copies configured with 3";
    caf::anon_send_exit(k, caf::exit_reason::kill);
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("replication factor"), std::string::npos) << what;
  }
}

// -- the seeded simulation ------------------------------------------------------------

class map_keeper_sim : public map_keepers, public ::testing::WithParamInterface<unsigned> {};

TEST_P(map_keeper_sim, random_faults_never_choose_two_maps_for_an_epoch) {
  const unsigned seed = GetParam();
  SCOPED_TRACE("seed " + std::to_string(seed));
  auto shared_rng = std::make_shared<std::mt19937>(seed);
  auto& rng = *shared_rng;
  const std::uint32_t n = seed % 2 == 0 ? 3 : 5;
  start(n);
  *fate_ = [shared_rng] {
    const auto r = (*shared_rng)() % 100;
    return r < 5 ? 1 : r < 10 ? 2 : 0;
  };
  for (int step = 0; step < 1000; ++step) {
    const auto r = rng() % 100;
    const auto i = static_cast<std::uint32_t>(rng() % n);
    const auto j = static_cast<std::uint32_t>(rng() % n);
    std::uint32_t dead = 0;
    for (const auto& k : keepers_)
      dead += k ? 0 : 1;
    if (r < 10) {
      if (i != j && keepers_[i])
        reach(i, j, false);  // node i loses node j, one side only
    } else if (r < 20) {
      for (std::uint32_t k = 0; k < n; ++k)  // node i reaches every live node again
        if (keepers_[i] && keepers_[k] && !reach_[i][k])
          reach(i, k, true);
    } else if (r < 25) {
      if (keepers_[i] && dead < (n - 1) / 2) {
        kill(i);  // a minority at most is down at once: a majority can choose
      } else if (!keepers_[i]) {
        std::vector<std::uint32_t> peers;
        for (std::uint32_t k = 0; k < n; ++k)
          if (k != i && keepers_[k])
            peers.push_back(k);
        restart(i, peers);
      }
    } else if (r < 40) {
      advance(std::chrono::milliseconds(50 + rng() % 1000));
    } else if (r < 50) {
      release_held();
    } else if (r < 60 && keepers_[i] && state(i).chosen.epoch != 0) {
      // A primary asks for a join or a leave of one of its shard's replicas.
      const auto& m = state(i).chosen;
      const auto s = static_cast<std::uint32_t>(rng() % m.profiles.size());
      const auto& sh = m.profiles[s];
      const auto replica = sh.replicas[rng() % sh.replicas.size()];
      if (sh.primary != engine::no_node)
        caf::anon_send(keepers_[i], isr_change{0, s, {m.epoch, sh.primary, replica, rng() % 2 == 0}});
    }
    sched_->run();
    const auto why = check();
    ASSERT_EQ(why, "") << "step " << step;
  }
  // Heal: every node up and reaching every other, nothing lost any more.
  *fate_ = [] { return 0; };
  release_held();
  for (std::uint32_t k = 0; k < n; ++k)
    if (!keepers_[k])
      restart(k, {});
  for (std::uint32_t a = 0; a < n; ++a)
    for (std::uint32_t b = 0; b < n; ++b)
      if (a != b)
        reach(a, b, true);
  for (int round = 0; round < 6; ++round)
    advance(1000ms);
  ASSERT_EQ(check(), "");
  const auto& final_map = state(0).chosen;
  EXPECT_NE(final_map.epoch, 0u);
  for (std::uint32_t k = 0; k < n; ++k) {
    EXPECT_TRUE(state(k).chosen == final_map)
      << "node " << k << " knows map " << state(k).chosen.epoch << ", node 0 " << final_map.epoch;
    EXPECT_FALSE(state(k).proposal.has_value()) << "node " << k << " still proposing";
  }
  EXPECT_EQ(std::count(final_map.down.begin(), final_map.down.end(), 1), 0);
  for (const auto& s : final_map.profiles)
    EXPECT_NE(s.primary, engine::no_node);
  std::uint64_t proposals = 0;
  for (std::uint32_t k = 0; k < n; ++k)
    proposals += state(k).proposals;
  EXPECT_GE(chosen_.size(), 10u) << "too few maps chosen to prove anything (" << proposals
                                << " proposals, " << rec_->proposed.size() << " maps proposed)";
}

INSTANTIATE_TEST_SUITE_P(seeds, map_keeper_sim, ::testing::Range(1u, 31u));

}  // namespace
