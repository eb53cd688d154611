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
  const auto plan = plan_retention(root_, {true, false}, {{0, {25, 0}}, {1, {22, 100}}}, 2);
  ASSERT_TRUE(plan.complete);
  EXPECT_EQ(plan.base, 2u);
  ASSERT_EQ(plan.covered.size(), 3u);
  EXPECT_EQ(plan.covered.at(0), 20u);
  EXPECT_EQ(plan.covered.at(1), 15u);
  EXPECT_EQ(plan.covered.at(meta_stream), 8u);
}

TEST_F(retention, only_this_nodes_profile_shards_bound_the_base) {
  // Profile shard 1 lives elsewhere: its low coverage does not matter here.
  auto plan = plan_retention(root_, {true, false}, {{0, {40, 0}}, {1, {35, 0}}}, 2);
  EXPECT_EQ(plan.base, 3u);
  // Hosted here, it holds the base back to checkpoint 1.
  plan = plan_retention(root_, {true, true}, {{0, {40, 6}}, {1, {35, 30}}}, 2);
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
  EXPECT_EQ(c.at(1), (std::vector<std::uint64_t>{8, 2}));
  prune_checkpoints(root_, 1, 2);  // keeps 3 and 2
  c = kept_coverage(root_, {true, true});
  ASSERT_EQ(c.size(), 2u);
  EXPECT_EQ(c.at(0), (std::vector<std::uint64_t>{12, 9}));
  EXPECT_EQ(list_checkpoints(root_), (std::vector<std::uint64_t>{3, 2}));
}

TEST(retention_empty, no_checkpoint_reports_nothing) {
  rtrec::storage_test::temp_dir tmp;
  EXPECT_TRUE(kept_coverage(snapshot_dir(tmp.data_dir()), {true}).empty());
}

}  // namespace
