// engine::replica_journal: what a replica stores of its replica_log, and
// what is durable when its store reports writes durable in order. By hand
// here; the seeded simulation in replica_log_test.cpp runs it under
// crashes with a model store whose read-back is checked after every step.
#include "engine/replica_journal.hpp"

#include <gtest/gtest.h>

#include <vector>

using namespace rtrec::engine;

namespace {

std::vector<journal_write::kind_t> kinds(const std::vector<journal_write>& ws) {
  std::vector<journal_write::kind_t> out;
  for (const auto& w : ws)
    out.push_back(w.kind);
  return out;
}

// A follower of epoch 1 holding records 1 and 2 from primary 0, durable.
struct follower_fixture {
  replica_log log{1};
  replica_journal journal;

  follower_fixture() {
    log.adopt(1, shard_replicas{{0, 1}, 0, {0, 1}});
    ship_request s;
    s.epoch = 1;
    s.from = 0;
    s.records = {{1, 1, 0, "a"}, {2, 1, 0, "b"}};
    log.on_ship(s);
    journal.changes(log);
    log.sync(journal.durable(journal.written()));
  }
};

}  // namespace

TEST(replica_journal, a_primary_stores_each_record_then_its_commit) {
  replica_log log{0};
  replica_journal j;
  log.adopt(1, shard_replicas{{0}, 0, {0}});
  auto first = j.changes(log);
  ASSERT_EQ(kinds(first), std::vector<journal_write::kind_t>{journal_write::state});
  EXPECT_EQ(first[0].epoch_seen, 1u) << "the epoch it acts in, stored before it acts";
  ASSERT_TRUE(log.append(0, "x"));
  ASSERT_TRUE(log.append(0, "y"));
  EXPECT_EQ(log.last_seq(), 2u) << "id 0 is no id: both appended";
  auto ws = j.changes(log);
  ASSERT_EQ(kinds(ws), (std::vector<journal_write::kind_t>{journal_write::record, journal_write::record}));
  EXPECT_EQ(ws[0].seq, 1u);
  EXPECT_EQ(ws[1].seq, 2u);
  EXPECT_TRUE(j.changes(log).empty()) << "nothing changed since";
  log.sync(j.durable(j.written()));
  EXPECT_EQ(log.synced(), 2u);
  log.take_applicable();
  auto commit = j.changes(log);
  ASSERT_EQ(kinds(commit), std::vector<journal_write::kind_t>{journal_write::state});
  EXPECT_EQ(commit[0].commit, 2u);
}

TEST(replica_journal, durability_is_by_write_number_in_order) {
  replica_log log{0};
  replica_journal j;
  log.adopt(1, shard_replicas{{0}, 0, {0}});
  j.changes(log);  // write 1: the state
  log.append(0, "x");
  log.append(0, "y");
  log.append(0, "z");
  j.changes(log);  // writes 2, 3, 4
  EXPECT_EQ(j.written(), 4u);
  log.sync(j.durable(3));
  EXPECT_EQ(log.synced(), 2u) << "writes up to 3 hold records up to 2";
  EXPECT_EQ(j.durable(3), 0u) << "nothing newer";
  log.sync(j.durable(4));
  EXPECT_EQ(log.synced(), 3u);
}

TEST(replica_journal, a_replaced_tail_is_voided_before_its_replacements_are_stored) {
  follower_fixture f;
  // Node 2 became primary in epoch 2 with another record at seq 2.
  ship_request s;
  s.epoch = 2;
  s.from = 2;
  s.prev_seq = 1;
  s.prev_epoch = 1;
  s.records = {{2, 2, 0, "B"}, {3, 2, 0, "C"}};
  auto a = f.log.on_ship(s);
  ASSERT_TRUE(a.ok);
  EXPECT_EQ(f.log.synced(), 1u) << "its durable seq 2 is no longer the log's";
  auto ws = f.journal.changes(f.log);
  ASSERT_EQ(kinds(ws), (std::vector<journal_write::kind_t>{journal_write::marker,
                                                           journal_write::record,
                                                           journal_write::record,
                                                           journal_write::state}));
  EXPECT_EQ(ws[0].keep, 1u);
  EXPECT_EQ(ws[0].seq, 2u) << "the highest seq it ever stored";
  EXPECT_EQ(ws[1].seq, 2u);
  EXPECT_EQ(ws[2].seq, 3u);
  EXPECT_EQ(ws[3].epoch_seen, 2u);
  EXPECT_FALSE(f.log.take_replaced()) << "taken by the journal";
}

