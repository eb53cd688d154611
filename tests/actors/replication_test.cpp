// Replicated profile shards on the deterministic scheduler
// (docs/replication.md, "A profile shard as a replica"): the replicas of
// one profile shard, each a real profile shard actor with its own
// write-ahead log in a temporary directory, configured by the test acting
// as the controller (replica_config: the chosen map's entry); see
// replica_nodes.hpp for how durability is waited for.
//
// Scenarios the issue names: a write acknowledged only once every in-sync
// replica holds it, a follower that lags and catches up, a primary that
// dies mid-ship (its follower takes over, a retry applies once), a deposed
// primary that receives a write, two failures in a row.
#include "tests/actors/replica_nodes.hpp"

using namespace rtrec;
using namespace rtrec::replica_test;

class replication_test : public replica_nodes {};

TEST_F(replication_test, a_write_is_acknowledged_once_every_in_sync_replica_holds_it) {
  start(2);
  configure(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
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
  configure(2, engine::shard_replicas{{0, 1}, 0, {0}}, {0});
  EXPECT_EQ(events_of(0, "bob"), 1u);
  ASSERT_FALSE((*self_)->mailbox().empty()) << "the held write was acknowledged";
}

TEST_F(replication_test, a_deposed_primary_refuses_the_write_it_cannot_commit) {
  start(2);
  configure(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  ASSERT_TRUE(write(0, {with_id(ev("alice", "a"), "e1")}));
  // Node 0 is taken out (a partition); only node 1 hears of epoch 2.
  configure(2, engine::shard_replicas{{1, 0}, 1, {1}}, {1});
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
  (*self_)->send(shards_[0], replica_config{1, engine::shard_replicas{{0, 1}, 0, {0}}, 0, only_self, keeper_});
  configure(1, engine::shard_replicas{{0, 1}, 0, {0}}, {1});
  for (int k = 0; k < 5; ++k) {
    auto r = write(0, {with_id(ev("u" + std::to_string(k), "a"), "e" + std::to_string(k))});
    ASSERT_TRUE(r);
    EXPECT_EQ(r->accepted, 1u);
  }
  EXPECT_EQ(state(1).replica->log().last_seq(), 0u) << "nothing reached it";
  // Reachable again (epoch 2 gives the primary its handle).
  configure(2, engine::shard_replicas{{0, 1}, 0, {0}});
  EXPECT_EQ(state(1).replica->log().last_seq(), 5u);
  EXPECT_EQ(state(1).replica->log().applied(), 5u);
  for (int k = 0; k < 5; ++k)
    EXPECT_EQ(events_of(1, "u" + std::to_string(k)), 1u) << k;
  EXPECT_EQ(state(0).replica->log().match_of(1), 5u);
}

TEST_F(replication_test, a_primary_dying_mid_ship_loses_no_acknowledged_write_and_a_retry_applies_once) {
  start(2);
  configure(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
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
  configure(2, engine::shard_replicas{{1, 0}, 1, {1}}, {1});
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
  configure(1, engine::shard_replicas{{0, 1, 2}, 0, {0, 1, 2}});
  ASSERT_TRUE(write(0, {with_id(ev("u1", "a"), "e1")}));
  kill(0);
  configure(2, engine::shard_replicas{{1, 2, 0}, 1, {1, 2}}, {1, 2});
  auto r2 = write(1, {with_id(ev("u2", "a"), "e2")});
  ASSERT_TRUE(r2);
  EXPECT_EQ(r2->accepted, 1u);
  kill(1);
  // Node 2 held every write node 1 acknowledged: it alone is in sync now.
  configure(3, engine::shard_replicas{{2, 0, 1}, 2, {2}}, {2});
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
  configure(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
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
  configure(2, engine::shard_replicas{{1, 0}, 1, {1}}, {1});
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
  configure(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  ASSERT_TRUE(write(0, {with_id(ev("alice", "a"), "e1")}));
  // Node 1 takes over in epoch 2, cut off from node 0 (it ships nothing to it).
  configure(2, engine::shard_replicas{{1, 0}, 1, {1}}, {1}, {0});
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
  configure(3, engine::shard_replicas{{1, 0}, 1, {1}});
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

TEST_F(replication_test, a_stale_configuration_changes_nothing) {
  start(2);
  configure(2, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  // A late message of epoch 1 (its follower unreachable) reaches node 0.
  (*self_)->send(shards_[0], replica_config{1, engine::shard_replicas{{0, 1}, 0, {0}}, 0,
                                            {caf::actor_cast<caf::strong_actor_ptr>(shards_[0]),
                                             nullptr},
                                            keeper_});
  settle();
  auto r = write(0, {with_id(ev("alice", "a"), "e1")});
  ASSERT_TRUE(r);
  EXPECT_EQ(r->accepted, 1u);
  EXPECT_EQ(state(0).replica->log().map_epoch(), 2u);
  EXPECT_EQ(events_of(1, "alice"), 1u) << "still shipped to its follower";
}

// The first ship to node 1 is lost (the link drops it); the primary's
// resend timer ships it again and the write is acknowledged.
class replication_lossy_test : public replication_test {
 protected:
  ~replication_lossy_test() override { *fate_ = [] { return 0; }; }  // links outlive it

  caf::strong_actor_ptr peer_handle(std::uint32_t from, std::uint32_t to) override {
    if (from == to)
      return caf::actor_cast<caf::strong_actor_ptr>(shards_[to]);
    if (!link_)
      link_ = sys_->spawn(lossy_link, caf::actor_cast<caf::strong_actor_ptr>(shards_[0]),
                          caf::actor_cast<caf::strong_actor_ptr>(shards_[1]), fate_);
    return caf::actor_cast<caf::strong_actor_ptr>(link_);
  }
  std::shared_ptr<std::function<int()>> fate_ =
    std::make_shared<std::function<int()>>([this] { return drop_next_ ? (drop_next_ = false, 1) : 0; });
  bool drop_next_ = false;
  caf::actor link_;
};

TEST_F(replication_lossy_test, a_lost_ship_is_sent_again_by_the_resend_timer) {
  start(2);
  configure(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  drop_next_ = true;
  auto r = write(0, {with_id(ev("alice", "a"), "e1")});
  EXPECT_FALSE(r) << "its only ship was lost: not acknowledged";
  EXPECT_EQ(state(1).replica->log().last_seq(), 0u);
  EXPECT_FALSE(drop_next_) << "the link dropped a ship";
  sched_->trigger_timeouts();  // the resend interval passes
  settle();
  EXPECT_EQ(state(1).replica->log().last_seq(), 1u);
  EXPECT_EQ(events_of(0, "alice"), 1u);
  ASSERT_FALSE((*self_)->mailbox().empty()) << "acknowledged after the resend";
}

TEST_F(replication_test, a_restored_replica_takes_no_write_before_its_configuration) {
  start(2);
  configure(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  ASSERT_TRUE(write(0, {with_id(ev("alice", "a"), "e1")}));
  restart(0);
  ASSERT_TRUE(state(0).restored);
  auto r = write(0, {with_id(ev("bob", "a"), "e2")});
  ASSERT_TRUE(r);
  ASSERT_EQ(r->failed.size(), 1u) << "its own write would collide with the replica's log";
  EXPECT_EQ(r->failed[0].why, delivery_failure::shard_unavailable);
  EXPECT_EQ(events_of(0, "bob"), 0u);
  configure(2, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  auto again = write(0, {with_id(ev("bob", "a"), "e2")});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->accepted, 1u);
  restart(0);  // and its log still reads back
  ASSERT_TRUE(state(0).restored);
  EXPECT_EQ(state(0).restored->records.size(), 2u);
}

// -- the in-sync set: what a primary asks the controller for ---------------------------

namespace {

struct isr_inbox {
  std::vector<isr_change> got;
  std::size_t count(bool join) const {
    return static_cast<std::size_t>(
      std::count_if(got.begin(), got.end(), [&](const isr_change& c) { return c.request.join == join; }));
  }
};

caf::behavior isr_collector(caf::event_based_actor*, std::shared_ptr<isr_inbox> box) {
  return {[=](isr_change& c) { box->got.push_back(std::move(c)); }};
}

}  // namespace

class replication_isr_test : public replica_nodes {
 protected:
  std::shared_ptr<isr_inbox> collect() {
    auto box = std::make_shared<isr_inbox>();
    collector_ = sys_->spawn(isr_collector, box);
    keeper_ = caf::actor_cast<caf::strong_actor_ptr>(collector_);
    return box;
  }
  void pass(caf::timespan d) {
    sched_->advance_time(d);
    settle();
  }
  ~replication_isr_test() override {
    if (collector_)
      caf::anon_send_exit(collector_, caf::exit_reason::user_shutdown);
    keeper_ = nullptr;
  }
  caf::actor collector_;
};

TEST_F(replication_isr_test, a_follower_that_caught_up_is_asked_into_the_in_sync_set) {
  start(2);
  auto box = collect();
  configure(1, engine::shard_replicas{{0, 1}, 0, {0}});  // node 1 outside the in-sync set
  for (int k = 0; k < 3; ++k)
    ASSERT_TRUE(write(0, {with_id(ev("u" + std::to_string(k), "a"), "e" + std::to_string(k))}));
  ASSERT_EQ(box->got.size(), 1u) << "one request, not one per write";
  const auto& c = box->got[0];
  EXPECT_EQ(c.kind, static_cast<std::uint8_t>(engine::shard_kind::profile));
  EXPECT_EQ(c.shard, 0u);
  EXPECT_EQ(c.request.epoch, 1u);
  EXPECT_EQ(c.request.from, 0u);
  EXPECT_EQ(c.request.replica, 1u);
  EXPECT_TRUE(c.request.join);
  // Asked again at the next resend tick while still pending (a request may
  // be lost)...
  for (int k = 0; k < 3 && box->got.size() < 2; ++k)
    pass(std::chrono::milliseconds(200));
  ASSERT_GE(box->got.size(), 2u) << "a pending join was not asked again";
  EXPECT_TRUE(box->got.back().request.join);
  // ...and no more once the map has it in sync.
  configure(2, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  const auto before = box->got.size();
  ASSERT_TRUE(write(0, {with_id(ev("v", "a"), "f1")}));
  for (int k = 0; k < 3; ++k)
    pass(std::chrono::milliseconds(200));
  EXPECT_EQ(box->got.size(), before);
}

TEST_F(replication_isr_test, an_in_sync_follower_that_stops_answering_is_reported_after_the_lag_timeout) {
  start(2);
  auto box = collect();
  configure(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  ASSERT_TRUE(write(0, {with_id(ev("alice", "a"), "e1")}));
  kill(1);
  EXPECT_FALSE(write(0, {with_id(ev("bob", "a"), "e2")})) << "acknowledged without its follower";
  // topology_config::replica_lag_timeout is 2 s: nothing before it...
  for (int k = 0; k < 9; ++k)
    pass(std::chrono::milliseconds(200));
  EXPECT_EQ(box->count(false), 0u) << "reported before the lag timeout";
  // ...then one leave request.
  pass(std::chrono::milliseconds(200));
  ASSERT_EQ(box->count(false), 1u);
  const auto& leave = box->got.back();
  EXPECT_EQ(leave.request.epoch, 1u);
  EXPECT_EQ(leave.request.from, 0u);
  EXPECT_EQ(leave.request.replica, 1u);
  EXPECT_EQ(box->count(true), 0u);
  // The controller shrinks the set: the held write commits on the primary.
  configure(2, engine::shard_replicas{{0, 1}, 0, {0}}, {0});
  EXPECT_EQ(events_of(0, "bob"), 1u);
  for (int k = 0; k < 3; ++k)
    pass(std::chrono::milliseconds(200));
  EXPECT_EQ(box->count(false), 1u) << "asked again after the map dropped it";
}
