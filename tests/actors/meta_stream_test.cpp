// The item metadata stream on the deterministic scheduler (docs/replication.md,
// "Stage 1b"): item shards apply the meta writer's operations checked for
// gaps, skip duplicates, catch up by a resync read back from the meta
// writer's log (woken by a marker when their handle changes), answer an
// operation that met a gap once the resync brings it, and a node's item
// writer that is not the meta writer passes writes on to it.
//
// The meta writer here runs without a log (the log's writer thread does not
// belong on the deterministic scheduler): it starts from a data directory
// whose log the test writes, as recovery would hand it over (meta_seq), and
// answers resyncs from it.
#include "tests/harness/topology_fixture.hpp"

#include <optional>
#include <utility>

#include "actors/item_writer.hpp"
#include "storage/recovery.hpp"
#include "storage/wal.hpp"
#include "tests/storage/log_writer.hpp"
#include "tests/storage/temp_dir.hpp"

using namespace rtrec;

namespace {

using rtrec::storage_test::meta_of;

meta_op set_op(std::uint64_t seq, const engine::item_meta& m) {
  meta_op op;
  op.kind = meta_op::set;
  op.meta = m;
  op.seq = seq;
  op.prev = seq - 1;
  return op;
}

meta_op remove_op(std::uint64_t seq, const std::string& id) {
  meta_op op;
  op.kind = meta_op::remove;
  op.id = id;
  op.seq = seq;
  op.prev = seq - 1;
  return op;
}

// The stream every test uses: a (x), b, c (y), b removed, a (z).
std::vector<meta_op> stream() {
  return {set_op(1, meta_of("a", {"x"})), set_op(2, meta_of("b")), set_op(3, meta_of("c", {"y"})),
          remove_op(4, "b"), set_op(5, meta_of("a", {"z"}))};
}

class meta_stream_test : public rtrec::testing::topology_fixture {
 protected:
  static topology_config config() {
    auto cfg = default_config();
    cfg.profile_shards = 1;
    cfg.item_shards = 2;
    cfg.ingestors = 1;
    return cfg;
  }

  topology_context context(bool with_data) const {
    topology_context ctx;
    if (with_data) {
      ctx.data.data_dir = tmp_.data_dir();
      ctx.data.profile_shards = 1;
      ctx.data.item_shards = 2;
    }
    return ctx;
  }

  // Writes operations 1..n of stream() as the meta writer's log.
  void write_log(std::size_t n) {
    std::vector<storage::log_record> records;
    const auto ops = stream();
    for (std::size_t k = 0; k < n; ++k)
      records.push_back(ops[k].kind == meta_op::set
                          ? rtrec::storage_test::set_record(ops[k].seq, ops[k].meta)
                          : rtrec::storage_test::remove_record(ops[k].seq, ops[k].id));
    rtrec::storage_test::append_records(tmp_.data_dir(), records);
  }

  // A meta writer over the topology's item shards whose log holds 1..n.
  item_writer_actor spawn_writer(std::uint64_t n, bool with_data = true) {
    return keep(sys().spawn(item_writer, config(), topo().items, n, context(with_data)));
  }

  // An item writer the test spawned, stopped at the end of the test.
  item_writer_actor keep(item_writer_actor w) {
    writers_.push_back(w);
    return w;
  }

  void TearDown() override {
    for (auto& w : writers_)
      caf::anon_send_exit(w, caf::exit_reason::user_shutdown);
    run();
  }

  // Tells `writer` where the item shards are (new handles: markers).
  void directory_to(const item_writer_actor& writer, caf::strong_actor_ptr meta_writer = {}) {
    shard_directory d;
    for (auto& m : topo().items)
      d.items.push_back(caf::actor_cast<caf::strong_actor_ptr>(m));
    d.meta_writer = std::move(meta_writer);
    self()->send(writer, directory_atom::value, d);
    run();
  }

