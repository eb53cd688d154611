// An item shard applies a delta batch at most topology_config::
// item_apply_slice events per turn (actors/item_shard.hpp), on the
// deterministic scheduler: a query that reaches the shard while a batch is
// being applied is answered between two slices, not after the whole batch;
// the batch is acknowledged (with its seq) only once it is applied whole;
// a flush sent behind it counts it; and the answers at the end are those of
// a shard that applied it in one turn.
#include "tests/harness/topology_fixture.hpp"

#include <string>
#include <vector>

#include "engine/profile_store.hpp"

using namespace rtrec;
using rtrec::testing::ev;

namespace {

class item_slice_test : public rtrec::testing::topology_fixture {
 protected:
  // A delta batch of `events` (as profile shard 0 would send it) with the
  // stream positions prev -> seq.
  static delta_batch make_batch(engine::profile_store& store,
                                const std::vector<engine::event>& events, std::uint64_t prev,
                                std::uint64_t seq) {
    std::vector<engine::reject_reason> results;
    delta_batch x;
    store.apply_batch(events, results, x.delta);
    x.source = 0;
    x.prev = prev;
    x.seq = seq;
    return x;
  }

  static std::vector<engine::event> events(int users, int items, const std::string& tag) {
    std::vector<engine::event> out;
    for (int u = 0; u < users; ++u)
      for (int i = 0; i < items; ++i)
        out.push_back(ev(tag + "u" + std::to_string(u), "i" + std::to_string((u + i) % 7)));
    return out;
  }
};

TEST_F(item_slice_test, a_query_is_answered_between_the_slices_of_a_batch) {
  auto cfg = default_config();
  cfg.item_apply_slice = 4;
  start(cfg);
  auto shard = topo().items[0];
  engine::profile_store store{cfg.model};
  const auto x = make_batch(store, events(8, 5, "a"), 0, 1);  // 40 events: 10 slices
  ASSERT_EQ(x.delta.size(), 40u);

  auto batch_reply = self()->request(shard, cfg.request_timeout, x);
  auto stats_reply = self()->request(shard, cfg.request_timeout, stats_atom::value);
  ASSERT_TRUE(run_once());  // the batch's first slice
  ASSERT_TRUE(run_once());  // the stats query, ahead of the rest of the batch
  ASSERT_EQ(self()->mailbox().size(), 1u) << "the query was not answered between two slices";
  item_shard_stats mid;
  stats_reply.receive([&](item_shard_stats& s) { mid = s; },
                      [&](caf::error& err) { FAIL() << sys().render(err); });
  EXPECT_EQ(mid.batches, 0u) << "the batch was counted before it was applied whole";
  EXPECT_GT(mid.model.items, 0u) << "the first slice applied nothing";

  // The other nine slices, one turn each, then the batch's acknowledgement.
  EXPECT_EQ(run(), 9u);
  std::uint64_t acked = 0;
  batch_reply.receive([&](std::uint64_t seq) { acked = seq; },
                      [&](caf::error& err) { FAIL() << sys().render(err); });
  EXPECT_EQ(acked, 1u);
  auto after = item_stats(0);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->batches, 1u);
}

TEST_F(item_slice_test, a_flush_behind_a_sliced_batch_counts_it_and_answers_match_a_whole_apply) {
  // The same two batches to a shard that slices by 3 and to one that does not.
  std::vector<std::vector<engine::recommendation>> answers;
  std::vector<std::uint64_t> flushed;
  for (std::uint32_t slice : {3u, 0u}) {
    auto cfg = default_config();
    cfg.item_apply_slice = slice;
    cfg.item_shards = 1;
    start(cfg);
    engine::profile_store store{cfg.model};
    auto shard = topo().items[0];
    const auto first = make_batch(store, events(6, 4, "b"), 0, 1);
    const auto second = make_batch(store, events(5, 6, "c"), 1, 2);
    auto r1 = self()->request(shard, cfg.request_timeout, first);
    auto r2 = self()->request(shard, cfg.request_timeout, second);
    auto rf = self()->request(shard, cfg.request_timeout, flush_atom::value);
    run();
    std::uint64_t s1 = 0, s2 = 0, f = 0;
    r1.receive([&](std::uint64_t seq) { s1 = seq; }, [&](caf::error& e) { FAIL() << sys().render(e); });
    r2.receive([&](std::uint64_t seq) { s2 = seq; }, [&](caf::error& e) { FAIL() << sys().render(e); });
    rf.receive([&](std::uint64_t n) { f = n; }, [&](caf::error& e) { FAIL() << sys().render(e); });
    EXPECT_EQ(s1, 1u);
    EXPECT_EQ(s2, 2u);
    flushed.push_back(f);
    auto sim = similar("i3", 10);
    ASSERT_TRUE(sim) << sys().render(sim.error());
    answers.push_back(*sim);
    stop();
  }
  EXPECT_EQ(flushed[0], 2u) << "the flush was answered before the batches sent ahead of it";
  EXPECT_EQ(flushed[1], 2u);
  ASSERT_EQ(answers[0].size(), answers[1].size());
  ASSERT_FALSE(answers[0].empty());
  for (std::size_t k = 0; k < answers[0].size(); ++k) {
    EXPECT_EQ(answers[0][k].item, answers[1][k].item);
    EXPECT_EQ(answers[0][k].score, answers[1][k].score);
  }
}

}  // namespace
