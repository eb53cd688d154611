// Replicated profile shards on the deterministic scheduler
// (docs/replication.md, "A profile shard as a replica"): the replicas of
// one profile shard, each a real profile shard actor with its own
// write-ahead log in a temporary directory, configured by the test acting
// as the controller (replica_config: the chosen map's entry). The logs'
// writer threads report durability by message; the test waits for exactly
// the notices the replicas' writes call for (an explicit acknowledgement,
// no sleeps), then runs the scheduler.
//
// Scenarios the issue names: a write acknowledged only once every in-sync
// replica holds it, a follower that lags and catches up, a primary that
// dies mid-ship (its follower takes over, a retry applies once), a deposed
// primary that receives a write, two failures in a row.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <filesystem>
#include <mutex>
#include <set>

#include "actors/profile_shard.hpp"
#include "actors/topology.hpp"
#include "messages/messages.hpp"
#include "tests/harness/topology_fixture.hpp"

namespace {

namespace fs = std::filesystem;
using namespace rtrec;
using rtrec::testing::ev;

engine::shard_replicas map_of(std::vector<std::uint32_t> replicas, std::uint32_t primary,
                              std::vector<std::uint32_t> in_sync) {
  engine::shard_replicas s;
  s.replicas = std::move(replicas);
  s.primary = primary;
  s.in_sync = std::move(in_sync);
  return s;
}

engine::event with_id(engine::event e, std::string id) {
  e.id = std::move(id);
  return e;
}

class replication_test : public ::testing::Test {
 protected:
  replication_test() {
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

  ~replication_test() override {
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
    ctx.replica_notice_hook = [c = notices_, k] {
      std::lock_guard<std::mutex> lk{c->mtx};
      ++c->count[k];
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
    std::vector<caf::strong_actor_ptr> peers;
    for (std::uint32_t k = 0; k < shards_.size(); ++k)
      peers.push_back(unreachable.count(k) ? nullptr
                                           : caf::actor_cast<caf::strong_actor_ptr>(shards_[k]));
    for (auto k : to)
      (*self_)->send(shards_[k], replica_config{epoch, map, k, peers});
    settle();
  }

  profile_shard_state& state(std::uint32_t k) {
    auto* ptr = caf::actor_cast<caf::abstract_actor*>(shards_[k]);
    return dynamic_cast<caf::stateful_actor<profile_shard_state, profile_shard_actor::base>&>(*ptr)
      .state;
  }

  // Runs until no message is queued and every live node's log has reported
  // every write its replica made (waiting on the notices, bounded).
  void settle() {
    for (int round = 0; round < 1000; ++round) {
      sched_->run();
      bool waited = false;
      for (std::uint32_t k = 0; k < shards_.size(); ++k) {
        if (dead_.count(k) || !state(k).replica)
          continue;
        const auto want = state(k).replica->written();
        std::unique_lock<std::mutex> lk{notices_->mtx};
        if (notices_->count[k] >= want)
          continue;
        waited = true;
        if (!notices_->cv.wait_for(lk, std::chrono::seconds(30),
                                   [&] { return notices_->count[k] >= want; })) {
          ADD_FAILURE() << "node " << k << ": its log reported " << notices_->count[k]
                        << " of " << want << " writes within 30 s";
          return;
        }
      }
      if (!waited && !sched_->has_job())
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
    std::vector<std::uint64_t> count;
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
};

}  // namespace

TEST_F(replication_test, a_write_is_acknowledged_once_every_in_sync_replica_holds_it) {
  start(2);
  configure(1, map_of({0, 1}, 0, {0, 1}));
  auto r = write(0, {with_id(ev("alice", "a"), "e1"), with_id(ev("alice", "b"), "e2")});
  ASSERT_TRUE(r) << to_string(r.error());
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(events_of(0, "alice"), 2u);
  EXPECT_EQ(events_of(1, "alice"), 2u) << "the follower applied the committed record";
  EXPECT_EQ(state(1).replica->log().applied(), 1u);
  // With the follower gone but still in sync, nothing is acknowledged.
  kill(1);
  auto held = write(0, {with_id(ev("bob", "a"), "e3")});
  EXPECT_FALSE(held) << "acknowledged without the in-sync follower";
  EXPECT_EQ(events_of(0, "bob"), 0u) << "applied before it was committed";
  // The controller takes the follower out of the in-sync set: the write
  // commits on the primary alone, is applied and acknowledged.
  configure(2, map_of({0, 1}, 0, {0}), {0});
  EXPECT_EQ(events_of(0, "bob"), 1u);
  ASSERT_FALSE((*self_)->mailbox().empty()) << "the held write was acknowledged";
}

TEST_F(replication_test, a_deposed_primary_refuses_the_write_it_cannot_commit) {
  start(2);
  configure(1, map_of({0, 1}, 0, {0, 1}));
  ASSERT_TRUE(write(0, {with_id(ev("alice", "a"), "e1")}));
  // Node 0 is taken out (a partition); only node 1 hears of epoch 2.
  configure(2, map_of({1, 0}, 1, {1}), {1});
  auto r = write(0, {with_id(ev("carol", "a"), "e2")});
  ASSERT_TRUE(r) << to_string(r.error());
  EXPECT_EQ(r->accepted, 0u);
  ASSERT_EQ(r->failed.size(), 1u);
  EXPECT_EQ(r->failed[0].why, delivery_failure::shard_unavailable);
  EXPECT_FALSE(state(0).replica->log().primary()) << "node 1's refusal told it epoch 2";
  EXPECT_EQ(events_of(0, "carol"), 0u);
  EXPECT_EQ(events_of(1, "carol"), 0u);
  // The write goes to the new primary.
  auto again = write(1, {with_id(ev("carol", "a"), "e2")});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->accepted, 1u);
  EXPECT_EQ(events_of(1, "carol"), 1u);
  EXPECT_EQ(events_of(1, "alice"), 1u) << "epoch 1's acknowledged write";
  // The deposed primary now refuses at once.
  auto late = write(0, {with_id(ev("dave", "a"), "e3")});
  ASSERT_TRUE(late);
  EXPECT_EQ(late->failed.size(), 1u);
}

TEST_F(replication_test, a_follower_that_lags_catches_up_from_the_log) {
  start(2);
  // Node 1 is a replica outside the in-sync set, unreachable at first.
  std::vector<caf::strong_actor_ptr> only_self{caf::actor_cast<caf::strong_actor_ptr>(shards_[0]),
                                               nullptr};
  (*self_)->send(shards_[0], replica_config{1, map_of({0, 1}, 0, {0}), 0, only_self});
  configure(1, map_of({0, 1}, 0, {0}), {1});
  for (int k = 0; k < 5; ++k) {
    auto r = write(0, {with_id(ev("u" + std::to_string(k), "a"), "e" + std::to_string(k))});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->accepted, 1u);
  }
  EXPECT_EQ(state(1).replica->log().last_seq(), 0u) << "nothing reached it";
  // Reachable again (epoch 2 gives the primary its handle).
  configure(2, map_of({0, 1}, 0, {0}));
  EXPECT_EQ(state(1).replica->log().last_seq(), 5u);
  EXPECT_EQ(state(1).replica->log().applied(), 5u);
  for (int k = 0; k < 5; ++k)
    EXPECT_EQ(events_of(1, "u" + std::to_string(k)), 1u) << k;
  EXPECT_EQ(state(0).replica->log().match_of(1), 5u);
}

TEST_F(replication_test, a_primary_dying_mid_ship_loses_no_acknowledged_write_and_a_retry_applies_once) {
  start(2);
  configure(1, map_of({0, 1}, 0, {0, 1}));
  ASSERT_TRUE(write(0, {with_id(ev("alice", "a"), "e1")}));
  // The next batch reaches the primary, which appends and ships it, and
  // dies before any answer comes back: the client sees no acknowledgement.
  shard_batch b{{with_id(ev("alice", "b"), "e2"), with_id(ev("alice", "c"), "e3")}, {0, 1}};
  caf::scoped_actor client{*sys_, true};  // its request never gets an answer
  client->request(shards_[0], std::chrono::seconds(3600), b);
  ASSERT_TRUE(sched_->try_run_once());  // node 0 takes the batch and ships it
  kill(0);
  settle();  // node 1 stores the ship and answers a dead primary
  EXPECT_EQ(state(1).replica->log().last_seq(), 2u);
  EXPECT_EQ(events_of(1, "alice"), 1u) << "not committed: not applied";
  // The controller makes node 1 primary; it commits what it holds.
  configure(2, map_of({1, 0}, 1, {1}), {1});
  EXPECT_EQ(events_of(1, "alice"), 3u);
  // The client retries with the same ids: acknowledged, applied once.
  auto r = write(1, b.events);
  ASSERT_TRUE(r) << to_string(r.error());
  EXPECT_EQ(r->accepted, 2u);
  EXPECT_EQ(r->duplicates, 2u);
  EXPECT_EQ(events_of(1, "alice"), 3u);
  EXPECT_EQ(state(1).store->events_applied(), 3u);
}

TEST_F(replication_test, two_failures_in_a_row_leave_every_acknowledged_write_on_the_last_replica) {
  start(3);
  configure(1, map_of({0, 1, 2}, 0, {0, 1, 2}));
  ASSERT_TRUE(write(0, {with_id(ev("u1", "a"), "e1")}));
  kill(0);
  configure(2, map_of({1, 2, 0}, 1, {1, 2}), {1, 2});
  auto r2 = write(1, {with_id(ev("u2", "a"), "e2")});
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->accepted, 1u);
  kill(1);
  // Node 2 held every write node 1 acknowledged: it alone is in sync now.
  configure(3, map_of({2, 0, 1}, 2, {2}), {2});
  auto r3 = write(2, {with_id(ev("u3", "a"), "e3")});
  ASSERT_TRUE(r3);
  EXPECT_EQ(r3->accepted, 1u);
  for (const char* u : {"u1", "u2", "u3"})
    EXPECT_EQ(events_of(2, u), 1u) << u;
  EXPECT_EQ(state(2).replica->log().last_seq(), 3u);
  EXPECT_EQ(state(2).replica->log().epoch_at(1), 1u);
  EXPECT_EQ(state(2).replica->log().epoch_at(2), 2u);
  EXPECT_EQ(state(2).replica->log().epoch_at(3), 3u);
}

TEST_F(replication_test, a_restarted_replica_replays_only_what_it_knew_committed) {
  start(2);
  configure(1, map_of({0, 1}, 0, {0, 1}));
  ASSERT_TRUE(write(0, {with_id(ev("alice", "a"), "e1")}));
  ASSERT_TRUE(write(0, {with_id(ev("bob", "a"), "e2")}));
  // A third write reaches the follower, whose answer never comes back.
  caf::scoped_actor client{*sys_, true};
  client->request(shards_[0], std::chrono::seconds(3600),
                  shard_batch{{with_id(ev("carol", "a"), "e3")}, {0}});
  ASSERT_TRUE(sched_->try_run_once());
  kill(0);
  settle();
  ASSERT_EQ(state(1).replica->log().last_seq(), 3u);
  EXPECT_EQ(events_of(1, "carol"), 0u);
  restart(1);
  EXPECT_EQ(events_of(1, "alice"), 1u) << "recovery replays the committed records";
  EXPECT_EQ(events_of(1, "bob"), 1u);
  EXPECT_EQ(events_of(1, "carol"), 0u) << "not known committed: not replayed";
  // The restored log waits for a map; node 1 becomes primary in epoch 2.
  configure(2, map_of({1, 0}, 1, {1}), {1});
  const auto& log = state(1).replica->log();
  EXPECT_EQ(log.last_seq(), 3u);
  EXPECT_EQ(log.applied(), 3u);
  EXPECT_EQ(events_of(1, "carol"), 1u) << "committed by its own first commit in epoch 2";
  auto r = write(1, {with_id(ev("dave", "a"), "e4")});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_EQ(state(1).replica->log().last_seq(), 4u);
}

TEST_F(replication_test, a_deposed_primary_restarts_with_its_uncommitted_tail_replaced) {
  start(2);
  configure(1, map_of({0, 1}, 0, {0, 1}));
  ASSERT_TRUE(write(0, {with_id(ev("alice", "a"), "e1")}));
  // Node 1 takes over in epoch 2, cut off from node 0 (it ships nothing to it).
  configure(2, map_of({1, 0}, 1, {1}), {1}, {0});
  auto lost = write(0, {with_id(ev("bob", "a"), "e2")});
  ASSERT_TRUE(lost);
  EXPECT_EQ(lost->failed.size(), 1u) << "refused once node 1's answer told it epoch 2";
  EXPECT_EQ(state(0).replica->log().last_seq(), 2u) << "its record 2 of epoch 1 stays in its log";
  auto w3 = write(1, {with_id(ev("carol", "a"), "e3")});
  ASSERT_TRUE(w3);
  EXPECT_EQ(w3->accepted, 1u);
  // Node 0 restarts with its log: record 2 of epoch 1 durable, not committed.
  restart(0);
  ASSERT_TRUE(state(0).restored);
  ASSERT_EQ(state(0).restored->records.size(), 2u);
  EXPECT_EQ(state(0).restored->records[1].epoch, 1u);
  EXPECT_EQ(events_of(0, "alice"), 1u);
  EXPECT_EQ(events_of(0, "bob"), 0u) << "beyond its stored commit: not replayed";
  // It rejoins as a follower of epoch 3: log matching replaces its record 2.
  configure(3, map_of({1, 0}, 1, {1}));
  const auto& log0 = state(0).replica->log();
  EXPECT_EQ(log0.last_seq(), 2u);
  EXPECT_EQ(log0.epoch_at(2), 2u) << "epoch 1's record 2 replaced by epoch 2's";
  EXPECT_EQ(events_of(0, "carol"), 1u);
  EXPECT_EQ(events_of(0, "bob"), 0u) << "an uncommitted record is never applied";
  // Once more: its log reads back as the primary's (the marker voids epoch
  // 1's record 2).
  restart(0);
  ASSERT_TRUE(state(0).restored);
  ASSERT_EQ(state(0).restored->records.size(), 2u);
  EXPECT_EQ(state(0).restored->records[1].epoch, 2u);
  EXPECT_EQ(events_of(0, "bob"), 0u);
  EXPECT_EQ(events_of(0, "carol"), 1u);
}