  // Sends `op` to item shard m from the test's actor (standing in for the
  // meta writer); the shard finds a gap and asks the test's actor for a
  // resync, which gets `reply` (nullopt: an error). Returns the seq the
  // shard asked from and what it answered `op` (an error: it failed).
  std::pair<std::uint64_t, caf::expected<bool>>
  op_with_resync(std::size_t m, const meta_op& op, std::optional<meta_resync_reply> reply) {
    auto pending = self()->request(topo().items.at(m), std::chrono::seconds(1), op);
    run();
    std::uint64_t asked_from = 99;
    self()->receive([&](resync_atom, std::uint64_t from) -> caf::result<meta_resync_reply> {
      asked_from = from;
      if (!reply)
        return caf::make_error(error_code::shard_unavailable, "the log no longer holds it");
      return *reply;
    });
    run();
    caf::expected<bool> answer{false};
    pending.receive([&](bool ok) { answer = ok; }, [&](caf::error& err) { answer = err; });
    return {asked_from, answer};
  }

  item_shard_stats item_at(std::size_t m) {
    auto s = item_stats(m);
    EXPECT_TRUE(s) << sys().render(s.error());
    return s ? *s : item_shard_stats{};
  }

  // "a+x b- c+y": which of a, b, c item shard m knows, with categories.
  std::string items_on(std::size_t m) {
    std::string out;
    for (const char* id : {"a", "b", "c"}) {
      auto meta = item(id, m);
      out += std::string{out.empty() ? "" : " "} + id + (meta ? "+" : "-");
      if (meta)
        for (const auto& c : meta->categories)
          out += c;
    }
    return out;
  }

