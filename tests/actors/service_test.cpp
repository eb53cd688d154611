// rtrec::service as an embedder uses it: its injected clock, item writes
// through the item writer, and calls after stop().
#include "rtrec/rtrec.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <memory>

namespace rtrec {
namespace {

service_options small() {
  service_options o;
  o.topology.profile_shards = 2;
  o.topology.item_shards = 2;
  o.worker_threads = 2;
  return o;
}

engine::event with_id(std::string user, std::string item, std::string id) {
  return {std::move(user), std::move(item), engine::event_type::view, 0, 1'700'000'000'000,
          std::move(id)};
}

// The dedup window ages by the service's clock: a retried event id is a
// duplicate within dedup_age and a new event after it, as the clock says.
// (The same user's events go to one profile shard, whose window this is.)
TEST(service, the_dedup_window_ages_by_the_injected_clock) {
  auto now = std::make_shared<std::atomic<std::int64_t>>(1'700'000'000'000);
  auto o = small();
  o.topology.dedup_age = std::chrono::hours(1);
  service svc{o, [now] { return now->load(); }};
  EXPECT_EQ(svc.now_ms(), 1'700'000'000'000);
  auto first = svc.ingest({with_id("u", "a", "e-1")});
  ASSERT_TRUE(first) << first.error().to_string();
  EXPECT_EQ(first->duplicates, 0u);
  now->fetch_add(30 * 60 * 1000);  // 30 minutes: still in the window
  auto again = svc.ingest({with_id("u", "a", "e-1")});
  ASSERT_TRUE(again);
  EXPECT_EQ(again->accepted, 1u);
  EXPECT_EQ(again->duplicates, 1u) << "a retry within the window was applied twice";
  now->fetch_add(2 * 60 * 60 * 1000);  // 2.5 hours after the first: out of the window
  // (the window forgets old ids as it remembers new ones)
  ASSERT_TRUE(svc.ingest({with_id("u", "b", "e-2")}));
  auto later = svc.ingest({with_id("u", "a", "e-1")});
  ASSERT_TRUE(later);
  EXPECT_EQ(later->duplicates, 0u) << "the window did not age by the injected clock";
}

// Item writes go through the item writer: a patch changes only its fields,
// on every item shard; an unknown item is not_found and nothing is written.
TEST(service, an_item_patch_changes_only_its_fields_on_every_item_shard) {
  service svc{small()};
  ASSERT_TRUE(svc.set_item({"dune", {"books", "scifi"}, false, 1'700'000'000'000}));
  engine::item_patch hide;
  hide.set_hidden = true;
  hide.hidden = true;
  auto r = svc.update_item("dune", hide);
  ASSERT_TRUE(r) << r.error().to_string();
  EXPECT_TRUE(r->hidden);
  EXPECT_EQ(r->categories, (std::vector<std::string>{"books", "scifi"}));
  auto read = svc.item("dune");
  ASSERT_TRUE(read);
  EXPECT_TRUE(read->hidden);
  EXPECT_EQ(read->categories, (std::vector<std::string>{"books", "scifi"}));
  auto unknown = svc.update_item("no-such-item", hide);
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code, error_code::not_found);
  EXPECT_FALSE(svc.item("no-such-item"));
}

// After stop() every call answers shutting_down at once; none hangs.
TEST(service, calls_after_stop_answer_shutting_down) {
  service svc{small()};
  svc.stop();
  auto r = svc.ingest({with_id("u", "a", "")});
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error().code, error_code::shutting_down);
  auto q = svc.recommend("u");
  ASSERT_FALSE(q);
  EXPECT_EQ(q.error().code, error_code::shutting_down);
  auto s = svc.stats();
  ASSERT_FALSE(s);
  EXPECT_EQ(s.error().code, error_code::shutting_down);
}

}  // namespace
}  // namespace rtrec
