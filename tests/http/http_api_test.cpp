// End-to-end tests of every endpoint: the real server on a free loopback
// port, the real client, the Gorse-shaped bodies, and the guarantee that
// feedback and item changes show in the very next answer.
#include "tests/http/http_fixture.hpp"

#include "apps/http/json_io.hpp"

#include <algorithm>
#include <atomic>
#include <memory>
#include <sstream>

namespace {

using rtrec::testing::http_fixture;
using nlohmann::json;

class HttpApiTest : public http_fixture {
 protected:
  void SetUp() override { start(); }

  // bob and carol like book-1 and book-2; dave likes book-1 and book-3.
  void seed() {
    auto r = call("POST", "/api/feedback",
                  "[" + fb("like", "bob", "book-1") + "," + fb("like", "bob", "book-2") + "," +
                    fb("like", "carol", "book-1") + "," + fb("like", "carol", "book-2") + "," +
                    fb("like", "dave", "book-1") + "," + fb("like", "dave", "book-3") + "]");
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_EQ(parse(r)["RowAffected"], 6);
    ASSERT_TRUE(eng_->flush());
  }

  static std::vector<std::string> ids(const json& arr) {
    std::vector<std::string> out;
    for (const auto& x : arr)
      out.push_back(x.is_string() ? x.get<std::string>() : x["Id"].get<std::string>());
    return out;
  }
};

TEST_F(HttpApiTest, FeedbackShowsInTheNextRecommendation) {
  seed();
  auto r = call("POST", "/api/feedback", "[" + fb("like", "alice", "book-1") + "]");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r), (json{{"RowAffected", 1}}));
  // No flush: alice's own like is applied when acknowledged.
  auto rec = call("GET", "/api/recommend/alice?n=2");
  ASSERT_EQ(rec.status, 200) << rec.body;
  EXPECT_EQ(parse(rec), (json{"book-2", "book-3"}));
  // A like of book-2 excludes it at once.
  ASSERT_EQ(call("POST", "/api/feedback", "[" + fb("like", "alice", "book-2") + "]").status, 200);
  EXPECT_EQ(parse(call("GET", "/api/recommend/alice?n=1")), (json{"book-3"}));
}

TEST_F(HttpApiTest, RecommendAnswersLikeTheEngineInBothShapes) {
  seed();
  ASSERT_EQ(call("POST", "/api/feedback", "[" + fb("view", "alice", "book-1") + "]").status, 200);
  auto want = eng_->recommend("alice", {.n = 3, .offset = 0, .filter = {}, .exclude_seen = true});
  ASSERT_TRUE(want);
  auto v1 = call("GET", "/api/recommend/alice?n=3");
  ASSERT_EQ(v1.status, 200);
  auto v2 = call("GET", "/api/recommend/alice?n=3", {}, {{"X-API-Version", "2"}});
  ASSERT_EQ(v2.status, 200);
  auto j2 = parse(v2);
  ASSERT_EQ(j2.size(), want->size());
  for (std::size_t k = 0; k < want->size(); ++k) {
    EXPECT_EQ(parse(v1)[k], (*want)[k].item);
    EXPECT_EQ(j2[k]["Id"], (*want)[k].item);
    EXPECT_DOUBLE_EQ(j2[k]["Score"].get<double>(), (*want)[k].score);
  }
  // Paging: offset 1 drops the first.
  auto paged = parse(call("GET", "/api/recommend/alice?n=1&offset=1"));
  ASSERT_EQ(paged.size(), 1u);
  EXPECT_EQ(paged[0], (*want)[1].item);
  // Cold-start users get popular items.
  auto cold = parse(call("GET", "/api/recommend/nobody?n=1"));
  EXPECT_EQ(cold, (json{"book-1"}));
}

