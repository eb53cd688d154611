// Shard placement (engine/placement.hpp): address parsing, the loopback
// rule, and rendezvous hashing's properties: deterministic, independent of
// the list order, every shard placed, and adding a node moves only shards
// to the new node.
#include "engine/placement.hpp"

#include <gtest/gtest.h>

#include <algorithm>

using namespace rtrec::engine;

namespace {

std::vector<node_address> nodes_of(std::initializer_list<const char*> xs) {
  std::vector<node_address> out;
  for (const char* x : xs) {
    std::string why;
    auto a = parse_node_address(x, why);
    EXPECT_TRUE(a) << x << ": " << why;
    if (a)
      out.push_back(*a);
  }
  return out;
}

}  // namespace

TEST(placement, parses_host_and_port) {
  std::string why;
  auto a = parse_node_address("127.0.0.1:7001", why);
  ASSERT_TRUE(a) << why;
  EXPECT_EQ(a->host, "127.0.0.1");
  EXPECT_EQ(a->port, 7001);
  EXPECT_EQ(a->to_string(), "127.0.0.1:7001");
  auto v6 = parse_node_address("[::1]:9", why);
  ASSERT_TRUE(v6) << why;
  EXPECT_EQ(v6->host, "::1");
  EXPECT_EQ(v6->port, 9);
}

TEST(placement, refuses_bad_addresses_naming_them) {
  for (const char* bad : {"", "host", ":7000", "host:", "host:0", "host:65536", "host:7x",
                          "ho st:7000", "host:-1"}) {
    std::string why;
    EXPECT_FALSE(parse_node_address(bad, why)) << bad;
    EXPECT_NE(why.find('"'), std::string::npos) << "the message quotes the text: " << why;
  }
}

TEST(placement, knows_loopback_hosts) {
  EXPECT_TRUE(is_loopback_host("127.0.0.1"));
  EXPECT_TRUE(is_loopback_host("127.1.2.3"));
  EXPECT_TRUE(is_loopback_host("localhost"));
  EXPECT_TRUE(is_loopback_host("::1"));
  EXPECT_FALSE(is_loopback_host("10.0.0.1"));
  EXPECT_FALSE(is_loopback_host("0.0.0.0"));
  EXPECT_FALSE(is_loopback_host("db.example.com"));
  EXPECT_FALSE(is_loopback_host("1270.0.0.1"));
}

TEST(placement, places_every_shard_on_a_listed_node_deterministically) {
  auto nodes = nodes_of({"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"});
  auto a = place_shards(nodes, 12, 6);
  auto b = place_shards(nodes, 12, 6);
  ASSERT_EQ(a.profile_owner.size(), 12u);
  ASSERT_EQ(a.item_owner.size(), 6u);
  EXPECT_EQ(a.profile_owner, b.profile_owner);
  EXPECT_EQ(a.item_owner, b.item_owner);
  for (auto o : a.profile_owner)
    EXPECT_LT(o, 3u);
  std::size_t total = 0;
  for (std::uint32_t n = 0; n < 3; ++n)
    total += a.profiles_of(n).size();
  EXPECT_EQ(total, 12u);
}

TEST(placement, does_not_depend_on_the_order_of_the_list) {
  auto nodes = nodes_of({"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000", "10.0.0.4:7000"});
  auto reversed = nodes;
  std::reverse(reversed.begin(), reversed.end());
  auto a = place_shards(nodes, 64, 16);
  auto b = place_shards(reversed, 64, 16);
  for (std::uint32_t s = 0; s < 64; ++s)
    EXPECT_EQ(nodes[a.profile_owner[s]], reversed[b.profile_owner[s]]) << "shard " << s;
  for (std::uint32_t m = 0; m < 16; ++m)
    EXPECT_EQ(nodes[a.item_owner[m]], reversed[b.item_owner[m]]) << "item shard " << m;
}

TEST(placement, adding_a_node_moves_only_shards_to_it) {
  auto three = nodes_of({"10.0.0.1:7000", "10.0.0.2:7000", "10.0.0.3:7000"});
  auto four = three;
  four.push_back(nodes_of({"10.0.0.4:7000"}).front());
  auto a = place_shards(three, 256, 0);
  auto b = place_shards(four, 256, 0);
  std::size_t moved = 0;
  for (std::uint32_t s = 0; s < 256; ++s) {
    if (a.profile_owner[s] != b.profile_owner[s]) {
      ++moved;
      EXPECT_EQ(b.profile_owner[s], 3u) << "shard " << s << " moved between old nodes";
    }
  }
  // About a quarter of the shards move to the new node (256/4 = 64).
  EXPECT_GT(moved, 32u);
  EXPECT_LT(moved, 96u);
}

TEST(placement, spreads_shards_over_the_nodes) {
  auto nodes = nodes_of({"127.0.0.1:7001", "127.0.0.1:7002", "127.0.0.1:7003"});
  auto m = place_shards(nodes, 300, 0);
  for (std::uint32_t n = 0; n < 3; ++n) {
    EXPECT_GT(m.profiles_of(n).size(), 60u) << "node " << n;
    EXPECT_LT(m.profiles_of(n).size(), 140u) << "node " << n;
  }
}

TEST(placement, describes_the_map_per_node) {
  auto nodes = nodes_of({"127.0.0.1:7001", "127.0.0.1:7002"});
  shard_map m;
  m.profile_owner = {0, 1, 0};
  m.item_owner = {1};
  EXPECT_EQ(describe(m, nodes), "node 0 127.0.0.1:7001: profile shards 0 2, item shards none\n"
                                "node 1 127.0.0.1:7002: profile shards 1, item shards 0\n");
}
