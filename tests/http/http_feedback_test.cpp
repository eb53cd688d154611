// End-to-end tests of the feedback routes in Gorse's shapes
// (api_feedback.cpp): POST keeps an existing (type, user, item) record and
// PUT replaces it, Timestamp echoed as written, reads by user and item,
// (user, item) and (type, user, item), future-dated records hidden from a
// user's and an item's feedback, listings with cursors over several profile
// shards (every record exactly once), deletes and what they do to the
// recommendations, the 400s that name the field, and a history that
// survives restarts of `rtrec serve` (checkpoint, then log replay after
// SIGKILL) with its --feedback-retention.
#include "tests/http/http_fixture.hpp"
#include "tests/http/serve_process.hpp"
#include "tests/storage/temp_dir.hpp"

#include <algorithm>
#include <set>
#include <tuple>

namespace {

using nlohmann::json;
using rtrec::testing::http_fixture;

/// A feedback object with a comment and a timestamp (a string or a number).
json fbj(const std::string& type, const std::string& user, const std::string& item,
         const std::string& comment = {}, json timestamp = nullptr) {
  json x{{"FeedbackType", type}, {"UserId", user}, {"ItemId", item}};
  if (!comment.empty())
    x["Comment"] = comment;
  if (!timestamp.is_null())
    x["Timestamp"] = std::move(timestamp);
  return x;
}

/// 2025-01-01T00:00:00Z: the tests' clock.
constexpr std::int64_t now_ms = 1'735'689'600'000;

class HttpFeedbackTest : public http_fixture {
 protected:
  void SetUp() override {
    auto eo = small_engine();
    eo.topology.profile_shards = 3;
    start({}, {}, eo, [] { return now_ms; });
  }

  json post(const std::string& method, const json& body) {
    auto r = call(method, "/api/feedback", body.dump());
    EXPECT_EQ(r.status, 200) << body.dump() << " -> " << r.body;
    return parse(r);
  }

