// Gap-checked delta streams and resyncs on the deterministic scheduler
// (docs/replication.md, "Stage 1: durable nodes"). A profile shard whose
// item shard is unreachable for a while (its cluster directory says so)
// drops that shard's batches; when the item shard is reachable again, the
// marker makes it find the gap, ask for a resync, and end with exactly the
// state of the item shard that never missed a batch.
//
// The profile shard here runs without a log (the log's writer thread does not
// belong on the deterministic scheduler); its data directory's log is
// written by the test with the very records the shard applies (one profile
// shard, one batch per ingest, a fixed clock), which is what a logging shard
// would have written.
#include "tests/harness/topology_fixture.hpp"
#include "tests/harness/compare.hpp"

#include "storage/codec.hpp"
#include "storage/recovery.hpp"
#include "storage/wal.hpp"
#include "tests/storage/log_writer.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace rtrec;
using rtrec::testing::ev;

namespace {

constexpr std::int64_t fixed_now = 1'700'000'100'000;

class resync_test : public rtrec::testing::topology_fixture {
 protected:
  static topology_config config() {
    auto cfg = default_config();
    cfg.profile_shards = 1;
    cfg.item_shards = 2;
    cfg.ingestors = 1;
    return cfg;
  }

  storage::recovery_options data_options(const topology_config& cfg) const {
    storage::recovery_options o;
    o.data_dir = tmp_.data_dir();
    o.profile_shards = cfg.profile_shards;
    o.item_shards = cfg.item_shards;
    o.model = cfg.model;
    o.dedup_ids_per_shard = dedup_ids_per_shard(cfg);
    o.dedup_age_ms = cfg.dedup_age.count();
    return o;
  }

  // Starts the topology; with_data: its profile shard re-derives from the
  // test's data directory.
  void start_with(bool with_data) {
    auto cfg = config();
    topology_context ctx;
    ctx.clock = [] { return fixed_now; };
    if (with_data)
      ctx.data = data_options(cfg);
    start(cfg, ctx);
  }

  // Ingests `events` as the profile shard's next batch, and logs them as its
  // record `seq` the way a logging shard would.
  void batch(std::vector<engine::event> events) {
    storage::log_record r{storage::record_kind::events, 0, ++seq_, fixed_now, {}};
    storage::encode_events(events, r.payload);
    records_.push_back(std::move(r));
    auto ack = ingest(std::move(events));
    ASSERT_TRUE(ack) << sys().render(ack.error());
    ASSERT_TRUE(ack->failed.empty());
  }

  void write_log() { rtrec::storage_test::append_records(tmp_.data_dir(), records_); }

  // Tells the profile shard that item shard 1 is reachable (or not).
  void item_one_reachable(bool up) {
    shard_directory d;
    for (auto& m : topo().items)
      d.items.push_back(caf::actor_cast<caf::strong_actor_ptr>(m));
    if (!up)
      d.items[1] = nullptr;
    self()->send(topo().profiles[0], directory_atom::value, d);
    run();
  }

  item_shard_stats item(std::size_t m) {
    auto s = item_stats(m);
    EXPECT_TRUE(s) << sys().render(s.error());
    return s ? *s : item_shard_stats{};
  }