TEST_F(HttpApiTest, GorseFeedbackFieldsAreRead) {
  auto body = json::array({
    {{"FeedbackType", "rating"}, {"UserId", "u1"}, {"ItemId", "i1"}, {"Value", 4.5},
     {"Timestamp", "2024-05-01T12:30:00Z"}, {"Comment", "good"}, {"EventId", "e-1"}},
    {{"FeedbackType", "read"}, {"UserId", "u1"}, {"ItemId", "i2"},
     {"Timestamp", "2024-05-01T14:30:00.250+02:00"}},
    {{"FeedbackType", "purchase"}, {"UserId", "u1"}, {"ItemId", "i3"}, {"Timestamp", 1714566600}},
  });
  auto r = call("PUT", "/api/feedback", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["RowAffected"], 3);
  auto user = parse(call("GET", "/api/user/u1"));
  ASSERT_EQ(user["UserId"], "u1");
  ASSERT_EQ(user["Recent"].size(), 3u);
  // Newest arrival first; timestamps converted to UTC.
  EXPECT_EQ(user["Recent"][0]["ItemId"], "i3");
  EXPECT_EQ(user["Recent"][0]["FeedbackType"], "purchase");
  EXPECT_EQ(user["Recent"][0]["Timestamp"], "2024-05-01T12:30:00.000Z");
  EXPECT_EQ(user["Recent"][1]["ItemId"], "i2");
  EXPECT_EQ(user["Recent"][1]["FeedbackType"], "view");
  EXPECT_EQ(user["Recent"][1]["Timestamp"], "2024-05-01T12:30:00.250Z");
  EXPECT_EQ(user["Recent"][2]["ItemId"], "i1");
  EXPECT_EQ(user["Recent"][2]["FeedbackType"], "rating");
}

TEST_F(HttpApiTest, NeighborsPopularAndLatest) {
  seed();
  auto n = parse(call("GET", "/api/item/book-1/neighbors?n=5"));
  EXPECT_EQ(ids(n), (std::vector<std::string>{"book-2", "book-3"}));
  EXPECT_GT(n[0]["Score"].get<double>(), n[1]["Score"].get<double>());
  EXPECT_EQ(ids(parse(call("GET", "/api/item/book-1/neighbors?n=1&offset=1"))),
            (std::vector<std::string>{"book-3"}));
  EXPECT_EQ(parse(call("GET", "/api/item/unknown/neighbors")), json::array());
  auto pop = parse(call("GET", "/api/popular?n=2"));
  EXPECT_EQ(ids(pop), (std::vector<std::string>{"book-1", "book-2"}));
  // Latest: items by creation time; an item posted with a later timestamp is first.
  ASSERT_EQ(call("POST", "/api/item",
                 R"({"ItemId":"new-1","Categories":["sf"],"Timestamp":"2099-01-01T00:00:00Z"})")
              .status,
            200);
  auto latest = parse(call("GET", "/api/latest?n=2"));
  ASSERT_EQ(latest.size(), 2u);
  EXPECT_EQ(latest[0]["Id"], "new-1");
  EXPECT_DOUBLE_EQ(latest[0]["Score"].get<double>(), 4070908800.0);
  EXPECT_EQ(ids(parse(call("GET", "/api/latest/sf"))), (std::vector<std::string>{"new-1"}));
  EXPECT_EQ(ids(parse(call("GET", "/api/latest?category=sf"))),
            (std::vector<std::string>{"new-1"}));
}

TEST_F(HttpApiTest, SessionRecommendStoresNothing) {
  seed();
  auto r = call("POST", "/api/session/recommend?n=2",
                R"([{"FeedbackType":"like","ItemId":"book-1"}])");
  ASSERT_EQ(r.status, 200) << r.body;
  auto want = eng_->session_recommend({{"", "book-1", rtrec::engine::event_type::like, 0, 1, ""}},
                                      {.n = 2, .offset = 0, .filter = {}, .exclude_seen = true});
  ASSERT_TRUE(want);
  ASSERT_EQ(want->size(), 2u);
  EXPECT_EQ(ids(parse(r)), (std::vector<std::string>{(*want)[0].item, (*want)[1].item}));
  EXPECT_EQ(ids(parse(r)), (std::vector<std::string>{"book-2", "book-3"}));
  EXPECT_EQ(call("GET", "/api/user/session").status, 404);
}

