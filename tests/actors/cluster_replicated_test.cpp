// A cluster with replicated profile shards (replication factor 2;
// docs/replication.md), in one test process over real loopback
// connections: three nodes, each with a data directory. The nodes' map
// keepers choose the map, the cluster managers route each profile shard to
// its primary and configure its copies. A node that stops is taken out of
// the map, an in-sync copy takes over its shards, and every acknowledged
// event stays readable (read-your-writes across failover); the node comes
// back as a follower, catches up and is asked back into the in-sync sets,
// after which another node may stop without losing anything.
//
// Waiting uses service::await_cluster (the status changes as the keeper
// learns maps), never a sleep.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <memory>
#include <set>

#include "rtrec/rtrec.hpp"
#include "tests/actors/cluster_support.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace rtrec;
using namespace rtrec::cluster_testing;
using namespace std::chrono_literals;

namespace {

service_options replicated_node(const std::vector<engine::node_address>& nodes, std::uint32_t n,
                                const std::filesystem::path& root) {
  auto o = node_options(nodes, n);
  o.cluster.replication_factor = 2;
  o.durability.data_dir = (root / ("node" + std::to_string(n))).string();
  o.durability.sync = storage::sync_policy::none;  // a process crash, not a power loss
  o.durability.snapshot_interval = 0ms;
  o.durability.snapshot_on_stop = false;  // a stop leaves what a crash leaves
  return o;
}

// Every profile shard has a primary and `in_sync` copies in the map.
bool served(const cluster_status& s, std::size_t in_sync) {
  return s.profiles_in_sync(in_sync);
}

bool down_in_map(const cluster_status& s, std::uint32_t n) {
  return s.replicas.epoch != 0 && s.replicas.down.at(n) != 0;
}

class replicated_cluster : public ::testing::Test {
 protected:
  void start(std::uint32_t n) {
    cluster_[n] = std::make_unique<service>(replicated_node(nodes_, n, tmp_.path()));
  }

  // Ingests through `entry` until every event is acknowledged (events a
  // shard refused during a takeover are sent again, with their ids).
  void ingest_all(std::uint32_t entry, std::vector<engine::event> evs) {
    for (int round = 0; !evs.empty(); ++round) {
      ASSERT_LT(round, 200) << evs.size() << " events never acknowledged";
      auto r = cluster_[entry]->ingest(evs);
      ASSERT_TRUE(r) << r.error().to_string();
      std::set<std::uint32_t> failed;
      for (const auto& f : r->failed) {
        EXPECT_EQ(f.why, delivery_failure::shard_unavailable) << f.index;
        failed.insert(f.index);
      }
      std::vector<engine::event> again;
      for (std::uint32_t k = 0; k < evs.size(); ++k) {
        if (failed.count(k))
          again.push_back(evs[k]);
        else
          acked_[evs[k].user].insert(evs[k].item);
      }
      evs = std::move(again);
      if (!evs.empty())  // a takeover under way: wait for the next map
        cluster_[entry]->await_cluster([](const cluster_status& s) { return served(s, 1); }, 5s);
    }
  }

  // Every acknowledged event of every user, read through node `via`.
  void expect_every_acknowledged_event(std::uint32_t via) {
    for (const auto& [user, items] : acked_) {
      auto recent = cluster_[via]->user_recent(user);
      ASSERT_TRUE(recent) << user << ": " << recent.error().to_string();
      std::set<std::string> got;
      for (const auto& i : *recent)
        got.insert(i.item);
      EXPECT_EQ(got, items) << user << " read through node " << via;
    }
  }

  std::vector<engine::event> batch(int round, int users) {
    std::vector<engine::event> evs;
    for (int u = 0; u < users; ++u) {
      engine::event e{"user-" + std::to_string(u), "item-" + std::to_string(round), engine::event_type::like,
                      0, 1'700'000'000'000 + round, ""};
      e.id = "r" + std::to_string(round) + "-u" + std::to_string(u);
      evs.push_back(std::move(e));
    }
    return evs;
  }

  rtrec::storage_test::temp_dir tmp_;
  std::vector<engine::node_address> nodes_ = spread_nodes(3);
  std::array<std::unique_ptr<service>, 3> cluster_;
  std::map<std::string, std::set<std::string>> acked_;
};

TEST_F(replicated_cluster, a_stopped_node_loses_nothing_and_its_shards_move_to_their_copies) {
  for (std::uint32_t n = 0; n < 3; ++n)
    start(n);
  for (auto& node : cluster_)
    ASSERT_TRUE(node->await_cluster([](const cluster_status& s) { return s.complete() && served(s, 2); }, 20s))
      << "the cluster did not form with two in-sync copies of every profile shard";
  ingest_all(0, batch(0, 40));
  expect_every_acknowledged_event(2);

  // Node 1 stops: its primaries move to their in-sync copies.
  const auto before = cluster_[0]->cluster().replicas;
  std::size_t led = 0;
  for (const auto& p : before.profiles)
    led += p.primary == 1 ? 1 : 0;
  ASSERT_GT(led, 0u) << "node 1 leads no profile shard: nothing would move";
  cluster_[1]->stop();
  cluster_[1].reset();
  for (std::uint32_t n : {0u, 2u})
    ASSERT_TRUE(cluster_[n]->await_cluster(
      [](const cluster_status& s) { return down_in_map(s, 1) && served(s, 1); }, 20s))
      << "node " << n << " has no map with node 1 out and every shard served";
  expect_every_acknowledged_event(0);  // read-your-writes across the failover
  ingest_all(2, batch(1, 40));
  expect_every_acknowledged_event(0);

  // Node 1 returns from its data directory, catches up and is in sync again.
  start(1);
  for (auto& node : cluster_)
    ASSERT_TRUE(node->await_cluster(
      [](const cluster_status& s) { return s.complete() && !down_in_map(s, 1) && served(s, 2); },
      30s))
      << "node 1 did not rejoin every in-sync set";
  ingest_all(1, batch(2, 40));
  expect_every_acknowledged_event(1);

  // Now node 2 stops: node 1's copies hold everything acknowledged.
  cluster_[2]->stop();
  cluster_[2].reset();
  for (std::uint32_t n : {0u, 1u})
    ASSERT_TRUE(cluster_[n]->await_cluster(
      [](const cluster_status& s) { return down_in_map(s, 2) && served(s, 1); }, 20s));
  expect_every_acknowledged_event(1);
  ingest_all(0, batch(3, 40));
  expect_every_acknowledged_event(0);
}

TEST(replicated_cluster_config, replication_needs_a_data_directory_and_at_most_the_node_count) {
  auto nodes = loopback_nodes(2);
  auto o = node_options(nodes, 0);
  o.cluster.replication_factor = 2;
  EXPECT_THROW(service{o}, std::invalid_argument) << "no data directory";
  o.cluster.replication_factor = 3;
  o.durability.data_dir = "/nonexistent-rtrec-test";
  EXPECT_THROW(service{o}, std::invalid_argument) << "more copies than nodes";
}

}  // namespace
