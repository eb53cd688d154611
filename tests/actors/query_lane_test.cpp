// The query lane scheduler (actors/query_lane.hpp) on a real CAF system with
// one worker: while a gate actor holds the worker, jobs are queued; once it
// lets go, the order in which the actors run shows the lanes. The gate waits
// on an explicit signal from the test (no sleeps). Then the embedded engine
// under the lane: same answers as under CAF's plain sharing scheduler, with
// queries running concurrently with ingest, and the lane's counters move.
#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <future>
#include <memory>
#include <mutex>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include <caf/all.hpp>

#include "actors/cluster.hpp"
#include "actors/service_impl.hpp"
#include "messages/messages.hpp"
#include "rtrec/rtrec.hpp"
#include "actors/query_lane.hpp"

namespace {

using namespace rtrec;
using namespace std::chrono_literals;

using ping_atom = caf::atom_constant<caf::atom("qlping")>;
using run_atom = caf::atom_constant<caf::atom("qlrun")>;
using block_atom = caf::atom_constant<caf::atom("qlblock")>;

// Where the actors write down that they ran; `done` is set after `expected`
// entries.
struct run_log {
  std::mutex mtx;
  std::vector<std::string> order;
  std::size_t expected = 0;
  std::promise<void> done;

  void add(const std::string& name) {
    std::lock_guard<std::mutex> guard{mtx};
    order.push_back(name);
    if (order.size() == expected)
      done.set_value();
  }
};

caf::behavior recorder(caf::event_based_actor*, std::string name, std::shared_ptr<run_log> log) {
  return {
    [](ping_atom) { return ping_atom::value; },
    [=](run_atom) { log->add(name); },
  };
}

// Holds its worker thread until `release` is ready: a stand-in for a shard
// busy with an ingest batch.
struct gate_signals {
  std::promise<void> entered;
  std::shared_future<void> release;
};

caf::behavior gate(caf::event_based_actor*, std::shared_ptr<gate_signals> g) {
  return {
    [](ping_atom) { return ping_atom::value; },
    [=](block_atom) {
      g->entered.set_value();
      g->release.wait();
    },
  };
}

// One worker, the query lane installed, and a gate to hold the worker.
struct lane_fixture : ::testing::Test {
  caf::actor_system_config cfg;
  std::unique_ptr<caf::actor_system> sys;
  query_lane_coordinator* lane = nullptr;
  std::shared_ptr<run_log> log = std::make_shared<run_log>();
  std::shared_ptr<gate_signals> signals = std::make_shared<gate_signals>();
  std::promise<void> release;
  bool released = false;
  caf::actor gate_actor;

  void SetUp() override {
    cfg.set("scheduler.max-threads", 1);
    cfg.set("scheduler.max-throughput", 1);
    install_query_lane(cfg);
    sys = std::make_unique<caf::actor_system>(cfg);
    lane = query_lane_of(*sys);
    signals->release = release.get_future().share();
    gate_actor = sys->spawn(gate, signals);
    idle(gate_actor);
  }

  void TearDown() override {
    if (!released)
      release.set_value();  // never leave the worker held (a failed test)
    gate_actor = nullptr;
    sys.reset();
  }

  // Returns once `a` has answered a ping: it is initialized and idle.
  void idle(const caf::actor& a) {
    caf::scoped_actor self{*sys};
    bool ok = false;
    self->request(a, 10s, ping_atom::value).receive([&](ping_atom) { ok = true; },
                                                    [&](caf::error&) {});
    ASSERT_TRUE(ok) << "an actor did not answer its ping";
  }

  caf::actor spawn_recorder(const std::string& name) {
    auto a = sys->spawn(recorder, name, log);
    idle(a);
    return a;
  }

  // Occupies the only worker until release is set.
  void hold_worker() {
    caf::anon_send(gate_actor, block_atom::value);
    ASSERT_EQ(signals->entered.get_future().wait_for(10s), std::future_status::ready)
      << "the gate actor never ran";
  }