TEST_F(HttpApiTest, ItemsHiddenOrDeletedAreNeverRecommendedAtOnce) {
  seed();
  ASSERT_EQ(call("POST", "/api/feedback", "[" + fb("like", "alice", "book-1") + "]").status, 200);
  ASSERT_EQ(parse(call("GET", "/api/recommend/alice?n=5")), (json{"book-2", "book-3"}));
  // PATCH hides book-2: the next answer leaves it out.
  auto p = call("PATCH", "/api/item/book-2", R"({"IsHidden":true})");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(parse(call("GET", "/api/recommend/alice?n=5")), (json{"book-3"}));
  EXPECT_EQ(parse(call("GET", "/api/item/book-2"))["IsHidden"], true);
  EXPECT_EQ(ids(parse(call("GET", "/api/popular"))), (std::vector<std::string>{"book-1", "book-3"}));
  // DELETE removes book-3 everywhere.
  auto d = call("DELETE", "/api/item/book-3");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(parse(d)["RowAffected"], 1);
  EXPECT_EQ(parse(call("GET", "/api/recommend/alice?n=5")), json::array());
  EXPECT_EQ(ids(parse(call("GET", "/api/item/book-1/neighbors"))), std::vector<std::string>{});
  EXPECT_EQ(parse(call("DELETE", "/api/item/never-seen"))["RowAffected"], 0);
  // Unhiding by PATCH brings book-2 back.
  ASSERT_EQ(call("PATCH", "/api/item/book-2", R"({"IsHidden":false})").status, 200);
  EXPECT_EQ(parse(call("GET", "/api/recommend/alice?n=5")), (json{"book-2"}));
  EXPECT_EQ(call("PATCH", "/api/item/never-seen", R"({"IsHidden":true})").status, 404);
}

TEST_F(HttpApiTest, ItemsWithCategoriesFilterRecommendations) {
  seed();
  auto r = call("POST", "/api/items",
                R"([{"ItemId":"book-2","Categories":["fantasy"],"IsHidden":false,
                     "Labels":{"x":1},"Comment":"c"},
                    {"ItemId":"book-3","Categories":["sf","classic"]}])");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["RowAffected"], 2);
  auto item = parse(call("GET", "/api/item/book-3"));
  EXPECT_EQ(item["ItemId"], "book-3");
  EXPECT_EQ(item["Categories"], (json{"sf", "classic"}));
  EXPECT_EQ(item["IsHidden"], false);
  ASSERT_EQ(call("POST", "/api/feedback", "[" + fb("like", "alice", "book-1") + "]").status, 200);
  EXPECT_EQ(parse(call("GET", "/api/recommend/alice?category=sf")), (json{"book-3"}));
  EXPECT_EQ(parse(call("GET", "/api/recommend/alice/fantasy")), (json{"book-2"}));
  EXPECT_EQ(ids(parse(call("GET", "/api/item/book-1/neighbors/sf"))),
            (std::vector<std::string>{"book-3"}));
  EXPECT_EQ(ids(parse(call("GET", "/api/popular/fantasy"))),
            (std::vector<std::string>{"book-2"}));
  // PATCH changes categories only.
  ASSERT_EQ(call("PATCH", "/api/item/book-3", R"({"Categories":["fantasy"]})").status, 200);
  EXPECT_EQ(parse(call("GET", "/api/recommend/alice?category=sf")), json::array());
  EXPECT_EQ(call("GET", "/api/item/unknown").status, 404);
}

