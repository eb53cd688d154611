// Tests of the feedback history (engine/feedback.hpp) as the profile store
// keeps it: insert versus overwrite, retention, texts, deletion and what it
// does to the model's view, listing order and cursors (checked against a
// reference model under a seeded random workload), and the feedback_log's
// own bookkeeping.
#include "engine/feedback.hpp"
#include "engine/profile_store.hpp"
#include "tests/engine/test_support.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <iostream>
#include <cstdint>
#include <map>
#include <random>
#include <set>
#include <string>
#include <tuple>
#include <vector>

namespace rtrec::engine {
namespace {

using test_support::make_event;

model_config config(std::size_t retention) {
  model_config cfg;
  cfg.recent_max = 4;
  cfg.seen_max = 50;
  cfg.feedback_retention = retention;
  return cfg;
}

event fb(const std::string& user, const std::string& item, event_type type, std::int64_t ts,
         bool overwrite = false, std::string comment = {}, std::string text = {}) {
  auto e = make_event(user, item, ts, type, type == event_type::rating ? 4.0 : 0.0);
  e.overwrite = overwrite;
  e.comment = std::move(comment);
  e.timestamp_text = std::move(text);
  return e;
}

void apply(profile_store& s, const event& e) {
  item_delta_batch out;
  ASSERT_EQ(s.apply(e, out), reject_reason::none);
}

/// (type, item, timestamp) of each record, in order.
std::vector<std::tuple<event_type, std::string, std::int64_t>> summary(
  const std::vector<feedback_record>& v) {
  std::vector<std::tuple<event_type, std::string, std::int64_t>> out;
  for (const auto& r : v)
    out.emplace_back(r.type, r.item, r.timestamp);
  return out;
}

TEST(FeedbackHistory, InsertKeepsTheFirstRecordAndOverwriteReplacesAndMovesIt) {
  profile_store s{config(10)};
  apply(s, fb("u", "a", event_type::like, 100, false, "first", "t1"));
  apply(s, fb("u", "b", event_type::view, 200));
  apply(s, fb("u", "a", event_type::like, 300, false, "ignored"));  // POST: kept as it was
  apply(s, fb("u", "a", event_type::view, 400));                      // another type: its own record
  auto r = s.feedback("u", {});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_EQ(summary(r), (decltype(summary(r)){{event_type::like, "a", 100},
                                                {event_type::view, "b", 200},
                                                {event_type::view, "a", 400}}));
  EXPECT_EQ(r[0].comment, "first");
  EXPECT_EQ(r[0].timestamp_text, "t1");
  EXPECT_EQ(r[0].user, "u");

  apply(s, fb("u", "a", event_type::like, 500, true, "second"));  // PUT: replaced, now newest
  r = s.feedback("u", {});
  EXPECT_EQ(summary(r), (decltype(summary(r)){{event_type::view, "b", 200},
                                                {event_type::view, "a", 400},
                                                {event_type::like, "a", 500}}));
  EXPECT_EQ(r[2].comment, "second");
  EXPECT_EQ(r[2].timestamp_text, "");  // the old text went with the old record
  apply(s, fb("u", "c", event_type::click, 600, true));  // PUT of a new record inserts
  EXPECT_EQ(s.feedback("u", {}).size(), 4u);
  EXPECT_EQ(s.feedback_records(), 4u);
  // The model took every event: six applied, all counted.
  EXPECT_EQ(s.find("u")->events, 6u);
}

TEST(FeedbackHistory, RetentionKeepsTheNewestWrittenAndDropsTheirTexts) {
  profile_store s{config(3)};
  for (int k = 0; k < 6; ++k)
    apply(s, fb("u", "i" + std::to_string(k), event_type::view, 1000 - k, false,
                "c" + std::to_string(k)));
  auto r = s.feedback("u", {});
  ASSERT_EQ(r.size(), 3u);
  // Newest written, not newest by timestamp (the timestamps go backwards).
  EXPECT_EQ(r[0].item, "i3");
  EXPECT_EQ(r[2].item, "i5");
  EXPECT_EQ(r[2].comment, "c5");
  EXPECT_EQ(s.feedback_records(), 3u);
  // An overwrite of the oldest makes it the newest: i4 is dropped next.
  apply(s, fb("u", "i3", event_type::view, 7, true));
  apply(s, fb("u", "i9", event_type::view, 8));
  EXPECT_EQ(summary(s.feedback("u", {})),
            (decltype(summary(r)){{event_type::view, "i5", 995},
                                  {event_type::view, "i3", 7},
                                  {event_type::view, "i9", 8}}));
}

TEST(FeedbackHistory, ZeroRetentionKeepsNothingButTheModelStillLearns) {
  profile_store s{config(0)};
  apply(s, fb("u", "a", event_type::like, 1, false, "c"));
  EXPECT_TRUE(s.feedback("u", {}).empty());
  EXPECT_EQ(s.feedback_records(), 0u);
  EXPECT_EQ(s.view("u").recent.size(), 1u);
}

TEST(FeedbackHistory, FiltersByTypeItemAndTime) {
  profile_store s{config(10)};
  apply(s, fb("u", "a", event_type::like, 100));
  apply(s, fb("u", "a", event_type::view, 200));
  apply(s, fb("u", "b", event_type::like, 300));
  feedback_filter likes;
  likes.any_type = false;
  likes.type = event_type::like;
  EXPECT_EQ(s.feedback("u", likes).size(), 2u);
  feedback_filter of_a;
  of_a.item = "a";
  EXPECT_EQ(s.feedback("u", of_a).size(), 2u);
  of_a.any_type = false;
  of_a.type = event_type::view;
  ASSERT_EQ(s.feedback("u", of_a).size(), 1u);
  EXPECT_EQ(s.feedback("u", of_a)[0].timestamp, 200);
  feedback_filter until;
  until.until_ms = 200;
  EXPECT_EQ(s.feedback("u", until).size(), 2u);
  feedback_filter unknown_item;
  unknown_item.item = "zz";
  EXPECT_TRUE(s.feedback("u", unknown_item).empty());
  EXPECT_TRUE(s.feedback("nobody", {}).empty());
}

TEST(FeedbackHistory, DeleteRemovesRecordsAndTheItemFromTheModelsViewOnceNoneIsLeft) {
  profile_store s{config(10)};
  apply(s, fb("u", "a", event_type::like, 100, false, "note"));
  apply(s, fb("u", "a", event_type::view, 200));
  apply(s, fb("u", "b", event_type::like, 300));
  feedback_delete d{"u", "a", false, event_type::like};
  EXPECT_EQ(s.delete_feedback(d), 1u);
  // A view of a is left: a stays a seed and seen.
  auto v = s.view("u");
  EXPECT_NE(std::find(v.recent.begin(), v.recent.end(), hash_id("a")), v.recent.end());
  EXPECT_NE(std::find(v.seen.begin(), v.seen.end(), hash_id("a")), v.seen.end());
  EXPECT_EQ(s.delete_feedback(d), 0u);  // already gone

  d.any_type = true;
  EXPECT_EQ(s.delete_feedback(d), 1u);
  v = s.view("u");
  EXPECT_EQ(std::find(v.recent.begin(), v.recent.end(), hash_id("a")), v.recent.end());
  EXPECT_EQ(std::find(v.seen.begin(), v.seen.end(), hash_id("a")), v.seen.end());
  EXPECT_EQ(v.recent.size(), 1u);
  EXPECT_EQ(s.feedback_records(), 1u);
  EXPECT_EQ(s.find("u")->events, 3u);  // the event count is not undone

  EXPECT_EQ(s.delete_feedback({"nobody", "b", true, event_type::view}), 0u);
  EXPECT_EQ(s.delete_feedback({"u", "never-seen", true, event_type::view}), 0u);
  // A later like of a is a fresh record and a fresh seed.
  apply(s, fb("u", "a", event_type::like, 400, false, "again"));
  ASSERT_EQ(s.feedback("u", {}).size(), 2u);
  EXPECT_EQ(s.feedback("u", {})[1].comment, "again");
}

TEST(FeedbackHistory, DeletingADislikeLetsTheItemBeRecommendedAgain) {
  profile_store s{config(10)};
  apply(s, fb("u", "x", event_type::dislike, 100));
  auto v = s.view("u");
  ASSERT_NE(std::find(v.seen.begin(), v.seen.end(), hash_id("x")), v.seen.end());
  EXPECT_EQ(s.delete_feedback({"u", "x", true, event_type::view}), 1u);
  v = s.view("u");
  EXPECT_EQ(std::find(v.seen.begin(), v.seen.end(), hash_id("x")), v.seen.end());
}

TEST(FeedbackHistory, EraseForgetsTheHistoryAndItsTexts) {
  profile_store s{config(10)};
  apply(s, fb("u", "a", event_type::like, 100, false, "note"));
  apply(s, fb("w", "a", event_type::like, 100));
  EXPECT_TRUE(s.erase("u"));
  EXPECT_TRUE(s.feedback("u", {}).empty());
  EXPECT_EQ(s.feedback_records(), 1u);
  apply(s, fb("u", "a", event_type::like, 200));  // a new user of the same id
  ASSERT_EQ(s.feedback("u", {}).size(), 1u);
  EXPECT_EQ(s.feedback("u", {})[0].comment, "");
}

TEST(FeedbackLog, AfterFindsTheNextWriteNumberAndRenumbersWhenTheyRunOut) {
  feedback_log h;
  for (key_t k = 1; k <= 5; ++k)
    h.append(k, 0, event_type::view, 1.f, false);
  EXPECT_EQ(h.after(0), 0u);
  EXPECT_EQ(h.after(3), 3u);
  EXPECT_EQ(h.after(5), 5u);
  h.remove(1);  // seq 2
  EXPECT_EQ(h.after(1), 1u);
  EXPECT_EQ(h[1].seq, 3u);
  h.trim(2, [](const feedback_entry&) {});
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].item, 4u);
  h.assign({{7, 0, 0xFFFFFFF0u, 1.f, event_type::like, false}}, 0xFFFFFFFFu);
  h.append(8, 0, event_type::like, 1.f, false);
  ASSERT_EQ(h.size(), 2u);
  EXPECT_EQ(h[0].seq, 1u);
  EXPECT_EQ(h[1].seq, 2u);
  EXPECT_EQ(h.last_seq(), 2u);
  EXPECT_EQ(h.find(8, event_type::like), 1u);
  EXPECT_EQ(h.find(8, event_type::view), feedback_log::npos);
}