TEST(replica_journal, records_behind_a_marker_in_flight_are_not_durable) {
  follower_fixture f;
  const auto before = f.journal.written();
  // A write of epoch 1 is in flight (record 3) when epoch 2 replaces seq 3.
  ship_request s1;
  s1.epoch = 1;
  s1.from = 0;
  s1.prev_seq = 2;
  s1.prev_epoch = 1;
  s1.records = {{3, 1, 0, "c"}};
  f.log.on_ship(s1);
  f.journal.changes(f.log);  // write before + 1: record 3 of epoch 1
  ship_request s2;
  s2.epoch = 2;
  s2.from = 2;
  s2.prev_seq = 2;
  s2.prev_epoch = 1;
  s2.records = {{3, 2, 0, "C"}};
  f.log.on_ship(s2);
  auto ws = f.journal.changes(f.log);  // marker (keep 2), record 3 of epoch 2, state
  ASSERT_EQ(ws.front().kind, journal_write::marker);
  f.log.sync(f.journal.durable(before + 1));
  EXPECT_EQ(f.log.synced(), 2u)
    << "the durable record 3 is epoch 1's, which the pending marker voids";
  f.log.sync(f.journal.durable(f.journal.written()));
  EXPECT_EQ(f.log.synced(), 3u);
  EXPECT_EQ(f.log.epoch_at(3), 2u);
}

TEST(replica_journal, a_primary_is_ready_only_once_its_epoch_is_stored) {
  replica_log log{0};
  replica_journal j;
  log.adopt(3, shard_replicas{{0, 1}, 0, {0, 1}});
  ASSERT_TRUE(log.primary());
  EXPECT_FALSE(j.ready(log)) << "epoch 3 is not stored yet";
  j.changes(log);
  EXPECT_FALSE(j.ready(log)) << "issued, not durable";
  j.durable(j.written());
  EXPECT_TRUE(j.ready(log));
  // A restart whose store lost a newer epoch's state write: acting in that
  // epoch again needs it stored again first.
  log.adopt(5, shard_replicas{{0, 1}, 0, {0, 1}});
  j.changes(log);  // the state write of epoch 5, lost in the crash below
  auto p = log.persisted();
  p.epoch_seen = 3;
  log.restore(p);
  j.restart(1, log.last_seq(), log.commit_known(), log.epoch_seen());
  log.adopt(5, shard_replicas{{0, 1}, 0, {0, 1}});
  ASSERT_TRUE(log.primary()) << "it never acted in epoch 5: it may now";
  EXPECT_FALSE(j.ready(log));
  j.changes(log);
  j.durable(j.written());
  EXPECT_TRUE(j.ready(log));
  EXPECT_FALSE(j.ready(replica_log{1})) << "not primary: never ready";
}

namespace {

// Primary 2 of epoch 3 sends follower `f` its checkpoint at `snapshot`
// (whose last record has epoch 2) and the record after it; returns the
// writes that store what changed.
std::vector<journal_write> install(follower_fixture& f, std::uint64_t snapshot) {
  ship_request s;
  s.epoch = 3;
  s.from = 2;
  s.snapshot_seq = snapshot;
  s.prev_seq = snapshot;
  s.prev_epoch = 2;
  s.records = {{snapshot + 1, 3, 0, "next"}};
  EXPECT_TRUE(f.log.on_ship(s).installed);
  return f.journal.changes(f.log);
}

}  // namespace

TEST(replica_journal, a_checkpoint_install_voids_a_stored_tail_it_does_not_keep) {
  follower_fixture f;
  // The checkpoint ends at 1, on epoch 2's history: the follower's records
  // 1 and 2 of epoch 1 are not on it.
  auto ws = install(f, 1);
  ASSERT_EQ(kinds(ws), (std::vector<journal_write::kind_t>{journal_write::marker,
                                                           journal_write::record,
                                                           journal_write::state}));
  EXPECT_EQ(ws[0].keep, 1u) << "record 1 is the checkpoint's (the carrier stores it)";
  EXPECT_EQ(ws[1].seq, 2u);
}

TEST(replica_journal, a_checkpoint_past_the_stored_log_needs_no_marker) {
  follower_fixture f;
  auto ws = install(f, 5);
  ASSERT_EQ(kinds(ws), (std::vector<journal_write::kind_t>{journal_write::record,
                                                           journal_write::state}))
    << "its stored records are all below the checkpoint, which readers skip";
  EXPECT_EQ(ws[0].seq, 6u);
}
