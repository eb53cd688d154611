// storage/map_store: the CLUSTER file holding a node's map acceptor.
#include "storage/map_store.hpp"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <stdexcept>
#include <string>

#include "engine/cluster_map.hpp"
#include "storage/codec.hpp"
#include "storage/snapshot.hpp"
#include "tests/storage/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace rtrec;
using rtrec::storage_test::temp_dir;

namespace {

engine::map_acceptor sample() {
  engine::map_acceptor a;
  a.accepted = engine::initial_map({{"127.0.0.1", 7001}, {"127.0.0.1", 7002}, {"127.0.0.1", 7003}},
                                   6, 3, 2);
  a.accepted = engine::node_down(a.accepted, 2);
  a.accepted.epoch = (4u << 16) | 1u;
  a.accepted.parent = 1;
  a.promised = (5u << 16) | 2u;
  return a;
}

std::string load_error(const std::string& dir) {
  try {
    storage::load_acceptor(dir);
  } catch (const std::runtime_error& e) {
    return e.what();
  }
  return "";
}

TEST(map_store, no_file_is_no_acceptor) {
  temp_dir tmp;
  EXPECT_FALSE(storage::load_acceptor(tmp.path().string()).has_value());
}

TEST(map_store, the_acceptor_round_trips_and_a_later_store_replaces_it) {
  temp_dir tmp;
  const auto dir = tmp.path().string();
  auto a = sample();
  storage::store_acceptor(dir, a, true);
  auto back = storage::load_acceptor(dir);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(back->promised, a.promised);
  EXPECT_TRUE(back->accepted == a.accepted);
  a.promised += 1;
  storage::store_acceptor(dir, a, false);
  EXPECT_EQ(storage::load_acceptor(dir)->promised, a.promised);
  EXPECT_FALSE(fs::exists(storage::cluster_file_path(dir) + ".tmp"));
}

TEST(map_store, a_damaged_file_is_refused_naming_it) {
  temp_dir tmp;
  const auto dir = tmp.path().string();
  storage::store_acceptor(dir, sample(), false);
  const auto path = storage::cluster_file_path(dir);
  {
    std::fstream f{path, std::ios::in | std::ios::out | std::ios::binary};
    f.seekp(40);
    f.put('\x7f');
  }
  const auto why = load_error(dir);
  EXPECT_NE(why.find(path), std::string::npos) << why;
  EXPECT_NE(why.find("CRC"), std::string::npos) << why;
}

TEST(map_store, a_frame_that_holds_no_valid_map_is_refused) {
  temp_dir tmp;
  const auto dir = tmp.path().string();
  const auto path = storage::cluster_file_path(dir);
  // Valid frame, payload cut short.
  std::string payload;
  storage::writer w{payload};
  auto a = sample();
  a.fields(w);
  storage::write_framed_file(path, storage::blob_kind::cluster_map, payload.substr(0, 20), false);
  auto why = load_error(dir);
  EXPECT_NE(why.find("does not decode"), std::string::npos) << why;
  // Valid bytes, invalid map: a primary outside its in-sync set.
  a.accepted.profiles[0].primary = 7;
  storage::store_acceptor(dir, a, false);
  why = load_error(dir);
  EXPECT_NE(why.find("invalid"), std::string::npos) << why;
  EXPECT_NE(why.find(path), std::string::npos) << why;
}

}  // namespace