/// Lists the whole store with pages of n (at most max_users slots a call),
/// resuming from each page's position.
std::vector<feedback_record> list_all(const profile_store& s, std::size_t n,
                                      std::size_t max_users, const feedback_filter& f = {}) {
  std::vector<feedback_record> out;
  std::uint64_t slot = 0;
  std::uint32_t seq = 0;
  for (int guard = 0; guard < 100000; ++guard) {
    auto page = s.list_feedback(slot, seq, n, f, max_users);
    EXPECT_LE(page.records.size(), n);
    out.insert(out.end(), page.records.begin(), page.records.end());
    if (page.done)
      return out;
    slot = page.next_slot;
    seq = page.next_seq;
  }
  ADD_FAILURE() << "the listing does not end";
  return out;
}

/// A reference of the history rules: per user an ordered list of records.
struct reference {
  std::size_t retention;
  std::map<std::string, std::vector<feedback_record>> users;

  void apply(const event& e) {
    auto& h = users[e.user];
    auto same = std::find_if(h.begin(), h.end(), [&](const feedback_record& r) {
      return r.item == e.item && r.type == e.type;
    });
    if (same != h.end()) {
      if (!e.overwrite)
        return;
      h.erase(same);
    }
    h.push_back({e.type, e.user, e.item, e.timestamp, static_cast<float>(e.value), e.timestamp_text,
                 e.comment});
    if (h.size() > retention)
      h.erase(h.begin(), h.begin() + static_cast<std::ptrdiff_t>(h.size() - retention));
  }
  std::size_t erase(const feedback_delete& d) {
    auto& h = users[d.user];
    const auto before = h.size();
    h.erase(std::remove_if(h.begin(), h.end(),
                           [&](const feedback_record& r) {
                             return r.item == d.item && (d.any_type || r.type == d.type);
                           }),
            h.end());
    return before - h.size();
  }
};

