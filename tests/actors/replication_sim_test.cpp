// A seeded simulation of one replicated profile shard on three nodes, on the
// deterministic scheduler with real logs (replica_nodes.hpp): the test is
// the controller (engine::cluster_map transitions, maps published to the
// nodes that are up), clients write events with ids to the node they take
// for the primary (now and then a stale one), and at random steps nodes are
// killed (kill -9: the actor dies, its log keeps what it had taken),
// restarted from their data directory, cut off from the others (taken out
// of the map while they run on: a deposed primary) and reconnected; a
// replica that holds everything its primary may have acknowledged joins the
// in-sync set. The replicas reach each other through lossy links (one actor
// per pair of nodes) that lose some ships and answers and hold back others
// until the test releases them (late, reordered); time passes now and then,
// so the primaries' resend timers fire. Clients retry what was refused or not answered, with the same
// ids, or now and then give up on it. After every step:
//   - every acknowledged event is durable in the log of every live in-sync
//     replica of the chosen map (so any next primary has it);
//   - each replica's state holds exactly the events of the records its log
//     says it applied, each once (nothing beyond its commit, nothing twice);
//   - every in-sync replica's log agrees with the primary's on the records
//     the primary knows committed (equal epochs at each seq).
// At the end the faults stop, every node is back and in sync, every replica
// holds every acknowledged event once, and the replicas agree on every
// event ever written. Each event has its own user,
// so "applied once" is the user's event count. The seed is printed on
// failure.
#include "tests/actors/replica_nodes.hpp"

#include <map>
#include <optional>
#include <random>
#include <sstream>

#include "engine/cluster_map.hpp"
#include "storage/codec.hpp"

using namespace rtrec;
using namespace rtrec::replica_test;

namespace {

class replication_sim : public replica_nodes, public ::testing::WithParamInterface<unsigned> {
 protected:
  // The links outlive this object (the base class stops the actors): from
  // now on they pass everything without asking it.
  ~replication_sim() override {
    if (fate_)
      *fate_ = [] { return 0; };
  }

  void begin(unsigned seed) {
    rng_.seed(seed);
    fate_ = std::make_shared<std::function<int()>>([this] {
      if (!lossy_)
        return 0;
      const auto r = pick(100);
      return r < 5 ? 1 : r < 10 ? 2 : 0;
    });
    std::vector<engine::node_address> members;
    for (std::uint16_t k = 0; k < 3; ++k)
      members.push_back({"10.0.0." + std::to_string(k + 1), static_cast<std::uint16_t>(7000 + k)});
    map_ = engine::initial_map(members, 1, 1, 3);
    start(3);
    publish();
  }

  std::uint32_t pick(std::uint32_t n) {
    return std::uniform_int_distribution<std::uint32_t>(0, n - 1)(rng_);
  }

  const engine::shard_replicas& shard() const { return map_.profiles[0]; }

  // The link between `from` and `to` (one per pair, new once either end
  // restarted).
  caf::strong_actor_ptr peer_handle(std::uint32_t from, std::uint32_t to) override {
    if (from == to)
      return caf::actor_cast<caf::strong_actor_ptr>(shards_[to]);
    const auto lo = std::min(from, to), hi = std::max(from, to);
    auto a = caf::actor_cast<caf::strong_actor_ptr>(shards_[lo]);
    auto b = caf::actor_cast<caf::strong_actor_ptr>(shards_[hi]);
    auto& l = links_[{lo, hi}];
    if (!l.handle || l.a != a || l.b != b) {
      l.a = a;
      l.b = b;
      l.handle = sys_->spawn(lossy_link, a, b, fate_);
    }
    return caf::actor_cast<caf::strong_actor_ptr>(l.handle);
  }

  std::string time_passes() {
    sched_->trigger_timeouts();
    settle();
    return "time passes";
  }

  std::string release_held() {
    for (auto& [pair, l] : links_)
      if (l.handle)
        caf::anon_send(l.handle, release_atom::value);
    settle();
    return "release held messages";
  }

