// Durable cluster nodes (docs/replication.md, "Stage 1: durable nodes"), in
// one test process over real loopback connections: three nodes, each with a
// data directory. A node that stops without a final checkpoint and starts
// again recovers its profile shards from its log, and its item shards, which
// missed the delta batches the other nodes' profile shards sent while it was
// away, resync from those nodes' data directories; afterwards the cluster
// answers exactly as an embedded engine fed the acknowledged events. Nodes
// release log segments only up to what every item shard of the cluster
// holds in a kept checkpoint, so the resyncs succeed although segments were
// released.
//
// Waiting uses service::await_cluster and flush (an item shard answers a
// flush only once its resyncs are done), never a sleep.
#include <gtest/gtest.h>

#include <array>
#include <map>
#include <memory>
#include <set>

#include "rtrec/rtrec.hpp"
#include "tests/actors/cluster_support.hpp"
#include "tests/harness/compare.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace rtrec;
using namespace rtrec::cluster_testing;
using namespace std::chrono_literals;

namespace {

constexpr std::uint32_t victim = 1;

service_options durable_node(const std::vector<engine::node_address>& nodes, std::uint32_t n,
                             const std::filesystem::path& root) {
  auto o = node_options(nodes, n);
  o.durability.data_dir = (root / ("node" + std::to_string(n))).string();
  o.durability.sync = storage::sync_policy::none;  // a process crash, not a power loss
  o.durability.snapshot_interval = 0ms;             // checkpoints only when the test asks
  o.durability.snapshot_on_stop = false;            // a stop leaves what a crash leaves
  o.durability.segment_bytes = 8 << 10;             // many segments: some get released
  return o;
}

// Starts three durable nodes and waits until each sees the whole cluster.
void start_durable(std::array<std::unique_ptr<service>, 3>& cluster,
                   const std::vector<engine::node_address>& nodes,
                   const std::filesystem::path& root) {
  for (std::uint32_t n = 0; n < 3; ++n)
    cluster[n] = std::make_unique<service>(durable_node(nodes, n, root));
  for (auto& node : cluster)
    ASSERT_TRUE(node->await_cluster(complete, 20s)) << "the cluster did not form";
}

// The embedded engine the cluster is compared with.
service_options embedded_reference() {
  service_options eo;
  eo.topology = cluster_topology();
  eo.worker_threads = 2;
  return eo;
}

// Feeds events [from, to) through `entry` in batches; the reference gets
// exactly the acknowledged ones, in the same order. Returns how many were
// not acknowledged.
std::size_t feed(service& entry, service& ref, const std::vector<engine::event>& events,
                 std::size_t from, std::size_t to, std::set<std::string>& users) {
  std::size_t refused = 0;
  for (std::size_t k = from; k < to; k += 250) {
    std::vector<engine::event> batch(events.begin() + static_cast<std::ptrdiff_t>(k),
                                     events.begin()
                                       + static_cast<std::ptrdiff_t>(std::min(k + 250, to)));
    auto got = entry.ingest(batch);
    EXPECT_TRUE(got) << got.error().to_string();
    if (!got)
      return batch.size();
    std::vector<bool> failed(batch.size(), false);
    for (const auto& f : got->failed)
      failed[f.index] = true;
    std::vector<engine::event> acked;
    for (std::size_t i = 0; i < batch.size(); ++i)
      if (!failed[i]) {
        users.insert(batch[i].user);
        acked.push_back(batch[i]);
      }
    refused += batch.size() - acked.size();
    auto want = ref.ingest(acked);
    EXPECT_TRUE(want);
    EXPECT_EQ(got->accepted, want ? want->accepted : 0);
  }
  return refused;
}

}  // namespace