  // Lets the worker go and waits until `n` recorders ran.
  std::vector<std::string> run(std::size_t n) {
    log->expected = n;
    auto done = log->done.get_future();
    release.set_value();
    released = true;
    EXPECT_EQ(done.wait_for(10s), std::future_status::ready) << "the recorders did not all run";
    std::lock_guard<std::mutex> guard{log->mtx};
    return log->order;
  }
};

TEST_F(lane_fixture, query_work_runs_before_queued_normal_work) {
  ASSERT_NE(lane, nullptr) << "install_query_lane did not take effect";
  auto n1 = spawn_recorder("n1");
  auto n2 = spawn_recorder("n2");
  auto n3 = spawn_recorder("n3");
  auto shard = spawn_recorder("shard");
  auto query = spawn_recorder("query");
  mark_query_actor(lane, query);
  hold_worker();
  for (const auto& a : {n1, n2, n3, shard})
    caf::anon_send(a, run_atom::value);
  // A query reaches a shard that is already queued behind n1..n3: it moves
  // to the urgent queue.
  expedite(lane, shard);
  caf::anon_send(query, run_atom::value);
  const std::vector<std::string> want{"shard", "query", "n1", "n2", "n3"};
  EXPECT_EQ(run(5), want);
  const auto c = query_lane_counters(lane);
  EXPECT_EQ(c.promotions, 1u);
  EXPECT_GE(c.urgent_turns, 2u);
  EXPECT_EQ(c.starvation_breaks, 0u);
}

TEST_F(lane_fixture, an_idle_shard_marked_before_the_send_takes_the_urgent_queue) {
  auto normal = spawn_recorder("normal");
  auto shard = spawn_recorder("shard");
  hold_worker();
  caf::anon_send(normal, run_atom::value);
  // Blocked (idle) shard: the mark waits for its next enqueue, the send.
  expedite(lane, shard);
  caf::anon_send(shard, run_atom::value);
  const std::vector<std::string> want{"shard", "normal"};
  EXPECT_EQ(run(2), want);
  EXPECT_EQ(query_lane_counters(lane).promotions, 0u);
}

TEST_F(lane_fixture, normal_work_is_never_starved_by_a_query_flood) {
  const std::size_t queries = query_lane_policy::max_urgent_streak + 8;
  std::vector<caf::actor> qs;
  for (std::size_t k = 0; k < queries; ++k) {
    qs.push_back(spawn_recorder("q" + std::to_string(k)));
    mark_query_actor(lane, qs.back());
  }
  auto ingest = spawn_recorder("ingest");
  hold_worker();
  caf::anon_send(ingest, run_atom::value);
  for (const auto& q : qs)
    caf::anon_send(q, run_atom::value);
  auto order = run(queries + 1);
  const auto pos = std::find(order.begin(), order.end(), "ingest") - order.begin();
  // The gate's turn was a normal one; then at most max_urgent_streak urgent
  // turns before the waiting normal job.
  EXPECT_EQ(static_cast<std::size_t>(pos), query_lane_policy::max_urgent_streak);
  EXPECT_EQ(query_lane_counters(lane).starvation_breaks, 1u);
}

TEST(QueryLane, OtherSchedulersHaveNoLaneAndExpediteDoesNothing) {
  caf::actor_system_config cfg;
  cfg.set("scheduler.policy", caf::atom("sharing"));
  cfg.set("scheduler.max-threads", 1);
  caf::actor_system sys{cfg};
  EXPECT_EQ(query_lane_of(sys), nullptr);
  auto log = std::make_shared<run_log>();
  auto a = sys.spawn(recorder, std::string{"a"}, log);
  expedite(query_lane_of(sys), a);  // must be a harmless no-op
  mark_query_actor(query_lane_of(sys), a);
  EXPECT_EQ(query_lane_counters(nullptr).urgent_turns, 0u);
  caf::anon_send_exit(a, caf::exit_reason::user_shutdown);
}

// --- the engine under the lane ------------------------------------------

service_options engine_opts(const std::string& policy) {
  service_options o;
  o.scheduler_policy = policy;
  o.topology.profile_shards = 3;
  o.topology.item_shards = 2;
  o.topology.max_batch = 16;  // many small turns: queries meet queued work
  o.topology.model.popular_refresh_events = 0;
  return o;
}

std::vector<engine::event> workload(std::uint64_t seed, std::size_t n) {
  std::mt19937_64 rng{seed};
  std::vector<engine::event> out;
  for (std::size_t k = 0; k < n; ++k) {
    engine::event e;
    e.user = "u" + std::to_string(rng() % 60);
    e.item = "i" + std::to_string(rng() % 150);
    e.type = static_cast<engine::event_type>(rng() % 5);
    e.value = static_cast<double>(rng() % 6);
    e.timestamp = 1700000000000 + static_cast<std::int64_t>(k) * 1000;
    out.push_back(std::move(e));
  }
  return out;
}

// Ingests `events` in batches from this thread while a second thread asks
// for recommendations; returns the answers once everything is applied.
std::vector<std::vector<engine::recommendation>>
run_engine(service& eng, const std::vector<engine::event>& events, std::uint64_t seed,
           std::size_t& answered) {
  std::atomic<bool> ingesting{true};
  std::atomic<std::size_t> ok{0};
  std::thread queries{[&] {
    std::mt19937_64 rng{seed};
    engine::recommend_options o;
    o.n = 10;
    while (ingesting.load())
      if (eng.recommend("u" + std::to_string(rng() % 60), o))
        ok.fetch_add(1);
  }};
  for (std::size_t k = 0; k < events.size(); k += 50) {
    std::vector<engine::event> batch(events.begin() + static_cast<std::ptrdiff_t>(k),
                                     events.begin() + static_cast<std::ptrdiff_t>(
                                                        std::min(events.size(), k + 50)));
    auto r = eng.ingest(std::move(batch));
    EXPECT_TRUE(r && r->rejected.empty()) << "seed " << seed << " batch at " << k;
  }
  ingesting = false;
  queries.join();
  answered = ok.load();
  EXPECT_TRUE(eng.flush());
  std::vector<std::vector<engine::recommendation>> out;
  engine::recommend_options o;
  o.n = 15;
  for (int u = 0; u < 60; ++u) {
    auto r = eng.recommend("u" + std::to_string(u), o);
    EXPECT_TRUE(r) << "seed " << seed << " user u" << u;
    out.push_back(r ? *r : std::vector<engine::recommendation>{});
  }
  return out;
}

TEST(QueryLane, EngineAnswersExactlyAsUnderPlainSharingAndTheLaneIsUsed) {
  const std::uint64_t seed = 777;
  const auto events = workload(seed, 6000);
  std::size_t answered_lane = 0;
  std::size_t answered_plain = 0;
  std::vector<std::vector<engine::recommendation>> lane_answers;
  std::vector<std::vector<engine::recommendation>> plain_answers;
  service_stats lane_stats;
  {
    service eng{engine_opts("priority")};
    lane_answers = run_engine(eng, events, seed, answered_lane);
    auto s = eng.stats();
    ASSERT_TRUE(s);
    lane_stats = *s;
  }
  {
    service eng{engine_opts("sharing")};
    plain_answers = run_engine(eng, events, seed, answered_plain);
    auto s = eng.stats();
    ASSERT_TRUE(s);
    EXPECT_EQ(s->scheduler.urgent_turns, 0u) << "plain sharing has no query lane";
  }
  EXPECT_GT(answered_lane, 0u) << "seed " << seed;
  EXPECT_EQ(lane_stats.worker_threads,
            std::max<std::size_t>(1, std::thread::hardware_concurrency()))
    << "worker_threads = 0 must mean one worker per core";
  // Every query crossed query actors (query client, recommender): urgent.
  EXPECT_GE(lane_stats.scheduler.urgent_turns, 3 * answered_lane) << "seed " << seed;
  EXPECT_GT(lane_stats.scheduler.normal_turns, 0u);
  ASSERT_EQ(lane_answers.size(), plain_answers.size());
  for (std::size_t u = 0; u < lane_answers.size(); ++u) {
    ASSERT_EQ(lane_answers[u].size(), plain_answers[u].size()) << "seed " << seed << " u" << u;
    for (std::size_t k = 0; k < lane_answers[u].size(); ++k) {
      EXPECT_EQ(lane_answers[u][k].item, plain_answers[u][k].item)
        << "seed " << seed << " u" << u << " rank " << k;
      EXPECT_NEAR(lane_answers[u][k].score, plain_answers[u][k].score,
                  1e-9 * std::max(1.0, std::abs(plain_answers[u][k].score)))
        << "seed " << seed << " u" << u << " rank " << k;
    }
  }
}

}  // namespace
