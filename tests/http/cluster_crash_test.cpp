// Crash recovery of a durable cluster, Jepsen style, with real processes:
// three `rtrec node` processes on loopback, each with its own data directory
// (docs/replication.md, "Stage 1: durable nodes"). A client streams events
// with unique ids to random live nodes and records every acknowledgement;
// five times a random node is killed with SIGKILL (checkpoints run every
// 200 ms, so kills land before, during and after them), events go on while
// it is down (its users' events are refused and resent later), and it is
// restarted on its data directory. After the last restart the client resends
// everything not acknowledged, then checks, for every user:
//   lost       = acknowledged events missing from the cluster     == 0
//   unexpected = events in the cluster the client never sent      == 0
//   duplicated = events applied more than once (applied counters
//                minus distinct events present)                    == 0
// and that every recommendation equals that of an in-memory embedded engine
// fed exactly the acknowledged events: the restarted nodes' item shards
// resynced what the others sent while they were down.
//
// Each user touches each item at most once and the nodes keep up to 1000
// recent interactions per user, so GET /api/user/{id} lists every applied
// event of that user. Rows are never pruned (--neighbors-max 100000): the
// item side does not depend on the interleaving of delta batches then, so
// the comparison is exact. Seeded (RTREC_SEED overrides); the seed is printed on
// failure.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <set>
#include <thread>

#include "engine/placement.hpp"
#include "rtrec/rtrec.hpp"
#include "tests/http/http_client.hpp"
#include "tests/http/jepsen_check.hpp"
#include "tests/http/node_process.hpp"

namespace {

using json = nlohmann::json;
using clock_type = std::chrono::steady_clock;
using rtrec::testing::http_client;
using rtrec::testing::http_reply;
using rtrec::testing::node_process;
using rtrec::testing::seed_from_env;

constexpr std::uint32_t profile_shards = 6, item_shards = 3;

struct test_event {
  std::string id, user, item;
  std::int64_t ts = 0;
};

http_reply call(std::uint16_t port, const std::string& method, const std::string& target,
                const std::string& body = {}) {
  http_client c{port};
  return c.request(method, target, body);
}

// Polls a node's /api/cluster until every node is up (a separate process:
// nothing to wait on but its answers).
bool cluster_complete(std::uint16_t port) {
  const auto deadline = clock_type::now() + std::chrono::seconds(30);
  while (clock_type::now() < deadline) {
    auto r = call(port, "GET", "/api/cluster");
    if (r.status == 200 && json::parse(r.body, nullptr, false).value("Complete", false))
      return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

// The chosen cluster map a node reports (/api/cluster "Map"; null when it
// knows none or did not answer).
json map_of(std::uint16_t port) {
  auto r = call(port, "GET", "/api/cluster");
  if (r.status != 200)
    return nullptr;
  return json::parse(r.body, nullptr, false).value("Map", json(nullptr));
}

bool is_down(const json& map, std::uint32_t n) {
  if (!map.is_object())
    return false;
  for (const auto& d : map["Down"])
    if (d.get<std::uint32_t>() == n)
      return true;
  return false;
}

// Loopback addresses under which every node hosts a profile shard and an
// item shard (placement depends on the addresses).
std::vector<std::string> spread_addresses() {
  for (int attempt = 0; attempt < 500; ++attempt) {
    const auto nodes = rtrec::free_loopback_nodes(3);
    const auto map = rtrec::engine::place_shards(nodes, profile_shards, item_shards);
    bool ok = true;
    for (std::uint32_t n = 0; n < 3; ++n)
      ok = ok && !map.profiles_of(n).empty() && !map.items_of(n).empty();
    if (ok) {
      std::vector<std::string> out;
      for (const auto& a : nodes)
        out.push_back(a.to_string());
      return out;
    }
  }
  return {};
}

json body_of(const std::vector<test_event>& batch) {
  json arr = json::array();
  for (const auto& e : batch)
    arr.push_back({{"FeedbackType", "like"}, {"UserId", e.user}, {"ItemId", e.item},
                   {"Timestamp", e.ts}, {"EventId", e.id}});
  return arr;
}

class cluster_crash : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure())
      for (const auto& n : nodes_)
        std::cerr << "-------- log of " << n->name() << " --------\n" << n->log() << '\n';
  }
  // Starts three nodes on addresses that spread the shards over all of
  // them, each with the common arguments plus `extra`.
  void start_nodes(const std::vector<std::string>& extra) {
    const auto addresses = spread_addresses();
    ASSERT_EQ(addresses.size(), 3u) << "no port triple spreads the shards over every node";
    std::string list;
    for (const auto& a : addresses)
      list += (list.empty() ? "" : ",") + a;
    for (std::uint32_t n = 0; n < 3; ++n) {
      std::vector<std::string> args{"--nodes", list, "--node", std::to_string(n),
                                    "--profile-shards", std::to_string(profile_shards),
                                    "--item-shards", std::to_string(item_shards), "--sync",
                                    "none", "--reconnect-max", "0.3"};
      args.insert(args.end(), extra.begin(), extra.end());
      nodes_.push_back(std::make_unique<node_process>(args, "node " + std::to_string(n)));
    }
  }
  std::vector<std::unique_ptr<node_process>> nodes_;
};