TEST(cluster, a_restarted_durable_node_recovers_its_users_and_its_item_shards_resync) {
  const std::uint64_t seed = 20261205;
  SCOPED_TRACE("seed " + std::to_string(seed));
  rtrec::storage_test::temp_dir tmp;
  auto nodes = spread_nodes(3);
  std::array<std::unique_ptr<service>, 3> cluster;
  ASSERT_NO_FATAL_FAILURE(start_durable(cluster, nodes, tmp.path()));
  service ref{embedded_reference()};

  const auto events = seeded_events(seed, 6000);
  std::set<std::string> users;
  // Checkpoints on every node, three rounds: once every node has heard what
  // the others' item shards hold, log segments are released.
  std::uint64_t released = 0;
  auto checkpoint = [&](std::uint32_t n) {
    ASSERT_TRUE(cluster[n]->flush());
    auto cp = cluster[n]->checkpoint();
    ASSERT_TRUE(cp) << cp.error().to_string();
    released += cp->segments_deleted;
  };
  for (std::size_t round = 0; round < 3; ++round) {
    EXPECT_EQ(feed(*cluster[round], ref, events, round * 1000, (round + 1) * 1000, users), 0u);
    for (std::uint32_t n = 0; n < 3; ++n)
      checkpoint(n);
  }
  EXPECT_GT(released, 0u) << "no node released a log segment";
  for (auto& node : cluster) {
    const auto st = node->cluster();
    EXPECT_TRUE(st.durable);
    ASSERT_EQ(st.item_coverage.size(), st.map.item_owner.size());
    for (std::size_t m = 0; m < st.item_coverage.size(); ++m)
      // Per profile shard's delta stream, then the item metadata stream.
      EXPECT_EQ(st.item_coverage[m].size(), st.map.profile_owner.size() + 1)
        << "item shard " << m << "'s coverage was not heard";
  }
  EXPECT_EQ(feed(*cluster[2], ref, events, 3000, 4000, users), 0u);
  ASSERT_TRUE(cluster[0]->flush());

  // The victim stops with no final checkpoint: its item shards' state since
  // the checkpoint is gone, its profile shards' is in its log.
  cluster[victim]->stop();
  cluster[victim].reset();
  ASSERT_TRUE(cluster[0]->await_cluster(
    [](const cluster_status& s) { return !s.nodes[victim].up; }, 10s));
  ASSERT_TRUE(cluster[2]->await_cluster(
    [](const cluster_status& s) { return !s.nodes[victim].up; }, 10s));
  // Events while it is away: its users' are refused, the others' applied
  // (their item side misses the victim's item shards: a gap to resync).
  auto refused = feed(*cluster[0], ref, events, 4000, 5000, users);
  // The others checkpoint meanwhile: they keep what the victim's item shards
  // will ask for (its coverage as last reported).
  checkpoint(0);
  checkpoint(2);
  refused += feed(*cluster[2], ref, events, 5000, 6000, users);
  EXPECT_GT(refused, 0u) << "the victim hosts profile shards";
  EXPECT_LT(refused, 2000u);

  cluster[victim] = std::make_unique<service>(durable_node(nodes, victim, tmp.path()));
  for (auto& node : cluster)
    ASSERT_TRUE(node->await_cluster(complete, 20s)) << "the victim did not rejoin";
  for (auto& node : cluster) {
    auto f = node->flush();
    ASSERT_TRUE(f) << f.error().to_string();
  }
  ASSERT_TRUE(ref.flush());

  std::uint64_t resyncs = 0, failures = 0;
  for (auto& node : cluster) {
    auto st = node->stats();
    ASSERT_TRUE(st);
    EXPECT_EQ(st->unreachable_shards, 0u);
    for (const auto& s : st->item_shards) {
      resyncs += s.resyncs;
      failures += s.resync_failures;
      EXPECT_EQ(s.model.prunes, 0u) << "rows were pruned: the comparison would not be exact";
    }
  }
  EXPECT_GE(resyncs, 1u) << "the victim's item shards missed batches and must have resynced";
  EXPECT_EQ(failures, 0u);

  for (const auto& user : users) {
    engine::recommend_options o;
    o.n = 10;
    for (std::uint32_t via : {victim, 2u}) {
      auto got = cluster[via]->recommend(user, o);
      auto want = ref.recommend(user, o);
      ASSERT_TRUE(got) << user << ": " << got.error().to_string();
      ASSERT_TRUE(want);
      auto diff = rtrec::testing::compare(*got, *want);
      ASSERT_TRUE(diff.empty()) << "user " << user << " via node " << via << ": " << diff
                                << "\ncluster: " << rtrec::testing::describe(*got)
                                << "\nembedded: " << rtrec::testing::describe(*want);
    }
    auto recent = cluster[0]->user_recent(user);
    auto recent_want = ref.user_recent(user);
    ASSERT_TRUE(recent && recent_want) << user;
    ASSERT_EQ(recent->size(), recent_want->size()) << user;
  }

  // User neighbors: every user who holds one of u's recent items in its own
  // recent window is among u's neighbors, asked via the victim too. The
  // victim's item shards rebuilt their lists from its own profile shards and
  // got the other nodes' users by seeds (docs/replication.md, "Recent users
  // come back by a seed"); without them, users of other nodes who touched
  // none of its items since its checkpoint would be missing.
  std::map<std::string, std::set<std::string>> window, holders;
  for (const auto& user : users) {
    auto r = cluster[0]->user_recent(user);
    ASSERT_TRUE(r) << user;
    for (const auto& x : *r) {
      window[user].insert(x.item);
      holders[x.item].insert(user);
    }
  }
  std::size_t checked = 0;
  for (const auto& user : users) {
    std::set<std::string> want;
    for (const auto& item : window[user])
      for (const auto& v : holders[item])
        if (v != user)
          want.insert(v);
    for (std::uint32_t via : {victim, 2u}) {
      auto got = cluster[via]->user_neighbors(user, 1000);
      ASSERT_TRUE(got) << user << ": " << got.error().to_string();
      std::set<std::string> listed;
      for (const auto& r : *got)
        listed.insert(r.item);
      for (const auto& v : want)
        ASSERT_EQ(listed.count(v), 1u)
          << "user " << user << " via node " << via << " misses neighbor " << v;
      checked += want.size();
    }
  }
  EXPECT_GT(checked, users.size()) << "too few shared items to test neighbors";
}

