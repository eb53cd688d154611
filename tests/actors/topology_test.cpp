// Actor topology tests on the deterministic scheduler: read-your-writes,
// routing, rejections, similar/popular, item metadata.
#include "tests/harness/topology_fixture.hpp"

#include <algorithm>
#include <cmath>
#include <map>
#include <memory>

#include "engine/reference_model.hpp"

using namespace rtrec;
using rtrec::testing::ev;

namespace {

class topology_test : public rtrec::testing::topology_fixture {};

bool contains(const std::vector<engine::recommendation>& recs, const std::string& item) {
  return std::any_of(recs.begin(), recs.end(), [&](const auto& r) { return r.item == item; });
}

TEST_F(topology_test, ingest_is_acknowledged_and_applied) {
  start();
  auto ack = ingest({ev("alice", "a"), ev("bob", "a"), ev("bob", "b"), ev("carol", "c")});
  ASSERT_TRUE(ack) << sys().render(ack.error());
  EXPECT_EQ(ack->accepted, 4u);
  EXPECT_TRUE(ack->rejected.empty());
  auto applied = flush();
  ASSERT_TRUE(applied);
  EXPECT_EQ(*applied, 4u);
}

TEST_F(topology_test, recommendation_reflects_a_just_acknowledged_event) {
  start();
  ASSERT_TRUE(ingest({ev("bob", "a"), ev("bob", "b"), ev("dan", "a"), ev("dan", "b")}));
  ASSERT_TRUE(flush());
  // alice is new: she gets popular items, none of which she has seen.
  auto before = recommend("alice", 5);
  ASSERT_TRUE(before);
  ASSERT_TRUE(ingest({ev("alice", "a")}));
  auto after = recommend("alice", 5);
  ASSERT_TRUE(after) << sys().render(after.error());
  EXPECT_FALSE(contains(*after, "a")) << "a seen item was recommended";
  ASSERT_FALSE(after->empty());
  EXPECT_EQ(after->front().item, "b");
}

TEST_F(topology_test, invalid_events_are_rejected_with_their_index_and_counted) {
  start();
  std::vector<engine::event> events{ev("u1", "i1"), ev("", "i2"), ev("u3", "bad/id"),
                                    ev("u4", "i4", engine::event_type::rating, 99.0),
                                    ev("u5", "i5")};
  auto ack = ingest(events, 0);
  ASSERT_TRUE(ack);
  EXPECT_EQ(ack->accepted, 2u);
  ASSERT_EQ(ack->rejected.size(), 3u);
  EXPECT_EQ(ack->rejected[0].index, 1u);
  EXPECT_EQ(ack->rejected[0].reason, engine::reject_reason::empty_user);
  EXPECT_EQ(ack->rejected[1].index, 2u);
  EXPECT_EQ(ack->rejected[1].reason, engine::reject_reason::bad_id_char);
  EXPECT_EQ(ack->rejected[2].index, 3u);
  EXPECT_EQ(ack->rejected[2].reason, engine::reject_reason::bad_value);
  auto st = ingestor_stats(0);
  ASSERT_TRUE(st);
  EXPECT_EQ(st->rejected_by_reason[static_cast<std::size_t>(engine::reject_reason::empty_user)], 1u);
  EXPECT_EQ(st->accepted, 2u);
}

TEST_F(topology_test, similar_and_popular_answer) {
  start();
  ASSERT_TRUE(ingest({ev("u1", "x"), ev("u1", "y"), ev("u2", "x"), ev("u2", "y"), ev("u3", "x"),
                      ev("u3", "z")}));
  ASSERT_TRUE(flush());
  auto sim = similar("x", 5);
  ASSERT_TRUE(sim);
  ASSERT_EQ(sim->size(), 2u);
  EXPECT_EQ(sim->front().item, "y");
  auto pop = popular(2);
  ASSERT_TRUE(pop);
  ASSERT_EQ(pop->size(), 2u);
  EXPECT_EQ(pop->front().item, "x");
  EXPECT_GT(pop->front().score, (*pop)[1].score);
}

// The embedding API's queries come without a requester (query_atom,
// ticket, request) and are answered through topology_context::sink: the
// same answers as the request path, errors included, exactly once per ticket.
struct recording_sink : reply_sink {
  std::map<std::uint64_t, std::vector<caf::expected<recommendations>>> got;
  std::map<std::uint64_t, std::vector<caf::expected<ingest_result>>> acks;
  void answer(std::uint64_t ticket, caf::expected<recommendations> result) override {
    got[ticket].push_back(std::move(result));
  }
  void answer(std::uint64_t ticket, caf::expected<ingest_result> result) override {
    acks[ticket].push_back(std::move(result));
  }
};

TEST_F(topology_test, queries_without_a_requester_are_answered_through_the_sink) {
  auto sink = std::make_shared<recording_sink>();
  topology_context ctx;
  ctx.sink = sink;
  start(default_config(), ctx);
  ASSERT_TRUE(ingest({ev("u1", "x"), ev("u1", "y"), ev("u2", "x"), ev("u2", "y"), ev("u3", "x"),
                      ev("u3", "z"), ev("u4", "x")}));
  ASSERT_TRUE(flush());
  auto want = recommend("u4", 5);
  ASSERT_TRUE(want) << sys().render(want.error());
  ASSERT_FALSE(want->empty());
  auto want_popular = popular(2);
  ASSERT_TRUE(want_popular);
  const auto& dest = topo().recommenders[0];
  caf::anon_send(dest, query_atom::value, std::uint64_t{7},
                 recommend_request{"u4", 5, 0, "", true});
  caf::anon_send(dest, query_atom::value, std::uint64_t{8},
                 recommend_request{"u4", 20000, 0, "", true});
  caf::anon_send(dest, query_atom::value, std::uint64_t{9}, popular_atom::value, std::uint32_t{2},
                 std::string{});
  run();
  auto same = [](const std::vector<engine::recommendation>& a,
                 const std::vector<engine::recommendation>& b) {
    return a.size() == b.size()
           && std::equal(a.begin(), a.end(), b.begin(), [](const auto& x, const auto& y) {
                return x.item == y.item && x.score == y.score;
              });
  };
  ASSERT_EQ(sink->got.size(), 3u);
  for (const auto& [ticket, answers] : sink->got)
    ASSERT_EQ(answers.size(), 1u) << "ticket " << ticket;
  ASSERT_TRUE(sink->got[7][0]) << sys().render(sink->got[7][0].error());
  EXPECT_TRUE(same(sink->got[7][0]->items, *want));
  ASSERT_FALSE(sink->got[8][0]) << "n above the limit was answered";
  EXPECT_EQ(sink->got[8][0].error(), caf::make_error(error_code::invalid_request));
  ASSERT_TRUE(sink->got[9][0]);
  EXPECT_TRUE(same(sink->got[9][0]->items, *want_popular));
  // A failed step reaches the sink as well.
  kill_item_shard(1);
  caf::anon_send(dest, query_atom::value, std::uint64_t{10},
                 recommend_request{"u4", 5, 0, "", true});
  run();
  ASSERT_EQ(sink->got[10].size(), 1u);
  ASSERT_FALSE(sink->got[10][0]);
  EXPECT_EQ(sink->got[10][0].error(), caf::make_error(error_code::shard_unavailable));
}

// The same for ingests (submit_atom, ticket, request): one answer per ticket,
// with the request path's accepted, rejected and failed events.
TEST_F(topology_test, ingests_without_a_requester_are_answered_through_the_sink) {
  auto sink = std::make_shared<recording_sink>();
  topology_context ctx;
  ctx.sink = sink;
  start(default_config(), ctx);
  const auto& dest = topo().ingestors[0];
  caf::anon_send(dest, submit_atom::value, std::uint64_t{3},
                 ingest_request{{ev("u1", "x"), ev("", "y"), ev("u2", "x")}});
  run();
  ASSERT_EQ(sink->acks.size(), 1u);
  ASSERT_EQ(sink->acks[3].size(), 1u);
  ASSERT_TRUE(sink->acks[3][0]) << sys().render(sink->acks[3][0].error());
  EXPECT_EQ(sink->acks[3][0]->accepted, 2u);
  ASSERT_EQ(sink->acks[3][0]->rejected.size(), 1u);
  EXPECT_EQ(sink->acks[3][0]->rejected[0].index, 1u);
  EXPECT_EQ(sink->acks[3][0]->rejected[0].reason, engine::reject_reason::empty_user);
  EXPECT_TRUE(sink->acks[3][0]->failed.empty());
  auto p = profile("u1");
  ASSERT_TRUE(p);
  EXPECT_TRUE(p->known) << "the ticketed ingest was not applied";
  // A dead shard's events come back as failed (not delivered), not rejected.
  for (std::size_t s = 0; s < topo().profiles.size(); ++s)
    kill_profile_shard(s);
  caf::anon_send(dest, submit_atom::value, std::uint64_t{4}, ingest_request{{ev("u3", "x")}});
  run();
  fire_timeouts();
  ASSERT_EQ(sink->acks[4].size(), 1u);
  ASSERT_TRUE(sink->acks[4][0]);
  EXPECT_EQ(sink->acks[4][0]->accepted, 0u);
  ASSERT_EQ(sink->acks[4][0]->failed.size(), 1u);
  EXPECT_EQ(sink->acks[4][0]->failed[0].why, delivery_failure::shard_unavailable);
}

TEST_F(topology_test, hidden_items_are_never_recommended_and_categories_filter) {
  start();
  ASSERT_TRUE(ingest({ev("u1", "x"), ev("u1", "y"), ev("u2", "x"), ev("u2", "z"), ev("u3", "x")}));
  ASSERT_TRUE(flush());
  ASSERT_TRUE(set_item({"y", {"books"}, true, 0}));
  ASSERT_TRUE(set_item({"z", {"films"}, false, 0}));
  auto recs = recommend("u3", 10);
  ASSERT_TRUE(recs);
  EXPECT_FALSE(contains(*recs, "y"));
  EXPECT_TRUE(contains(*recs, "z"));
  auto films = recommend("u3", 10, "films");
  ASSERT_TRUE(films);
  ASSERT_EQ(films->size(), 1u);
  EXPECT_EQ(films->front().item, "z");
}

TEST_F(topology_test, offset_pages_through_results) {
  start();
  std::vector<engine::event> events;
  for (int u = 0; u < 20; ++u)
    for (int i = 0; i <= u % 7; ++i)
      events.push_back(ev("u" + std::to_string(u), "i" + std::to_string(i)));
  ASSERT_TRUE(ingest(events));
  ASSERT_TRUE(flush());
  auto all = recommend("new-user", 6);
  auto page2 = recommend("new-user", 3, {}, 3);
  ASSERT_TRUE(all);
  ASSERT_TRUE(page2);
  ASSERT_EQ(all->size(), 6u);
  ASSERT_EQ(page2->size(), 3u);
  for (std::size_t k = 0; k < 3; ++k)
    EXPECT_EQ((*page2)[k].item, (*all)[k + 3].item);
}

TEST_F(topology_test, too_large_n_is_an_invalid_request) {
  start();
  auto r = recommend("u", max_results + 1);
  ASSERT_FALSE(r);
  EXPECT_EQ(r.error(), caf::make_error(error_code::invalid_request));
}

}  // namespace