  // The chosen map to every node that is up and connected; the others get
  // no ships (a node down in the map is cut off or dead).
  void publish() {
    std::vector<std::uint32_t> to;
    std::set<std::uint32_t> cut;
    for (std::uint32_t k = 0; k < 3; ++k) {
      if (map_.down[k])
        cut.insert(k);
      else if (!dead_.count(k))
        to.push_back(k);
    }
    if (!to.empty())
      configure(map_.epoch, shard(), to, cut);
  }

  void change(engine::cluster_map next) {
    next.epoch = map_.epoch + 1;
    next.parent = map_.epoch;
    const auto why = engine::check_map(next);
    ASSERT_TRUE(why.empty()) << why;
    map_ = std::move(next);
    publish();
  }

  // -- clients ---------------------------------------------------------------

  struct outstanding {
    std::uint32_t node = 0;
    std::vector<std::string> ids;
    std::unique_ptr<caf::scoped_actor> client;
    std::function<bool()> poll;  ///< takes the reply if there is one; true when done
  };

  // A batch of 1-3 events (new ones, or retries of earlier ones) to node k.
  std::string write() {
    auto k = pick(4) == 0 ? pick(3) : shard().primary;
    if (k == engine::no_node || dead_.count(k))
      return "write (no node to write to)";
    std::vector<std::string> ids;
    for (auto n = 1 + pick(3); n > 0; --n) {
      if (!retry_.empty() && pick(2) == 0) {
        ids.push_back(retry_.front());
        retry_.pop_front();
      } else {
        ids.push_back("e" + std::to_string(++next_id_));
      }
    }
    shard_batch b;
    for (const auto& id : ids) {
      // Its own user: "applied once" is that user's event count.
      b.events.push_back(with_id(ev("u-" + id, "i" + std::to_string(next_id_ % 7)), id));
      b.index.push_back(static_cast<std::uint32_t>(b.index.size()));
    }
    auto client = std::make_unique<caf::scoped_actor>(*sys_, true);
    auto h = (*client)->request(shards_[k], std::chrono::seconds(3600), std::move(b));
    auto* raw = client.get();
    outstanding o;
    o.node = k;
    o.ids = ids;
    o.poll = [this, raw, h, ids]() mutable {
      if ((*raw)->mailbox().empty())
        return false;
      h.receive(
        [&](ingest_result& r) {
          std::set<std::uint32_t> failed;
          for (const auto& f : r.failed)
            failed.insert(f.index);
          for (std::uint32_t i = 0; i < ids.size(); ++i)
            if (failed.count(i))
              refused(ids[i]);
            else
              acked_.insert(ids[i]);
        },
        [&](caf::error&) {
          for (const auto& id : ids)
            refused(id);
        });
      return true;
    };
    o.client = std::move(client);
    pending_.push_back(std::move(o));
    settle();
    take_replies();
    return "write " + std::to_string(ids.size()) + " to node " + std::to_string(k);
  }

  // A client retries a refused event, or (one in four) gives up: such an
  // event may have been committed before its refusal (then every replica
  // holds it) or not (then none may).
  void refused(const std::string& id) {
    if (pick(4) != 0)
      retry_.push_back(id);
  }

  void take_replies() {
    std::vector<outstanding> still;
    for (auto& o : pending_)
      if (!o.poll())
        still.push_back(std::move(o));
    pending_ = std::move(still);
  }

  // -- faults ------------------------------------------------------------------

  std::string kill_one() {
    const auto k = pick(3);
    if (dead_.count(k) || dead_.size() >= 2)
      return "kill (no)";
    kill(k);
    // Its clients time out and will retry (the same ids).
    std::vector<outstanding> still;
    for (auto& o : pending_)
      if (o.node == k)
        for (const auto& id : o.ids)
          refused(id);
      else
        still.push_back(std::move(o));
    pending_ = std::move(still);
    if (!map_.down[k])
      change(engine::node_down(map_, k));
    return "kill " + std::to_string(k);
  }

  std::string restart_one() {
    const auto k = pick(3);
    if (!dead_.count(k))
      return "restart (no)";
    restart(k);
    ++restarts_;
    change(engine::node_up(map_, k));
    return "restart " + std::to_string(k);
  }

  std::string cut_one() {
    const auto k = pick(3);
    if (dead_.count(k) || map_.down[k])
      return "cut (no)";
    change(engine::node_down(map_, k));
    return "cut off " + std::to_string(k);
  }

