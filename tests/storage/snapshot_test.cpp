// Unit tests of storage/snapshot: framed files (every check of the header and
// payload), checkpoints (write, list, read, manifest) and pruning.
//
// Every test works in its own temporary directory, removed at the end.
#include "storage/snapshot.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/codec.hpp"

#include "tests/storage/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace rtrec::storage;

namespace {

using rtrec::storage_test::temp_dir;

std::string read_bytes(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void write_bytes(const fs::path& p, const std::string& data) {
  std::ofstream out{p, std::ios::binary | std::ios::trunc};
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

std::string random_bytes(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng{seed};
  std::string s(n, '\0');
  for (auto& c : s)
    c = static_cast<char>(rng() & 0xFF);
  return s;
}

constexpr std::size_t header_bytes = 32;

// Rewrites the header's version field and fixes up the header CRC, so that
// only the version check can fail.
void set_version(const fs::path& p, std::uint32_t version) {
  auto data = read_bytes(p);
  std::memcpy(&data[8], &version, 4);
  const auto hcrc = crc32(std::string_view{data}.substr(0, 28));
  std::memcpy(&data[28], &hcrc, 4);
  write_bytes(p, data);
}

// Expects read_framed_file to throw a runtime_error naming the file and
// containing `keyword`.
void expect_refused(const fs::path& p, blob_kind kind, const std::string& keyword) {
  try {
    read_framed_file(p.string(), kind);
    ADD_FAILURE() << "read_framed_file accepted a damaged file (expected '" << keyword << "')";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(keyword), std::string::npos) << what;
    EXPECT_NE(what.find(p.string()), std::string::npos) << what;
  }
}

// -- framed files ---------------------------------------------------------------

TEST(framed_file, round_trips_payloads_of_every_size) {
  temp_dir tmp;
  const std::vector<std::string> payloads = {"", "x", std::string(31, '\0'),
                                             random_bytes(1, 1000), random_bytes(2, 200'000)};
  for (std::size_t k = 0; k < payloads.size(); ++k) {
    SCOPED_TRACE("payload " + std::to_string(k));
    const auto p = tmp.path() / ("f" + std::to_string(k));
    write_framed_file(p.string(), blob_kind::profile_shard, payloads[k], k % 2 == 0);
    EXPECT_EQ(fs::file_size(p), header_bytes + payloads[k].size());
    EXPECT_FALSE(fs::exists(p.string() + ".tmp"));
    EXPECT_EQ(read_framed_file(p.string(), blob_kind::profile_shard), payloads[k]);
  }
}

TEST(framed_file, overwrites_an_existing_file_and_a_stale_tmp) {
  temp_dir tmp;
  const auto p = tmp.path() / "blob";
  write_framed_file(p.string(), blob_kind::item_shard, "old contents", true);
  write_bytes(p.string() + ".tmp", "garbage from a crash");
  write_framed_file(p.string(), blob_kind::item_shard, "new", true);
  EXPECT_EQ(read_framed_file(p.string(), blob_kind::item_shard), "new");
  EXPECT_FALSE(fs::exists(p.string() + ".tmp"));
}

TEST(framed_file, every_kind_round_trips_and_is_checked) {
  temp_dir tmp;
  const blob_kind kinds[] = {blob_kind::profile_shard, blob_kind::item_shard,
                             blob_kind::manifest, blob_kind::identity, blob_kind::node,
                             blob_kind::cluster_map};
  for (auto k : kinds) {
    const auto p = tmp.path() / ("k" + std::to_string(static_cast<int>(k)));
    write_framed_file(p.string(), k, "payload", false);
    EXPECT_EQ(read_framed_file(p.string(), k), "payload");
    for (auto other : kinds)
      if (other != k)
        expect_refused(p, other, "kind");
  }
}

class framed_file_damage : public ::testing::Test {
 protected:
  void SetUp() override {
    path_ = tmp_.path() / "snap";
    write_framed_file(path_.string(), blob_kind::item_shard, payload_, true);
    ASSERT_EQ(read_framed_file(path_.string(), blob_kind::item_shard), payload_);
  }
  void flip(std::size_t at) {
    auto data = read_bytes(path_);
    data[at] = static_cast<char>(data[at] ^ 0x01);
    write_bytes(path_, data);
  }

  temp_dir tmp_;
  fs::path path_;
  std::string payload_ = random_bytes(7, 5000);
};

TEST_F(framed_file_damage, a_flipped_payload_byte_fails_the_payload_crc) {
  flip(header_bytes + 2500);
  expect_refused(path_, blob_kind::item_shard, "payload CRC");
}

TEST_F(framed_file_damage, a_flipped_last_byte_fails_the_payload_crc) {
  flip(header_bytes + payload_.size() - 1);
  expect_refused(path_, blob_kind::item_shard, "CRC");
}

TEST_F(framed_file_damage, a_flipped_header_byte_fails_the_header_crc) {
  for (std::size_t at : {8u, 12u, 16u, 24u, 28u}) {
    SCOPED_TRACE("header byte " + std::to_string(at));
    write_framed_file(path_.string(), blob_kind::item_shard, payload_, false);
    flip(at);
    expect_refused(path_, blob_kind::item_shard, "header CRC");
  }
}

TEST_F(framed_file_damage, a_truncated_file_fails_the_length_check) {
  fs::resize_file(path_, fs::file_size(path_) - 1);
  expect_refused(path_, blob_kind::item_shard, "length");
}

TEST_F(framed_file_damage, a_file_cut_inside_the_header_is_too_short) {
  fs::resize_file(path_, 20);
  expect_refused(path_, blob_kind::item_shard, "too short");
  fs::resize_file(path_, 0);
  expect_refused(path_, blob_kind::item_shard, "too short");
}

TEST_F(framed_file_damage, extra_bytes_fail_the_length_check) {
  auto data = read_bytes(path_);
  data += "tail";
  write_bytes(path_, data);
  expect_refused(path_, blob_kind::item_shard, "length");
}

TEST_F(framed_file_damage, a_bad_magic_number_is_refused) {
  flip(0);
  expect_refused(path_, blob_kind::item_shard, "magic");
}

TEST_F(framed_file_damage, a_wrong_kind_is_refused) {
  expect_refused(path_, blob_kind::profile_shard, "kind");
}

TEST_F(framed_file_damage, a_newer_version_is_refused_naming_both_versions) {
  set_version(path_, snapshot_format_version + 1);
  expect_refused(path_, blob_kind::item_shard, "newer");
  expect_refused(path_, blob_kind::item_shard, std::to_string(snapshot_format_version + 1));
}

TEST_F(framed_file_damage, version_zero_is_refused) {
  set_version(path_, 0);
  expect_refused(path_, blob_kind::item_shard, "version 0");
  expect_refused(path_, blob_kind::item_shard, "older");
}

TEST_F(framed_file_damage, the_current_version_with_a_fixed_header_still_reads) {
  // Guards the helper above: rewriting the version to the same value passes.
  set_version(path_, snapshot_format_version);
  EXPECT_EQ(read_framed_file(path_.string(), blob_kind::item_shard), payload_);
}

TEST(framed_file, a_missing_file_is_reported) {
  temp_dir tmp;
  expect_refused(tmp.path() / "absent", blob_kind::manifest, "cannot open");
}

TEST(framed_file, writing_into_a_missing_directory_throws_naming_the_file) {
  temp_dir tmp;
  const auto p = tmp.path() / "no" / "such" / "dir" / "blob";
  try {
    write_framed_file(p.string(), blob_kind::manifest, "x", true);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find(p.string()), std::string::npos) << e.what();
  }
}

// -- checkpoints -------------------------------------------------------------------

checkpoint_data make_checkpoint(std::uint64_t id, std::uint32_t profile_shards,
                                std::uint32_t item_shards) {
  checkpoint_data d;
  auto& m = d.manifest;
  m.id = id;
  m.created_ms = 1'700'000'000'000 + static_cast<std::int64_t>(id);
  m.profile_shards = profile_shards;
  m.item_shards = item_shards;
  for (std::uint32_t p = 0; p < profile_shards; ++p)
    m.profile_seq.push_back(id * 100 + p);
  for (std::uint32_t i = 0; i < item_shards; ++i) {
    m.item_applied.emplace_back();
    for (std::uint32_t p = 0; p < profile_shards; ++p)
      m.item_applied.back().push_back(id * 100 + p - (i + 1));
  }
  m.meta_seq = id * 7;
  m.events_applied = id * 1000;
  m.users = id + 5;
  m.items = id + 9;
  for (std::uint32_t p = 0; p < profile_shards; ++p)
    d.profile_blobs.push_back(random_bytes(id * 10 + p, 100 + p * 17));
  for (std::uint32_t i = 0; i < item_shards; ++i)
    d.item_blobs.push_back(i == 0 ? std::string{} : random_bytes(id * 20 + i, 300 + i));
  return d;
}

void expect_same_manifest(const checkpoint_manifest& a, const checkpoint_manifest& b) {
  EXPECT_EQ(a.id, b.id);
  EXPECT_EQ(a.created_ms, b.created_ms);
  EXPECT_EQ(a.profile_shards, b.profile_shards);
  EXPECT_EQ(a.item_shards, b.item_shards);
  EXPECT_EQ(a.profile_seq, b.profile_seq);
  EXPECT_EQ(a.item_applied, b.item_applied);
  EXPECT_EQ(a.meta_seq, b.meta_seq);
  EXPECT_EQ(a.events_applied, b.events_applied);
  EXPECT_EQ(a.users, b.users);
  EXPECT_EQ(a.items, b.items);
}

TEST(checkpoint, write_list_read_round_trip) {
  temp_dir tmp;
  const auto root = (tmp.path() / "snapshots").string();  // created by write_checkpoint
  EXPECT_TRUE(list_checkpoints(root).empty());
  const auto a = make_checkpoint(3, 2, 3);
  const auto b = make_checkpoint(12, 2, 3);
  std::uint64_t payload = 0;
  for (auto& s : b.profile_blobs)
    payload += s.size();
  for (auto& s : b.item_blobs)
    payload += s.size();
  EXPECT_GT(write_checkpoint(root, a, true), 0u);
  const auto bytes = write_checkpoint(root, b, false);
  EXPECT_GT(bytes, payload + 6 * header_bytes);  // 5 shard files + MANIFEST
  EXPECT_EQ(list_checkpoints(root), (std::vector<std::uint64_t>{12, 3}));
  EXPECT_TRUE(fs::is_directory(checkpoint_path(root, 12)));
  EXPECT_EQ(fs::path{checkpoint_path(root, 12)}.filename().string(), "00000000000000000012");
  EXPECT_FALSE(fs::exists(checkpoint_path(root, 12) + ".tmp"));

  for (const auto* want : {&a, &b}) {
    SCOPED_TRACE("checkpoint " + std::to_string(want->manifest.id));
    auto got = read_checkpoint(root, want->manifest.id);
    expect_same_manifest(got.manifest, want->manifest);
    EXPECT_EQ(got.profile_blobs, want->profile_blobs);
    EXPECT_EQ(got.item_blobs, want->item_blobs);
    expect_same_manifest(read_manifest(root, want->manifest.id), want->manifest);
  }
}

TEST(checkpoint, list_ignores_everything_but_complete_checkpoints) {
  temp_dir tmp;
  const auto root = tmp.path().string();
  write_checkpoint(root, make_checkpoint(5, 1, 1), false);
  fs::create_directories(checkpoint_path(root, 9) + ".tmp");
  fs::create_directories(checkpoint_path(root, 8) + ".bad");
  fs::create_directories(tmp.path() / "123");
  fs::create_directories(tmp.path() / "0000000000000000000x");
  write_bytes(checkpoint_path(root, 7), "a file, not a directory");
  EXPECT_EQ(list_checkpoints(root), std::vector<std::uint64_t>{5});
  EXPECT_TRUE(list_checkpoints((tmp.path() / "missing").string()).empty());
}

TEST(checkpoint, a_missing_shard_file_is_reported) {
  temp_dir tmp;
  const auto root = tmp.path().string();
  write_checkpoint(root, make_checkpoint(4, 2, 2), true);
  fs::remove(checkpoint_path(root, 4) + "/item-1.snap");
  try {
    read_checkpoint(root, 4);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("item-1.snap"), std::string::npos) << e.what();
  }
  // The manifest alone still reads.
  EXPECT_EQ(read_manifest(root, 4).id, 4u);
}

TEST(checkpoint, a_damaged_shard_file_is_reported) {
  temp_dir tmp;
  const auto root = tmp.path().string();
  write_checkpoint(root, make_checkpoint(4, 2, 2), true);
  const auto p = checkpoint_path(root, 4) + "/profile-1.snap";
  auto data = read_bytes(p);
  data[header_bytes + 3] = static_cast<char>(data[header_bytes + 3] ^ 0x10);
  write_bytes(p, data);
  try {
    read_checkpoint(root, 4);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("profile-1.snap"), std::string::npos) << e.what();
    EXPECT_NE(std::string{e.what()}.find("CRC"), std::string::npos) << e.what();
  }
}

TEST(checkpoint, a_manifest_naming_another_checkpoint_is_refused) {
  temp_dir tmp;
  const auto root = tmp.path().string();
  write_checkpoint(root, make_checkpoint(4, 1, 1), true);
  fs::rename(checkpoint_path(root, 4), checkpoint_path(root, 6));
  EXPECT_EQ(list_checkpoints(root), std::vector<std::uint64_t>{6});
  try {
    read_manifest(root, 6);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("names checkpoint 4"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_checkpoint(root, 6), std::runtime_error);
}

TEST(checkpoint, a_malformed_manifest_is_refused) {
  temp_dir tmp;
  const auto root = tmp.path().string();
  write_checkpoint(root, make_checkpoint(4, 1, 1), true);
  const auto manifest = checkpoint_path(root, 4) + "/MANIFEST";
  // A validly framed payload that is not a manifest.
  write_framed_file(manifest, blob_kind::manifest, "short", false);
  try {
    read_manifest(root, 4);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("malformed"), std::string::npos) << e.what();
  }
  // A manifest with impossible shard counts.
  std::string bad;
  writer w{bad};
  w.value(std::uint64_t{4});
  w.value(std::int64_t{0});
  w.value(std::uint32_t{0});
  w.value(std::uint32_t{1});
  write_framed_file(manifest, blob_kind::manifest, bad, false);
  EXPECT_THROW(read_manifest(root, 4), std::runtime_error);
}

TEST(checkpoint, rewriting_an_id_replaces_a_stale_tmp_directory) {
  temp_dir tmp;
  const auto root = tmp.path().string();
  const auto stale = checkpoint_path(root, 2) + ".tmp";
  fs::create_directories(stale);
  write_bytes(stale + "/profile-7.snap", "leftover");
  write_checkpoint(root, make_checkpoint(2, 1, 1), true);
  EXPECT_FALSE(fs::exists(stale));
  EXPECT_FALSE(fs::exists(checkpoint_path(root, 2) + "/profile-7.snap"));
  EXPECT_EQ(read_checkpoint(root, 2).profile_blobs.size(), 1u);
}

TEST(checkpoint, prune_keeps_the_newest_and_removes_tmp_leftovers) {
  temp_dir tmp;
  const auto root = tmp.path().string();
  for (std::uint64_t id : {1, 2, 5, 9, 10})
    write_checkpoint(root, make_checkpoint(id, 1, 2), false);
  fs::create_directories(checkpoint_path(root, 11) + ".tmp");
  write_bytes(checkpoint_path(root, 11) + ".tmp/MANIFEST", "partial");
  fs::create_directories(checkpoint_path(root, 3) + ".bad");

  EXPECT_EQ(prune_checkpoints(root, 2), 3u);
  EXPECT_EQ(list_checkpoints(root), (std::vector<std::uint64_t>{10, 9}));
  EXPECT_FALSE(fs::exists(checkpoint_path(root, 11) + ".tmp"));
  for (std::uint64_t id : {1, 2, 5})
    EXPECT_FALSE(fs::exists(checkpoint_path(root, id))) << id;
  // What is kept is intact.
  EXPECT_EQ(read_checkpoint(root, 10).manifest.id, 10u);
  EXPECT_EQ(read_checkpoint(root, 9).manifest.id, 9u);

  // Nothing more to prune; keeping more than exist deletes nothing.
  EXPECT_EQ(prune_checkpoints(root, 2), 0u);
  EXPECT_EQ(prune_checkpoints(root, 10), 0u);
  EXPECT_EQ(list_checkpoints(root).size(), 2u);
  EXPECT_EQ(prune_checkpoints((tmp.path() / "missing").string(), 1), 0u);
}

}  // namespace