TEST_F(HttpApiTest, UserReadAndDelete) {
  ASSERT_EQ(call("POST", "/api/feedback", "[" + fb("click", "erin", "x") + "]").status, 200);
  auto u = parse(call("GET", "/api/user/erin"));
  ASSERT_EQ(u["Recent"].size(), 1u);
  EXPECT_EQ(u["Recent"][0]["ItemId"], "x");
  EXPECT_EQ(u["Recent"][0]["FeedbackType"], "click");
  auto d = call("DELETE", "/api/user/erin");
  ASSERT_EQ(d.status, 200);
  EXPECT_EQ(parse(d)["RowAffected"], 1);
  auto gone = call("GET", "/api/user/erin");
  EXPECT_EQ(gone.status, 404);
  EXPECT_NE(parse(gone)["error"].get<std::string>().find("erin"), std::string::npos);
  EXPECT_EQ(parse(call("DELETE", "/api/user/erin"))["RowAffected"], 0);
}

TEST_F(HttpApiTest, IdsArePercentDecoded) {
  ASSERT_EQ(call("POST", "/api/feedback",
                 R"([{"FeedbackType":"like","UserId":"a b+c","ItemId":"é/x"}])")
              .status,
            400);  // '/' is refused in ids
  ASSERT_EQ(call("POST", "/api/feedback",
                 R"([{"FeedbackType":"like","UserId":"a b+c","ItemId":"é"}])")
              .status,
            200);
  auto u = parse(call("GET", "/api/user/a%20b+c"));
  ASSERT_EQ(u["UserId"], "a b+c");
  EXPECT_EQ(u["Recent"][0]["ItemId"], "é");
}