TEST_F(cluster_crash, KillNineOfRandomNodesLosesNothingAcknowledgedAndDuplicatesNothing) {
  const auto seed = seed_from_env(20261205);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with RTREC_SEED=" +
               std::to_string(seed) + ")");
  std::mt19937_64 rng{seed};
  start_nodes({"--recent-max", "1000", "--seen-max", "5000", "--popular-refresh", "0",
               "--neighbors-max", "100000", "--snapshot-interval", "0.2"});
  if (HasFatalFailure())
    return;
  for (auto& n : nodes_)
    ASSERT_TRUE(cluster_complete(n->port())) << n->name() << " never saw the whole cluster";

  // The workload: each user walks a random permutation of the items.
  constexpr int users = 30, items = 300, total = 6000, kills = 5;
  std::vector<std::vector<int>> order(users);
  for (auto& o : order) {
    o.resize(items);
    std::iota(o.begin(), o.end(), 0);
    std::shuffle(o.begin(), o.end(), rng);
  }
  std::vector<std::size_t> next(users, 0);
  std::vector<test_event> events;
  for (int k = 0; k < total; ++k) {
    int u = static_cast<int>(rng() % users);
    while (next[u] >= static_cast<std::size_t>(items))
      u = (u + 1) % users;
    events.push_back({"ev-" + std::to_string(k), "user-" + std::to_string(u),
                      "item-" + std::to_string(order[u][next[u]++]), 1700000000 + k});
  }

  std::vector<test_event> acked;  // in acknowledgement order
  std::set<std::string> acked_ids;
  std::vector<test_event> pending;  // refused or unanswered: resent later
  std::uint64_t refused = 0, cut = 0;
  std::vector<bool> up(3, true);

  // Sends one batch to node n; whatever was not acknowledged goes back to
  // `pending` (a refused event, or the whole batch when the answer is lost).
  auto send = [&](std::uint32_t n, const std::vector<test_event>& batch) {
    auto r = call(nodes_[n]->port(), "POST", "/api/feedback", body_of(batch).dump());
    if (r.status != 200) {
      ASSERT_TRUE(r.status == 0 || r.status == 503) << r.status << " " << r.body;
      cut += r.status == 0;
      refused += r.status == 503 ? batch.size() : 0;
      pending.insert(pending.end(), batch.begin(), batch.end());
      return;
    }
    const auto j = json::parse(r.body);
    std::set<std::size_t> rejected;
    if (j.contains("Rejected"))
      for (auto& x : j["Rejected"]) {
        ASSERT_EQ(x.value("Reason", std::string{}), "shard_unavailable") << r.body;
        rejected.insert(x["Index"].get<std::size_t>());
      }
    refused += rejected.size();
    for (std::size_t k = 0; k < batch.size(); ++k) {
      if (rejected.count(k))
        pending.push_back(batch[k]);
      else if (acked_ids.insert(batch[k].id).second)
        acked.push_back(batch[k]);
    }
  };
  auto live_node = [&] {
    std::uint32_t n = static_cast<std::uint32_t>(rng() % 3);
    while (!up[n])
      n = (n + 1) % 3;
    return n;
  };
  // Sends up to `batches` batches: resends first, then new events.
  std::size_t cursor = 0;
  auto stream = [&](int batches) {
    for (int b = 0; b < batches; ++b) {
      std::vector<test_event> batch;
      const auto size = 1 + rng() % 30;
      while (!pending.empty() && batch.size() < size) {
        batch.push_back(pending.front());
        pending.erase(pending.begin());
      }
      while (cursor < events.size() && batch.size() < size)
        batch.push_back(events[cursor++]);
      if (batch.empty())
        return;
      send(live_node(), batch);
    }
  };

  std::uint64_t last_epoch = 1;
  for (int k = 0; k < kills; ++k) {
    stream(10 + static_cast<int>(rng() % 20));
    const auto victim = static_cast<std::uint32_t>(rng() % 3);
    nodes_[victim]->kill9();
    up[victim] = false;
    for (std::uint32_t n = 0; n < 3; ++n)
      if (up[n]) {
        // Wait until the others know it is down, so that its users are
        // refused at once rather than at a deadline.
        const auto deadline = clock_type::now() + std::chrono::seconds(20);
        for (;;) {
          auto r = call(nodes_[n]->port(), "GET", "/api/cluster");
          if (r.status == 200 && !json::parse(r.body).value("Complete", true))
            break;
          ASSERT_LT(clock_type::now(), deadline) << "node " << n << " did not notice the kill";
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
      }
    // The survivors (a majority) choose a map that takes it out
    // (docs/replication.md, "The map keeper").
    for (std::uint32_t n = 0; n < 3; ++n)
      if (up[n]) {
        const auto deadline = clock_type::now() + std::chrono::seconds(20);
        json m;
        while (!is_down(m = map_of(nodes_[n]->port()), victim)) {
          ASSERT_LT(clock_type::now(), deadline)
            << "node " << n << " has no map with node " << victim << " down: " << m.dump();
          std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        EXPECT_GT(m["Epoch"].get<std::uint64_t>(), last_epoch);
      }
    stream(5 + static_cast<int>(rng() % 10));  // while it is down
    nodes_[victim]->start();
    up[victim] = true;
    for (auto& n : nodes_)
      ASSERT_TRUE(cluster_complete(n->port())) << n->name() << " did not see node " << victim
                                               << " rejoin";
    // Back in: all three agree on a newer map with nobody down (the
    // restarted node kept its promises in its CLUSTER file).
    const auto deadline = clock_type::now() + std::chrono::seconds(20);
    for (;;) {
      std::vector<json> maps;
      for (auto& n : nodes_)
        maps.push_back(map_of(n->port()));
      const bool agreed = maps[0].is_object() && maps[0]["Down"].empty()
                          && maps[1] == maps[0] && maps[2] == maps[0];
      if (agreed) {
        EXPECT_GT(maps[0]["Epoch"].get<std::uint64_t>(), last_epoch);
        last_epoch = maps[0]["Epoch"].get<std::uint64_t>();
        break;
      }
      ASSERT_LT(clock_type::now(), deadline)
        << "no common map with every node up: " << maps[0].dump() << " / " << maps[1].dump()
        << " / " << maps[2].dump();
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }
  // Everything else, and every resend, until all is acknowledged.
  for (int round = 0; (cursor < events.size() || !pending.empty()) && round < 10000; ++round)
    stream(1);
  ASSERT_TRUE(pending.empty() && cursor == events.size());
  ASSERT_EQ(acked.size(), events.size());
  for (auto& n : nodes_) {
    auto f = call(n->port(), "GET", "/api/dashboard/stats");  // every node answers
    ASSERT_EQ(f.status, 200) << n->name() << ": " << f.body;
  }

  // Jepsen-style check, per user, read through node 0 (every node reports
  // every shard's applied counter, read across the cluster).
  rtrec::testing::user_items sent_items, acked_items;
  for (auto& e : events)
    sent_items[e.user].insert(e.item);
  for (auto& e : acked)
    acked_items[e.user].insert(e.item);
  std::vector<std::string> user_ids;
  for (int u = 0; u < users; ++u)
    user_ids.push_back("user-" + std::to_string(u));
  http_client reader{nodes_[0]->port()};
  const auto got_counts = rtrec::testing::jepsen_check(reader, user_ids, sent_items, acked_items);
  EXPECT_EQ(got_counts.lost, 0u);
  EXPECT_EQ(got_counts.unexpected, 0u);
  EXPECT_EQ(got_counts.duplicated, 0u) << got_counts.present << " distinct events present";
  EXPECT_EQ(got_counts.present, acked.size());

  // Recommendations equal those of an embedded engine fed the acknowledged
  // events. The item side converges through resyncs after the restarts:
  // polled (separate processes), each answer compared once it stops changing.
  rtrec::service_options ro;
  ro.topology.profile_shards = profile_shards;
  ro.topology.item_shards = item_shards;
  ro.topology.model.recent_max = 1000;
  ro.topology.model.seen_max = 5000;
  ro.topology.model.popular_refresh_events = 0;
  ro.topology.model.neighbors_max = 100000;  // no pruning: exact comparison
  rtrec::service ref{ro};
  std::vector<rtrec::engine::event> feed;
  for (auto& e : acked)
    feed.push_back({e.user, e.item, rtrec::engine::event_type::like, 0.0, e.ts * 1000, e.id});
  auto fed = ref.ingest(std::move(feed));
  ASSERT_TRUE(fed);
  ASSERT_EQ(fed->accepted, acked.size());
  ASSERT_TRUE(ref.flush());
  for (int u = 0; u < users; ++u) {
    const auto user = "user-" + std::to_string(u);
    rtrec::engine::recommend_options opts;
    opts.n = 20;
    auto want = ref.recommend(user, opts);
    ASSERT_TRUE(want);
    json got;
    const auto deadline = clock_type::now() + std::chrono::seconds(10);
    for (;;) {
      auto r = call(nodes_[u % 3]->port(), "GET", "/api/recommend/" + user + "?n=20", {});
      ASSERT_EQ(r.status, 200) << r.body;
      got = json::parse(r.body);
      bool same = got.size() == want->size();
      for (std::size_t k = 0; same && k < want->size(); ++k)
        same = got[k] == (*want)[k].item;
      if (same || clock_type::now() > deadline)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_EQ(got.size(), want->size()) << user << ": " << got.dump();
    for (std::size_t k = 0; k < want->size(); ++k)
      EXPECT_EQ(got[k], (*want)[k].item) << user << " rank " << k;
  }
  std::cout << "[cluster crash test] seed " << seed << ": " << kills << " kills, "
            << acked.size() << " events acknowledged, " << refused
            << " refused while a node was down (resent), " << cut
            << " requests cut by a kill\n";
}

}  // namespace

// -- replication factor 2: every user served while a node is down -----------------------

namespace {

// Whether the node on `port` knows a map in which every profile shard has a
// primary and at least `in_sync` in-sync copies, and `down` (if any) is out.
bool map_serves(std::uint16_t port, std::size_t in_sync, int down = -1) {
  const auto m = map_of(port);
  if (!m.is_object())
    return false;
  if (down >= 0 ? !is_down(m, static_cast<std::uint32_t>(down)) : !m["Down"].empty())
    return false;
  for (const auto& s : m["ProfileShards"])
    if (s["Primary"].is_null() || s["InSync"].size() < in_sync)
      return false;
  return true;
}

template <class Pred>
bool poll(Pred p, std::chrono::seconds limit = std::chrono::seconds(30)) {
  const auto deadline = clock_type::now() + limit;
  while (!p()) {
    if (clock_type::now() > deadline)
      return false;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));  // polling other processes
  }
  return true;
}

}  // namespace