  std::string reconnect_one() {
    const auto k = pick(3);
    if (dead_.count(k) || !map_.down[k])
      return "reconnect (no)";
    change(engine::node_up(map_, k));
    // It missed the maps while cut off: the controller sends it the newest.
    configure(map_.epoch, shard(), {k}, {});
    return "reconnect " + std::to_string(k);
  }

  // Replicas outside the in-sync set that hold everything the primary may
  // have acknowledged join it (the controller decides while nothing runs, so
  // no acknowledgement races the change).
  std::string joins() {
    const auto p = shard().primary;
    if (p == engine::no_node || dead_.count(p) || !state(p).replica)
      return "joins (no primary)";
    const auto& log = state(p).replica->log();
    if (!log.primary())
      return "joins (primary not acting yet)";
    std::string what = "joins:";
    const auto replicas = shard().replicas;  // change() replaces the map
    for (auto r : replicas) {
      const auto isr = shard().in_sync;
      if (r == p || std::find(isr.begin(), isr.end(), r) != isr.end() || map_.down[r] ||
          dead_.count(r))
        continue;
      if (log.match_of(r) >= log.must_hold() && log.match_of(r) >= log.last_seq()) {
        change(engine::caught_up(map_, engine::shard_kind::profile, 0, r));
        what += " " + std::to_string(r);
      }
    }
    return what;
  }

  // -- invariants ----------------------------------------------------------------

  std::uint64_t count_of(std::uint32_t k, const std::string& id) {
    return state(k).store->record("u-" + id).events;
  }

  // The event ids in node k's log records up to seq `upto` (no replica
  // checkpoints yet, so its log starts at seq 1).
  std::set<std::string> ids_upto(std::uint32_t k, std::uint64_t upto) {
    std::set<std::string> out;
    const auto& log = state(k).replica->log();
    for (auto seq = log.base() + 1; seq <= std::min(upto, log.last_seq()); ++seq) {
      const auto e = storage::decode_replica_entry(log.record_at(seq)->payload);
      if (e.kind == storage::record_kind::events)
        for (const auto& x : storage::decode_events(e.payload))
          out.insert(x.id);
    }
    return out;
  }

  std::string check() {
    std::ostringstream err;
    for (std::uint32_t k = 0; k < 3; ++k) {
      if (dead_.count(k))
        continue;
      // Its state is exactly its applied records: each of their events
      // once, and nothing else (no record beyond its commit).
      const auto ids = state(k).replica ? ids_upto(k, state(k).replica->log().applied())
                                        : std::set<std::string>{};
      for (std::uint64_t n = 1; n <= next_id_; ++n) {
        const auto id = "e" + std::to_string(n);
        const auto c = count_of(k, id);
        if (c > 1)
          err << "node " << k << " applied event " << id << " twice; ";
        else if ((c == 1) != (ids.count(id) == 1))
          err << "node " << k << (c == 1 ? " holds event " : " lacks event ") << id
              << (c == 1 ? " of no applied record; " : " of an applied record; ");
      }
    }
    // Every acknowledged event is durable on every live in-sync replica
    // (any of them may be the next primary).
    for (auto r : shard().in_sync) {
      if (dead_.count(r) || !state(r).replica)
        continue;
      const auto held = ids_upto(r, state(r).replica->log().synced());
      for (const auto& id : acked_)
        if (!held.count(id)) {
          err << "in-sync replica " << r << " lacks acknowledged event " << id << "; ";
          break;
        }
    }
    // In-sync logs agree with the primary's on what it knows committed.
    const auto p = shard().primary;
    if (p != engine::no_node && !dead_.count(p) && state(p).replica) {
      const auto& pl = state(p).replica->log();
      for (auto r : shard().in_sync) {
        if (r == p || dead_.count(r) || !state(r).replica)
          continue;
        const auto& rl = state(r).replica->log();
        const auto low = std::max(pl.base(), rl.base()) + 1;
        for (auto seq = low; seq <= std::min(pl.commit_known(), rl.last_seq()); ++seq)
          if (pl.epoch_at(seq) != rl.epoch_at(seq)) {
            err << "in-sync replica " << r << " holds epoch " << rl.epoch_at(seq) << " at seq "
                << seq << ", the primary epoch " << pl.epoch_at(seq) << " (committed); ";
            break;
          }
      }
    }
    return err.str();
  }

