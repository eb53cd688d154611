// rtrec::testing — the actor-level testing harness, a product feature.
//
// topology_fixture runs the real actor topology (ingestors, profile shards,
// item shards, recommenders) on CAF's deterministic scheduler
// (scheduler.policy = testing): one thread, one message at a time, and time
// moves only when the test says so. Derive a GoogleTest fixture from it:
//
//   class my_test : public rtrec::testing::topology_fixture {};
//   TEST_F(my_test, like_shows_up) {
//     start();                                    // default_config()
//     ASSERT_TRUE(ingest({ev("alice", "a"), ev("bob", "a"), ev("bob", "b")}));
//     run();                                      // until every mailbox is empty
//     auto recs = recommend("alice", 5);
//     ASSERT_TRUE(recs);
//     EXPECT_EQ(recs->front().item, "b");
//   }
//
// Every query helper sends from the fixture's own actor, runs the scheduler
// until idle and then takes the reply; a request that got no reply comes back
// as an error ("no reply"), so a hang is a test failure, never a stuck test.
// Fault pieces: kill_profile_shard / kill_item_shard, fire_timeouts (time out
// every pending request now), advance_time, and queued() to look at mailboxes.
#pragma once

#include <caf/all.hpp>
#include <gtest/gtest.h>

#include <memory>
#include <string>
#include <vector>

#include "actors/topology.hpp"
#include "engine/event.hpp"
#include "engine/model_types.hpp"
#include "messages/messages.hpp"

namespace rtrec::testing {

/// A view event for quick test data.
engine::event ev(std::string user, std::string item,
                 engine::event_type type = engine::event_type::view, double value = 0.0,
                 std::int64_t timestamp_ms = 1'700'000'000'000);

class topology_fixture : public ::testing::Test {
 public:
  topology_fixture();
  ~topology_fixture() override;

  /// 3 profile shards, 2 item shards, 2 ingestors, 2 recommenders, exact
  /// popularity (no cache staleness), 1 s request timeout.
  static topology_config default_config();

 protected:
  /// Spawns the topology (with `ctx`: a reply sink, a clock, a log) and
  /// runs it until idle.
  void start(topology_config cfg = default_config(), topology_context ctx = {});
  /// Stops every actor of the topology (also done by the destructor).
  void stop();

  // -- requests (send, run until idle, take the reply) -------------------------

  /// Ingests through ingestor `via` (round-robin when -1).
  caf::expected<ingest_result> ingest(std::vector<engine::event> events, int via = -1);
  caf::expected<std::vector<engine::recommendation>>
  recommend(const std::string& user, std::uint32_t n = 10, const std::string& category = {},
            std::uint32_t offset = 0, bool exclude_seen = true);
  caf::expected<std::vector<engine::recommendation>> similar(const std::string& item,
                                                             std::uint32_t n = 10);
  caf::expected<std::vector<engine::recommendation>> popular(std::uint32_t n = 10);
  caf::expected<std::vector<engine::recommendation>> latest(std::uint32_t n = 10,
                                                            const std::string& category = {});
  /// The users most similar to `user` (item = user id).
  caf::expected<std::vector<engine::recommendation>>
  user_neighbors(const std::string& user, std::uint32_t n = 10, std::uint32_t offset = 0);
  /// Recommendations for an anonymous session of `events` (nothing stored).
  caf::expected<std::vector<engine::recommendation>>
  session(std::vector<engine::event> events, std::uint32_t n = 10);
  /// An item's metadata as item shard `shard` holds it.
  caf::expected<engine::item_meta> item(const std::string& id, std::size_t shard = 0);
  caf::expected<engine::profile_view> profile(const std::string& user);
  caf::expected<bool> set_item(const engine::item_meta& meta);
  /// Flushes every profile shard; returns events applied in total.
  caf::expected<std::uint64_t> flush();
  caf::expected<shard_stats> profile_stats(std::size_t shard);
  caf::expected<item_shard_stats> item_stats(std::size_t shard);
  caf::expected<ingest_stats> ingestor_stats(std::size_t ingestor);

  /// Sends `xs` to `dest` from the fixture's actor and returns the reply once
  /// the scheduler is idle; an error "no reply" if there was none.
  template <class T, class Handle, class... Ts>
  caf::expected<T> ask(const Handle& dest, Ts&&... xs) {
    auto handle = (*self_)->request(dest, topo_.config.request_timeout, std::forward<Ts>(xs)...);
    run();
    if ((*self_)->mailbox().empty())
      return caf::make_error(caf::sec::request_timeout,
                             "no reply: the request is still pending after the system went idle");
    caf::expected<T> result{caf::make_error(caf::sec::unexpected_response)};
    handle.receive([&](T& x) { result = std::move(x); },
                   [&](caf::error& err) { result = std::move(err); });
    return result;
  }

  // -- control --------------------------------------------------------------------

  /// Runs until no actor has a message left; returns messages processed.
  std::size_t run();
  /// Runs exactly one message (of any actor); false if none was queued.
  bool run_once();
  /// Advances the simulated clock by `d` and runs; returns timeouts fired.
  std::size_t advance_time(caf::timespan d);
  /// Fires every pending timeout now (requests time out early) and runs.
  std::size_t fire_timeouts();
  /// Kills a shard actor at once (exit_reason::kill) and runs.
  void kill_profile_shard(std::size_t shard);
  void kill_item_shard(std::size_t shard);
  /// Messages waiting in an actor's mailbox.
  std::size_t queued(const caf::actor_addr& addr) const;
  template <class Handle>
  std::size_t queued(const Handle& h) const {
    return queued(h.address());
  }

  caf::actor_system& sys() { return *sys_; }
  caf::scheduler::test_coordinator& sched() { return *sched_; }
  caf::scoped_actor& self() { return *self_; }
  topology& topo() { return topo_; }

 private:
  caf::actor_system_config cfg_;
  std::unique_ptr<caf::actor_system> sys_;
  caf::scheduler::test_coordinator* sched_ = nullptr;
  std::unique_ptr<caf::scoped_actor> self_;
  topology topo_;
  std::size_t next_ingestor_ = 0;
  std::size_t next_recommender_ = 0;
};

}  // namespace rtrec::testing