// Item metadata (docs/replication.md, "Stage 1b"): written through any
// node, it has one writer, the item writer of the node hosting item shard 0,
// and one log. A node that stops without a final checkpoint loses its item
// shards' metadata since its checkpoint; when it is back, the meta writer's
// marker makes its item shards resync the operations they missed (including
// those written while it was away, which the others accepted), and every
// item shard filters recommendations as the embedded engine given the same
// writes in the same order does.
TEST(cluster, item_metadata_has_one_writer_and_a_restarted_node_catches_up_on_it) {
  const std::uint64_t seed = 20261207;
  SCOPED_TRACE("seed " + std::to_string(seed));
  rtrec::storage_test::temp_dir tmp;
  auto nodes = spread_nodes(3);
  std::array<std::unique_ptr<service>, 3> cluster;
  ASSERT_NO_FATAL_FAILURE(start_durable(cluster, nodes, tmp.path()));
  const auto map = cluster[0]->cluster().map;
  const std::uint32_t writer = map.item_owner.at(0);
  const std::uint32_t away = writer == 0 ? 1 : 0;  // not the meta writer's node
  const std::uint32_t third = 3 - writer - away;
  service ref{embedded_reference()};

  const auto events = seeded_events(seed, 3000);
  std::set<std::string> users;
  EXPECT_EQ(feed(*cluster[0], ref, events, 0, events.size(), users), 0u);
  std::vector<std::string> items;
  {
    std::set<std::string> seen;
    for (const auto& e : events)
      if (seen.insert(e.item).second)
        items.push_back(e.item);
  }
  ASSERT_GE(items.size(), 60u);
  // Each write through node `via`, then the same on the embedded engine: one
  // at a time, so the meta writer's order is the reference's.
  auto set = [&](std::uint32_t via, const std::string& id, const std::string& category) {
    engine::item_meta m{id, {category}};
    auto got = cluster[via]->set_item(m);
    ASSERT_TRUE(got) << id << " via node " << via << ": " << got.error().to_string();
    ASSERT_TRUE(ref.set_item(m));
  };
  auto remove = [&](std::uint32_t via, const std::string& id) {
    auto got = cluster[via]->remove_item(id);
    ASSERT_TRUE(got) << id << " via node " << via << ": " << got.error().to_string();
    ASSERT_TRUE(ref.remove_item(id));
  };
  for (std::size_t k = 0; k < 20; ++k)
    set(static_cast<std::uint32_t>(k % 3), items[k], "c" + std::to_string(k % 3));
  for (std::uint32_t n = 0; n < 3; ++n) {
    ASSERT_TRUE(cluster[n]->flush());
    auto cp = cluster[n]->checkpoint();
    ASSERT_TRUE(cp) << cp.error().to_string();
  }
  // After the checkpoints: writes the away node's item shards will lose.
  for (std::size_t k = 20; k < 40; ++k)
    set(static_cast<std::uint32_t>(k % 3), items[k], "c" + std::to_string(k % 3));
  remove(away, items[3]);
  engine::item_patch patch;
  patch.set_categories = true;
  patch.categories = {"c2"};
  ASSERT_TRUE(cluster[away]->update_item(items[4], patch));
  ASSERT_TRUE(ref.update_item(items[4], patch));

  cluster[away]->stop();
  cluster[away].reset();
  for (auto n : {writer, third})
    ASSERT_TRUE(cluster[n]->await_cluster(
      [away](const cluster_status& s) { return !s.nodes[away].up; }, 10s));
  // While it is away, metadata is still written (the meta writer has a log:
  // the away node's item shards get these by resync).
  for (std::size_t k = 40; k < 60; ++k)
    set(k % 2 == 0 ? writer : third, items[k], "c" + std::to_string(k % 3));
  remove(third, items[5]);
  set(writer, items[6], "c0");

  cluster[away] = std::make_unique<service>(durable_node(nodes, away, tmp.path()));
  for (auto& node : cluster)
    ASSERT_TRUE(node->await_cluster(complete, 20s)) << "the node did not rejoin";
  for (auto& node : cluster)
    ASSERT_TRUE(node->flush());
  ASSERT_TRUE(ref.flush());
  // Every item shard of every node is at the same point of the one stream.
  std::uint64_t position = 0, resyncs = 0, failures = 0;
  std::vector<std::uint64_t> known;
  for (std::uint32_t n = 0; n < 3; ++n) {
    auto st = cluster[n]->stats();
    ASSERT_TRUE(st);
    for (const auto& s : st->item_shards) {
      if (position == 0)
        position = s.meta_applied;
      EXPECT_EQ(s.meta_applied, position) << "item shard " << s.shard << " on node " << n;
      known.push_back(s.model.items);
      if (n == away) {
        resyncs += s.resyncs;
        failures += s.resync_failures;
      }
    }
  }
  EXPECT_EQ(position, 20u + 20 + 2 + 20 + 2) << "one log record per write, on the meta writer";
  EXPECT_GE(resyncs, 1u) << "the away node's item shards must have resynced the stream";
  EXPECT_EQ(failures, 0u);
  // Every item shard filters by the same metadata: recommendations in each
  // category, read through the away node and another, equal the reference.
  for (const auto& user : users)
    for (const char* c : {"c0", "c1", "c2"}) {
      engine::recommend_options o;
      o.n = 10;
      o.filter.category = c;
      auto want = ref.recommend(user, o);
      ASSERT_TRUE(want);
      for (std::uint32_t via : {away, third}) {
        auto got = cluster[via]->recommend(user, o);
        ASSERT_TRUE(got) << user << ": " << got.error().to_string();
        auto diff = rtrec::testing::compare(*got, *want);
        ASSERT_TRUE(diff.empty()) << "user " << user << ", category " << c << ", via node "
                                  << via << ": " << diff;
      }
    }
  // Through the away node again, a write reaches the meta writer.
  set(away, items[7], "c1");
  auto got = cluster[third]->item(items[7]);
  ASSERT_TRUE(got) << got.error().to_string();
  EXPECT_EQ(got->categories, (std::vector<std::string>{"c1"}));
  // With the meta writer's node gone, writes elsewhere are refused, named.
  cluster[writer]->stop();
  cluster[writer].reset();
  ASSERT_TRUE(cluster[away]->await_cluster(
    [writer](const cluster_status& s) { return !s.nodes[writer].up; }, 10s));
  auto refused = cluster[away]->set_item({items[8], {"c0"}});
  ASSERT_FALSE(refused);
  EXPECT_EQ(refused.error().code, error_code::shard_unavailable);
}
