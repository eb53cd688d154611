// The cluster manager's routing and failure logic on CAF's deterministic
// scheduler (the topology_fixture harness): no sockets, simulated time.
//
// A fake middleman (fake_connector) stands in for the network: a port either
// has a peer manager "listening" or refuses. Node 0's manager runs against
// the fixture's real topology; node 1 is a second manager (or a scripted
// peer) in the same actor system, hosting the topology's other shards. The
// tests check what the real cluster tests cannot pin down in time: the
// backoff schedule, that a refused or silent peer's shards answer
// shard_unavailable at once, that a peer is routed to as soon as it is up,
// and that a frozen peer (no answer to pings) is taken out.
#include "tests/harness/topology_fixture.hpp"

#include <caf/io/middleman_actor.hpp>

#include <map>

#include "actors/cluster.hpp"

using namespace rtrec;
using namespace std::chrono_literals;

namespace {

struct fake_network {
  std::map<std::uint16_t, caf::strong_actor_ptr> listening;  ///< port -> peer manager
  std::vector<std::pair<std::uint16_t, caf::actor_clock::time_point>> dials;
};

caf::io::middleman_actor::behavior_type
fake_connector(caf::io::middleman_actor::pointer self, std::shared_ptr<fake_network> net) {
  using connect_result = caf::result<caf::node_id, caf::strong_actor_ptr, std::set<std::string>>;
  auto unsupported = [] { return caf::make_error(caf::sec::invalid_argument); };
  return {
    [=](caf::publish_atom, std::uint16_t, caf::strong_actor_ptr&, std::set<std::string>&,
        std::string&, bool) -> caf::result<std::uint16_t> { return unsupported(); },
    [=](caf::open_atom, std::uint16_t, std::string&, bool) -> caf::result<std::uint16_t> {
      return unsupported();
    },
    [=](caf::connect_atom, std::string&, std::uint16_t port) -> connect_result {
      net->dials.emplace_back(port, self->clock().now());
      auto i = net->listening.find(port);
      if (i == net->listening.end())
        return caf::make_error(caf::sec::cannot_connect_to_node, "connection refused");
      return connect_result{caf::node_id{}, i->second, std::set<std::string>{}};
    },
    [=](caf::unpublish_atom, const caf::actor_addr&, std::uint16_t) {},
    [=](caf::close_atom, std::uint16_t) {},
    [=](caf::spawn_atom, caf::node_id&, std::string&, caf::message&,
        std::set<std::string>&) -> caf::result<caf::strong_actor_ptr> { return unsupported(); },
    [=](caf::get_atom, caf::node_id&) -> caf::result<caf::node_id, std::string, std::uint16_t> {
      return unsupported();
    },
  };
}

// A peer that answers its first directory query and the introduction, then
// goes silent (a frozen process): later queries never get an answer.
caf::behavior freezing_peer(caf::event_based_actor* self, shard_directory dir) {
  auto answered = std::make_shared<int>(0);
  return {
    [=](directory_atom) -> caf::result<shard_directory> {
      if ((*answered)++ == 0)
        return dir;
      return self->make_response_promise<shard_directory>();  // never delivered
    },
    [=](directory_atom, shard_directory&) { return true; },
  };
}

class cluster_manager_test : public rtrec::testing::topology_fixture {
 protected:
  void SetUp() override {
    auto cfg = default_config();
    cfg.profile_shards = 4;
    cfg.item_shards = 4;
    start(cfg);
    // Ports for node 1 such that each node hosts profile and item shards.
    for (std::uint16_t p = 2;; ++p) {
      opts.nodes = {{"127.0.0.1", 1}, {"127.0.0.1", p}};
      auto map = engine::place_shards(opts.nodes, 4, 4);
      if (!map.profiles_of(0).empty() && !map.profiles_of(1).empty()
          && !map.items_of(0).empty() && !map.items_of(1).empty())
        break;
    }
    opts.heartbeat = 1s;
    opts.connection_timeout = 3s;
    opts.connect_timeout = 1s;
    opts.reconnect_min = 100ms;
    opts.reconnect_max = 800ms;
    shared = std::make_shared<cluster_shared>();
    shared->status.enabled = true;
    shared->status.map = engine::place_shards(opts.nodes, 4, 4);
    for (std::uint32_t n = 0; n < 2; ++n) {
      node_status ns;
      ns.address = opts.nodes[n];
      ns.self = ns.up = n == 0;
      shared->status.nodes.push_back(ns);
    }
    net = std::make_shared<fake_network>();
    connector = sys().spawn(fake_connector, net);
  }

