// Fault tests on the deterministic scheduler: a dead or frozen shard is
// detected and the caller gets an error, never a hang; other shards keep
// serving; no event disappears without being reported.
#include "tests/harness/topology_fixture.hpp"

#include <random>

using namespace rtrec;
using rtrec::testing::ev;

namespace {

class fault_test : public rtrec::testing::topology_fixture {
 protected:
  // Returns a user id owned by profile shard `shard`.
  std::string user_on(std::size_t shard, int salt = 0) {
    for (int k = 0;; ++k) {
      auto id = "user-" + std::to_string(salt) + "-" + std::to_string(k);
      if (engine::shard_of(engine::hash_id(id), static_cast<std::uint32_t>(topo().profiles.size()))
          == shard)
        return id;
    }
  }
};

TEST_F(fault_test, killed_profile_shard_gives_errors_and_others_keep_serving) {
  start();
  auto dead_user = user_on(0);
  auto live_user = user_on(1);
  ASSERT_TRUE(ingest({ev(dead_user, "a"), ev(live_user, "a"), ev(live_user, "b")}));
  kill_profile_shard(0);

  auto r = recommend(dead_user, 5);
  ASSERT_FALSE(r) << "a recommendation for a user of a dead shard must fail";
  EXPECT_EQ(r.error().category(), caf::atom("rtrec"));
  EXPECT_EQ(r.error(), caf::make_error(error_code::shard_unavailable));
  auto ok = recommend(live_user, 5);
  ASSERT_TRUE(ok) << sys().render(ok.error());

  // Events for the dead shard are reported, the others are applied.
  auto ack = ingest({ev(live_user, "c"), ev(dead_user, "d"), ev(live_user, "e")});
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->accepted, 2u);
  ASSERT_EQ(ack->failed.size(), 1u);
  EXPECT_TRUE(ack->rejected.empty());
  EXPECT_EQ(ack->failed[0].index, 1u);
  EXPECT_EQ(ack->failed[0].why, delivery_failure::shard_unavailable);
}

TEST_F(fault_test, killed_item_shard_fails_queries_not_acknowledged_events) {
  start();
  ASSERT_TRUE(ingest({ev("u1", "a"), ev("u1", "b")}));
  kill_item_shard(1);
  auto r = recommend("u1", 5);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), caf::make_error(error_code::shard_unavailable));
  // Profile shards still apply and acknowledge; the lost item-side delta is
  // counted, and flush reports the dead item shard instead of hanging.
  auto ack = ingest({ev("u2", "a")});
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->accepted, 1u);
  std::uint64_t failures = 0;
  for (std::size_t s = 0; s < topo().profiles.size(); ++s) {
    auto st = profile_stats(s);
    ASSERT_TRUE(st);
    failures += st->delta_failures;
  }
  EXPECT_GE(failures, 1u);
  auto f = flush();
  ASSERT_FALSE(f);
  EXPECT_EQ(f.error(), caf::make_error(error_code::shard_unavailable));
}

TEST_F(fault_test, frozen_shard_times_out_with_an_error) {
  start();
  auto user = user_on(2);
  ASSERT_TRUE(ingest({ev(user, "a")}));
  // The recommender asks the profile shard; before the shard runs, every
  // pending timeout fires: the shard looks frozen.
  auto handle = self()->request(topo().recommenders[0], std::chrono::seconds(5),
                                recommend_request{user, 5, 0, {}, true});
  ASSERT_TRUE(sched().try_run_once());  // the recommender sends to the shard
  EXPECT_EQ(queued(topo().profiles[2]), 1u);
  // The recommender's 1 s timeout fires; the fixture's own 5 s one does not.
  // (Timeouts of requests answered earlier fire too, harmlessly.)
  EXPECT_GE(advance_time(std::chrono::seconds(1)), 1u);
  caf::error err;
  handle.receive([](recommendations&) { FAIL() << "expected a timeout error"; },
                 [&](caf::error& e) { err = e; });
  EXPECT_EQ(err, caf::make_error(error_code::shard_unavailable));
}

TEST_F(fault_test, timed_out_ingest_reports_every_event) {
  start();
  auto user = user_on(1);
  auto other = user_on(0);
  auto handle = self()->request(topo().ingestors[0], std::chrono::seconds(5),
                                ingest_request{{ev(user, "a"), ev(other, "b"), ev(user, "c")}});
  ASSERT_TRUE(sched().try_run_once());  // the ingestor routes to the shards
  // One tick of the ingestor expires both shard requests (no CAF timer per
  // request: actors/deadlines.hpp).
  EXPECT_GE(advance_time(std::chrono::seconds(1)), 1u);
  ingest_result ack;
  handle.receive([&](ingest_result& a) { ack = std::move(a); },
                 [](caf::error& e) { FAIL() << "unexpected error " << to_string(e); });
  EXPECT_EQ(ack.accepted, 0u);
  ASSERT_EQ(ack.failed.size(), 3u) << "every event must be reported";
  for (std::uint32_t k = 0; k < 3; ++k) {
    EXPECT_EQ(ack.failed[k].index, k);
    EXPECT_EQ(ack.failed[k].why, delivery_failure::shard_unavailable);
  }
}

TEST_F(fault_test, slow_item_side_holds_back_acknowledgements_not_shards) {
  auto cfg = default_config();
  cfg.max_deltas_in_flight = 1;
  cfg.profile_shards = 1;
  start(cfg);
  // Send three batches without running; the profile shard applies them all
  // but may acknowledge only while item shards keep up.
  for (int k = 0; k < 3; ++k)
    self()->send(topo().profiles[0], shard_batch{{ev("u", "i" + std::to_string(k))}, {0}});
  run();  // the item shards drain, deferred acknowledgements are released
  // Every batch was acknowledged in the end.
  std::size_t acks = 0;
  while (self()->has_next_message())
    self()->receive([&](ingest_result& a) { acks += a.accepted; });
  EXPECT_EQ(acks, 3u);
  auto st = profile_stats(0);
  ASSERT_TRUE(st) << sys().render(st.error());
  EXPECT_EQ(st->events_applied, 3u);
  EXPECT_GE(st->acks_deferred, 1u);
  EXPECT_EQ(st->deltas_in_flight, 0u);
}

}  // namespace