void expect_same_records(const std::vector<feedback_record>& a,
                         const std::vector<feedback_record>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].user, b[k].user) << k;
    EXPECT_EQ(a[k].item, b[k].item) << k;
    EXPECT_EQ(a[k].type, b[k].type) << k;
    EXPECT_EQ(a[k].timestamp, b[k].timestamp) << k;
    EXPECT_EQ(a[k].value, b[k].value) << k;
    EXPECT_EQ(a[k].comment, b[k].comment) << k;
    EXPECT_EQ(a[k].timestamp_text, b[k].timestamp_text) << k;
  }
}

/// A seeded random workload against the reference; seen_max below the
/// items a user meets makes the seen set forget items that still have
/// records (the history is then scanned for first-time items too).
void random_workload(std::size_t seen_max) {
  const std::uint64_t seed = std::random_device{}();
  SCOPED_TRACE("seed " + std::to_string(seed) + ", seen_max " + std::to_string(seen_max));
  std::cout << "feedback random workload: seed " << seed << "\n";
  std::mt19937_64 rng{seed};
  auto cfg = config(6);
  cfg.seen_max = seen_max;
  profile_store s{cfg};
  reference ref{6, {}};
  for (int k = 0; k < 3000; ++k) {
    const auto user = "u" + std::to_string(rng() % 12);
    const auto item = "i" + std::to_string(rng() % 15);
    const auto type = static_cast<event_type>(rng() % 3);
    if (rng() % 10 == 0) {
      feedback_delete d{user, item, rng() % 2 == 0, type};
      ASSERT_EQ(s.delete_feedback(d), ref.erase(d)) << "op " << k;
      continue;
    }
    auto e = fb(user, item, type, static_cast<std::int64_t>(rng() % 100000), rng() % 3 == 0,
                rng() % 4 == 0 ? "c" + std::to_string(k) : "");
    e.value = static_cast<double>(rng() % 11) / 2;  // 0, 0.5, ..., 5: each PUT may change it
    apply(s, e);
    ref.apply(e);
  }
  std::size_t total = 0;
  std::vector<feedback_record> expected;
  for (const auto& [user, records] : ref.users) {
    expect_same_records(s.feedback(user, {}), records);
    total += records.size();
  }
  EXPECT_EQ(s.feedback_records(), total);
  // Every page size and scan bound lists every record exactly once, users in
  // slot order and each user's records in write order.
  const auto all = list_all(s, 1000000, 1000000);
  ASSERT_EQ(all.size(), total);
  for (std::size_t n : {1u, 2u, 5u, 7u, 100u})
    for (std::size_t max_users : {1u, 3u, 50u})
      expect_same_records(list_all(s, n, max_users), all);
  feedback_filter likes;
  likes.any_type = false;
  likes.type = event_type::like;
  std::vector<feedback_record> only_likes;
  std::copy_if(all.begin(), all.end(), std::back_inserter(only_likes),
               [](const feedback_record& r) { return r.type == event_type::like; });
  expect_same_records(list_all(s, 3, 2, likes), only_likes);
}

