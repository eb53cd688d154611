// storage::replica_stream and replica_recovery: a shard's replicas over real
// write-ahead logs in temporary directories (one per node), the messages
// between them carried by the test. Durability is waited for on the wal's
// own notices (no sleeps); a restart reads the log back with scan_log.
#include "storage/replica_stream.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <deque>
#include <memory>
#include <mutex>

#include "storage/codec.hpp"
#include "temp_dir.hpp"

using namespace rtrec;
using namespace rtrec::storage;
using rtrec::storage_test::temp_dir;

namespace {

constexpr std::uint32_t stream = 3;

replica_entry entry(const std::string& payload, std::int64_t time_ms = 1000) {
  return {record_kind::forget_user, time_ms, payload};
}

// Fails the next fdatasync (armed by the test thread).
class failing_sync_ops final : public file_ops {
 public:
  ssize_t write(int fd, const void* data, std::size_t n) override {
    return posix_file_ops().write(fd, data, n);
  }
  int sync(int fd) override {
    if (fail_.exchange(false)) {
      errno = EIO;
      return -1;
    }
    return posix_file_ops().sync(fd);
  }
  int truncate(int fd, off_t size) override { return posix_file_ops().truncate(fd, size); }
  void fail_next_sync() { fail_ = true; }

 private:
  std::atomic<bool> fail_{false};
};

// One node: its wal, the stream's replica, and the wal's notices queued for
// the test thread (the owner's thread).
class node {
 public:
  node(std::uint32_t self, const std::filesystem::path& dir, file_ops* ops = nullptr)
    : self_(self), dir_(dir) {
    open(ops);
  }

  replica_stream& rs() { return *stream_; }
  std::uint32_t self() const { return self_; }
  std::string wal_dir() const { return dir_.string(); }

  // Waits for the wal's notices of the stream's writes so far (the
  // explicit acknowledgement) and hands them to the stream. Returns the
  // last answer for its leader, if any.
  std::optional<engine::ship_answer> wait_durable() {
    const auto target = stream_->written();
    std::optional<engine::ship_answer> out;
    while (notified_ < target) {
      std::pair<std::uint64_t, std::string> n;
      {
        std::unique_lock<std::mutex> lk{q_->mtx};
        // A bound, not a pause: the notice normally comes in milliseconds.
        if (!q_->cv.wait_for(lk, std::chrono::seconds(30), [&] { return !q_->notices.empty(); })) {
          ADD_FAILURE() << "node " << self_ << ": no durable notice within 30 s";
          return out;
        }
        n = q_->notices.front();
        q_->notices.pop_front();
      }
      notified_ = n.first;
      if (auto a = stream_->on_durable(n.first, n.second))
        out = a;
    }
    return out;
  }

  // A restart: the wal closes (what it holds is durable), the log is read
  // back into a new stream with scan_log.
  scan_report restart() {
    stream_.reset();
    wal_.reset();
    replica_recovery rec{stream, 0, 0};
    auto rep = scan_log(dir_.string(), corruption_policy::strict,
                        [&](const log_record& r) { rec.add(r); });
    open(nullptr, rep.segments);
    stream_->restore(rec.result());
    return rep;
  }

 private:
  struct queue {
    std::mutex mtx;
    std::condition_variable cv;
    std::deque<std::pair<std::uint64_t, std::string>> notices;
  };

  void open(file_ops* ops, std::vector<segment_info> existing = {}) {
    wal_options o;
    o.dir = dir_.string();
    o.sync = sync_policy::fsync;
    o.ops = ops;
    wal_ = std::make_unique<wal>(o, std::move(existing));
    q_ = std::make_shared<queue>();
    notified_ = 0;
    stream_ = std::make_unique<replica_stream>(
      self_, stream, *wal_, [q = q_](std::uint64_t n, const std::string& err) {
        std::lock_guard<std::mutex> lk{q->mtx};
        q->notices.emplace_back(n, err);
        q->cv.notify_one();
      });
  }

  std::uint32_t self_;
  std::filesystem::path dir_;
  std::unique_ptr<wal> wal_;
  std::shared_ptr<queue> q_;
  std::uint64_t notified_ = 0;  ///< the highest write number noticed
  std::unique_ptr<replica_stream> stream_;
};

}  // namespace

