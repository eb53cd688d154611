// storage::plan_retention and kept_coverage: which checkpoint and log a
// cluster node keeps for the other nodes' item shards (docs/replication.md,
// "Stage 1: durable nodes").
#include "storage/retention.hpp"

#include <gtest/gtest.h>

#include "storage/recovery.hpp"
#include "storage/snapshot.hpp"
#include "storage/wal.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace rtrec::storage;

namespace {

// A checkpoint whose manifest says profile shards are at `seq`, item shard m
// holds applied[m], meta stream at `meta`. The payloads are placeholders:
// only manifests are read here.
void write(const std::string& root, std::uint64_t id, std::vector<std::uint64_t> seq,
           std::vector<std::vector<std::uint64_t>> applied, std::uint64_t meta) {
  checkpoint_data d;
  auto& m = d.manifest;
  m.id = id;
  m.created_ms = 1'700'000'000'000 + static_cast<std::int64_t>(id);
  m.profile_shards = static_cast<std::uint32_t>(seq.size());
  m.item_shards = static_cast<std::uint32_t>(applied.size());
  m.profile_seq = std::move(seq);
  m.item_applied = std::move(applied);
  m.meta_seq = meta;
  d.profile_blobs.assign(m.profile_shards, "p");
  d.item_blobs.assign(m.item_shards, "i");
  write_checkpoint(root, d, false);
}

class retention : public ::testing::Test {
 protected:
  void SetUp() override {
    root_ = snapshot_dir(tmp_.data_dir());
    write(root_, 1, {10, 5}, {{3, 4}, {8, 2}}, 7);
    write(root_, 2, {20, 15}, {{12, 9}, {18, 11}}, 8);
    write(root_, 3, {30, 25}, {{22, 19}, {28, 21}}, 9);
  }
  rtrec::storage_test::temp_dir tmp_;
  std::string root_;
};

TEST_F(retention, nothing_is_released_while_an_item_shard_is_unheard_of) {
  const auto plan = plan_retention(root_, {true, false}, {{0, {25, 0}}}, 2);
  EXPECT_FALSE(plan.complete);
  EXPECT_EQ(plan.base, 0u);
  EXPECT_TRUE(plan.covered.empty());
}

TEST_F(retention, the_base_is_the_newest_checkpoint_every_item_shard_has_passed) {
  // Profile shard 0 is held up to 25 by item shard 0, 22 by item shard 1.
  // Coverages: per profile shard, then the item metadata stream.
  const auto plan =
    plan_retention(root_, {true, false}, {{0, {25, 0, 50}}, {1, {22, 100, 50}}}, 2);
  ASSERT_TRUE(plan.complete);
  EXPECT_EQ(plan.base, 2u);
  ASSERT_EQ(plan.covered.size(), 3u);
  EXPECT_EQ(plan.covered.at(0), 20u);
  EXPECT_EQ(plan.covered.at(1), 15u);
  EXPECT_EQ(plan.covered.at(meta_stream), 8u);
}

TEST_F(retention, only_this_nodes_profile_shards_bound_the_base) {
  // Profile shard 1 lives elsewhere: its low coverage does not matter here.
  auto plan = plan_retention(root_, {true, false}, {{0, {40, 0, 50}}, {1, {35, 0, 50}}}, 2);
  EXPECT_EQ(plan.base, 3u);
  // Hosted here, it holds the base back to checkpoint 1.
  plan = plan_retention(root_, {true, true}, {{0, {40, 6, 50}}, {1, {35, 30, 50}}}, 2);
  EXPECT_EQ(plan.base, 1u);
}

TEST_F(retention, no_base_when_every_checkpoint_is_ahead_of_an_item_shard) {
  const auto plan = plan_retention(root_, {true, false}, {{0, {9, 0}}, {1, {50, 0}}}, 2);
  EXPECT_TRUE(plan.complete);
  EXPECT_EQ(plan.base, 0u);
  EXPECT_TRUE(plan.covered.empty());
}

TEST_F(retention, a_node_reports_its_oldest_kept_checkpoint_for_its_own_item_shards) {
  auto c = kept_coverage(root_, {false, true});
  ASSERT_EQ(c.size(), 1u);
  // The manifests predate the metadata positions: 0 (keep its whole stream).
  EXPECT_EQ(c.at(1), (std::vector<std::uint64_t>{8, 2, 0}));
  prune_checkpoints(root_, 1, 2);  // keeps 3 and 2
  c = kept_coverage(root_, {true, true});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c.at(0), (std::vector<std::uint64_t>{12, 9, 0}));
  EXPECT_EQ(list_checkpoints(root_), (std::vector<std::uint64_t>{3, 2}));
}

TEST_F(retention, the_metadata_stream_is_kept_back_to_the_least_any_item_shard_holds) {
  // docs/replication.md, "Stage 1b": another node's item shard resyncs the
  // metadata stream from this node's log after what its checkpoint holds.
  auto plan = plan_retention(root_, {true, false}, {{0, {25, 0, 6}}, {1, {22, 100, 50}}}, 2);
  ASSERT_EQ(plan.base, 2u);
  EXPECT_EQ(plan.covered.at(meta_stream), 6u);  // not the base's 8
  // A node that reported no metadata position keeps the whole stream.
  plan = plan_retention(root_, {true, false}, {{0, {25, 0}}, {1, {22, 100, 50}}}, 2);
  EXPECT_EQ(plan.covered.at(meta_stream), 0u);
  // A checkpoint that records the positions reports them.
  checkpoint_data d;
  auto& m = d.manifest;
  m.id = 4;
  m.profile_shards = 2;
  m.item_shards = 2;
  m.profile_seq = {40, 35};
  m.item_applied = {{32, 29}, {38, 31}};
  m.meta_seq = 12;
  m.item_meta_applied = {12, 10};
  d.profile_blobs.assign(2, "p");
  d.item_blobs.assign(2, "i");
  write_checkpoint(root_, d, false);
  prune_checkpoints(root_, 1);
  const auto c = kept_coverage(root_, {true, true});
  EXPECT_EQ(c.at(0), (std::vector<std::uint64_t>{32, 29, 12}));
  EXPECT_EQ(c.at(1), (std::vector<std::uint64_t>{38, 31, 10}));
}

TEST(retention_empty, no_checkpoint_reports_nothing) {
  rtrec::storage_test::temp_dir tmp;
  EXPECT_TRUE(kept_coverage(snapshot_dir(tmp.data_dir()), {true}).empty());
}

}  // namespace