  rtrec::storage_test::temp_dir tmp_;
  std::vector<item_writer_actor> writers_;
};

TEST_F(meta_stream_test, operations_apply_in_order_and_a_duplicate_changes_nothing) {
  start(config());
  const auto ops = stream();
  for (std::size_t k = 0; k < 3; ++k)
    for (auto& shard : topo().items) {
      auto r = ask<bool>(shard, ops[k]);
      ASSERT_TRUE(r) << sys().render(r.error());
      EXPECT_TRUE(*r);
    }
  EXPECT_EQ(items_on(0), "a+x b+ c+y");
  EXPECT_EQ(item_at(0).meta_applied, 3u);
  // op 2 again (a resend): answered, not applied twice.
  auto again = set_op(2, meta_of("b", {"changed"}));
  auto r = ask<bool>(topo().items[0], again);
  ASSERT_TRUE(r);
  EXPECT_TRUE(*r);
  EXPECT_EQ(items_on(0), "a+x b+ c+y");
  EXPECT_EQ(item_at(0).duplicates, 1u);
  EXPECT_EQ(item_at(0).meta_applied, 3u);
  // A writer without a log (seq 0): applied unchecked, the position stays.
  meta_op loose = set_op(1, meta_of("c"));
  loose.seq = loose.prev = 0;
  ASSERT_TRUE(ask<bool>(topo().items[0], loose));
  EXPECT_EQ(items_on(0), "a+x b+ c+");
  EXPECT_EQ(item_at(0).meta_applied, 3u);
}

TEST_F(meta_stream_test, a_marker_wakes_item_shards_that_missed_operations_and_they_resync) {
  write_log(5);
  start(config());
  const auto ops = stream();
  // Item shard 0 got 1-2, item shard 1 only 1 (its node was away).
  for (std::size_t k = 0; k < 2; ++k)
    ASSERT_TRUE(ask<bool>(topo().items[0], ops[k]));
  ASSERT_TRUE(ask<bool>(topo().items[1], ops[0]));
  auto writer = spawn_writer(5);
  directory_to(writer);  // new handles for both: a marker each (seq = prev = 5)
  for (std::size_t m = 0; m < 2; ++m) {
    const auto s = item_at(m);
    EXPECT_EQ(s.meta_applied, 5u) << "item shard " << m;
    EXPECT_EQ(s.gaps, 1u) << "item shard " << m;
    EXPECT_EQ(s.resyncs, 1u) << "item shard " << m;
    EXPECT_EQ(s.resync_failures, 0u) << "item shard " << m;
    EXPECT_EQ(items_on(m), "a+z b- c+y") << "item shard " << m;
  }
  // The same handles again: no marker, nothing asked.
  directory_to(writer);
  EXPECT_EQ(item_at(1).gaps, 1u);
  EXPECT_EQ(item_at(1).duplicates, 0u);
}

TEST_F(meta_stream_test, an_operation_that_meets_a_gap_is_answered_once_the_resync_brings_it) {
  start(config());
  const auto ops = stream();
  ASSERT_TRUE(ask<bool>(topo().items[1], ops[0]));
  // Op 3 arrives while 2 is missing: held until the resync brings 2 and 3.
  auto [asked_from, answer] = op_with_resync(1, ops[2], meta_resync_reply{{ops[1], ops[2]}, 3});
  EXPECT_EQ(asked_from, 1u);
  ASSERT_TRUE(answer) << sys().render(answer.error());
  EXPECT_TRUE(*answer);
  EXPECT_EQ(item_at(1).meta_applied, 3u);
  EXPECT_EQ(items_on(1), "a+x b+ c+y");
  EXPECT_EQ(item_at(1).gaps, 1u);
  EXPECT_EQ(item_at(1).resyncs, 1u);
}

TEST_F(meta_stream_test, a_failed_resync_fails_the_waiting_operation_and_is_asked_again) {
  start(config());
  const auto ops = stream();
  ASSERT_TRUE(ask<bool>(topo().items[1], ops[0]));
  auto [asked_from, answer] = op_with_resync(1, ops[2], std::nullopt);
  EXPECT_EQ(asked_from, 1u);
  EXPECT_FALSE(answer) << "answered although the resync failed";
  EXPECT_EQ(item_at(1).resync_failures, 1u);
  EXPECT_EQ(item_at(1).meta_applied, 1u);
  EXPECT_EQ(items_on(1), "a+x b- c-");
  // The next operation meets the gap again and asks again.
  auto [again_from, next] =
    op_with_resync(1, ops[3], meta_resync_reply{{ops[1], ops[2], ops[3]}, 4});
  EXPECT_EQ(again_from, 1u);
  ASSERT_TRUE(next) << sys().render(next.error());
  EXPECT_TRUE(*next);
  EXPECT_EQ(items_on(1), "a+x b- c+y");
}

TEST_F(meta_stream_test, a_meta_writer_without_a_data_directory_refuses_resyncs) {
  start(config());
  ASSERT_TRUE(ask<bool>(topo().items[1], stream()[0]));
  auto writer = spawn_writer(3, false);
  directory_to(writer);  // markers at 3: both shards find a gap, the resync fails
  EXPECT_EQ(item_at(0).resync_failures, 1u);
  EXPECT_EQ(item_at(1).resync_failures, 1u);
  EXPECT_EQ(item_at(1).meta_applied, 1u);
  auto r = ask<meta_resync_reply>(writer, resync_atom::value, std::uint64_t{0});
  ASSERT_FALSE(r);
  EXPECT_NE(sys().render(r.error()).find("keeps no data directory"), std::string::npos)
    << sys().render(r.error());
}

TEST_F(meta_stream_test, another_nodes_item_writer_passes_writes_on_to_the_meta_writer) {
  start(config());
  auto meta_writer = spawn_writer(0, false);
  // Item shard 0 lives elsewhere: this writer is not the meta writer.
  auto other = keep(sys().spawn(item_writer, config(),
                                std::vector<item_shard_actor>{item_shard_actor{}, topo().items[1]},
                                std::uint64_t{0}, context(false)));
  directory_to(other);  // the meta writer unreachable
  auto refused = ask<bool>(other, item_atom::value, meta_of("a", {"x"}));
  ASSERT_FALSE(refused);
  EXPECT_NE(sys().render(refused.error()).find("item shard 0"), std::string::npos)
    << sys().render(refused.error());
  EXPECT_EQ(items_on(0), "a- b- c-");

  directory_to(other, caf::actor_cast<caf::strong_actor_ptr>(meta_writer));
  auto set = ask<bool>(other, item_atom::value, meta_of("a", {"x"}));
  ASSERT_TRUE(set) << sys().render(set.error());
  EXPECT_TRUE(*set);
  engine::item_patch patch;
  patch.set_categories = true;
  patch.categories = {"y"};
  auto updated = ask<engine::item_meta>(other, item_atom::value, std::string{"a"}, patch);
  ASSERT_TRUE(updated) << sys().render(updated.error());
  EXPECT_EQ(updated->categories, (std::vector<std::string>{"y"}));
  ASSERT_TRUE(ask<bool>(other, item_atom::value, meta_of("b")));
  auto removed = ask<bool>(other, remove_atom::value, std::string{"b"});
  ASSERT_TRUE(removed);
  EXPECT_TRUE(*removed);
  for (std::size_t m = 0; m < 2; ++m)
    EXPECT_EQ(items_on(m), "a+y b- c-") << "item shard " << m;
}

}  // namespace

