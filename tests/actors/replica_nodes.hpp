// A replicated profile shard's replicas in one process, on the
// deterministic scheduler (tests/actors/replication_test.cpp,
// replication_sim_test.cpp): profile shard 0 on n "nodes", each a real
// profile shard actor with its own data directory and log, configured by
// the test acting as the controller (replica_config: the chosen map's
// entry). The logs' writer threads report durability into the fixture's
// queue (topology_context::replica_notices); settle() waits for exactly the
// notices the replicas' writes call for (an explicit acknowledgement, no
// sleeps) and delivers them in node order when the scheduler is idle, so a
// run is the same every time.
#pragma once

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <filesystem>
#include <functional>
#include <mutex>
#include <optional>
#include <set>

#include "actors/profile_shard.hpp"
#include "actors/topology.hpp"
#include "messages/messages.hpp"
#include "storage/recovery.hpp"
#include "tests/harness/topology_fixture.hpp"


namespace rtrec::replica_test {

namespace fs = std::filesystem;
using namespace rtrec;
using rtrec::testing::ev;



inline engine::event with_id(engine::event e, std::string id) {
  e.id = std::move(id);
  return e;
}

using release_atom = caf::atom_constant<caf::atom("release")>;

// Between two replicas: passes each ship or answer on to the other end,
// loses it, or holds it back until release_atom, as `fate` says (0, 1, 2).
struct link_state {
  struct held {
    caf::strong_actor_ptr to;
    std::optional<replica_ship> ship;
    std::optional<replica_answer> answer;
  };
  std::vector<held> held_back;
};

inline caf::behavior lossy_link(caf::stateful_actor<link_state>* self, caf::strong_actor_ptr a,
                   caf::strong_actor_ptr b, std::shared_ptr<std::function<int()>> fate) {
  auto pass = [self](const caf::strong_actor_ptr& to, auto& m) {
    self->send(caf::actor_cast<caf::actor>(to), std::move(m));
  };
  auto route = [=](auto& m, auto keep) {
    const auto to = self->current_sender() == a ? b : a;
    switch ((*fate)()) {
      case 0:
        pass(to, m);
        break;
      case 1:
        break;  // lost
      default:
        self->state.held_back.push_back(keep(to, std::move(m)));
    }
  };
  return {
    [=](replica_ship& m) {
      route(m, [](caf::strong_actor_ptr to, replica_ship x) {
        return link_state::held{std::move(to), std::move(x), std::nullopt};
      });
    },
    [=](replica_answer& m) {
      route(m, [](caf::strong_actor_ptr to, replica_answer x) {
        return link_state::held{std::move(to), std::nullopt, std::move(x)};
      });
    },
    [=](release_atom) {
      auto held = std::move(self->state.held_back);
      self->state.held_back.clear();
      for (auto& h : held) {
        if (h.ship)
          pass(h.to, *h.ship);
        else
          pass(h.to, *h.answer);
      }
    },
  };
}

class replica_nodes : public ::testing::Test {
 protected:
  replica_nodes() {
    register_messages(cfg_);
    cfg_.set("scheduler.policy", caf::atom("testing"));
    cfg_.set("logger.verbosity", caf::atom("quiet"));
    sys_ = std::make_unique<caf::actor_system>(cfg_);
    sched_ = &dynamic_cast<caf::scheduler::test_coordinator&>(sys_->scheduler());
    self_ = std::make_unique<caf::scoped_actor>(*sys_, true);
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("rtrec_replication_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
  }

  ~replica_nodes() override {
    for (auto& s : shards_)
      if (s)
        (*self_)->send_exit(s, caf::exit_reason::user_shutdown);
    sched_->run();
    self_.reset();
    shards_.clear();
    wals_.clear();  // writes what is queued, stops the writer threads
    sys_.reset();
    fs::remove_all(dir_);
  }

  // Spawns profile shard 0 on `n` nodes, each with its own data directory.
  void start(std::uint32_t n) {
    cfg_topo_ = rtrec::testing::topology_fixture::default_config();
    cfg_topo_.profile_shards = 1;
    cfg_topo_.item_shards = 1;
    notices_ = std::make_shared<counters>();
    notices_->count.assign(n, 0);
    notices_->queue.resize(n);
    wals_.resize(n);
    shards_.resize(n);
    for (std::uint32_t k = 0; k < n; ++k)
      spawn_node(k);
    sched_->run();
  }

  storage::recovery_options data_options(std::uint32_t k) const {
    storage::recovery_options o;
    o.data_dir = (dir_ / ("node" + std::to_string(k))).string();
    o.profile_shards = 1;
    o.item_shards = 1;
    o.model = cfg_topo_.model;
    o.dedup_ids_per_shard = dedup_ids_per_shard(cfg_topo_);
    o.dedup_age_ms = cfg_topo_.dedup_age.count();
    return o;
  }

  // Node k's shard, from what its data directory holds (recovery, as a
  // node starts), with a log that continues it.
  void spawn_node(std::uint32_t k) {
    auto rec = std::make_shared<storage::recovered_state>(storage::recover(data_options(k)));
    storage::wal_options o;
    o.dir = storage::wal_dir(data_options(k).data_dir);
    o.sync = storage::sync_policy::none;  // durable = handed to the OS: enough to order
    wals_[k] = std::make_shared<storage::wal>(o, rec->segments);
    topology_context ctx;
    ctx.wal = wals_[k];
    ctx.recovered = rec;
    ctx.clock = [] { return std::int64_t{1'700'000'100'000}; };
    ctx.replica_notices = [c = notices_, k](const profile_shard_actor&, std::uint64_t n,
                                            const std::string& err) {
      std::lock_guard<std::mutex> lk{c->mtx};
      ++c->count[k];
      c->queue[k].emplace_back(n, err);
      c->cv.notify_all();
    };
    shards_[k] = sys_->spawn(profile_shard, cfg_topo_, 0u, std::vector<item_shard_actor>{}, ctx);
  }

  // kill -9 and start again: the actor dies, its log is closed (what the
  // writer thread had taken is written), recovery reads the directory back.
  void restart(std::uint32_t k) {
    kill(k);
    wals_[k].reset();  // joins the writer thread: its notices are all in
    {
      std::lock_guard<std::mutex> lk{notices_->mtx};
      notices_->count[k] = 0;  // a new log numbers its writes from 0
      notices_->queue[k].clear();  // for the dead actor
    }
    spawn_node(k);
    dead_.erase(k);
    sched_->run();
  }

  // The controller's chosen map, sent to the nodes in `to` (all when
  // empty), with no handle for the nodes in `unreachable` (a partition: they
  // get no ships, though an answer still goes back to a ship's sender).
  void configure(std::uint64_t epoch, const engine::shard_replicas& map,
                 std::vector<std::uint32_t> to = {}, std::set<std::uint32_t> unreachable = {}) {
    if (to.empty())
      for (std::uint32_t k = 0; k < shards_.size(); ++k)
        to.push_back(k);
    for (auto k : to) {
      std::vector<caf::strong_actor_ptr> peers;
      for (std::uint32_t j = 0; j < shards_.size(); ++j)
        peers.push_back(unreachable.count(j) ? nullptr : peer_handle(k, j));
      (*self_)->send(shards_[k], replica_config{epoch, map, k, peers, keeper_});
    }
    settle();
  }

  // The handle node `from` reaches node `to` by: the shard itself here; a
  // simulation may put a lossy link between them.
  virtual caf::strong_actor_ptr peer_handle(std::uint32_t from, std::uint32_t to) {
    static_cast<void>(from);
    return caf::actor_cast<caf::strong_actor_ptr>(shards_[to]);
  }

  profile_shard_state& state(std::uint32_t k) {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(shards_[k]);
    return dynamic_cast<caf::stateful_actor<profile_shard_state, profile_shard_actor::base>&>(*ptr)
      .state;
  }

  // Runs until no message is queued and every live node's log has reported
  // every write its replica made: waits for the notices (bounded), delivers
  // them in node order, runs again.
  void settle() {
    for (int round = 0; round < 1000; ++round) {
      sched_->run();
      std::vector<std::deque<std::pair<std::uint64_t, std::string>>> ready(shards_.size());
      for (std::uint32_t k = 0; k < shards_.size(); ++k) {
        std::unique_lock<std::mutex> lk{notices_->mtx};
        if (!dead_.count(k) && state(k).replica) {
          const auto want = state(k).replica->written();
          if (!notices_->cv.wait_for(lk, std::chrono::seconds(30),
                                     [&] { return notices_->count[k] >= want; })) {
            ADD_FAILURE() << "node " << k << ": its log reported " << notices_->count[k]
                          << " of " << want << " writes within 30 s";
            return;
          }
        }
        ready[k].swap(notices_->queue[k]);
      }
      bool delivered = false;
      for (std::uint32_t k = 0; k < shards_.size(); ++k)
        for (auto& [n, err] : ready[k])
          if (!dead_.count(k)) {
            caf::anon_send(shards_[k], replica_atom::value, n, err);
            delivered = true;
          }
      if (!delivered && !sched_->has_job())
        return;
    }
    ADD_FAILURE() << "the replicas did not settle in 1000 rounds";
  }

  // Sends a batch to node k's shard; the reply after settling, or an error
  // "no reply" while it is still pending.
  caf::expected<ingest_result> write(std::uint32_t k, std::vector<engine::event> events) {
    shard_batch b;
    for (std::uint32_t i = 0; i < events.size(); ++i)
      b.index.push_back(i);
    b.events = std::move(events);
    auto h = (*self_)->request(shards_[k], std::chrono::seconds(3600), std::move(b));
    settle();
    if ((*self_)->mailbox().empty())
      return caf::make_error(caf::sec::request_timeout, "no reply yet");
    caf::expected<ingest_result> out{caf::make_error(caf::sec::unexpected_response)};
    h.receive([&](ingest_result& r) { out = std::move(r); },
              [&](caf::error& e) { out = std::move(e); });
    return out;
  }

  // What node k's store holds of `user` (its applied state).
  std::size_t events_of(std::uint32_t k, const std::string& user) {
    return state(k).store->view(user).recent.size();
  }

  void kill(std::uint32_t k) {
    (*self_)->send_exit(shards_[k], caf::exit_reason::kill);
    dead_.insert(k);
    sched_->run();
  }

  struct counters {
    std::mutex mtx;
    std::condition_variable cv;
    std::vector<std::uint64_t> count;  ///< notices per node
    std::vector<std::deque<std::pair<std::uint64_t, std::string>>> queue;  ///< not delivered
  };

  caf::actor_system_config cfg_;
  topology_config cfg_topo_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::unique_ptr<caf::scoped_actor> self_;
  fs::path dir_;
  std::vector<std::shared_ptr<storage::wal>> wals_;
  std::vector<profile_shard_actor> shards_;
  std::shared_ptr<counters> notices_;
  std::set<std::uint32_t> dead_;
  /// Sent in every replica_config as the node's map keeper (null: none).
  caf::strong_actor_ptr keeper_;
};

}  // namespace rtrec::replica_test