namespace {

// Waits until every write node n stored so far is durable; the answer for
// its leader, if any, goes to `answers`.
void settle(node& n, std::vector<std::optional<engine::ship_answer>>* answers = nullptr) {
  auto a = n.wait_durable();
  if (answers)
    answers->push_back(a);
}

// One round: primary p ships to follower f; f stores, waits for
// durability and answers both times (on receipt and after the sync).
// Returns whether f accepted.
bool ship_round(node& p, node& f) {
  bool ok = false;
  for (auto& [to, s] : p.rs().ships()) {
    if (to != f.self())
      continue;
    const auto a = f.rs().on_ship(s);
    ok = a.ok;
    p.rs().on_answer(a);
    std::vector<std::optional<engine::ship_answer>> later;
    settle(f, &later);
    for (auto& x : later)
      if (x)
        p.rs().on_answer(*x);
  }
  return ok;
}

// Rounds until f holds p's log durably and knows p's commit (a primary's
// first ship assumes the follower is caught up, a refusal backs it up).
void ship_once(node& p, node& f) {
  for (int round = 0; round < 10; ++round) {
    const auto ok = ship_round(p, f);
    const auto& pl = p.rs().log();
    const auto& fl = f.rs().log();
    if (ok && pl.match_of(f.self()) == pl.last_seq() && fl.commit_known() >= pl.committed())
      return;
  }
  ADD_FAILURE() << "node " << f.self() << " did not catch up with node " << p.self();
}

}  // namespace

TEST(replica_entry, round_trips_and_refuses_what_is_not_a_data_record) {
  replica_entry e{record_kind::events, -5, std::string("\0pay\xffload", 9)};
  auto bytes = encode_replica_entry(e.kind, e.time_ms, e.payload);
  // u8 kind, i64 time, u64 length, payload.
  ASSERT_EQ(bytes.size(), 1u + 8u + 8u + 9u);
  EXPECT_EQ(bytes[0], 1);
  auto back = decode_replica_entry(bytes);
  EXPECT_EQ(back.kind, record_kind::events);
  EXPECT_EQ(back.time_ms, -5);
  EXPECT_EQ(back.payload, e.payload);
  EXPECT_THROW(decode_replica_entry(bytes.substr(0, bytes.size() - 1)), corrupt);
  EXPECT_THROW(decode_replica_entry(bytes + "x"), corrupt);
  for (auto kind : {record_kind::truncate_stream, record_kind::replica_state}) {
    auto bad = bytes;
    bad[0] = static_cast<char>(kind);
    EXPECT_THROW(decode_replica_entry(bad), corrupt) << static_cast<int>(kind);
  }
}

TEST(replica_state_record, holds_the_commit_as_seq_and_both_values_in_its_payload) {
  auto r = replica_state_record(7, 41, 9);
  EXPECT_EQ(r.kind, record_kind::replica_state);
  EXPECT_EQ(r.stream, 7u);
  EXPECT_EQ(r.seq, 41u) << "the commit: release() keeps the segment until a checkpoint covers it";
  EXPECT_EQ(r.epoch, 9u);
  const std::string golden("\x29\0\0\0\0\0\0\0\x09\0\0\0\0\0\0\0", 16);
  EXPECT_EQ(r.payload, golden);
}