TEST_F(cluster_crash, ReplicatedNodesServeEveryUserWhileOneIsKilled) {
  const auto seed = seed_from_env(20261208);
  SCOPED_TRACE("seed " + std::to_string(seed) + " (rerun with RTREC_SEED=" +
               std::to_string(seed) + ")");
  std::mt19937_64 rng{seed};
  start_nodes({"--replication-factor", "2"});
  if (HasFatalFailure())
    return;
  for (auto& n : nodes_)
    ASSERT_TRUE(poll([&] { return map_serves(n->port(), 2); }))
      << n->name() << " has no map with two in-sync copies of every profile shard";

  constexpr int users = 30, kills = 3;
  std::vector<std::string> user_ids;
  for (int u = 0; u < users; ++u)
    user_ids.push_back("user-" + std::to_string(u));
  rtrec::testing::user_items sent, acked;
  std::uint64_t refused = 0;
  int round = 0;
  // One event per user through node n until each is acknowledged (a refusal
  // during a takeover is resent with the same id).
  auto feed_everyone = [&](std::uint32_t n) {
    std::vector<test_event> batch;
    for (const auto& u : user_ids)
      batch.push_back({"r" + std::to_string(round) + "-" + u, u,
                       "item-" + std::to_string(round), 1700000000 + round});
    ++round;
    for (const auto& e : batch)
      sent[e.user].insert(e.item);
    for (int attempt = 0; !batch.empty(); ++attempt) {
      ASSERT_LT(attempt, 500) << batch.size() << " events never acknowledged";
      auto r = call(nodes_[n]->port(), "POST", "/api/feedback", body_of(batch).dump());
      ASSERT_TRUE(r.status == 200 || r.status == 503) << r.status << " " << r.body;
      std::set<std::size_t> rejected;
      if (r.status == 503) {
        for (std::size_t k = 0; k < batch.size(); ++k)
          rejected.insert(k);
      } else {
        for (auto& x : json::parse(r.body).value("Rejected", json::array()))
          rejected.insert(x["Index"].get<std::size_t>());
      }
      refused += rejected.size();
      std::vector<test_event> again;
      for (std::size_t k = 0; k < batch.size(); ++k) {
        if (rejected.count(k))
          again.push_back(batch[k]);
        else
          acked[batch[k].user].insert(batch[k].item);
      }
      batch = std::move(again);
      if (!batch.empty())
        std::this_thread::sleep_for(std::chrono::milliseconds(20));  // the takeover window
    }
  };
  // Every user readable through node n with every acknowledged event.
  auto check_everyone = [&](std::uint32_t n) {
    ASSERT_TRUE(poll([&] {
      for (const auto& u : user_ids)
        if (call(nodes_[n]->port(), "GET", "/api/user/" + u).status != 200)
          return false;
      return true;
    })) << "some user is not served through node " << n;
    http_client reader{nodes_[n]->port()};
    const auto c = rtrec::testing::jepsen_check(reader, user_ids, sent, acked);
    EXPECT_EQ(c.lost, 0u) << "through node " << n;
    EXPECT_EQ(c.duplicated, 0u);
    EXPECT_EQ(c.unexpected, 0u);
  };

  feed_everyone(0);
  std::int64_t takeover_ms = 0;  // kill -9 until both survivors know a map serving every shard
  for (int k = 0; k < kills; ++k) {
    const auto victim = static_cast<std::uint32_t>(rng() % 3);
    const auto live = (victim + 1 + static_cast<std::uint32_t>(rng() % 2)) % 3;
    const auto killed = clock_type::now();
    nodes_[victim]->kill9();
    for (std::uint32_t n = 0; n < 3; ++n) {
      if (n == victim)
        continue;
      ASSERT_TRUE(poll([&] { return map_serves(nodes_[n]->port(), 1, static_cast<int>(victim)); }))
        << "node " << n << " has no map serving every shard without node " << victim;
    }
    takeover_ms = std::max<std::int64_t>(
      takeover_ms, std::chrono::duration_cast<std::chrono::milliseconds>(clock_type::now() - killed)
                     .count());
    // Every user, also those whose primary was on the victim, is served.
    check_everyone(live);
    feed_everyone(live);
    check_everyone(3 - live - victim);  // the other survivor
    nodes_[victim]->start();
    for (auto& n : nodes_)
      ASSERT_TRUE(poll([&] { return map_serves(n->port(), 2); }))
        << n->name() << ": node " << victim << " did not rejoin every in-sync set";
    feed_everyone(victim);
    check_everyone(victim);
  }
  std::cerr << "[cluster crash test, replication factor 2] seed " << seed << ": " << kills
            << " kills, " << round << " rounds of " << users << " events, " << refused
            << " refused during takeovers (resent), longest takeover " << takeover_ms
            << " ms (as polled)\n";
}
