// The item metadata stream of a log (docs/replication.md, "Stage 1b"):
// reading it back for a resync (storage/meta_log.hpp), recovery replaying it
// per item shard from the position each checkpointed shard holds, only on the
// meta writer's node, and the manifest recording those positions.
#include "storage/meta_log.hpp"

#include <gtest/gtest.h>

#include "engine/dedup_window.hpp"
#include "engine/profile_store.hpp"
#include "storage/codec.hpp"
#include "storage/recovery.hpp"
#include "storage/snapshot.hpp"
#include "tests/storage/log_writer.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace rtrec;
using namespace rtrec::storage;
using rtrec::storage_test::append_records;
using rtrec::storage_test::meta_of;
using rtrec::storage_test::remove_record;
using rtrec::storage_test::set_record;
using rtrec::storage_test::temp_dir;

namespace {

// Four operations, with a profile shard's record between them.
std::vector<log_record> four_ops() {
  log_record events{record_kind::events, 0, 1, 1'700'000'000'000, {}};
  encode_events({}, events.payload);
  return {set_record(1, meta_of("a", {"x"})), set_record(2, meta_of("b")), events,
          set_record(3, meta_of("c", {"y"})), remove_record(4, "b")};
}

recovery_options options(const std::string& dir) {
  recovery_options o;
  o.data_dir = dir;
  o.profile_shards = 1;
  o.item_shards = 2;
  return o;
}

// A model of item shard `m` with operations 1..n of four_ops() applied.
std::unique_ptr<engine::item_model> model_after(const recovery_options& o, std::uint32_t m,
                                                std::uint64_t n) {
  auto model = std::make_unique<engine::item_model>(o.model, m, o.item_shards);
  for (const auto& r : four_ops())
    if (r.stream == meta_stream && r.seq <= n)
      apply_meta(decode_meta_record(r), *model);
  return model;
}

// A checkpoint in which item shard m holds operations 1..held[m] (its
// manifest's positions; none with `positions` false) and meta_seq 3.
void write_checkpoint_holding(const recovery_options& o, std::vector<std::uint64_t> held,
                              bool positions) {
  checkpoint_data d;
  auto& m = d.manifest;
  m.id = 1;
  m.profile_shards = 1;
  m.item_shards = 2;
  m.profile_seq = {0};
  m.item_applied = {{0}, {0}};
  m.meta_seq = 3;
  if (positions)
    m.item_meta_applied = held;
  engine::profile_store store{o.model};
  engine::dedup_window window{0, 0};
  d.profile_blobs.push_back(encode_profile_snapshot(0, store, window));
  for (std::uint32_t i = 0; i < 2; ++i)
    d.item_blobs.push_back(encode_item_snapshot({0}, *model_after(o, i, held[i])));
  m.items = 3;
  write_checkpoint(snapshot_dir(o.data_dir), d, false);
}

// What item shard `m` says about each of a, b, c.
std::string items_of(const engine::item_model& model) {
  std::string out;
  for (const char* id : {"a", "b", "c"}) {
    auto meta = model.meta(id);
    out += std::string{id} + (meta ? "+" : "-");
    if (meta)
      for (const auto& c : meta->categories)
        out += c;
    out += ' ';
  }
  return out;
}

}  // namespace

TEST(meta_log, reads_back_the_operations_after_a_point_in_order) {
  temp_dir tmp;
  append_records(tmp.data_dir(), four_ops());
  const auto dir = wal_dir(tmp.data_dir());
  auto got = read_meta_entries(dir, 1, 4);
  ASSERT_EQ(got.size(), 3u);
  EXPECT_EQ(got[0].seq, 2u);
  EXPECT_FALSE(got[0].remove);
  EXPECT_EQ(got[0].meta.id, "b");
  EXPECT_EQ(got[1].seq, 3u);
  EXPECT_EQ(got[1].meta.categories, (std::vector<std::string>{"y"}));
  EXPECT_TRUE(got[2].remove);
  EXPECT_EQ(got[2].id, "b");
  EXPECT_EQ(read_meta_entries(dir, 0, 2).size(), 2u);  // up to `upto` only
  EXPECT_TRUE(read_meta_entries(dir, 4, 4).empty());
  try {
    read_meta_entries(dir, 2, 6);
    FAIL() << "a log that ends before upto must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("ends at seq 4, before seq 6"), std::string::npos)
      << e.what();
  }
}