namespace {

// Latest items, session recommendations and item metadata answered by the
// actors equal the reference model's, over several item shards.
TEST_F(topology_test, latest_session_and_item_metadata_match_the_reference) {
  auto cfg = default_config();
  cfg.item_shards = 3;
  start(cfg);
  engine::reference_model ref{cfg.model};
  std::vector<engine::event> events;
  std::int64_t t = 1'700'000'000'000;
  for (int u = 0; u < 40; ++u)
    for (int i = 0; i < 5; ++i)
      events.push_back(ev("u" + std::to_string(u), "i" + std::to_string((u * 7 + i * 3) % 23),
                          engine::event_type::view, 0.0, t += 1000));
  for (const auto& e : events)
    ASSERT_EQ(ref.ingest(e), engine::reject_reason::none);
  ASSERT_TRUE(ingest(events));
  ASSERT_TRUE(flush());
  const engine::item_meta meta{"i5", {"sf"}, false, t + 5000};
  ASSERT_TRUE(set_item(meta));
  ASSERT_TRUE(ref.set_item(meta));
  auto got = latest(8);
  ASSERT_TRUE(got) << sys().render(got.error());
  auto want = ref.latest(8);
  ASSERT_EQ(got->size(), want.size());
  EXPECT_EQ(got->front().item, "i5");
  for (std::size_t k = 0; k < want.size(); ++k) {
    EXPECT_EQ((*got)[k].item, want[k].item) << k;
    EXPECT_DOUBLE_EQ((*got)[k].score, want[k].score) << k;
  }
  std::vector<engine::event> s{ev("", "i1", engine::event_type::like, 0.0, t + 1),
                               ev("", "i2", engine::event_type::view, 0.0, t + 2)};
  auto sess = session(s, 6);
  ASSERT_TRUE(sess) << sys().render(sess.error());
  auto sess_want = ref.session(s, {.n = 6, .offset = 0, .filter = {}, .exclude_seen = true});
  ASSERT_EQ(sess->size(), sess_want.size());
  ASSERT_FALSE(sess->empty());
  for (std::size_t k = 0; k < sess_want.size(); ++k) {
    EXPECT_EQ((*sess)[k].item, sess_want[k].item) << k;
    EXPECT_NEAR((*sess)[k].score, sess_want[k].score, 1e-9 * std::abs(sess_want[k].score)) << k;
  }
  // Every item shard holds the same metadata.
  for (std::size_t shard = 0; shard < 3; ++shard) {
    auto m = item("i5", shard);
    ASSERT_TRUE(m);
    EXPECT_EQ(m->categories, meta.categories);
    EXPECT_EQ(m->timestamp, meta.timestamp);
  }
  auto unknown = item("nope");
  ASSERT_FALSE(unknown);
  EXPECT_EQ(unknown.error().code(), static_cast<std::uint8_t>(error_code::not_found));
}

}  // namespace