  // (type, user, item) of every record of a full listing with pages of n.
  std::multiset<std::tuple<std::string, std::string, std::string>> list_all(
    std::size_t n, const std::string& path = "/api/feedback", int* pages = nullptr) {
    std::multiset<std::tuple<std::string, std::string, std::string>> out;
    for (const auto& f : every_page(path, "Feedback", n, pages))
      out.insert({f["FeedbackType"].get<std::string>(), f["UserId"].get<std::string>(),
                  f["ItemId"].get<std::string>()});
    return out;
  }
};

TEST_F(HttpFeedbackTest, PostKeepsAnExistingRecordPutReplacesItTimestampEchoed) {
  auto r = post("POST", json::array({fbj("like", "ann", "dune", "first",
                                         "2024-05-01T12:30:00+02:00")}));
  EXPECT_EQ(r["RowAffected"], 1);
  r = post("POST", json::array({fbj("like", "ann", "dune", "second", 1714560000)}));
  EXPECT_EQ(r["RowAffected"], 1) << "applied to the model, as Gorse counts it";
  auto f = parse(call("GET", "/api/feedback/like/ann/dune"));
  EXPECT_EQ(f, (json{{"FeedbackType", "like"},
                     {"UserId", "ann"},
                     {"ItemId", "dune"},
                     {"Value", 0.0},
                     {"Timestamp", "2024-05-01T12:30:00+02:00"},
                     {"Comment", "first"}}));

  r = post("PUT", json::array({fbj("like", "ann", "dune", "second", 1714560000)}));
  EXPECT_EQ(r["RowAffected"], 1);
  f = parse(call("GET", "/api/feedback/like/ann/dune"));
  EXPECT_EQ(f["Comment"], "second");
  EXPECT_EQ(f["Timestamp"], "2024-05-01T10:40:00.000Z") << "Unix seconds answer as UTC";
  // A feedback without a Timestamp is stamped with the clock.
  post("PUT", json::array({fbj("view", "ann", "dune")}));
  f = parse(call("GET", "/api/feedback/view/ann/dune"));
  EXPECT_EQ(f["Timestamp"], "2025-01-01T00:00:00.000Z");
  EXPECT_EQ(f["Comment"], "");
  // Gorse's synonyms are stored under rtrec's type names.
  post("POST", json::array({fbj("star", "ann", "emma")}));
  EXPECT_EQ(parse(call("GET", "/api/feedback/star/ann/emma"))["FeedbackType"], "like");
  // A rating keeps its Value; PUT replaces it, POST does not.
  auto rating = [](double v) {
    return json::array({json{{"FeedbackType", "rating"}, {"UserId", "ann"}, {"ItemId", "zola"},
                             {"Value", v}}});
  };
  post("POST", rating(4.5));
  EXPECT_EQ(parse(call("GET", "/api/feedback/rating/ann/zola"))["Value"], 4.5);
  post("POST", rating(2));
  EXPECT_EQ(parse(call("GET", "/api/feedback/rating/ann/zola"))["Value"], 4.5);
  post("PUT", rating(3));
  EXPECT_EQ(parse(call("GET", "/api/feedback/rating/ann/zola"))["Value"], 3.0);
}

TEST_F(HttpFeedbackTest, ReadsByUserItemPairAndTypeAndFutureRecordsAreHidden) {
  post("POST", json::array({fbj("like", "ann", "dune", "", "2024-01-01T00:00:00Z"),
                            fbj("view", "ann", "dune", "", "2024-01-02T00:00:00Z"),
                            fbj("like", "ann", "emma", "", "2024-01-03T00:00:00Z"),
                            fbj("like", "bob", "dune", "", "2024-01-04T00:00:00Z"),
                            fbj("like", "cat", "dune", "", "2030-01-01T00:00:00Z")}));
  auto pair = parse(call("GET", "/api/feedback/ann/dune"));
  ASSERT_EQ(pair.size(), 2u);
  EXPECT_EQ(pair[0]["FeedbackType"], "like");
  EXPECT_EQ(pair[1]["FeedbackType"], "view");
  EXPECT_EQ(pair[0].size(), 6u) << "exactly Gorse's fields: " << pair[0].dump();

  auto mine = parse(call("GET", "/api/user/ann/feedback"));
  ASSERT_EQ(mine.size(), 3u);
  EXPECT_EQ(mine[2]["ItemId"], "emma") << "oldest written first";
  EXPECT_EQ(parse(call("GET", "/api/user/ann/feedback/like")).size(), 2u);
  EXPECT_EQ(parse(call("GET", "/api/user/nobody/feedback")), json::array());

  // The item's feedback spans users on every profile shard; cat's record is
  // dated after the clock's now, so it is hidden (as Gorse does).
  auto dune = parse(call("GET", "/api/item/dune/feedback"));
  std::set<std::string> users;
  for (const auto& x : dune)
    users.insert(x["UserId"].get<std::string>());
  EXPECT_EQ(users, (std::set<std::string>{"ann", "bob"}));
  EXPECT_EQ(dune.size(), 3u);
  EXPECT_EQ(parse(call("GET", "/api/item/dune/feedback/like")).size(), 2u);
  EXPECT_EQ(parse(call("GET", "/api/item/dune/feedback?n=1")).size(), 1u);
  EXPECT_EQ(parse(call("GET", "/api/user/cat/feedback")), json::array());
  // The pair read and the listing show it.
  EXPECT_EQ(parse(call("GET", "/api/feedback/cat/dune")).size(), 1u);
  EXPECT_EQ(list_all(100).size(), 5u);
  EXPECT_EQ(call("GET", "/api/feedback/purchase/ann/dune").status, 404);
}

TEST_F(HttpFeedbackTest, ListingVisitsEveryRecordOnceOverShardsAndPages) {
  json batch = json::array();
  std::multiset<std::tuple<std::string, std::string, std::string>> want, likes;
  for (int u = 0; u < 23; ++u)
    for (int i = 0; i < 3; ++i) {
      const auto type = i == 1 ? "like" : "view";
      const auto user = "user-" + std::to_string(u), item = "item-" + std::to_string(u + i);
      batch.push_back(fbj(type, user, item));
      want.insert({type, user, item});
      if (i == 1)
        likes.insert({type, user, item});
    }
  EXPECT_EQ(post("POST", batch)["RowAffected"], 69);
  for (std::size_t n : {1u, 7u, 1000u}) {
    int pages = 0;
    EXPECT_EQ(list_all(n, "/api/feedback", &pages), want) << "pages of " << n;
    if (n == 1) {
      EXPECT_GE(pages, 69);
    }
  }
  EXPECT_EQ(list_all(5, "/api/feedback/like"), likes);
  auto page = parse(call("GET", "/api/feedback?n=4"));
  ASSERT_EQ(page["Feedback"].size(), 4u);
  EXPECT_FALSE(page["Cursor"].get<std::string>().empty());
}

TEST_F(HttpFeedbackTest, DeleteRemovesRecordsAndTheItemFromTheUsersRecommendationSeeds) {
  post("POST", json::array({fbj("like", "bob", "dune"), fbj("like", "bob", "hyperion"),
                            fbj("like", "ann", "dune"), fbj("view", "ann", "dune"),
                            fbj("like", "ann", "emma")}));
  ASSERT_TRUE(eng_->flush());
  auto recs = parse(call("GET", "/api/recommend/ann?n=10"));
  EXPECT_EQ(std::count(recs.begin(), recs.end(), "dune"), 0) << recs.dump();
  EXPECT_EQ(recs[0], "hyperion") << "dune seeds hyperion: " << recs.dump();

  auto r = parse(call("DELETE", "/api/feedback/like/ann/dune"));
  EXPECT_EQ(r["RowAffected"], 1);
  EXPECT_EQ(call("GET", "/api/feedback/like/ann/dune").status, 404);
  EXPECT_EQ(parse(call("GET", "/api/feedback/ann/dune")).size(), 1u) << "the view stays";
  r = parse(call("DELETE", "/api/feedback/ann/dune"));
  EXPECT_EQ(r["RowAffected"], 1);
  EXPECT_EQ(parse(call("DELETE", "/api/feedback/ann/dune"))["RowAffected"], 0);
  EXPECT_EQ(parse(call("DELETE", "/api/feedback/nobody/dune"))["RowAffected"], 0);

  // dune left ann's recent items (no longer a seed) and seen set (it may be
  // recommended to ann again); emma stays.
  auto user = parse(call("GET", "/api/user/ann"));
  ASSERT_EQ(user["Recent"].size(), 1u) << user.dump();
  EXPECT_EQ(user["Recent"][0]["ItemId"], "emma");
  recs = parse(call("GET", "/api/recommend/ann?n=10"));
  EXPECT_NE(std::count(recs.begin(), recs.end(), "dune"), 0) << recs.dump();
  EXPECT_EQ(parse(call("GET", "/api/user/ann/feedback")).size(), 1u);
}

TEST_F(HttpFeedbackTest, BadInputIsRefusedNamingTheField) {
  auto expect_status = [&](int status, const std::string& method, const std::string& target,
                           const std::string& body, const std::string& names) {
    auto r = call(method, target, body);
    EXPECT_EQ(r.status, status) << method << " " << target << " " << body << " -> " << r.body;
    EXPECT_NE(r.body.find(names), std::string::npos) << target << " -> " << r.body;
  };
  expect_status(400, "GET", "/api/feedback/nonsense", "", "feedback type");
  expect_status(400, "GET", "/api/user/u/feedback/nonsense", "", "feedback type");
  expect_status(400, "DELETE", "/api/feedback/nonsense/u/i", "", "feedback type");
  expect_status(400, "GET", "/api/feedback?cursor=x.y", "", "cursor");
  expect_status(400, "GET", "/api/feedback?cursor=99.0.0", "", "cursor");
  expect_status(400, "GET", "/api/feedback?n=0", "", "n");
  expect_status(400, "GET", "/api/feedback?n=10001", "", "n");
  expect_status(400, "GET", "/api/item/i/feedback?n=x", "", "n");
  expect_status(400, "GET", "/api/feedback/u%01/i", "", "path: user id");
  expect_status(400, "DELETE", "/api/feedback/like/u/i%7f", "", "path: item id");
  expect_status(400, "POST", "/api/feedback",
                json::array({fbj("like", "u", "i", std::string(1025, 'c'))}).dump(),
                "[0].Comment");
  expect_status(400, "PUT", "/api/feedback",
                R"([{"FeedbackType":"like","UserId":"u","ItemId":"i","Comment":5}])",
                "[0].Comment");
  expect_status(400, "POST", "/api/feedback",
                json::array({fbj("like", "u", "i", "", std::string(65, '1'))}).dump(),
                "[0].Timestamp");
  expect_status(405, "PATCH", "/api/feedback", "[]", "allowed: POST, PUT, GET");
  expect_status(405, "PUT", "/api/feedback/u/i", "", "allowed: GET, DELETE");
  // Nothing of the refused requests was stored.
  EXPECT_TRUE(list_all(100).empty());
}

/// `rtrec serve` with the data in `data`, a retention of 3 records per user.
rtrec::testing::serve_process serve(const std::string& data) {
  return rtrec::testing::serve_process{{}, {"--feedback-retention", "3"}, data};
}

json get(rtrec::testing::http_client& c, const std::string& target) {
  auto r = c.request("GET", target);
  EXPECT_EQ(r.status, 200) << target << " -> " << r.body;
  return json::parse(r.body, nullptr, false);
}

TEST(HttpFeedbackServe, HistoryAndDeletesSurviveRestartsFromACheckpointAndFromTheLog) {
  rtrec::storage_test::temp_dir dir;
  {
    auto p = serve(dir.data_dir());
    rtrec::testing::http_client c{p.port()};
    json batch = json::array({fbj("like", "ann", "a", "note a", "2024-05-01T12:30:00+02:00"),
                              fbj("like", "ann", "b"), fbj("like", "ann", "c"),
                              fbj("like", "ann", "d", "note d")});
    ASSERT_EQ(c.request("POST", "/api/feedback", batch.dump()).status, 200);
    ASSERT_EQ(c.request("PUT", "/api/feedback",
                        json::array({fbj("like", "ann", "c", "note c")}).dump())
                .status,
              200);
    ASSERT_EQ(c.request("DELETE", "/api/feedback/like/ann/b").status, 200);
    EXPECT_EQ(p.terminate(), 0) << p.log();  // writes a final checkpoint
  }
  auto expect_ann = [](rtrec::testing::http_client& c, std::vector<std::string> items,
                       std::vector<std::string> comments) {
    auto mine = get(c, "/api/user/ann/feedback");
    ASSERT_EQ(mine.size(), items.size()) << mine.dump();
    for (std::size_t k = 0; k < items.size(); ++k) {
      EXPECT_EQ(mine[k]["ItemId"], items[k]) << mine.dump();
      EXPECT_EQ(mine[k]["Comment"], comments[k]) << mine.dump();
    }
  };
  {
    auto p = serve(dir.data_dir());
    rtrec::testing::http_client c{p.port()};
    // Retention 3: a was dropped when d came; b was deleted; c was
    // rewritten after d.
    expect_ann(c, {"d", "c"}, {"note d", "note c"});
    EXPECT_NE(p.log().find("checkpoint"), std::string::npos);
    ASSERT_EQ(c.request("POST", "/api/feedback",
                        json::array({fbj("view", "ann", "e", "", "2024-06-01T00:00:00Z")}).dump())
                .status,
              200);
    ASSERT_EQ(c.request("DELETE", "/api/feedback/ann/d").status, 200);
    p.kill9();  // no checkpoint: the restart replays the log
  }
  auto p = serve(dir.data_dir());
  rtrec::testing::http_client c{p.port()};
  expect_ann(c, {"c", "e"}, {"note c", ""});
  EXPECT_EQ(get(c, "/api/feedback/view/ann/e")["Timestamp"], "2024-06-01T00:00:00Z");
  auto listed = get(c, "/api/feedback?n=10");
  EXPECT_EQ(listed["Feedback"].size(), 2u);
  EXPECT_EQ(listed["Cursor"], "");
  EXPECT_EQ(p.terminate(), 0);
}

}  // namespace