// A metadata operation that arrives while a thread serializes the item
// shard's snapshot waits for it (the meta writer may be on another node, so
// its writes are not ordered with this node's checkpoints): the snapshot
// holds the state before the operation, its metadata position included, and
// the operation is applied right after. On the real scheduler, with the
// snapshot's serializer thread.
TEST(meta_stream, an_operation_during_a_snapshot_waits_for_it) {
  caf::actor_system_config cfg;
  register_messages(cfg);
  caf::actor_system sys{cfg};
  auto tc = rtrec::testing::topology_fixture::default_config();
  tc.profile_shards = 1;
  tc.item_shards = 1;
  auto topo = spawn_topology(sys, tc);
  auto shard = topo.items.at(0);
  caf::scoped_actor self{sys};
  // Enough items that serializing takes a while.
  for (std::uint64_t k = 1; k <= 2000; ++k) {
    bool ok = false;
    self->request(shard, std::chrono::seconds(10), set_op(k, meta_of("i" + std::to_string(k))))
      .receive([&](bool x) { ok = x; }, [&](caf::error& err) { FAIL() << sys.render(err); });
    ASSERT_TRUE(ok);
  }
  // The snapshot, then at once the next operation.
  auto snap = self->request(shard, std::chrono::seconds(10), snapshot_atom::value);
  auto op = self->request(shard, std::chrono::seconds(10), set_op(2001, meta_of("late")));
  shard_snapshot got;
  snap.receive([&](shard_snapshot& s) { got = std::move(s); },
               [&](caf::error& err) { FAIL() << sys.render(err); });
  bool applied = false;
  op.receive([&](bool x) { applied = x; }, [&](caf::error& err) { FAIL() << sys.render(err); });
  EXPECT_TRUE(applied);
  ASSERT_EQ(got.applied.size(), 2u) << "one delta stream, then the metadata stream";
  EXPECT_EQ(got.applied[1], 2000u) << "the snapshot's metadata position";
  engine::item_model model{tc.model, 0, 1};
  storage::decode_item_snapshot(got.bytes, model);
  EXPECT_TRUE(model.meta("i2000"));
  EXPECT_FALSE(model.meta("late")) << "applied while the snapshot was serialized";
  engine::item_meta late;
  self->request(shard, std::chrono::seconds(10), item_atom::value, std::string{"late"})
    .receive([&](engine::item_meta& m) { late = std::move(m); },
             [&](caf::error& err) { FAIL() << sys.render(err); });
  EXPECT_EQ(late.id, "late");
  stop_topology(topo);
}

TEST_F(meta_stream_test, pipelined_writes_apply_in_arrival_order_and_a_patch_reads_all_before_it) {
  start(config());
  auto writer = spawn_writer(0, false);
  // Sent at once, not one answer at a time.
  auto send_set = [&](const engine::item_meta& m) {
    return self()->request(writer, std::chrono::seconds(1), item_atom::value, m);
  };
  auto s1 = send_set(meta_of("a", {"x"}));
  auto s2 = send_set(meta_of("b", {"x"}));
  auto s3 = send_set(meta_of("a", {"y"}));  // the second write to a wins
  engine::item_patch patch;
  patch.add_category = "z";  // reads a as the writes before it left it
  auto p = self()->request(writer, std::chrono::seconds(1), item_atom::value, std::string{"a"},
                           patch);
  auto r = self()->request(writer, std::chrono::seconds(1), remove_atom::value, std::string{"b"});
  auto s4 = send_set(meta_of("c", {"w"}));
  run();
  for (auto* h : {&s1, &s2, &s3, &s4})
    h->receive([](bool ok) { EXPECT_TRUE(ok); },
               [&](caf::error& err) { FAIL() << sys().render(err); });
  p.receive([](engine::item_meta& m) { EXPECT_EQ(m.categories, (std::vector<std::string>{"y", "z"})); },
            [&](caf::error& err) { FAIL() << sys().render(err); });
  r.receive([](bool known) { EXPECT_TRUE(known); },
            [&](caf::error& err) { FAIL() << sys().render(err); });
  for (std::size_t m = 0; m < 2; ++m)
    EXPECT_EQ(items_on(m), "a+yz b- c+w") << "item shard " << m;
}
