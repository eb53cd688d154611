// Unit tests of storage/deferred_journal: entries survive a reopen until they
// are marked done, a torn or corrupt tail is dropped (and the journal keeps
// working after it), a failed append leaves the file as it was, and rewrite()
// keeps exactly the live entries.
#include "storage/deferred_journal.hpp"

#include <gtest/gtest.h>

#include <cerrno>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "tests/storage/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace rtrec::storage;
using rtrec::engine::event;
using rtrec::engine::event_type;

namespace {

using rtrec::storage_test::temp_dir;

std::vector<event> events(const std::string& user, int n) {
  std::vector<event> out;
  for (int k = 0; k < n; ++k)
    out.push_back({user, "item-" + std::to_string(k), event_type::view, 0.0, 1000 + k,
                   "wb-" + user + std::to_string(k)});
  return out;
}

void expect_same(const std::vector<event>& a, const std::vector<event>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].user, b[k].user);
    EXPECT_EQ(a[k].item, b[k].item);
    EXPECT_EQ(a[k].type, b[k].type);
    EXPECT_EQ(a[k].timestamp, b[k].timestamp);
    EXPECT_EQ(a[k].id, b[k].id);
  }
}

std::string journal_dir(const temp_dir& t) {
  return (t.path() / "write-back").string();
}

TEST(DeferredJournal, EntriesSurviveAReopenUntilDone) {
  temp_dir t;
  std::uint64_t a = 0, b = 0, c = 0;
  {
    deferred_journal j{journal_dir(t), sync_policy::fsync};
    EXPECT_TRUE(j.loaded().empty());
    ASSERT_EQ(j.add(5000, events("u1", 3), a), "");
    ASSERT_EQ(j.add(7000, events("u2", 1), b), "");
    ASSERT_EQ(j.add(6000, events("u3", 2), c), "");
    EXPECT_LT(a, b);
    EXPECT_LT(b, c);
    ASSERT_EQ(j.done(b), "");
    EXPECT_EQ(j.records(), 4u);
  }
  deferred_journal j{journal_dir(t), sync_policy::fsync};
  EXPECT_TRUE(j.warnings().empty());
  ASSERT_EQ(j.loaded().size(), 2u);
  EXPECT_EQ(j.loaded()[0].seq, a);
  EXPECT_EQ(j.loaded()[0].due_ms, 5000);
  expect_same(j.loaded()[0].events, events("u1", 3));
  EXPECT_EQ(j.loaded()[1].seq, c);
  EXPECT_EQ(j.loaded()[1].due_ms, 6000);
  expect_same(j.loaded()[1].events, events("u3", 2));
  // New entries continue after the highest seq ever written (b's too).
  std::uint64_t d = 0;
  ASSERT_EQ(j.add(1, events("u4", 1), d), "");
  EXPECT_GT(d, c);
}

TEST(DeferredJournal, TornTailIsDroppedAndAppendsContinueAfterIt) {
  temp_dir t;
  std::uint64_t a = 0, b = 0;
  std::string path;
  {
    deferred_journal j{journal_dir(t), sync_policy::none};
    ASSERT_EQ(j.add(10, events("u1", 2), a), "");
    ASSERT_EQ(j.add(20, events("u2", 2), b), "");
    path = j.path();
  }
  // Cut the second record in half: a crash in the middle of its write.
  const auto size = fs::file_size(path);
  fs::resize_file(path, size - 10);
  {
    deferred_journal j{journal_dir(t), sync_policy::none};
    ASSERT_EQ(j.warnings().size(), 1u);
    EXPECT_NE(j.warnings()[0].find("dropped"), std::string::npos) << j.warnings()[0];
    ASSERT_EQ(j.loaded().size(), 1u);
    EXPECT_EQ(j.loaded()[0].seq, a);
    std::uint64_t c = 0;
    ASSERT_EQ(j.add(30, events("u3", 1), c), "");
  }
  deferred_journal j{journal_dir(t), sync_policy::none};
  EXPECT_TRUE(j.warnings().empty()) << j.warnings()[0];
  ASSERT_EQ(j.loaded().size(), 2u);
  expect_same(j.loaded()[1].events, events("u3", 1));
}