  void TearDown() override {
    for (auto& a : spawned)
      caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(connector, caf::exit_reason::user_shutdown);
    run();
  }

  // The topology's shards that node `n` hosts (the others null).
  shard_directory directory_of(std::uint32_t n) {
    auto d = local_directory(topo(), n);
    const auto& map = shared->status.map;
    for (std::size_t s = 0; s < d.profiles.size(); ++s)
      if (map.profile_owner[s] != n)
        d.profiles[s] = nullptr;
    for (std::size_t m = 0; m < d.items.size(); ++m)
      if (map.item_owner[m] != n)
        d.items[m] = nullptr;
    return d;
  }

  // Node 0's manager, routing for the fixture's ingestors, profile shards and
  // recommenders.
  void start_node0() {
    std::vector<caf::actor> targets;
    for (auto& a : topo().ingestors)
      targets.push_back(caf::actor_cast<caf::actor>(a));
    for (auto& a : topo().profiles)
      targets.push_back(caf::actor_cast<caf::actor>(a));
    for (auto& a : topo().recommenders)
      targets.push_back(caf::actor_cast<caf::actor>(a));
    auto o = opts;
    o.self = 0;
    node0 = sys().spawn(cluster_manager, o, directory_of(0), targets, connector, shared);
    spawned.push_back(node0);
    run();
  }

  // Node 1's manager "listens" on its port.
  caf::actor start_node1() {
    auto o = opts;
    o.self = 1;
    auto peer_shared = std::make_shared<cluster_shared>();
    peer_shared->status = shared->status;
    peer_shared->status.self = 1;
    auto m = sys().spawn(cluster_manager, o, directory_of(1), std::vector<caf::actor>{},
                         connector, peer_shared);
    spawned.push_back(m);
    net->listening[opts.nodes[1].port] = caf::actor_cast<caf::strong_actor_ptr>(m);
    return m;
  }

  // A user whose profile shard node `n` hosts.
  std::string user_on(std::uint32_t n) {
    for (int k = 0;; ++k) {
      auto u = "user-" + std::to_string(k);
      if (shared->status.map.profile_owner[engine::shard_of(engine::hash_id(u), 4)] == n)
        return u;
    }
  }

  node_status status_of(std::uint32_t n) {
    std::lock_guard<std::mutex> guard{shared->mtx};
    return shared->status.nodes[n];
  }

  // Asserts that node 1's users are refused with shard_unavailable at once
  // and node 0's are served.
  void expect_node1_unavailable() {
    auto remote = user_on(1);
    auto local = user_on(0);
    auto ack = ingest({rtrec::testing::ev(remote, "x"), rtrec::testing::ev(local, "x")});
    ASSERT_TRUE(ack);
    EXPECT_EQ(ack->accepted, 1u);
    ASSERT_EQ(ack->failed.size(), 1u);
    EXPECT_TRUE(ack->rejected.empty());
    EXPECT_EQ(ack->failed[0].index, 0u);
    EXPECT_EQ(ack->failed[0].why, delivery_failure::shard_unavailable);
    auto r = recommend(remote);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error(), caf::make_error(error_code::shard_unavailable));
    EXPECT_TRUE(recommend(local)) << "node 0's users are served (from its item shards)";
  }

  cluster_options opts;
  std::shared_ptr<cluster_shared> shared;
  std::shared_ptr<fake_network> net;
  caf::io::middleman_actor connector;
  caf::actor node0;
  std::vector<caf::actor> spawned;
};

}  // namespace

