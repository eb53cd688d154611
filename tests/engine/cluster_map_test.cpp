// The replicated cluster's map (engine/cluster_map.hpp): placement of
// replicas, the failover transitions and their invariants, the persisted
// shape.
#include <gtest/gtest.h>

#include <random>

#include "engine/cluster_map.hpp"
#include "tests/engine/test_nodes.hpp"

using namespace rtrec::engine;
using rtrec::engine::test::nodes;

TEST(cluster_map, replicas_follow_rendezvous_order_and_the_first_is_todays_owner) {
  const auto ns = nodes(4);
  const auto m = initial_map(ns, 8, 4, 2);
  const auto owners = place_shards(ns, 8, 4);
  EXPECT_EQ(m.epoch, 1u);
  EXPECT_EQ(check_map(m), "");
  for (std::uint32_t s = 0; s < 8; ++s) {
    const auto& r = m.profiles[s];
    ASSERT_EQ(r.replicas.size(), 2u);
    EXPECT_NE(r.replicas[0], r.replicas[1]);
    EXPECT_EQ(r.primary, owners.profile_owner[s]) << "profile shard " << s;
    EXPECT_EQ(r.in_sync, r.replicas);
    const auto order = rendezvous_order(ns, "profile", s);
    EXPECT_EQ(std::vector<std::uint32_t>(order.begin(), order.begin() + 2), r.replicas);
  }
  for (std::uint32_t s = 0; s < 4; ++s)
    EXPECT_EQ(m.items[s].primary, owners.item_owner[s]) << "item shard " << s;
}

TEST(cluster_map, replication_factor_is_capped_by_the_members) {
  const auto m = initial_map(nodes(2), 3, 3, 5);
  for (const auto& s : m.profiles)
    EXPECT_EQ(s.replicas.size(), 2u);
  EXPECT_EQ(initial_map(nodes(3), 1, 1, 0).profiles[0].replicas.size(), 1u);
}

TEST(cluster_map, a_down_primary_hands_over_to_an_in_sync_replica) {
  const auto ns = nodes(3);
  const auto m = initial_map(ns, 6, 3, 2);
  const auto p = m.profiles[0].primary;
  const auto f = m.profiles[0].replicas[1];
  const auto d = node_down(m, p);
  EXPECT_EQ(check_map(d), "");
  EXPECT_EQ(d.profiles[0].primary, f);
  EXPECT_EQ(d.profiles[0].in_sync, std::vector<std::uint32_t>{f});
  EXPECT_EQ(d.profiles[0].replicas, m.profiles[0].replicas) << "replica sets stay";
  // Back up: not in sync (it missed the writes since), so not primary.
  const auto u = node_up(d, p);
  EXPECT_EQ(u.profiles[0].primary, f);
  EXPECT_EQ(u.profiles[0].in_sync, std::vector<std::uint32_t>{f});
  // Caught up: in sync again, in replica-list order; the primary stays.
  const auto c = caught_up(u, shard_kind::profile, 0, p);
  EXPECT_EQ(check_map(c), "");
  EXPECT_EQ(c.profiles[0].in_sync, m.profiles[0].in_sync);
  EXPECT_EQ(c.profiles[0].primary, f);
}

TEST(cluster_map, the_last_in_sync_replica_alone_may_become_primary_again) {
  const auto ns = nodes(3);
  const auto m = initial_map(ns, 1, 1, 2);
  const auto a = m.profiles[0].replicas[0];
  const auto b = m.profiles[0].replicas[1];
  auto x = node_down(m, a);  // b takes over, writes alone
  EXPECT_EQ(x.profiles[0].primary, b);
  x = node_down(x, b);  // nobody up holds b's writes
  EXPECT_EQ(check_map(x), "");
  EXPECT_EQ(x.profiles[0].primary, no_node);
  EXPECT_EQ(x.profiles[0].in_sync, std::vector<std::uint32_t>{b});
  x = node_up(x, a);  // stale: must not serve
  EXPECT_EQ(x.profiles[0].primary, no_node);
  EXPECT_EQ(caught_up(x, shard_kind::profile, 0, a).profiles[0].in_sync,
            std::vector<std::uint32_t>{b})
    << "no primary to catch up from";
  x = node_up(x, b);
  EXPECT_EQ(x.profiles[0].primary, b);
  EXPECT_EQ(check_map(x), "");
}

