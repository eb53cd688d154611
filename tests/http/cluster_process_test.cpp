// Cluster mode end to end, with real processes: three `rtrec node` processes
// on loopback (cluster ports picked free by the test, so that the node that
// gets killed owns some profile shards). Events go in through node 0 and are
// read back through nodes 2 and 1 (read-your-writes across nodes, and
// co-occurrence recommendations built from them). Node 1 is then killed with
// SIGKILL: through node 0 the users whose profile shard lived on it answer
// 503 shard_unavailable at once while every other user keeps working; node 1
// is restarted with the same arguments and rejoins by itself with everything
// it had acknowledged: its users and their recommendations are back (each
// node keeps a data directory; its item shards resync what the others sent
// while it was down). Also the CLI: peers off loopback
// without TLS are refused, and --config reads a TOML file that command-line
// flags override.
//
// Every process is killed by its owner's destructor (and dies with the test
// process through PR_SET_PDEATHSIG), so a failing test leaves none behind;
// a failing test prints every node's log.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "engine/config.hpp"
#include "engine/event.hpp"
#include "engine/placement.hpp"
#include "tests/http/http_client.hpp"
#include "tests/http/node_process.hpp"

namespace {

using json = nlohmann::json;
using rtrec::testing::http_client;
using rtrec::testing::http_reply;
using rtrec::testing::node_process;
using clock_type = std::chrono::steady_clock;

constexpr std::uint32_t profile_shards = 6;
constexpr std::uint32_t item_shards = 6;
constexpr std::uint32_t entry = 0;   // events go in through this node
constexpr std::uint32_t victim = 1;  // killed with SIGKILL, then restarted
constexpr std::uint32_t reader = 2;  // reads go through this node
// Generous bounds: two cores shared by three nodes and the test.
constexpr auto cluster_wait = std::chrono::seconds(20);
constexpr double fast_enough_s = 8.0;  // well under the 10 s request timeout

struct timed_reply {
  http_reply reply;
  double seconds = 0;
};

/// One request on a fresh connection (a node's idle connections may close).
timed_reply call(std::uint16_t port, const std::string& method, const std::string& target,
                 const std::string& body = {}) {
  const auto start = clock_type::now();
  http_client c{port};
  timed_reply r;
  r.reply = c.request(method, target, body);
  r.seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  return r;
}

/// GET /api/cluster of the node on `port` (null when it did not answer 200).
json cluster_status(std::uint16_t port) {
  auto r = call(port, "GET", "/api/cluster").reply;
  if (r.status != 200)
    return nullptr;
  return json::parse(r.body, nullptr, false);
}

/// Polls a node's /api/cluster until `pred` holds or `limit` passed (a
/// separate process: nothing to wait on but its answers); returns the last
/// status seen.
template <class Pred>
json poll_cluster(std::uint16_t port, Pred pred, std::chrono::milliseconds limit = cluster_wait) {
  const auto deadline = clock_type::now() + limit;
  json st;
  for (;;) {
    st = cluster_status(port);
    if ((st.is_object() && pred(st)) || clock_type::now() > deadline)
      return st;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

bool complete(const json& st) { return st.is_object() && st.value("Complete", false); }

/// Entry `n` of a status's Nodes list (an empty object when there is none).
json node_entry(const json& st, std::uint32_t n) {
  if (st.is_object() && st.contains("Nodes") && st["Nodes"].is_array() && st["Nodes"].size() > n &&
      st["Nodes"][n].is_object())
    return st["Nodes"][n];
  return json::object();
}

bool node_up(const json& st, std::uint32_t n) { return node_entry(st, n).value("Up", false); }

/// A status's ProfileShardOwner or ItemShardOwner (empty when missing).
std::vector<std::uint32_t> owners_in(const json& st, const char* key) {
  if (st.is_object() && st.contains(key) && st[key].is_array())
    return st[key].get<std::vector<std::uint32_t>>();
  return {};
}

struct feedback {
  std::string user, item;
};

json feedback_body(const std::vector<feedback>& events, std::int64_t first_ts) {
  json arr = json::array();
  for (const auto& e : events)
    arr.push_back({{"FeedbackType", "like"},
                   {"UserId", e.user},
                   {"ItemId", e.item},
                   {"Timestamp", first_ts++}});
  return arr;
}

/// The item ids of GET /api/user/{id}'s Recent list.
std::set<std::string> recent_items(const http_reply& r) {
  std::set<std::string> out;
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_object() && j.contains("Recent"))
    for (const auto& x : j["Recent"])
      out.insert(x.value("ItemId", std::string{}));
  return out;
}

/// The item ids of GET /api/recommend/{id} (empty unless a JSON array).
std::vector<std::string> recommended(const http_reply& r) {
  std::vector<std::string> out;
  auto j = json::parse(r.body, nullptr, false);
  if (j.is_array())
    for (const auto& x : j)
      out.push_back(x.is_string() ? x.get<std::string>() : x.dump());
  return out;
}

/// Polls GET /api/recommend/{user} until its first item is `want` (the item
/// side lags the acknowledgement a little) or `deadline`; returns the last
/// reply.
http_reply recommend_until_first(std::uint16_t port, const std::string& user,
                                 const std::string& want, clock_type::time_point deadline,
                                 bool anywhere = false) {
  for (;;) {
    auto r = call(port, "GET", "/api/recommend/" + user + "?n=3").reply;
    const auto items = recommended(r);
    const bool found = anywhere ? std::find(items.begin(), items.end(), want) != items.end()
                                : !items.empty() && items.front() == want;
    if ((r.status == 200 && found) || clock_type::now() > deadline)
      return r;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::uint32_t profile_shard_of(const std::string& user) {
  return rtrec::engine::shard_of(rtrec::engine::hash_id(user), profile_shards);
}

std::string join(const std::vector<std::string>& parts, const std::string& sep) {
  std::string out;
  for (const auto& p : parts)
    out += (out.empty() ? "" : sep) + p;
  return out;
}

class cluster_process : public ::testing::Test {
 protected:
  void TearDown() override {
    if (HasFailure())
      for (const auto& n : nodes_)
        std::cerr << "-------- log of " << n->name() << " --------\n" << n->log() << '\n';
    nodes_.clear();  // SIGKILL, reaped
  }

  node_process& start(std::vector<std::string> args, const std::string& name) {
    nodes_.push_back(std::make_unique<node_process>(std::move(args), name));
    return *nodes_.back();
  }

  std::vector<std::unique_ptr<node_process>> nodes_;
};

// The cluster addresses on free loopback ports, chosen so that the victim
// owns between one and five of the six profile shards (the placement
// depends only on the addresses).
std::vector<std::string> pick_cluster_addresses() {
  for (int attempt = 0; attempt < 200; ++attempt) {
    const auto ports = rtrec::testing::free_loopback_ports(3);
    std::vector<rtrec::engine::node_address> nodes;
    std::vector<std::string> text;
    for (auto p : ports) {
      nodes.push_back({"127.0.0.1", p});
      text.push_back(nodes.back().to_string());
    }
    const auto map = rtrec::engine::place_shards(nodes, profile_shards, item_shards);
    const auto owned = map.profiles_of(victim).size();
    if (owned >= 1 && owned < profile_shards)
      return text;
  }
  return {};
}

TEST_F(cluster_process, ThreeNodesShareEventsSurviveAKillAndRejoin) {
  const auto t0 = clock_type::now();
  const auto addresses = pick_cluster_addresses();
  ASSERT_EQ(addresses.size(), 3u) << "no port triple gives node " << victim
                                  << " some but not all profile shards";
  std::vector<node_process*> node;
  for (std::uint32_t i = 0; i < 3; ++i)
    node.push_back(&start({"--nodes", join(addresses, ","), "--node", std::to_string(i),
                           "--profile-shards", std::to_string(profile_shards), "--item-shards",
                           std::to_string(item_shards), "--reconnect-max", "0.5"},
                          "node " + std::to_string(i)));
  for (auto* n : node) {
    const auto st = poll_cluster(n->port(), complete);
    ASSERT_TRUE(complete(st)) << n->name() << " never saw the whole cluster: " << st.dump();
  }
  const auto started_s = std::chrono::duration<double>(clock_type::now() - t0).count();

  // Every node computes the same placement, the one of engine/placement.hpp.
  const auto st0 = cluster_status(node[entry]->port());
  ASSERT_TRUE(st0.is_object()) << "no /api/cluster answer from node " << entry;
  std::vector<rtrec::engine::node_address> parsed;
  for (const auto& a : addresses) {
    std::string why;
    parsed.push_back(*rtrec::engine::parse_node_address(a, why));
  }
  const auto map = rtrec::engine::place_shards(parsed, profile_shards, item_shards);
  for (auto* n : node) {
    const auto st = cluster_status(n->port());
    ASSERT_TRUE(st.is_object()) << n->name();
    EXPECT_EQ(owners_in(st, "ProfileShardOwner"), map.profile_owner)
      << n->name() << ": " << st.dump();
    EXPECT_EQ(owners_in(st, "ItemShardOwner"), map.item_owner)
      << n->name() << ": " << st.dump();
    EXPECT_TRUE(st.value("Enabled", false)) << st.dump();
    EXPECT_FALSE(st.value("Tls", true)) << st.dump();
    EXPECT_TRUE(st.value("Durable", false)) << st.dump();
    ASSERT_TRUE(st.contains("ItemCoverage") && st["ItemCoverage"].is_array()) << st.dump();
    EXPECT_EQ(st["ItemCoverage"].size(), item_shards) << st.dump();
  }
  const auto owners = owners_in(st0, "ProfileShardOwner");
  ASSERT_EQ(owners.size(), profile_shards) << st0.dump();
  auto owner_of = [&](const std::string& user) { return owners[profile_shard_of(user)]; };

  // --- 1. Events in through node 0, read back through nodes 2 and 1. -------
  // Users come in pairs: user 2j likes a-j and b-j, user 2j+1 likes a-j only,
  // so b-j is the only co-occurrence candidate of user 2j+1 (a plain
  // popularity fill would rank some a-k, liked twice, above it).
  constexpr int users = 30;
  std::vector<std::string> user_ids;
  std::map<std::string, std::set<std::string>> liked;
  std::vector<feedback> events;
  for (int u = 0; u < users; ++u) {
    const auto user = "user-" + std::to_string(u);
    const auto j = std::to_string(u / 2);
    user_ids.push_back(user);
    events.push_back({user, "a-" + j});
    if (u % 2 == 0)
      events.push_back({user, "b-" + j});
  }
  for (const auto& e : events)
    liked[e.user].insert(e.item);
  std::vector<std::string> on_victim, elsewhere;
  for (const auto& u : user_ids)
    (owner_of(u) == victim ? on_victim : elsewhere).push_back(u);
  ASSERT_FALSE(on_victim.empty()) << "no test user on node " << victim << "'s profile shards";
  ASSERT_FALSE(elsewhere.empty()) << "every test user is on node " << victim;

  {
    auto r = call(node[entry]->port(), "POST", "/api/feedback",
                  feedback_body(events, 1700000000).dump())
               .reply;
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body).value("RowAffected", -1), static_cast<int>(events.size()))
      << r.body;
  }
  for (const auto& u : user_ids) {
    auto r = call(node[reader]->port(), "GET", "/api/user/" + u).reply;
    EXPECT_EQ(r.status, 200) << u << ": " << r.body;
    EXPECT_EQ(recent_items(r), liked[u]) << u << " read through node " << reader << ": " << r.body;
  }
  {
    const auto deadline = clock_type::now() + std::chrono::seconds(15);
    for (int u = 1; u < users; u += 2) {
      const auto user = user_ids[static_cast<std::size_t>(u)];
      const auto want = "b-" + std::to_string(u / 2);
      auto r = recommend_until_first(node[reader]->port(), user, want, deadline);
      ASSERT_EQ(r.status, 200) << user << ": " << r.body;
      const auto got = recommended(r);
      ASSERT_FALSE(got.empty()) << user << ": " << r.body;
      EXPECT_EQ(got.front(), want) << user << " (liked a-" << u / 2 << ") through node "
                                   << reader << ": " << r.body;
      // Node 1 asks the same shards: the same answer (polled while the item
      // side of the last events may still be arriving).
      http_reply r1;
      for (;;) {
        r1 = call(node[victim]->port(), "GET", "/api/recommend/" + user + "?n=3").reply;
        if (r1.body == r.body || clock_type::now() > deadline)
          break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
        r = call(node[reader]->port(), "GET", "/api/recommend/" + user + "?n=3").reply;
      }
      EXPECT_EQ(r1.status, 200) << r1.body;
      EXPECT_EQ(r1.body, r.body) << user << ": node " << victim << " vs node " << reader;
    }
  }

  // --- 1b. Gorse item endpoints through another node: an item written through
  // node 0 (Labels, Comment, Timestamp, a category added) reads back the same
  // through node 2, alone and in the cursor listing.
  {
    const json item{{"ItemId", "gorse-item"},  {"IsHidden", false},
                    {"Categories", {"c"}},     {"Timestamp", "2024-05-01T12:30:00Z"},
                    {"Labels", {{"k", "v"}}},  {"Comment", "through node 0"}};
    ASSERT_EQ(call(node[entry]->port(), "POST", "/api/item", item.dump()).reply.status, 200);
    auto put = call(node[entry]->port(), "PUT", "/api/item/gorse-item/category/d").reply;
    ASSERT_EQ(put.status, 200) << put.body;
    auto want = item;
    want["Categories"] = {"c", "d"};
    auto r = call(node[reader]->port(), "GET", "/api/item/gorse-item").reply;
    ASSERT_EQ(r.status, 200) << r.body;
    EXPECT_EQ(json::parse(r.body), want);
    std::size_t listed = 0;
    std::string cursor;
    do {
      auto page = call(node[reader]->port(), "GET", "/api/items?n=10&cursor=" + cursor).reply;
      ASSERT_EQ(page.status, 200) << page.body;
      const auto j = json::parse(page.body);
      for (const auto& x : j["Items"])
        if (x["ItemId"] == "gorse-item") {
          EXPECT_EQ(x, want);
          ++listed;
        }
      cursor = j["Cursor"].get<std::string>();
    } while (!cursor.empty());
    EXPECT_EQ(listed, 1u);
  }

  // --- 1c. The feedback history across nodes: a record written through node
  // 0 (Comment, Timestamp as written) reads back through node 2, alone and
  // in the bulk export; deleted through node 2, it is gone through node 0.
  {
    const json fb{{"FeedbackType", "like"},   {"UserId", "history-user"},
                  {"ItemId", "history-item"}, {"Timestamp", "2024-05-01T12:30:00+02:00"},
                  {"Comment", "through node 0"}};
    auto w = call(node[entry]->port(), "POST", "/api/feedback", json::array({fb}).dump()).reply;
    ASSERT_EQ(w.status, 200) << w.body;
    auto r = call(node[reader]->port(), "GET", "/api/feedback/like/history-user/history-item")
               .reply;
    ASSERT_EQ(r.status, 200) << r.body;
    const auto got = json::parse(r.body);
    EXPECT_EQ(got["Comment"], "through node 0") << r.body;
    EXPECT_EQ(got["Timestamp"], "2024-05-01T12:30:00+02:00") << r.body;
    auto bulk = call(node[reader]->port(), "GET", "/api/bulk/feedback").reply;
    ASSERT_EQ(bulk.status, 200) << bulk.body.substr(0, 500);
    EXPECT_NE(bulk.body.find(R"("ItemId":"history-item")"), std::string::npos);
    auto del = call(node[reader]->port(), "DELETE", "/api/feedback/history-user/history-item")
                 .reply;
    ASSERT_EQ(del.status, 200) << del.body;
    EXPECT_EQ(json::parse(del.body)["RowAffected"], 1) << del.body;
    EXPECT_EQ(call(node[entry]->port(), "GET", "/api/feedback/like/history-user/history-item")
                .reply.status,
              404);
  }

  // --- 2. SIGKILL node 1: its shards answer shard_unavailable, at once. ------
  const auto killed_at = clock_type::now();
  node[victim]->kill9();
  {
    const auto st = poll_cluster(node[entry]->port(),
                                 [](const json& s) { return !node_up(s, victim); });
    ASSERT_TRUE(st.is_object()) << "node " << entry << " stopped answering /api/cluster";
    ASSERT_FALSE(node_up(st, victim)) << "node " << entry << " still sees node " << victim
                                      << " up: " << st.dump();
    EXPECT_FALSE(complete(st)) << st.dump();
    EXPECT_TRUE(node_up(st, reader)) << st.dump();
    EXPECT_TRUE(node_entry(st, entry).value("Self", false)) << st.dump();
    EXPECT_FALSE(node_entry(st, victim).value("LastError", std::string{}).empty()) << st.dump();
  }
  const auto noticed_s = std::chrono::duration<double>(clock_type::now() - killed_at).count();
  {
    const auto st = poll_cluster(node[reader]->port(),
                                 [](const json& s) { return !node_up(s, victim); });
    EXPECT_FALSE(node_up(st, victim)) << "node " << reader << " still sees node " << victim
                                      << " up: " << st.dump();
    EXPECT_TRUE(node_up(st, entry)) << st.dump();
  }

  double slowest_s = 0;
  auto expect_unavailable = [&](const timed_reply& t, const std::string& what) {
    slowest_s = std::max(slowest_s, t.seconds);
    EXPECT_EQ(t.reply.status, 503) << what << ": " << t.reply.body;
    EXPECT_NE(t.reply.body.find("shard_unavailable"), std::string::npos)
      << what << ": " << t.reply.body;
    EXPECT_LT(t.seconds, fast_enough_s) << what << " took " << t.seconds << " s";
  };
  auto expect_ok = [&](const timed_reply& t, const std::string& what) {
    slowest_s = std::max(slowest_s, t.seconds);
    EXPECT_EQ(t.reply.status, 200) << what << ": " << t.reply.body;
    EXPECT_LT(t.seconds, fast_enough_s) << what << " took " << t.seconds << " s";
  };
  for (const auto& u : user_ids) {
    const auto user = call(node[entry]->port(), "GET", "/api/user/" + u);
    const auto recs = call(node[entry]->port(), "GET", "/api/recommend/" + u + "?n=3");
    if (owner_of(u) == victim) {
      expect_unavailable(user, "GET /api/user/" + u);
      expect_unavailable(recs, "GET /api/recommend/" + u);
      const auto body = json::parse(user.reply.body, nullptr, false);
      EXPECT_TRUE(body.is_object() && body.value("status", 0) == 503) << user.reply.body;
    } else {
      expect_ok(user, "GET /api/user/" + u);
      EXPECT_EQ(recent_items(user.reply), liked[u]) << u << ": " << user.reply.body;
      expect_ok(recs, "GET /api/recommend/" + u);
      EXPECT_TRUE(json::parse(recs.reply.body, nullptr, false).is_array()) << recs.reply.body;
    }
  }
  // Item metadata while node 1 is down: it has one writer, the node hosting
  // item shard 0 (docs/replication.md, "Stage 1b"). If that is another
  // node, the write is taken and node 1's item shards get it by a resync
  // once it is back; if it is node 1, metadata cannot be written meanwhile.
  const bool victim_writes_meta = map.item_owner[0] == victim;
  int meta_writes = 2;  // part 1b: the item, then its added category
  {
    const json late{{"ItemId", "late-item"}, {"IsHidden", false}, {"Categories", {"late"}}};
    const auto w = call(node[entry]->port(), "POST", "/api/item", late.dump());
    if (victim_writes_meta) {
      expect_unavailable(w, "POST /api/item with the meta writer's node down");
    } else {
      expect_ok(w, "POST /api/item with node " + std::to_string(victim) + " down");
      ++meta_writes;
    }
  }
  {
    // Feedback only for users on the dead node: nothing applied, retryable.
    const auto dead = call(node[entry]->port(), "POST", "/api/feedback",
                           feedback_body({{on_victim.front(), "late-1"}}, 1700001000).dump());
    expect_unavailable(dead, "feedback for " + on_victim.front());
    EXPECT_NE(dead.reply.body.find("no event was applied"), std::string::npos)
      << dead.reply.body;
    // Mixed: the live user's event is applied, the other one is listed.
    const auto mixed = call(node[entry]->port(), "POST", "/api/feedback",
                            feedback_body({{on_victim.front(), "late-2"},
                                           {elsewhere.front(), "late-3"}},
                                          1700001001)
                              .dump());
    expect_ok(mixed, "mixed feedback");
    const auto body = json::parse(mixed.reply.body, nullptr, false);
    ASSERT_TRUE(body.is_object()) << mixed.reply.body;
    EXPECT_EQ(body.value("RowAffected", -1), 1) << mixed.reply.body;
    ASSERT_TRUE(body.contains("Rejected") && body["Rejected"].size() == 1) << mixed.reply.body;
    EXPECT_EQ(body["Rejected"][0].value("Index", -1), 0) << mixed.reply.body;
    EXPECT_EQ(body["Rejected"][0].value("Reason", std::string{}), "shard_unavailable")
      << mixed.reply.body;
    liked[elsewhere.front()].insert("late-3");
    auto r = call(node[reader]->port(), "GET", "/api/user/" + elsewhere.front()).reply;
    EXPECT_EQ(recent_items(r), liked[elsewhere.front()]) << r.body;
  }

  // --- 3. Restart node 1 with the same arguments: it rejoins by itself. -----
  const auto restarted_at = clock_type::now();
  ASSERT_NO_THROW(node[victim]->start());
  for (auto* n : node) {
    const auto st = poll_cluster(n->port(), complete);
    ASSERT_TRUE(complete(st)) << n->name() << " did not see the restarted node "
                              << victim << " rejoin: " << st.dump();
  }
  const auto rejoined_s = std::chrono::duration<double>(clock_type::now() - restarted_at).count();
  {
    const auto st = cluster_status(node[entry]->port());
    const auto v = node_entry(st, victim);
    EXPECT_GE(v.value("Connects", 0), 2) << "node " << entry << " never reconnected: " << st.dump();
    EXPECT_GE(v.value("Failures", 0), 1) << st.dump();
    EXPECT_EQ(v.value("LastError", std::string{"?"}), "") << st.dump();
  }
  {
    // Two new users on the restarted node's profile shards, in through node 0.
    std::vector<std::string> fresh;
    for (int k = 0; fresh.size() < 2 && k < 1000; ++k)
      if (owner_of("fresh-" + std::to_string(k)) == victim)
        fresh.push_back("fresh-" + std::to_string(k));
    ASSERT_EQ(fresh.size(), 2u);
    const auto r = call(node[entry]->port(), "POST", "/api/feedback",
                        feedback_body({{fresh[0], "c-1"}, {fresh[0], "c-2"}, {fresh[1], "c-1"}},
                                      1700002000)
                          .dump());
    expect_ok(r, "feedback after the restart");
    EXPECT_EQ(json::parse(r.reply.body, nullptr, false).value("RowAffected", -1), 3)
      << r.reply.body;
    const auto user = call(node[entry]->port(), "GET", "/api/user/" + fresh[1]);
    expect_ok(user, "GET /api/user/" + fresh[1] + " after the restart");
    EXPECT_EQ(recent_items(user.reply), std::set<std::string>{"c-1"}) << user.reply.body;
    const auto recs = recommend_until_first(node[entry]->port(), fresh[1], "c-2",
                                            clock_type::now() + std::chrono::seconds(15));
    EXPECT_EQ(recs.status, 200) << recs.body;
    const auto got = recommended(recs);
    EXPECT_TRUE(!got.empty() && got.front() == "c-2") << recs.body;
    // The users it held before are back, with what they liked.
    for (const auto& u : on_victim) {
      auto again = call(node[reader]->port(), "GET", "/api/user/" + u);
      expect_ok(again, "GET /api/user/" + u + " after the restart");
      EXPECT_EQ(recent_items(again.reply), liked[u]) << u << ": " << again.reply.body;
    }
    // And every co-occurrence recommendation of part 1 again, whichever
    // node's item shard holds its row (the restarted node's resync): first,
    // except in the pair whose other user liked late-3 meanwhile (late-3
    // then competes with b-j).
    const auto late_pair = std::stoi(elsewhere.front().substr(5)) / 2;
    const auto deadline = clock_type::now() + std::chrono::seconds(20);
    for (int u = 1; u < users; u += 2) {
      const auto user = user_ids[static_cast<std::size_t>(u)];
      const auto want = "b-" + std::to_string(u / 2);
      const bool anywhere = u / 2 == late_pair;
      auto r = recommend_until_first(node[victim]->port(), user, want, deadline, anywhere);
      ASSERT_EQ(r.status, 200) << user << ": " << r.body;
      const auto got = recommended(r);
      const bool found = anywhere ? std::find(got.begin(), got.end(), want) != got.end()
                                  : !got.empty() && got.front() == want;
      EXPECT_TRUE(found) << user << " after the restart, through node " << victim << ": "
                         << r.body;
    }
  }
  // Every item shard of every node, the restarted one's included, holds the
  // same item metadata: the same position in the one metadata stream.
  {
    const auto deadline = clock_type::now() + std::chrono::seconds(20);
    std::map<std::string, int> positions;  // "node n shard m" -> position
    for (;;) {
      positions.clear();
      for (std::uint32_t i = 0; i < 3; ++i) {
        const auto r = call(node[i]->port(), "GET", "/metrics").reply;
        ASSERT_EQ(r.status, 200) << r.body.substr(0, 300);
        std::istringstream in{r.body};
        std::string line;
        const std::string name = "rtrec_item_shard_meta_applied{shard=\"";
        while (std::getline(in, line))
          if (line.rfind(name, 0) == 0) {
            const auto close = line.find('"', name.size());
            const auto shard = line.substr(name.size(), close - name.size());
            positions["node " + std::to_string(i) + ", item shard " + shard] =
              std::stoi(line.substr(line.rfind(' ') + 1));
          }
      }
      // Each node's /metrics lists every item shard of the cluster.
      bool settled = positions.size() == 3 * item_shards;
      for (const auto& [where, at] : positions)
        settled = settled && at == meta_writes;
      if (settled || clock_type::now() > deadline)
        break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(positions.size(), 3 * item_shards);
    for (const auto& [where, at] : positions)
      EXPECT_EQ(at, meta_writes) << where << " (meta writer on node " << map.item_owner[0]
                                 << ")";
    if (!victim_writes_meta) {
      const auto r = call(node[victim]->port(), "GET", "/api/item/late-item").reply;
      EXPECT_EQ(r.status, 200) << r.body;
    }
  }
  std::cout << "[cluster test] " << on_victim.size() << " of " << users
            << " users on the killed node; cluster complete after " << started_s
            << " s; kill noticed after " << noticed_s << " s; slowest degraded request "
            << slowest_s << " s; rejoined after " << rejoined_s << " s\n";
}

TEST_F(cluster_process, PeersOffLoopbackWithoutTlsAreRefused) {
  const auto r = rtrec::testing::run_cli(
    {"node", "--nodes", "10.0.0.1:7000,10.0.0.2:7000", "--node", "0", "--port", "0"});
  EXPECT_FALSE(r.timed_out) << r.stderr_text;
  EXPECT_EQ(r.exit_code, std::optional<int>{2}) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("openssl.certificate"), std::string::npos) << r.stderr_text;
  EXPECT_LT(r.seconds, 10.0) << r.stderr_text;
}

TEST_F(cluster_process, ConfigFileIsReadAndFlagsOverrideIt) {
  namespace fs = std::filesystem;
  const auto dir = fs::temp_directory_path() /
                   ("rtrec_node_config_test_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  struct remove_on_exit {
    fs::path dir;
    ~remove_on_exit() {
      std::error_code ec;
      fs::remove_all(dir, ec);
    }
  } remove_dir{dir};
  const auto port = rtrec::testing::free_loopback_ports(1).front();
  const auto file = (dir / "node.toml").string();
  {
    std::ofstream out{file};
    out << "# one-node cluster\n"
        << "nodes = [\"127.0.0.1:" << port << "\"]\n"
        << "profile-shards = 5\n"
        << "item-shards = 7\n";
  }
  auto& n = start({"--config", file, "--profile-shards", "3"}, "config node");
  const auto st = poll_cluster(n.port(), complete);
  ASSERT_TRUE(st.is_object()) << "no /api/cluster answer";
  EXPECT_TRUE(complete(st)) << st.dump();
  EXPECT_EQ(node_entry(st, 0).value("Address", std::string{}), "127.0.0.1:" + std::to_string(port))
    << st.dump();
  EXPECT_TRUE(node_entry(st, 1).empty()) << "one node only: " << st.dump();
  EXPECT_EQ(owners_in(st, "ProfileShardOwner").size(), 3u)
    << "the flag wins over the file: " << st.dump();
  EXPECT_EQ(owners_in(st, "ItemShardOwner").size(), 7u) << "the file's value: " << st.dump();

  // A section maps to prefixed flags: [openssl] certificate alone is partial
  // TLS, refused before anything starts.
  const auto partial = (dir / "partial.toml").string();
  {
    std::ofstream out{partial};
    out << "nodes = [\"127.0.0.1:" << port << "\"]\n"
        << "[openssl]\n"
        << "certificate = \"" << (dir / "missing.pem").string() << "\"\n";
  }
  const auto r = rtrec::testing::run_cli({"node", "--config", partial, "--port", "0"});
  EXPECT_EQ(r.exit_code, std::optional<int>{2}) << r.stderr_text;
  EXPECT_NE(r.stderr_text.find("openssl.key"), std::string::npos) << r.stderr_text;
}

}  // namespace