TEST(DeferredJournal, FlippedByteEndsTheReadablePart) {
  temp_dir t;
  std::string path;
  {
    deferred_journal j{journal_dir(t), sync_policy::none};
    std::uint64_t s = 0;
    for (int k = 0; k < 3; ++k)
      ASSERT_EQ(j.add(k, events("u" + std::to_string(k), 1), s), "");
    path = j.path();
  }
  std::string bytes;
  {
    std::ifstream in{path, std::ios::binary};
    bytes.assign(std::istreambuf_iterator<char>(in), {});
  }
  bytes[bytes.size() / 2] ^= 0x40;  // inside the second record
  {
    std::ofstream out{path, std::ios::binary | std::ios::trunc};
    out << bytes;
  }
  deferred_journal j{journal_dir(t), sync_policy::none};
  ASSERT_EQ(j.warnings().size(), 1u);
  EXPECT_NE(j.warnings()[0].find("CRC"), std::string::npos) << j.warnings()[0];
  ASSERT_EQ(j.loaded().size(), 1u);
  expect_same(j.loaded()[0].events, events("u0", 1));
}

TEST(DeferredJournal, NotAJournalIsRefusedWithItsPath) {
  temp_dir t;
  fs::create_directories(journal_dir(t));
  {
    std::ofstream out{journal_dir(t) + "/pending.log"};
    out << "something else entirely";
  }
  try {
    deferred_journal j{journal_dir(t), sync_policy::none};
    FAIL() << "opened a file that is not a journal";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("pending.log"), std::string::npos) << e.what();
  }
}

TEST(DeferredJournal, RewriteKeepsExactlyTheLiveEntries) {
  temp_dir t;
  deferred_journal j{journal_dir(t), sync_policy::fsync};
  std::vector<deferred_entry> live;
  for (int k = 0; k < 10; ++k) {
    std::uint64_t s = 0;
    auto ev = events("u" + std::to_string(k), 2);
    ASSERT_EQ(j.add(100 * k, ev, s), "");
    if (k % 3 == 0)
      live.push_back({s, 100 * k, ev});
    else
      ASSERT_EQ(j.done(s), "");
  }
  ASSERT_EQ(j.rewrite(live), "");
  EXPECT_EQ(j.records(), live.size());
  std::uint64_t extra = 0;
  ASSERT_EQ(j.add(5, events("late", 1), extra), "");
  deferred_journal again{journal_dir(t), sync_policy::fsync};
  ASSERT_EQ(again.loaded().size(), live.size() + 1);
  for (std::size_t k = 0; k < live.size(); ++k) {
    EXPECT_EQ(again.loaded()[k].seq, live[k].seq);
    EXPECT_EQ(again.loaded()[k].due_ms, live[k].due_ms);
    expect_same(again.loaded()[k].events, live[k].events);
  }
  EXPECT_EQ(again.loaded().back().seq, extra);
  EXPECT_FALSE(fs::exists(j.path() + ".tmp"));
}

// A disk that fails the next write.
class failing_ops final : public file_ops {
 public:
  bool fail = false;
  ssize_t write(int fd, const void* data, std::size_t n) override {
    if (fail) {
      // Half of the record reaches the file, then the disk is full.
      fail = false;
      posix_file_ops().write(fd, data, n / 2);
      errno = ENOSPC;
      return -1;
    }
    return posix_file_ops().write(fd, data, n);
  }
  int sync(int fd) override { return posix_file_ops().sync(fd); }
  int truncate(int fd, off_t size) override { return posix_file_ops().truncate(fd, size); }
};

TEST(DeferredJournal, FailedAppendLeavesTheFileAsItWas) {
  temp_dir t;
  failing_ops ops;
  std::uint64_t a = 0, b = 0;
  {
    deferred_journal j{journal_dir(t), sync_policy::fsync, &ops};
    ASSERT_EQ(j.add(1, events("u1", 1), a), "");
    const auto size = fs::file_size(j.path());
    ops.fail = true;
    std::uint64_t lost = 0;
    auto why = j.add(2, events("u2", 1), lost);
    EXPECT_NE(why.find("No space"), std::string::npos) << why;
    EXPECT_EQ(fs::file_size(j.path()), size);
    ASSERT_EQ(j.add(3, events("u3", 1), b), "");
  }
  deferred_journal j{journal_dir(t), sync_policy::fsync};
  EXPECT_TRUE(j.warnings().empty());
  ASSERT_EQ(j.loaded().size(), 2u);
  expect_same(j.loaded()[0].events, events("u1", 1));
  expect_same(j.loaded()[1].events, events("u3", 1));
}

}  // namespace