TEST_F(cluster_manager_test, an_unreachable_peer_is_redialed_with_doubling_backoff) {
  start_node0();
  ASSERT_EQ(net->dials.size(), 1u);
  EXPECT_FALSE(status_of(1).up);
  EXPECT_EQ(status_of(1).failures, 1u);
  EXPECT_NE(status_of(1).last_error.find("connection refused"), std::string::npos)
    << status_of(1).last_error;
  expect_node1_unavailable();
  // Retries after 100, 200, 400, 800, 800 ms (capped).
  for (auto step : {100ms, 200ms, 400ms, 800ms, 800ms}) {
    const auto before = net->dials.size();
    advance_time(step - 1ms);
    EXPECT_EQ(net->dials.size(), before) << "dialed before its backoff of " << step.count() << " ms";
    advance_time(1ms);
    ASSERT_EQ(net->dials.size(), before + 1) << "no dial after " << step.count() << " ms";
  }
  EXPECT_EQ(status_of(1).failures, 6u);
  EXPECT_EQ(status_of(1).connects, 0u);
}

TEST_F(cluster_manager_test, a_peer_is_routed_to_once_up_and_taken_out_when_it_dies) {
  start_node0();
  expect_node1_unavailable();
  auto node1 = start_node1();
  advance_time(100ms);  // the next dial reaches it
  ASSERT_TRUE(status_of(1).up) << status_of(1).last_error;
  EXPECT_EQ(status_of(1).connects, 1u);
  // Every user is served now, through the directory node 0 learned.
  auto remote = user_on(1);
  auto ack = ingest({rtrec::testing::ev(remote, "a"), rtrec::testing::ev(remote, "b")});
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->accepted, 2u);
  auto p = profile(remote);
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->known);
  ASSERT_TRUE(recommend(remote));
  // It dies: down at once, its shards unavailable, dialing resumes.
  const auto dials = net->dials.size();
  net->listening.clear();
  caf::anon_send_exit(node1, caf::exit_reason::kill);
  run();
  EXPECT_FALSE(status_of(1).up);
  expect_node1_unavailable();
  advance_time(100ms);
  EXPECT_EQ(net->dials.size(), dials + 1);
  // It comes back.
  start_node1();
  advance_time(200ms);
  EXPECT_TRUE(status_of(1).up);
  EXPECT_EQ(status_of(1).connects, 2u);
  auto again = ingest({rtrec::testing::ev(remote, "c")});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->accepted, 1u);
}

TEST_F(cluster_manager_test, a_peer_that_stops_answering_pings_is_taken_out) {
  start_node0();
  auto frozen = sys().spawn(freezing_peer, directory_of(1));
  spawned.push_back(frozen);
  net->listening[opts.nodes[1].port] = caf::actor_cast<caf::strong_actor_ptr>(frozen);
  advance_time(100ms);
  ASSERT_TRUE(status_of(1).up);
  // Its first ping goes out after one heartbeat; it is taken out once the
  // ping's connection_timeout passes, not before.
  advance_time(opts.heartbeat);
  advance_time(opts.connection_timeout - 1ms);
  EXPECT_TRUE(status_of(1).up);
  advance_time(1ms);
  EXPECT_FALSE(status_of(1).up);
  EXPECT_NE(status_of(1).last_error.find("no answer to a ping"), std::string::npos)
    << status_of(1).last_error;
  expect_node1_unavailable();
}

TEST_F(cluster_manager_test, a_peer_configured_differently_is_refused) {
  start_node0();
  auto wrong = directory_of(1);
  wrong.items.pop_back();  // another item shard count
  auto liar = sys().spawn(freezing_peer, wrong);
  spawned.push_back(liar);
  net->listening[opts.nodes[1].port] = caf::actor_cast<caf::strong_actor_ptr>(liar);
  advance_time(100ms);
  EXPECT_FALSE(status_of(1).up);
  EXPECT_NE(status_of(1).last_error.find("configured differently"), std::string::npos)
    << status_of(1).last_error;
  expect_node1_unavailable();
}

TEST_F(cluster_manager_test, only_a_lower_index_may_introduce_itself) {
  start_node0();
  // Node 0 has the lowest index: nobody may dial it with an introduction.
  auto d = directory_of(1);
  auto r = ask<bool>(node0, directory_atom::value, d);
  ASSERT_TRUE(r);
  EXPECT_FALSE(*r);
  EXPECT_FALSE(status_of(1).up);
}