TEST(cluster_map, a_follower_that_falls_behind_leaves_the_in_sync_set_but_a_primary_never_does) {
  const auto m = initial_map(nodes(3), 1, 1, 3);
  const auto p = m.items[0].primary;
  const auto f = m.items[0].replicas[2];
  const auto x = fell_behind(m, shard_kind::item, 0, f);
  EXPECT_EQ(x.items[0].in_sync.size(), 2u);
  EXPECT_EQ(check_map(x), "");
  EXPECT_EQ(fell_behind(m, shard_kind::item, 0, p), m);
}

TEST(cluster_map, check_names_what_is_wrong) {
  auto m = initial_map(nodes(3), 2, 2, 2);
  auto bad = m;
  bad.profiles[1].primary = bad.profiles[1].replicas[0] == 0 ? 2 : 0;
  bad.profiles[1].replicas = {bad.profiles[1].primary};
  EXPECT_NE(check_map(bad).find("profile shard 1"), std::string::npos) << check_map(bad);
  bad = m;
  bad.items[0].replicas.push_back(bad.items[0].replicas[0]);
  EXPECT_NE(check_map(bad).find("listed twice"), std::string::npos) << check_map(bad);
  bad = m;
  bad.down.pop_back();
  EXPECT_NE(check_map(bad).find("down flags"), std::string::npos);
}

class cluster_map_seeded : public ::testing::TestWithParam<unsigned> {};

TEST_P(cluster_map_seeded, random_transitions_keep_every_invariant) {
  const unsigned seed = GetParam();
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937 rng{seed};
  const auto ns = nodes(5);
  auto m = initial_map(ns, 8, 4, 3);
  for (int step = 0; step < 2000; ++step) {
    const auto before = m;
    const auto n = static_cast<std::uint32_t>(rng() % ns.size());
    const auto k = rng() % 2 ? shard_kind::profile : shard_kind::item;
    const auto s = static_cast<std::uint32_t>(rng() % m.shards(k).size());
    switch (rng() % 4) {
      case 0: m = node_down(m, n); break;
      case 1: m = node_up(m, n); break;
      case 2: m = caught_up(m, k, s, n); break;
      default: m = fell_behind(m, k, s, n); break;
    }
    ASSERT_EQ(check_map(m), "") << "step " << step;
    // A new primary always comes from the in-sync set before: it holds
    // every acknowledged record.
    for (auto kind : {shard_kind::profile, shard_kind::item})
      for (std::size_t x = 0; x < m.shards(kind).size(); ++x) {
        const auto& now = m.shards(kind)[x];
        const auto& was = before.shards(kind)[x];
        if (now.primary != no_node && now.primary != was.primary) {
          ASSERT_NE(std::find(was.in_sync.begin(), was.in_sync.end(), now.primary),
                    was.in_sync.end())
            << "step " << step << ": primary " << now.primary << " was not in sync";
        }
      }
  }
}

INSTANTIATE_TEST_SUITE_P(seeds, cluster_map_seeded, ::testing::Range(1u, 11u));

TEST(cluster_map, the_persisted_shape_round_trips_and_rejects_damage) {
  auto m = node_down(initial_map(nodes(3), 4, 2, 2), 1);
  m.epoch = 0x30002;
  m.parent = 1;
  const auto bytes = encode_map(m);
  EXPECT_EQ(decode_map(bytes), m);
  EXPECT_THROW(decode_map(bytes.substr(0, bytes.size() - 1)), codec::decode_error);
  EXPECT_THROW(decode_map(bytes + "x"), codec::decode_error);
  auto bad = m;
  bad.profiles[0].primary = 7;
  EXPECT_THROW(decode_map(encode_map(bad)), codec::decode_error);
}