TEST(FeedbackHistory, RandomWorkloadMatchesTheReferenceAndListingsSeeEveryRecordOnce) {
  random_workload(50);
  random_workload(4);
}

TEST(FeedbackHistory, AListingResumesAfterWritesMeanwhile) {
  profile_store s{config(100)};
  for (int u = 0; u < 4; ++u)
    for (int i = 0; i < 5; ++i)
      apply(s, fb("u" + std::to_string(u), "i" + std::to_string(i), event_type::view, i));
  auto page = s.list_feedback(0, 0, 7, {}, 100);
  ASSERT_FALSE(page.done);
  std::set<std::pair<std::string, std::string>> listed;
  for (const auto& r : page.records)
    listed.insert({r.user, r.item});
  // Meanwhile: a record of a user already listed is deleted, new ones come.
  EXPECT_EQ(s.delete_feedback({page.records[0].user, page.records[0].item, true,
                               event_type::view}),
            1u);
  const auto paused_on = page.records[6].user;
  apply(s, fb(paused_on, "new", event_type::view, 9));
  for (;;) {
    for (const auto& r : page.records)
      listed.insert({r.user, r.item});
    if (page.done)
      break;
    page = s.list_feedback(page.next_slot, page.next_seq, 7, {}, 100);
  }
  // Every record present for the whole listing was listed.
  for (int u = 0; u < 4; ++u)
    for (int i = 0; i < 5; ++i)
      EXPECT_TRUE(listed.count({"u" + std::to_string(u), "i" + std::to_string(i)}))
        << u << "/" << i;
  // A record written after the cursor's place is listed too.
  EXPECT_TRUE(listed.count({paused_on, "new"}));
}

}  // namespace
}  // namespace rtrec::engine