TEST(meta_log, says_so_when_the_log_no_longer_holds_the_start) {
  temp_dir tmp;
  auto ops = four_ops();
  ops.erase(ops.begin(), ops.begin() + 2);  // as if seqs 1-2 were released
  append_records(tmp.data_dir(), ops);
  try {
    read_meta_entries(wal_dir(tmp.data_dir()), 0, 4);
    FAIL() << "a log without seq 1 must throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("from seq 3 on, not from seq 1"), std::string::npos)
      << e.what();
  }
  EXPECT_EQ(read_meta_entries(wal_dir(tmp.data_dir()), 2, 4).size(), 2u);
}

TEST(meta_log, recovery_replays_each_item_shard_from_the_position_its_checkpoint_holds) {
  temp_dir tmp;
  const auto o = options(tmp.data_dir());
  append_records(tmp.data_dir(), four_ops());
  // Item shard 0 holds operations 1-3, item shard 1 missed all but the first.
  write_checkpoint_holding(o, {3, 1}, true);
  auto st = recover(o);
  ASSERT_TRUE(st.report.from_snapshot);
  const auto want = items_of(*model_after(o, 0, 4));
  EXPECT_EQ(want, "a+x b- c+y ");
  for (std::uint32_t i = 0; i < 2; ++i) {
    EXPECT_EQ(items_of(*st.items[i]), want) << "item shard " << i;
    EXPECT_EQ(st.item_applied[i], (std::vector<std::uint64_t>{0, 4})) << "item shard " << i;
  }
  EXPECT_EQ(st.meta_seq, 4u);
}

TEST(meta_log, a_node_that_is_not_the_meta_writer_leaves_the_stream_to_resyncs) {
  temp_dir tmp;
  auto o = options(tmp.data_dir());
  append_records(tmp.data_dir(), four_ops());
  write_checkpoint_holding(o, {3, 1}, true);
  o.meta_writer = false;
  auto st = recover(o);
  // Nothing replayed: the item shards stay where their checkpoint is and
  // will ask the meta writer for the rest.
  EXPECT_EQ(items_of(*st.items[0]), items_of(*model_after(o, 0, 3)));
  EXPECT_EQ(items_of(*st.items[1]), "a+x b- c- ");
  EXPECT_EQ(st.item_applied[0], (std::vector<std::uint64_t>{0, 3}));
  EXPECT_EQ(st.item_applied[1], (std::vector<std::uint64_t>{0, 1}));
  EXPECT_EQ(st.report.records_replayed, 1u);  // the profile shard's record only
  EXPECT_EQ(st.report.records_skipped, 4u);   // every metadata record
}

TEST(meta_log, a_checkpoint_without_positions_holds_its_meta_seq_on_the_meta_writer) {
  temp_dir tmp;
  auto o = options(tmp.data_dir());
  append_records(tmp.data_dir(), four_ops());
  write_checkpoint_holding(o, {3, 3}, false);  // written before stage 1b
  {
    auto st = recover(o);
    for (std::uint32_t i = 0; i < 2; ++i) {
      EXPECT_EQ(st.item_applied[i], (std::vector<std::uint64_t>{0, 4}));
      EXPECT_EQ(items_of(*st.items[i]), "a+x b- c+y ");
    }
  }
  o.meta_writer = false;  // another node: its own old numbering means nothing
  auto st = recover(o);
  EXPECT_EQ(st.item_applied[0], (std::vector<std::uint64_t>{0, 0}));
}

TEST(meta_log, the_manifest_records_each_item_shards_position) {
  temp_dir tmp;
  const auto root = snapshot_dir(tmp.data_dir());
  checkpoint_data d;
  auto& m = d.manifest;
  m.id = 5;
  m.profile_shards = 1;
  m.item_shards = 3;
  m.profile_seq = {9};
  m.item_applied = {{1}, {2}, {3}};
  m.meta_seq = 7;
  m.item_meta_applied = {7, 6, 0};
  d.profile_blobs = {"p"};
  d.item_blobs = {"i", "i", "i"};
  write_checkpoint(root, d, false);
  EXPECT_EQ(read_manifest(root, 5).item_meta_applied, (std::vector<std::uint64_t>{7, 6, 0}));
  m.id = 6;
  m.item_meta_applied = {7};  // not one per item shard
  EXPECT_THROW(write_checkpoint(root, d, false), std::runtime_error);
  m.item_meta_applied.clear();  // as before stage 1b
  write_checkpoint(root, d, false);
  EXPECT_TRUE(read_manifest(root, 6).item_meta_applied.empty());
}