TEST(replica_stream, a_write_is_committed_only_once_the_followers_log_holds_it_durably) {
  temp_dir tmp;
  node p{0, tmp.path() / "n0"}, f{1, tmp.path() / "n1"};
  for (auto* n : {&p, &f})
    n->rs().adopt(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  EXPECT_FALSE(p.rs().ready()) << "its epoch is not stored yet";
  EXPECT_FALSE(p.rs().append(entry("too early")));
  p.wait_durable();
  ASSERT_TRUE(p.rs().ready());
  ASSERT_EQ(p.rs().append(entry("u1")), 1u);
  settle(p);
  EXPECT_EQ(p.rs().log().synced(), 1u);
  EXPECT_EQ(p.rs().log().committed(), 0u) << "the follower holds nothing yet";
  EXPECT_TRUE(p.rs().take_applicable().empty());
  // The first ship assumes the follower holds seq 1 already; it does not.
  auto ships = p.rs().ships();
  ASSERT_EQ(ships.size(), 1u);
  auto refused = f.rs().on_ship(ships[0].second);
  ASSERT_FALSE(refused.ok);
  p.rs().on_answer(refused);
  // The next carries record 1; the answer on receipt does not count.
  ships = p.rs().ships();
  ASSERT_EQ(ships.size(), 1u);
  ASSERT_EQ(ships[0].second.records.size(), 1u);
  auto first = f.rs().on_ship(ships[0].second);
  ASSERT_TRUE(first.ok);
  EXPECT_EQ(first.match, 0u) << "not durable there yet";
  p.rs().on_answer(first);
  EXPECT_EQ(p.rs().log().committed(), 0u);
  std::vector<std::optional<engine::ship_answer>> later;
  settle(f, &later);
  ASSERT_FALSE(later.empty());
  ASSERT_TRUE(later.back());
  EXPECT_EQ(later.back()->match, 1u);
  p.rs().on_answer(*later.back());
  EXPECT_EQ(p.rs().log().committed(), 1u);
  auto applied = p.rs().take_applicable();
  ASSERT_EQ(applied.size(), 1u);
  EXPECT_EQ(applied[0].first, 1u);
  EXPECT_EQ(applied[0].second.payload, "u1");
  EXPECT_EQ(applied[0].second.kind, record_kind::forget_user);
  EXPECT_TRUE(f.rs().take_applicable().empty()) << "the follower has not heard of the commit";
  ship_once(p, f);
  auto f_applied = f.rs().take_applicable();
  ASSERT_EQ(f_applied.size(), 1u) << "the next ship carries the commit";
  EXPECT_EQ(f_applied[0].second.payload, "u1");
}

TEST(replica_stream, a_restart_replays_only_what_it_knew_committed) {
  temp_dir tmp;
  node p{0, tmp.path() / "n0"}, f{1, tmp.path() / "n1"};
  for (auto* n : {&p, &f})
    n->rs().adopt(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  p.wait_durable();
  for (int k = 1; k <= 3; ++k)
    p.rs().append(entry("u" + std::to_string(k), 100 + k));
  settle(p);
  ship_once(p, f);
  ASSERT_EQ(p.rs().log().committed(), 3u);
  p.rs().take_applicable();
  ship_once(p, f);  // the commit reaches the follower
  ASSERT_EQ(f.rs().take_applicable().size(), 3u);
  settle(f);
  // Two more that the follower holds durably but never learns committed.
  p.rs().append(entry("u4", 104));
  p.rs().append(entry("u5", 105));
  settle(p);
  ASSERT_TRUE(ship_round(p, f)) << "one ship: the records, with commit 3";
  ASSERT_EQ(f.rs().log().last_seq(), 5u);
  ASSERT_EQ(f.rs().log().commit_known(), 3u);
  auto rep = f.restart();
  EXPECT_EQ(rep.void_records, 0u);
  const auto& log = f.rs().log();
  EXPECT_EQ(log.last_seq(), 5u) << "every durable record is back";
  EXPECT_EQ(log.commit_known(), 3u) << "the stored commit";
  EXPECT_EQ(log.applied(), 3u) << "its state is rebuilt up to the commit only";
  EXPECT_EQ(log.epoch_at(5), 1u);
  ASSERT_NE(log.record_at(4), nullptr);
  auto e4 = decode_replica_entry(log.record_at(4)->payload);
  EXPECT_EQ(e4.payload, "u4");
  EXPECT_EQ(e4.time_ms, 104);
  EXPECT_EQ(e4.kind, record_kind::forget_user);
  // Its primary's next ship commits the rest; it applies them then.
  f.rs().adopt(2, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  p.rs().adopt(2, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  settle(p);
  p.wait_durable();  // epoch 2 stored
  ASSERT_TRUE(p.rs().ready());
  ship_once(p, f);
  ship_once(p, f);
  auto rest = f.rs().take_applicable();
  ASSERT_EQ(rest.size(), 2u);
  EXPECT_EQ(rest[0].first, 4u);
  EXPECT_EQ(rest[1].second.payload, "u5");
}

TEST(replica_stream, a_replaced_tail_reads_back_as_the_new_primarys_records) {
  temp_dir tmp;
  node a{0, tmp.path() / "n0"}, b{1, tmp.path() / "n1"}, c{2, tmp.path() / "n2"};
  for (auto* n : {&a, &b, &c})
    n->rs().adopt(1, engine::shard_replicas{{0, 1, 2}, 0, {0, 1, 2}});
  a.wait_durable();
  a.rs().append(entry("one"));
  settle(a);
  ship_once(a, b);
  ship_once(a, c);
  ASSERT_EQ(a.rs().log().committed(), 1u);
  // Epoch 1's records 2 and 3 reach node 1 only, never committed.
  a.rs().append(entry("lost-2"));
  a.rs().append(entry("lost-3"));
  settle(a);
  ship_once(a, b);
  ASSERT_EQ(b.rs().log().last_seq(), 3u);
  // Node 2 takes over in epoch 2 with its own record 2.
  for (auto* n : {&b, &c})
    n->rs().adopt(2, engine::shard_replicas{{1, 2}, 2, {1, 2}});
  c.wait_durable();
  ASSERT_TRUE(c.rs().ready());
  c.rs().append(entry("new-2"));
  settle(c);
  for (int k = 0; k < 3; ++k)
    ship_once(c, b);
  ASSERT_EQ(b.rs().log().last_seq(), 2u);
  EXPECT_EQ(b.rs().log().epoch_at(2), 2u);
  EXPECT_EQ(c.rs().log().committed(), 2u);
  auto rep = b.restart();
  EXPECT_EQ(rep.markers, 1u);
  EXPECT_EQ(rep.void_records, 2u) << "epoch 1's records 2 and 3";
  const auto& log = b.rs().log();
  ASSERT_EQ(log.last_seq(), 2u);
  EXPECT_EQ(decode_replica_entry(log.record_at(2)->payload).payload, "new-2");
  EXPECT_EQ(log.epoch_at(2), 2u);
  EXPECT_EQ(log.epoch_seen(), 2u);
}

TEST(replica_stream, a_ship_that_does_not_decode_changes_nothing) {
  temp_dir tmp;
  node f{1, tmp.path() / "n1"};
  f.rs().adopt(1, engine::shard_replicas{{0, 1}, 0, {0, 1}});
  engine::ship_request s;
  s.epoch = 1;
  s.from = 0;
  s.records = {{1, 1, 0, encode_replica_entry(record_kind::forget_user, 1000, "fine")},
               {2, 1, 0, "garbage"}};
  EXPECT_THROW(f.rs().on_ship(s), corrupt);
  EXPECT_EQ(f.rs().log().last_seq(), 0u);
  EXPECT_TRUE(f.rs().failed().empty()) << "bad input does not stop the replica";
}

TEST(replica_stream, a_write_the_log_could_not_store_fails_the_stream) {
  temp_dir tmp;
  failing_sync_ops ops;
  node p{0, tmp.path() / "n0", &ops};
  p.rs().adopt(1, engine::shard_replicas{{0}, 0, {0}});
  p.wait_durable();
  ASSERT_TRUE(p.rs().ready());
  ops.fail_next_sync();
  ASSERT_EQ(p.rs().append(entry("x")), 1u);
  p.wait_durable();
  ASSERT_FALSE(p.rs().failed().empty());
  EXPECT_NE(p.rs().failed().find("stream 3"), std::string::npos) << p.rs().failed();
  EXPECT_FALSE(p.rs().ready());
  EXPECT_FALSE(p.rs().append(entry("y"))) << "refused: the log in memory is not the disk's";
  EXPECT_TRUE(p.rs().take_applicable().empty());
  EXPECT_EQ(p.rs().log().synced(), 0u);
}

TEST(replica_recovery, a_record_that_does_not_continue_the_checkpoint_is_refused) {
  replica_recovery rec{stream, 10, 1};
  log_record r;
  r.kind = record_kind::forget_user;
  r.stream = stream;
  r.seq = 5;
  r.epoch = 1;
  r.payload = "u";
  rec.add(r);  // below the checkpoint: skipped
  r.seq = 11;
  rec.add(r);
  r.seq = 13;
  try {
    rec.add(r);
    FAIL() << "a gap was accepted";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string(e.what()).find("seq 13 where seq 12"), std::string::npos) << e.what();
  }
  r.stream = stream + 1;
  r.seq = 99;
  rec.add(r);  // another stream's: not this one's business
  auto p = rec.result();
  EXPECT_EQ(p.base, 10u);
  ASSERT_EQ(p.records.size(), 1u);
  EXPECT_EQ(p.records[0].seq, 11u);
}