  rtrec::storage_test::temp_dir tmp_;
  std::uint64_t seq_ = 0;
  std::vector<storage::log_record> records_;
};

// Item shard 1's state and the answers that read its rows, after the same
// four batches; with `gap`, item shard 1 misses the middle two and resyncs.
struct outcome {
  item_shard_stats one, zero;
  std::vector<std::vector<engine::recommendation>> similar;
};

TEST_F(resync_test, an_item_shard_that_missed_batches_resyncs_to_the_same_state) {
  auto run_scenario = [&](bool gap) {
    seq_ = 0;
    records_.clear();
    start_with(true);
    batch({ev("u1", "a"), ev("u1", "b"), ev("u2", "a")});
    batch({ev("u2", "c"), ev("u3", "b")});
    if (gap)
      item_one_reachable(false);
    batch({ev("u1", "c"), ev("u3", "a"), ev("u3", "d")});
    batch({ev("u2", "d"), ev("u4", "a")});
    if (gap) {
      EXPECT_LT(item(1).model.events, item(0).model.events);
      write_log();
      item_one_reachable(true);  // the marker shows the gap; the resync closes it
    }
    outcome out{item(1), item(0), {}};
    for (const char* it : {"a", "b", "c", "d"}) {
      auto got = similar(it, 5);
      EXPECT_TRUE(got) << sys().render(got.error());
      out.similar.push_back(got ? *got : std::vector<engine::recommendation>{});
    }
    return out;
  };
  const auto want = run_scenario(false);
  stop();
  const auto got = run_scenario(true);
  EXPECT_EQ(got.one.gaps, 1u);
  EXPECT_EQ(got.one.resyncs, 1u);
  EXPECT_EQ(got.one.resync_failures, 0u);
  EXPECT_EQ(want.one.gaps, 0u);
  EXPECT_EQ(got.one.model.events, want.one.model.events);
  EXPECT_EQ(got.one.model.pair_updates, want.one.model.pair_updates);
  EXPECT_EQ(got.one.model.rows, want.one.model.rows);
  EXPECT_EQ(got.one.model.row_entries, want.one.model.row_entries);
  EXPECT_EQ(got.zero.model.pair_updates, want.zero.model.pair_updates);
  for (std::size_t k = 0; k < want.similar.size(); ++k) {
    auto diff = rtrec::testing::compare(got.similar[k], want.similar[k]);
    EXPECT_TRUE(diff.empty()) << "similar to item " << k << ": " << diff;
  }
  // The stream goes on: the next batch is applied, not a gap.
  batch({ev("u4", "b")});
  EXPECT_EQ(item(1).gaps, 1u);
  EXPECT_EQ(item(1).model.events, item(0).model.events);
}

TEST_F(resync_test, a_batch_already_applied_is_skipped) {
  start_with(true);
  batch({ev("u1", "a"), ev("u1", "b")});
  const auto before = item(0);
  delta_batch again;
  again.source = 0;
  again.seq = 1;
  again.delta.item.push_back(engine::hash_id("zzz"));
  again.delta.weight.push_back(1.0f);
  again.delta.timestamp.push_back(fixed_now);
  again.delta.flags.push_back(0);
  again.delta.ctx_end.push_back(0);
  auto r = ask<std::uint64_t>(topo().items[0], again);
  ASSERT_TRUE(r) << sys().render(r.error());
  const auto after = item(0);
  EXPECT_EQ(after.duplicates, before.duplicates + 1);
  EXPECT_EQ(after.model.events, before.model.events);
  EXPECT_EQ(after.gaps, 0u);
}

TEST_F(resync_test, a_failed_resync_is_counted_and_asked_again_at_the_next_batch) {
  start_with(false);  // no data directory: the profile shard cannot re-derive
  batch({ev("u1", "a"), ev("u1", "b")});
  item_one_reachable(false);
  batch({ev("u2", "a"), ev("u2", "b")});
  item_one_reachable(true);
  auto one = item(1);
  EXPECT_EQ(one.gaps, 1u);
  EXPECT_EQ(one.resync_failures, 1u);
  EXPECT_EQ(one.resyncs, 0u);
  batch({ev("u3", "a")});  // still behind: a gap again, asked again
  one = item(1);
  EXPECT_EQ(one.gaps, 2u);
  EXPECT_EQ(one.resync_failures, 2u);
  EXPECT_LT(one.model.events, item(0).model.events);
}

TEST_F(resync_test, a_resync_the_log_cannot_serve_fails_and_changes_nothing) {
  start_with(true);  // but the test never writes the log
  batch({ev("u1", "a"), ev("u1", "b")});
  item_one_reachable(false);
  batch({ev("u2", "a"), ev("u2", "b")});
  const auto events_before = item(1).model.events;
  item_one_reachable(true);
  auto one = item(1);
  EXPECT_EQ(one.resync_failures, 1u);
  EXPECT_EQ(one.model.events, events_before);
}

}  // namespace

namespace {

TEST_F(resync_test, a_resync_awaited_from_a_gone_incarnation_is_asked_again_of_the_new_one) {
  start_with(true);
  batch({ev("u1", "a"), ev("u1", "b")});
  // A batch with a gap from another actor (standing in for a profile shard
  // whose node then died): the item shard asks it, and it never answers.
  delta_batch stray;
  stray.source = 0;
  stray.seq = 9;
  stray.prev = 8;
  auto r = ask<std::uint64_t>(topo().items[1], stray);
  ASSERT_TRUE(r) << sys().render(r.error());
  EXPECT_EQ(item(1).gaps, 1u);
  item_one_reachable(false);
  batch({ev("u2", "a"), ev("u2", "b")});
  write_log();
  item_one_reachable(true);  // the real shard's marker: asked again, of it
  auto one = item(1);
  EXPECT_EQ(one.resyncs, 1u);
  EXPECT_EQ(one.resync_failures, 0u);
  EXPECT_EQ(one.model.events, item(0).model.events);
}

}  // namespace
