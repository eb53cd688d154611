// Tests of the single-threaded reference model: ingest validation (the right
// reason, nothing changed), recommendations that never contain a seen item
// on seeded random workloads, cold start, similar(), item metadata, and
// determinism (two models fed the same events answer identically).
#include "engine/reference_model.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "engine/synthetic.hpp"
#include "tests/engine/test_support.hpp"

namespace rtrec::engine {
namespace {

constexpr std::int64_t t0 = 1'700'000'000'000;

using test_support::make_event;

/// A seeded random workload: skewed items, some ratings and dislikes.
std::vector<event> random_workload(std::uint64_t seed, int events, int users, int items) {
  std::mt19937_64 rng{seed};
  std::vector<event> out;
  for (int n = 0; n < events; ++n) {
    const auto u = rng() % static_cast<std::uint64_t>(users);
    const auto i = std::min(rng() % static_cast<std::uint64_t>(items),
                            rng() % static_cast<std::uint64_t>(items));
    const auto type = static_cast<event_type>(rng() % event_type_count);
    const double value = type == event_type::rating ? static_cast<double>(rng() % 11) : 0.0;
    out.push_back(make_event("u" + std::to_string(u), "i" + std::to_string(i),
                             t0 + n * 1000, type, value));
  }
  return out;
}

using test_support::names;

/// Checks a recommendation list: at most n, distinct, scores non-increasing
/// and finite, nothing from `seen`.
void check_list(const std::vector<recommendation>& r, std::size_t n,
                const std::unordered_set<std::string>& seen, const std::string& where) {
  ASSERT_LE(r.size(), n) << where;
  std::set<std::string> distinct;
  for (std::size_t k = 0; k < r.size(); ++k) {
    ASSERT_TRUE(distinct.insert(r[k].item).second) << where << " duplicate " << r[k].item;
    ASSERT_EQ(seen.count(r[k].item), 0u) << where << " recommended seen item " << r[k].item;
    ASSERT_TRUE(std::isfinite(r[k].score)) << where;
    ASSERT_GT(r[k].score, 0.0) << where;
    if (k > 0) {
      ASSERT_LE(r[k].score, r[k - 1].score) << where << " rank " << k;
    }
  }
}

// -- ingest -------------------------------------------------------------------

TEST(ReferenceModel, IngestRejectsInvalidEventsAndChangesNothing) {
  model_config cfg;
  cfg.limits.max_id_length = 16;
  cfg.limits.max_rating = 5.0;
  reference_model m(cfg);
  ASSERT_EQ(m.ingest(make_event("u1", "a", t0)), reject_reason::none);
  ASSERT_EQ(m.ingest(make_event("u1", "b", t0 + 1)), reject_reason::none);
  ASSERT_EQ(m.ingest(make_event("u2", "a", t0 + 2)), reject_reason::none);

  auto snapshot = [&m] {
    struct state {
      std::size_t users;
      std::uint64_t applied, item_events, pair_updates;
      std::size_t items;
      std::int64_t latest;
      std::vector<std::string> popular, recent_u1, recs_u2;
    };
    return state{m.profiles().users(),
                 m.profiles().events_applied(),
                 m.items().stats().events,
                 m.items().stats().pair_updates,
                 m.items().stats().items,
                 m.items().latest_timestamp(),
                 names(m.popular(10)),
                 [&m] {
                   std::vector<std::string> v;
                   for (const auto& r : m.user_recent("u1"))
                     v.push_back(r.item);
                   return v;
                 }(),
                 names(m.recommend("u2"))};
  };
  const auto before = snapshot();

  struct bad_case {
    event e;
    reject_reason want;
  };
  std::vector<bad_case> cases;
  auto with = [](auto change) {
    auto e = make_event("u1", "new-item", t0 + 10);
    change(e);
    return e;
  };
  cases.push_back({with([](event& e) { e.user.clear(); }), reject_reason::empty_user});
  cases.push_back({with([](event& e) { e.item.clear(); }), reject_reason::empty_item});
  cases.push_back({with([](event& e) { e.user = std::string(17, 'u'); }), reject_reason::id_too_long});
  cases.push_back({with([](event& e) { e.item = std::string(17, 'i'); }), reject_reason::id_too_long});
  cases.push_back({with([](event& e) { e.id = std::string(17, 'e'); }), reject_reason::id_too_long});
  cases.push_back({with([](event& e) { e.item = "a\nb"; }), reject_reason::bad_id_char});
  cases.push_back({with([](event& e) { e.user = "u/1"; }), reject_reason::bad_id_char});
  cases.push_back({with([](event& e) { e.item = "x\x7f"; }), reject_reason::bad_id_char});
  cases.push_back({with([](event& e) { e.value = std::numeric_limits<double>::quiet_NaN(); }),
                   reject_reason::bad_value});
  cases.push_back({with([](event& e) { e.value = std::numeric_limits<double>::infinity(); }),
                   reject_reason::bad_value});
  cases.push_back({with([](event& e) {
                     e.type = event_type::rating;
                     e.value = 5.5;  // above cfg.limits.max_rating
                   }),
                   reject_reason::bad_value});
  cases.push_back({with([](event& e) {
                     e.type = event_type::rating;
                     e.value = -1.0;
                   }),
                   reject_reason::bad_value});
  cases.push_back({with([](event& e) { e.timestamp = -5; }), reject_reason::bad_timestamp});
  cases.push_back({with([](event& e) { e.timestamp = 253402300800000LL; }),
                   reject_reason::bad_timestamp});
  cases.push_back({with([](event& e) { e.type = static_cast<event_type>(99); }),
                   reject_reason::bad_type});
  for (std::size_t k = 0; k < cases.size(); ++k) {
    EXPECT_EQ(m.ingest(cases[k].e), cases[k].want)
        << "case " << k << ": want " << to_string(cases[k].want);
    const auto after = snapshot();
    EXPECT_EQ(after.users, before.users) << "case " << k;
    EXPECT_EQ(after.applied, before.applied) << "case " << k;
    EXPECT_EQ(after.item_events, before.item_events) << "case " << k;
    EXPECT_EQ(after.pair_updates, before.pair_updates) << "case " << k;
    EXPECT_EQ(after.items, before.items) << "case " << k;
    EXPECT_EQ(after.latest, before.latest) << "case " << k;
    EXPECT_EQ(after.popular, before.popular) << "case " << k;
    EXPECT_EQ(after.recent_u1, before.recent_u1) << "case " << k;
    EXPECT_EQ(after.recs_u2, before.recs_u2) << "case " << k;
  }
  EXPECT_EQ(m.items().find(hash_id("new-item")), nullptr);
  // The limits come from the configuration: 5.0 is fine, 16 bytes are fine.
  EXPECT_EQ(m.ingest(make_event(std::string(16, 'u'), "r", t0 + 20, event_type::rating, 5.0)),
            reject_reason::none);
  EXPECT_EQ(m.profiles().events_applied(), before.applied + 1);
}

// -- recommend ---------------------------------------------------------------

TEST(ReferenceModel, RecommendNeverReturnsASeenItem) {
  for (std::uint64_t seed : {1ULL, 2ULL, 3ULL}) {
    std::mt19937_64 rng{seed * 7919};
    model_config cfg;
    cfg.neighbors_max = 20;
    reference_model m(cfg);
    std::unordered_map<std::string, std::unordered_set<std::string>> seen;
    const auto events = random_workload(seed, 15'000, 150, 400);
    std::size_t checked = 0, nonempty = 0;
    for (std::size_t n = 0; n < events.size(); ++n) {
      const auto& e = events[n];
      ASSERT_EQ(m.ingest(e), reject_reason::none) << "seed=" << seed << " n=" << n;
      seen[e.user].insert(e.item);
      if (n % 37 == 0) {
        const std::string user = "u" + std::to_string(rng() % 150);
        recommend_options o;
        o.n = 1 + rng() % 20;
        o.offset = rng() % 3;
        auto r = m.recommend(user, o);
        check_list(r, o.n, seen[user], "seed=" + std::to_string(seed) + " n=" + std::to_string(n));
        if (HasFatalFailure())
          return;
        ++checked;
        nonempty += r.empty() ? 0 : 1;
      }
    }
    // At the end, every user.
    for (const auto& [user, items] : seen) {
      recommend_options o;
      o.n = 30;
      check_list(m.recommend(user, o), o.n, items, "seed=" + std::to_string(seed) + " " + user);
      if (HasFatalFailure())
        return;
    }
    EXPECT_GT(checked, 300u);
    EXPECT_GT(nonempty, checked * 9 / 10) << "seed=" << seed;
  }
}

TEST(ReferenceModel, RecommendNeverReturnsASeenItemOnSyntheticWorkload) {
  synthetic_config sc;
  sc.seed = 77;
  sc.users = 300;
  sc.items = 2'000;
  sc.events = 20'000;
  synthetic_generator gen(sc);
  ASSERT_TRUE(gen.error().empty());
  reference_model m;
  std::unordered_map<std::string, std::unordered_set<std::string>> seen;
  event e;
  std::size_t n = 0;
  while (gen.next(e)) {
    ASSERT_EQ(m.ingest(e), reject_reason::none) << "seed=" << sc.seed << " n=" << n;
    seen[e.user].insert(e.item);
    if (++n % 101 == 0) {
      check_list(m.recommend(e.user), 10, seen[e.user], "seed=77 n=" + std::to_string(n));
      if (HasFatalFailure())
        return;
    }
  }
  for (const auto& [user, items] : seen) {
    recommend_options o;
    o.n = 20;
    auto r = m.recommend(user, o);
    check_list(r, o.n, items, "seed=77 " + user);
    if (HasFatalFailure())
      return;
    EXPECT_EQ(r.size(), o.n) << "seed=77 " << user;  // 2000 items: always enough to fill
  }
}

TEST(ReferenceModel, CollaborativeCandidatesRankAboveThePopularityFill) {
  reference_model m;
  std::int64_t t = t0;
  // "pop" is by far the most popular; "b" co-occurs with "a".
  for (int u = 0; u < 30; ++u)
    ASSERT_EQ(m.ingest(make_event("fan" + std::to_string(u), "pop", ++t)), reject_reason::none);
  for (int u = 0; u < 3; ++u) {
    ASSERT_EQ(m.ingest(make_event("co" + std::to_string(u), "a", ++t)), reject_reason::none);
    ASSERT_EQ(m.ingest(make_event("co" + std::to_string(u), "b", ++t)), reject_reason::none);
  }
  ASSERT_EQ(m.ingest(make_event("me", "a", ++t)), reject_reason::none);
  recommend_options o;
  o.n = 2;
  auto r = m.recommend("me", o);
  EXPECT_EQ(names(r), (std::vector<std::string>{"b", "pop"}));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_GT(r[0].score, r[1].score);
  // recommend_keys is the same list before names.
  auto k = m.recommend_keys("me", o);
  ASSERT_EQ(k.size(), 2u);
  EXPECT_EQ(k[0].key, hash_id("b"));
  EXPECT_EQ(k[1].key, hash_id("pop"));
  EXPECT_DOUBLE_EQ(k[0].score, r[0].score);
  EXPECT_DOUBLE_EQ(k[1].score, r[1].score);
}

TEST(ReferenceModel, ColdStartUserGetsPopularItems) {
  reference_model m;
  for (const auto& e : random_workload(11, 3'000, 50, 100))
    ASSERT_EQ(m.ingest(e), reject_reason::none) << "seed=11";
  recommend_options o;
  o.n = 10;
  auto cold = m.recommend("never-seen-user", o);
  auto pop = m.popular(10);
  ASSERT_EQ(cold.size(), 10u);
  EXPECT_EQ(names(cold), names(pop));
  for (std::size_t k = 0; k < cold.size(); ++k)
    EXPECT_DOUBLE_EQ(cold[k].score, pop[k].score) << k;
  // A brand-new model has nothing to recommend.
  reference_model empty;
  EXPECT_TRUE(empty.recommend("anyone").empty());
  EXPECT_TRUE(empty.popular(10).empty());
  EXPECT_TRUE(empty.similar("x", 10).empty());
}

TEST(ReferenceModel, DislikedItemsAreNeverRecommended) {
  reference_model m;
  std::int64_t t = t0;
  for (int u = 0; u < 20; ++u)
    ASSERT_EQ(m.ingest(make_event("fan" + std::to_string(u), "hit", ++t)), reject_reason::none);
  ASSERT_EQ(m.ingest(make_event("fan0", "other", ++t)), reject_reason::none);
  ASSERT_EQ(m.ingest(make_event("hater", "hit", ++t, event_type::dislike)), reject_reason::none);
  auto r = m.recommend("hater");
  EXPECT_EQ(names(r), (std::vector<std::string>{"other"}));
}

TEST(ReferenceModel, RemovedAndFilteredItems) {
  reference_model m;
  for (const auto& e : random_workload(12, 3'000, 50, 60))
    ASSERT_EQ(m.ingest(e), reject_reason::none) << "seed=12";
  const auto top = m.popular(1);
  ASSERT_EQ(top.size(), 1u);
  ASSERT_TRUE(m.remove_item(top[0].item));
  EXPECT_FALSE(m.remove_item("no-such-item"));
  for (int u = 0; u < 50; ++u) {
    recommend_options o;
    o.n = 60;
    for (const auto& r : m.recommend("u" + std::to_string(u), o))
      ASSERT_NE(r.item, top[0].item) << "seed=12 u" << u;
  }
  for (const auto& r : m.popular(100))
    EXPECT_NE(r.item, top[0].item);
  for (int i = 0; i < 60; ++i)
    for (const auto& r : m.similar("i" + std::to_string(i), 100))
      ASSERT_NE(r.item, top[0].item) << "seed=12 similar i" << i;

  // Category filter: only the tagged items come back.
  const std::set<std::string> tagged{"i3", "i5", "i7"};
  for (const auto& id : tagged)
    ASSERT_TRUE(m.set_item({id, {"odd"}, false, 0}));
  for (int u = 0; u < 50; ++u) {
    recommend_options o;
    o.n = 10;
    o.filter.category = "odd";
    for (const auto& r : m.recommend("u" + std::to_string(u), o))
      ASSERT_TRUE(tagged.count(r.item)) << "seed=12 u" << u << " got " << r.item;
  }
  for (const auto& r : m.popular(10, {"odd"}))
    EXPECT_TRUE(tagged.count(r.item)) << r.item;
}

TEST(ReferenceModel, SimilarItems) {
  reference_model m;
  std::int64_t t = t0;
  for (int u = 0; u < 4; ++u) {
    const std::string user = "u" + std::to_string(u);
    ASSERT_EQ(m.ingest(make_event(user, "a", ++t)), reject_reason::none);
    ASSERT_EQ(m.ingest(make_event(user, "b", ++t)), reject_reason::none);
    if (u == 0) {
      ASSERT_EQ(m.ingest(make_event(user, "c", ++t)), reject_reason::none);
    }
  }
  for (int u = 4; u < 8; ++u)
    ASSERT_EQ(m.ingest(make_event("u" + std::to_string(u), "c", ++t)), reject_reason::none);
  auto s = m.similar("a", 10);
  EXPECT_EQ(names(s), (std::vector<std::string>{"b", "c"}));
  ASSERT_EQ(s.size(), 2u);
  EXPECT_GT(s[0].score, s[1].score);
  EXPECT_EQ(names(m.similar("a", 1)), (std::vector<std::string>{"b"}));
  EXPECT_TRUE(m.similar("zzz", 10).empty());
  auto sb = m.similar("b", 10);
  ASSERT_FALSE(sb.empty());
  EXPECT_EQ(sb[0].item, "a");
}

TEST(ReferenceModel, UserRecentIsNewestFirst) {
  reference_model m;
  ASSERT_EQ(m.ingest(make_event("u", "a", t0)), reject_reason::none);
  ASSERT_EQ(m.ingest(make_event("u", "b", t0 + 1, event_type::purchase)), reject_reason::none);
  auto r = m.user_recent("u");
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(r[0].item, "b");
  EXPECT_EQ(r[0].type, event_type::purchase);
  EXPECT_EQ(r[1].item, "a");
  EXPECT_TRUE(m.user_recent("nobody").empty());
}

TEST(ReferenceModel, TwoModelsFedTheSameEventsAnswerIdentically) {
  const std::uint64_t seed = 2718;
  model_config cfg;
  cfg.neighbors_max = 10;  // pruning on
  cfg.popular_cache = 16;
  reference_model a(cfg), b(cfg);
  const auto events = random_workload(seed, 12'000, 120, 300);
  for (const auto& e : events) {
    ASSERT_EQ(a.ingest(e), reject_reason::none) << "seed=" << seed;
    ASSERT_EQ(b.ingest(e), reject_reason::none) << "seed=" << seed;
  }
  auto same = [&](const std::vector<recommendation>& x, const std::vector<recommendation>& y,
                  const std::string& what) {
    ASSERT_EQ(names(x), names(y)) << what << " seed=" << seed;
    for (std::size_t k = 0; k < x.size(); ++k)
      ASSERT_EQ(x[k].score, y[k].score) << what << " rank " << k << " seed=" << seed;
  };
  std::size_t nonempty = 0;
  for (int u = 0; u < 120; ++u) {
    const std::string user = "u" + std::to_string(u);
    recommend_options o;
    o.n = 15;
    o.offset = static_cast<std::size_t>(u % 3);
    auto ra = a.recommend(user, o);
    same(ra, b.recommend(user, o), "recommend " + user);
    nonempty += ra.empty() ? 0 : 1;
    auto ka = a.recommend_keys(user, o);
    auto kb = b.recommend_keys(user, o);
    ASSERT_EQ(ka.size(), kb.size());
    for (std::size_t k = 0; k < ka.size(); ++k) {
      ASSERT_EQ(ka[k].key, kb[k].key) << "seed=" << seed;
      ASSERT_EQ(ka[k].score, kb[k].score) << "seed=" << seed;
    }
  }
  EXPECT_EQ(nonempty, 120u);
  for (int i = 0; i < 300; i += 7) {
    const std::string item = "i" + std::to_string(i);
    same(a.similar(item, 20), b.similar(item, 20), "similar " + item);
  }
  same(a.popular(50), b.popular(50), "popular");
  EXPECT_EQ(a.items().stats().row_entries, b.items().stats().row_entries);
  EXPECT_EQ(a.items().stats().prunes, b.items().stats().prunes);
}

}  // namespace
}  // namespace rtrec::engine

namespace rtrec::engine {
namespace {

TEST(ReferenceModel, LatestListsItemsNewestFirstSkippingHidden) {
  reference_model m;
  ASSERT_EQ(m.ingest(test_support::make_event("u1", "old", 1000)), reject_reason::none);
  ASSERT_EQ(m.ingest(test_support::make_event("u1", "mid", 2000)), reject_reason::none);
  // A later event does not make an item newer: creation is the first event.
  ASSERT_EQ(m.ingest(test_support::make_event("u2", "old", 9000)), reject_reason::none);
  ASSERT_TRUE(m.set_item({"fresh", {"news"}, false, 5000}));
  auto latest = m.latest(10);
  ASSERT_EQ(latest.size(), 3u);
  EXPECT_EQ(latest[0].item, "fresh");
  EXPECT_DOUBLE_EQ(latest[0].score, 5.0);
  EXPECT_EQ(latest[1].item, "mid");
  EXPECT_EQ(latest[2].item, "old");
  EXPECT_EQ(m.latest(1).size(), 1u);
  ASSERT_EQ(m.latest(10, {"news"}).size(), 1u);
  // Metadata with a timestamp moves the item; hidden items are left out.
  ASSERT_TRUE(m.set_item({"old", {}, false, 7000}));
  EXPECT_EQ(m.latest(1)[0].item, "old");
  ASSERT_TRUE(m.remove_item("old"));
  EXPECT_EQ(m.latest(1)[0].item, "fresh");
  // Equal times list in key order, deterministically.
  reference_model tie;
  for (const char* id : {"x", "y", "z"})
    ASSERT_TRUE(tie.set_item({id, {}, false, 100}));
  auto a = tie.latest(3);
  auto b = tie.latest(3);
  ASSERT_EQ(a.size(), 3u);
  for (std::size_t k = 0; k < 3; ++k)
    EXPECT_EQ(a[k].item, b[k].item);
}

TEST(ReferenceModel, SessionRecommendEqualsAStoredUserWithTheSameEvents) {
  std::int64_t t = 1000;
  auto fill = [](reference_model& m) {
    std::int64_t ts = 1000;
    for (int u = 0; u < 30; ++u)
      for (int i = 0; i < 6; ++i)
        ASSERT_EQ(m.ingest(test_support::make_event("u" + std::to_string(u),
                                                    "i" + std::to_string((u + i) % 12), ++ts)),
                  reject_reason::none);
  };
  reference_model m, copy;
  fill(m);
  fill(copy);
  t += 30 * 6;
  std::vector<event> session{test_support::make_event("", "i3", ++t),
                             test_support::make_event("", "i4", ++t, event_type::like),
                             test_support::make_event("", "i9", ++t, event_type::dislike)};
  auto got = m.session(session, {.n = 5, .offset = 0, .filter = {}, .exclude_seen = true});
  // The same events under a real user id give the same list.
  for (auto& e : session)
    e.user = "stored";
  for (const auto& e : session)
    ASSERT_EQ(copy.ingest(e), reject_reason::none);
  auto want = copy.profiles().view("stored");
  auto q = make_query(want, {.n = 5, .offset = 0, .filter = {}, .exclude_seen = true}, true);
  auto expected = merge_shard_scores({score_on_shard(m.items(), q)},
                                     {.n = 5, .offset = 0, .filter = {}, .exclude_seen = true});
  ASSERT_EQ(got.size(), 5u);
  ASSERT_EQ(got.size(), expected.size());
  for (std::size_t k = 0; k < got.size(); ++k) {
    EXPECT_EQ(got[k].item, expected[k].item);
    EXPECT_DOUBLE_EQ(got[k].score, expected[k].score);
    EXPECT_NE(got[k].item, "i3");
    EXPECT_NE(got[k].item, "i9");  // disliked
  }
  // Nothing was stored.
  EXPECT_FALSE(m.profiles().view("session").known);
}

}  // namespace
}  // namespace rtrec::engine