TEST_F(HttpApiTest, MetricsAreValidPrometheusText) {
  seed();
  ASSERT_EQ(call("GET", "/api/recommend/bob").status, 200);
  ASSERT_EQ(call("GET", "/api/nope").status, 404);
  auto m = call("GET", "/metrics");
  ASSERT_EQ(m.status, 200);
  EXPECT_EQ(m.header("content-type"), "text/plain; version=0.0.4; charset=utf-8");
  const auto& t = m.body;
  EXPECT_NE(t.find("rtrec_http_requests_total{route=\"recommend\",code=\"200\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("rtrec_http_requests_total{route=\"other\",code=\"404\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("rtrec_http_request_duration_seconds_bucket{route=\"recommend\",le=\"+Inf\"} 1\n"),
            std::string::npos);
  EXPECT_NE(t.find("rtrec_http_feedback_accepted_total 6\n"), std::string::npos);
  EXPECT_NE(t.find("rtrec_events_accepted_total 6\n"), std::string::npos);
  EXPECT_NE(t.find("rtrec_shard_users{shard=\"0\"}"), std::string::npos);
  EXPECT_NE(t.find("rtrec_shard_queue_depth{shard=\"1\"}"), std::string::npos);
  EXPECT_NE(t.find("rtrec_item_shard_items{shard=\"1\"} 3\n"), std::string::npos);
  EXPECT_NE(t.find("rtrec_events_in_flight 0\n"), std::string::npos);
  // The query lane scheduler is the default: the recommend went through it.
  EXPECT_NE(t.find("rtrec_scheduler_turns_total{lane=\"urgent\"} "), std::string::npos);
  EXPECT_EQ(t.find("rtrec_scheduler_turns_total{lane=\"urgent\"} 0\n"), std::string::npos);
  EXPECT_NE(t.find("rtrec_scheduler_promotions_total "), std::string::npos);
  // Every sample line is `name{labels} value` or `name value`, and every
  // metric has HELP and TYPE.
  std::istringstream in{t};
  std::string line;
  std::size_t samples = 0;
  while (std::getline(in, line)) {
    if (line.rfind("# ", 0) == 0) {
      EXPECT_TRUE(line.rfind("# HELP rtrec_", 0) == 0 || line.rfind("# TYPE rtrec_", 0) == 0)
        << line;
      continue;
    }
    ++samples;
    auto space = line.rfind(' ');
    ASSERT_NE(space, std::string::npos) << line;
    EXPECT_NO_THROW((void)std::stod(line.substr(space + 1))) << line;
    EXPECT_EQ(line.rfind("rtrec_", 0), 0u) << line;
  }
  EXPECT_GT(samples, 50u);
}

TEST_F(HttpApiTest, HealthEndpoints) {
  EXPECT_EQ(parse(call("GET", "/api/health/live")), (json{{"status", "live"}}));
  auto ready = call("GET", "/api/health/ready");
  EXPECT_EQ(ready.status, 200);
  EXPECT_EQ(parse(ready)["status"], "ready");
}

TEST_F(HttpApiTest, KeepAliveServesManyRequestsOnOneConnection) {
  auto c = client();
  for (int k = 0; k < 50; ++k) {
    auto r = c.request("POST", "/api/feedback", "[" + fb("view", "k", "i" + std::to_string(k)) + "]");
    ASSERT_EQ(r.status, 200);
    ASSERT_TRUE(r.keep_alive);
  }
  auto u = c.request("GET", "/api/user/k");
  EXPECT_EQ(parse(u)["Recent"].size(), 20u);  // recent_max
}

// The server writes each answer's head itself (session::write): the status
// line of the request's version, Content-Type, the answer's own fields,
// Connection only where the version's default differs, Content-Length.
TEST_F(HttpApiTest, AnswerHeadsFollowTheHttpVersion) {
  {  // HTTP/1.1: persistent unless the client says close
    auto c = client();
    auto r = c.raw("GET /api/health/live HTTP/1.1\r\nHost: x\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    EXPECT_TRUE(r.keep_alive);
    EXPECT_EQ(r.header("connection"), "");
    EXPECT_EQ(r.header("content-type"), "application/json");
    EXPECT_EQ(r.header("content-length"), std::to_string(r.body.size()));
    r = c.raw("POST /api/recommend/x HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "GET");
    EXPECT_TRUE(r.keep_alive);
    r = c.raw("GET /api/health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("connection"), "close");
    EXPECT_FALSE(r.keep_alive);
    EXPECT_TRUE(c.closed_by_server());
  }
  {  // HTTP/1.0: closes unless the client asks for keep-alive
    auto c = client();
    auto r = c.raw("GET /api/health/live HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("connection"), "keep-alive");
    EXPECT_TRUE(r.keep_alive);
    r = c.raw("GET /api/health/live HTTP/1.0\r\n\r\n");
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("connection"), "");
    EXPECT_FALSE(r.keep_alive);
    EXPECT_EQ(parse(r), (json{{"status", "live"}}));
    EXPECT_TRUE(c.closed_by_server());
  }
}

}  // namespace

// The API stamps feedback sent without a Timestamp with the service's clock,
// which a test (or an embedder) injects: time moves only when it says so.
TEST_F(HttpApiTest, FeedbackWithoutTimestampTakesTheServiceClock) {
  auto now = std::make_shared<std::atomic<std::int64_t>>(1'700'000'000'000);
  start({}, {}, small_engine(), [now] { return now->load(); });
  auto r = call("POST", "/api/feedback", "[" + fb("like", "u", "a") + "]");
  ASSERT_EQ(r.status, 200) << r.body;
  now->store(1'800'000'000'000);
  r = call("POST", "/api/feedback", "[" + fb("like", "u", "b") + "]");
  ASSERT_EQ(r.status, 200) << r.body;
  auto user = parse(call("GET", "/api/user/u"));
  ASSERT_EQ(user["Recent"].size(), 2u) << user.dump();
  EXPECT_EQ(user["Recent"][0]["ItemId"], "b");
  EXPECT_EQ(user["Recent"][0]["Timestamp"], rtrec::http::format_timestamp(1'800'000'000'000));
  EXPECT_EQ(user["Recent"][1]["Timestamp"], rtrec::http::format_timestamp(1'700'000'000'000));
}