  std::string step() {
    const auto r = pick(100);
    std::string what;
    if (r < 45)
      what = write();
    else if (r < 52)
      what = kill_one();
    else if (r < 62)
      what = restart_one();
    else if (r < 66)
      what = cut_one();
    else if (r < 73)
      what = reconnect_one();
    else if (r < 83)
      what = joins();
    else if (r < 93)
      what = time_passes();
    else
      what = release_held();
    take_replies();
    return what;
  }

  // Faults stop: every node back and connected, joins until all are in
  // sync, the clients' retries written.
  std::string heal() {
    lossy_ = false;
    release_held();
    for (std::uint32_t k = 0; k < 3; ++k)
      if (dead_.count(k)) {
        restart(k);
        change(engine::node_up(map_, k));
      }
    for (std::uint32_t k = 0; k < 3; ++k)
      if (map_.down[k]) {
        change(engine::node_up(map_, k));
        configure(map_.epoch, shard(), {k}, {});
      }
    for (int round = 0; round < 50 && (!retry_.empty() || !pending_.empty()); ++round) {
      write();
      time_passes();
      take_replies();
    }
    for (int round = 0; round < 5; ++round) {
      publish();
      joins();
    }
    std::ostringstream err;
    if (shard().in_sync.size() != 3)
      err << "only " << shard().in_sync.size() << " replicas in sync after healing; ";
    if (!retry_.empty() || !pending_.empty())
      err << retry_.size() << " writes still refused, " << pending_.size()
          << " unanswered after healing; ";
    for (std::uint32_t k = 0; k < 3; ++k)
      for (const auto& id : acked_)
        if (count_of(k, id) != 1) {
          err << "node " << k << " holds acknowledged event " << id << " "
              << count_of(k, id) << " times; ";
          break;
        }
    // The replicas' states are the same (no replica applied a record that
    // was never committed, such as a deposed primary's replaced tail).
    for (std::uint64_t n = 1; n <= next_id_; ++n) {
      const auto id = "e" + std::to_string(n);
      if (count_of(1, id) != count_of(0, id) || count_of(2, id) != count_of(0, id)) {
        err << "the replicas disagree on event " << id << " (" << count_of(0, id) << ", "
            << count_of(1, id) << ", " << count_of(2, id) << "); ";
        break;
      }
    }
    return err.str();
  }

  struct link_entry {
    caf::actor handle;
    caf::strong_actor_ptr a, b;
  };
  std::mt19937_64 rng_;
  std::shared_ptr<std::function<int()>> fate_;
  bool lossy_ = true;
  std::map<std::pair<std::uint32_t, std::uint32_t>, link_entry> links_;
  engine::cluster_map map_;
  std::uint64_t next_id_ = 0;
  std::deque<std::string> retry_;
  std::set<std::string> acked_;
  std::vector<outstanding> pending_;

 public:
  std::size_t restarts_ = 0;
};

}  // namespace

TEST_P(replication_sim, faults_never_lose_an_acknowledged_event) {
  const unsigned seed = GetParam();
  SCOPED_TRACE("seed " + std::to_string(seed) +
               " (rerun: --gtest_filter=*replication_sim*/" + std::to_string(seed - 1) + ")");
  begin(seed);
  std::deque<std::string> recent;
  for (int k = 0; k < 400; ++k) {
    recent.push_back(step());
    if (recent.size() > 10)
      recent.pop_front();
    const auto why = check();
    if (!why.empty() || ::testing::Test::HasFailure()) {
      std::string trail;
      for (const auto& s : recent)
        trail += s + "; ";
      FAIL() << "after step " << k << ": " << why << "\nlast steps: " << trail;
    }
  }
  const auto why = heal() + check();
  EXPECT_TRUE(why.empty()) << why;
  EXPECT_GT(acked_.size(), 100u) << "too few events acknowledged to mean anything";
  EXPECT_GT(map_.epoch, 20u) << "too few map changes to mean anything";
  EXPECT_GT(restarts_, 5u) << "too few restarts to mean anything";
}

INSTANTIATE_TEST_SUITE_P(seeds, replication_sim, ::testing::Range(1u, 31u));
