// Gorse's item endpoints and v0.5 route names over a real connection: the
// item shape (Timestamp echoed as sent, Labels, Comment), cursor paging,
// categories added and removed, deleted items answering 404, bad input
// answered 400 naming the field, and the item metadata surviving a restart
// through the log alone and through a snapshot.
#include "tests/http/http_fixture.hpp"

#include <algorithm>
#include <filesystem>
#include <set>

namespace {

using rtrec::testing::http_fixture;
using nlohmann::json;
namespace fs = std::filesystem;

class HttpItemsTest : public http_fixture {
 protected:
  void SetUp() override { start(); }

  // Expects `r` to be a JSON error with `status` whose message contains `what`.
  static void expect_error(const rtrec::testing::http_reply& r, int status,
                           const std::string& what) {
    EXPECT_EQ(r.status, status) << r.body;
    auto j = parse(r);
    ASSERT_TRUE(j.is_object()) << r.body;
    EXPECT_EQ(j["status"], status);
    EXPECT_NE(j["error"].get<std::string>().find(what), std::string::npos)
      << "error \"" << j["error"] << "\" does not mention \"" << what << "\"";
  }

  json get(const std::string& target) {
    auto r = call("GET", target);
    EXPECT_EQ(r.status, 200) << target << ": " << r.body;
    return parse(r);
  }

  static std::vector<std::string> ids(const json& arr) {
    std::vector<std::string> out;
    for (const auto& x : arr)
      out.push_back(x.contains("ItemId") ? x["ItemId"].get<std::string>()
                                         : x["Id"].get<std::string>());
    return out;
  }
};

TEST_F(HttpItemsTest, ItemRoundTripsInGorseShape) {
  const auto body = json{{"ItemId", "book-1"},
                         {"IsHidden", false},
                         {"Categories", {"sf", "classic"}},
                         {"Timestamp", "2024-05-01T12:30:00+02:00"},
                         {"Labels", {{"author", "Le Guin"}, {"year", 1969}, {"tags", {"a", "b"}}}},
                         {"Comment", "The Left Hand of Darkness"}};
  auto r = call("POST", "/api/item", body.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r), (json{{"RowAffected", 1}}));
  EXPECT_EQ(get("/api/item/book-1"), body);  // every field exactly as sent
  // The parsed time drives latest: 2024-05-01T10:30:00Z.
  auto latest = get("/api/non-personalized/latest?n=1");
  ASSERT_EQ(latest.size(), 1u);
  EXPECT_DOUBLE_EQ(latest[0]["Score"].get<double>(), 1714559400.0);
  // Without Labels and Comment: null and "", Timestamp from the clock's RFC 3339.
  ASSERT_EQ(call("POST", "/api/items", R"([{"ItemId":"plain","Timestamp":1700000000}])").status,
            200);
  EXPECT_EQ(get("/api/item/plain"), (json{{"ItemId", "plain"},
                                          {"IsHidden", false},
                                          {"Categories", json::array()},
                                          {"Timestamp", "2023-11-14T22:13:20.000Z"},
                                          {"Labels", nullptr},
                                          {"Comment", ""}}));
  // Labels may be any JSON value.
  ASSERT_EQ(call("POST", "/api/item", R"({"ItemId":"arr","Labels":["x","y"],"Comment":""})")
              .status,
            200);
  EXPECT_EQ(get("/api/item/arr")["Labels"], (json{"x", "y"}));
}

TEST_F(HttpItemsTest, PatchChangesOnlyTheFieldsGiven) {
  ASSERT_EQ(call("POST", "/api/item",
                 R"({"ItemId":"b","Categories":["a"],"Labels":{"k":1},"Comment":"c1",
                     "Timestamp":"2020-01-02"})")
              .status,
            200);
  auto p = call("PATCH", "/api/item/b", R"({"Comment":"c2"})");
  ASSERT_EQ(p.status, 200) << p.body;
  EXPECT_EQ(parse(p), (json{{"RowAffected", 1}}));
  auto item = get("/api/item/b");
  EXPECT_EQ(item["Comment"], "c2");
  EXPECT_EQ(item["Labels"], (json{{"k", 1}}));
  EXPECT_EQ(item["Timestamp"], "2020-01-02");
  EXPECT_EQ(item["Categories"], (json{"a"}));
  ASSERT_EQ(call("PATCH", "/api/item/b", R"({"Labels":[1,2],"Timestamp":"2021-03-04T05:06:07Z"})")
              .status,
            200);
  item = get("/api/item/b");
  EXPECT_EQ(item["Labels"], (json{1, 2}));
  EXPECT_EQ(item["Timestamp"], "2021-03-04T05:06:07Z");
  EXPECT_EQ(item["Comment"], "c2");
  expect_error(call("PATCH", "/api/item/unknown", R"({"Comment":"x"})"), 404, "unknown");
}

TEST_F(HttpItemsTest, CursorPagesThroughEveryItemExactlyOnce) {
  json batch = json::array();
  for (int k = 0; k < 23; ++k)
    batch.push_back({{"ItemId", "item-" + std::to_string(k)}, {"Comment", std::to_string(k)}});
  ASSERT_EQ(call("POST", "/api/items", batch.dump()).status, 200);
  ASSERT_EQ(call("DELETE", "/api/item/item-5").status, 200);
  std::multiset<std::string> seen;
  int pages = 0;
  for (const auto& item : every_page("/api/items", "Items", 5, &pages)) {
    seen.insert(item["ItemId"].get<std::string>());
    EXPECT_EQ(item["Comment"], item["ItemId"].get<std::string>().substr(5));
  }
  EXPECT_EQ(pages, 5);  // 22 items, 5 a page
  EXPECT_EQ(seen.size(), 22u);
  for (int k = 0; k < 23; ++k)
    EXPECT_EQ(seen.count("item-" + std::to_string(k)), k == 5 ? 0u : 1u) << k;
  // A cursor is stable: the same page twice, and pages of any size agree
  // with one listing of everything.
  auto all = get("/api/items?n=100");
  EXPECT_EQ(all["Cursor"], "");
  ASSERT_EQ(all["Items"].size(), 22u);
  auto first = get("/api/items?n=7");
  EXPECT_EQ(get("/api/items?n=7"), first);
  auto next = get("/api/items?n=3&cursor=" + first["Cursor"].get<std::string>());
  const auto everything = ids(all["Items"]);
  EXPECT_EQ(ids(first["Items"]), std::vector<std::string>(everything.begin(), everything.begin() + 7));
  EXPECT_EQ(ids(next["Items"]),
            std::vector<std::string>(everything.begin() + 7, everything.begin() + 10));
  // Bad paging parameters.
  expect_error(call("GET", "/api/items?cursor=zz"), 400, "cursor");
  expect_error(call("GET", "/api/items?n=-1"), 400, "query parameter n");
}

TEST_F(HttpItemsTest, NoItemsIsOneEmptyPage) {
  EXPECT_EQ(get("/api/items"), (json{{"Cursor", ""}, {"Items", json::array()}}));
}

TEST_F(HttpItemsTest, CategoriesAreAddedAndRemovedOneByOne) {
  ASSERT_EQ(call("POST", "/api/item", R"({"ItemId":"b","Categories":["a"],"Comment":"keep"})")
              .status,
            200);
  auto put = call("PUT", "/api/item/b/category/x%2Fy");
  expect_error(put, 400, "path: category");
  put = call("PUT", "/api/item/b/category/sf");
  ASSERT_EQ(put.status, 200) << put.body;
  EXPECT_EQ(parse(put), (json{{"RowAffected", 1}}));
  EXPECT_EQ(get("/api/item/b")["Categories"], (json{"a", "sf"}));
  ASSERT_EQ(call("PUT", "/api/item/b/category/sf").status, 200);  // already there: unchanged
  EXPECT_EQ(get("/api/item/b")["Categories"], (json{"a", "sf"}));
  auto del = call("DELETE", "/api/item/b/category/a");
  ASSERT_EQ(del.status, 200) << del.body;
  EXPECT_EQ(parse(del), (json{{"RowAffected", 1}}));
  auto item = get("/api/item/b");
  EXPECT_EQ(item["Categories"], (json{"sf"}));
  EXPECT_EQ(item["Comment"], "keep");
  // The category filter follows at once.
  EXPECT_EQ(ids(get("/api/latest/sf")), (std::vector<std::string>{"b"}));
  EXPECT_EQ(get("/api/latest/a"), json::array());
  expect_error(call("PUT", "/api/item/nobody/category/sf"), 404, "nobody");
  expect_error(call("DELETE", "/api/item/nobody/category/sf"), 404, "nobody");
  expect_error(call("GET", "/api/item/b/category/sf"), 405, "allowed: PUT, DELETE");
}

TEST_F(HttpItemsTest, CategoriesPerItemAreBounded) {
  json cats = json::array();
  for (int k = 0; k < 64; ++k)
    cats.push_back("c" + std::to_string(k));
  ASSERT_EQ(call("POST", "/api/item", json{{"ItemId", "full"}, {"Categories", cats}}.dump())
              .status,
            200);
  expect_error(call("PUT", "/api/item/full/category/one-more"), 400, "64 categories");
  EXPECT_EQ(call("PUT", "/api/item/full/category/c3").status, 200);  // present: fine
}

TEST_F(HttpItemsTest, DeletedItemIsGoneUntilWrittenAgain) {
  ASSERT_EQ(call("POST", "/api/item", R"({"ItemId":"d","Comment":"x"})").status, 200);
  auto del = call("DELETE", "/api/item/d");
  ASSERT_EQ(del.status, 200);
  EXPECT_EQ(parse(del), (json{{"RowAffected", 1}}));
  expect_error(call("GET", "/api/item/d"), 404, "d");
  expect_error(call("PATCH", "/api/item/d", R"({"IsHidden":false})"), 404, "d");
  EXPECT_EQ(parse(call("DELETE", "/api/item/d")), (json{{"RowAffected", 0}}));
  EXPECT_EQ(get("/api/items")["Items"], json::array());
  // Written again: back, with only what the new write says.
  ASSERT_EQ(call("POST", "/api/item", R"({"ItemId":"d"})").status, 200);
  auto item = get("/api/item/d");
  EXPECT_EQ(item["Comment"], "");
  EXPECT_EQ(item["IsHidden"], false);
}

TEST_F(HttpItemsTest, BadItemFieldsAreNamed) {
  expect_error(call("POST", "/api/item", R"({"ItemId":"x","Comment":5})"), 400, "body.Comment");
  expect_error(call("POST", "/api/item",
                    json{{"ItemId", "x"}, {"Comment", std::string(1025, 'c')}}.dump()),
               400, "body.Comment: longer than 1024 bytes");
  expect_error(call("POST", "/api/items",
                    json::array({{{"ItemId", "ok"}},
                                 {{"ItemId", "x"}, {"Labels", std::string(5000, 'l')}}})
                      .dump()),
               400, "[1].Labels: longer than 4096 bytes");
  expect_error(call("POST", "/api/item", R"({"ItemId":"x","Timestamp":"yesterday"})"), 400,
               "body.Timestamp");
  expect_error(call("POST", "/api/item",
                    json{{"ItemId", "x"}, {"Timestamp", "2024-01-01T00:00:00." +
                                                          std::string(80, '1') + "Z"}}
                      .dump()),
               400, "body.Timestamp: longer than 64 bytes");
  expect_error(call("PATCH", "/api/item/x", R"({"Comment":[]})"), 400, "body.Comment");
  expect_error(call("PATCH", "/api/item/x", R"({"Labels":null})"), 400, "nothing to change");
  EXPECT_EQ(call("GET", "/api/item/ok").status, 404);  // the refused batch wrote nothing
}

TEST_F(HttpItemsTest, GorseV05NamesAnswerLikeTheV04Routes) {
  auto fb_body = "[" + fb("like", "bob", "b1") + "," + fb("like", "bob", "b2") + "," +
                 fb("like", "carol", "b1") + "," + fb("like", "carol", "b3") + "," +
                 fb("like", "dave", "b1") + "]";
  ASSERT_EQ(call("POST", "/api/feedback", fb_body).status, 200);
  ASSERT_TRUE(eng_->flush());
  ASSERT_EQ(call("POST", "/api/items", R"([{"ItemId":"b2","Categories":["x"]}])").status, 200);
  for (const char* q : {"", "?n=1", "?n=2&offset=1", "?category=x"}) {
    EXPECT_EQ(get(std::string{"/api/non-personalized/popular"} + q), get(std::string{"/api/popular"} + q)) << q;
    EXPECT_EQ(get(std::string{"/api/non-personalized/latest"} + q), get(std::string{"/api/latest"} + q)) << q;
    EXPECT_EQ(get(std::string{"/api/item-to-item/neighbors/b1"} + q),
              get(std::string{"/api/item/b1/neighbors"} + q))
      << q;
  }
  auto neighbors = ids(get("/api/item-to-item/neighbors/b1?n=5"));
  std::sort(neighbors.begin(), neighbors.end());
  EXPECT_EQ(neighbors, (std::vector<std::string>{"b2", "b3"}));
  EXPECT_EQ(ids(get("/api/non-personalized/popular?n=1")), (std::vector<std::string>{"b1"}));
  auto session = call("POST", "/api/session/recommend/x",
                      R"([{"FeedbackType":"like","ItemId":"b1"}])");
  ASSERT_EQ(session.status, 200) << session.body;
  EXPECT_EQ(ids(parse(session)), (std::vector<std::string>{"b2"}));
  expect_error(call("GET", "/api/non-personalized/trending"), 404,
               "non-personalized recommender \"trending\" does not exist");
  expect_error(call("GET", "/api/item-to-item/similar/b1"), 404,
               "item-to-item recommender \"similar\" does not exist");
  expect_error(call("GET", "/api/non-personalized/popular?user-id=bob"), 400,
               "query parameter user-id");
  expect_error(call("GET", "/api/non-personalized/popular?n=x"), 400, "query parameter n");
  // User neighbors under both names (tests/http/http_neighbors_test.cpp).
  auto users = call("GET", "/api/user-to-user/neighbors/bob");
  EXPECT_EQ(users.status, 200) << users.body;
  EXPECT_EQ(users.body, call("GET", "/api/user/bob/neighbors").body);
  expect_error(call("GET", "/api/user-to-user/similar/bob"), 404,
               "user-to-user recommender \"similar\" does not exist");
}

// Restarts the service on `dir`: item metadata comes back from the log alone
// (snapshot_on_stop false) or from the snapshot written on stop.
class HttpItemsRestartTest : public HttpItemsTest, public ::testing::WithParamInterface<bool> {
 protected:
  void SetUp() override {}
  void start_on(const fs::path& dir) {
    auto eo = small_engine();
    eo.durability.data_dir = dir.string();
    eo.durability.snapshot_interval = std::chrono::milliseconds(0);
    eo.durability.snapshot_on_stop = GetParam();
    start({}, {}, eo);
  }
};

TEST_P(HttpItemsRestartTest, LabelsCommentAndTimestampSurviveARestart) {
  const auto dir = fs::temp_directory_path() /
                   ("rtrec_http_items_" + std::to_string(::getpid()) + (GetParam() ? "_s" : "_l"));
  fs::remove_all(dir);
  const auto kept = json{{"ItemId", "k"},
                         {"IsHidden", true},
                         {"Categories", {"c1"}},
                         {"Timestamp", "2024-05-01 12:30:00"},
                         {"Labels", {{"n", 1.5}, {"s", {"a"}}}},
                         {"Comment", "kept"}};
  start_on(dir);
  ASSERT_EQ(call("POST", "/api/item", kept.dump()).status, 200);
  ASSERT_EQ(call("POST", "/api/item", R"({"ItemId":"gone","Comment":"x"})").status, 200);
  ASSERT_EQ(call("POST", "/api/item", R"({"ItemId":"patched","Comment":"before"})").status, 200);
  ASSERT_EQ(call("PATCH", "/api/item/patched", R"({"Comment":"after","Labels":"l"})").status,
            200);
  ASSERT_EQ(call("PUT", "/api/item/patched/category/z").status, 200);
  ASSERT_EQ(call("DELETE", "/api/item/gone").status, 200);
  TearDown();
  start_on(dir);
  EXPECT_EQ(eng_->durability().recovery.from_snapshot, GetParam());
  EXPECT_EQ(get("/api/item/k"), kept);
  auto patched = get("/api/item/patched");
  EXPECT_EQ(patched["Comment"], "after");
  EXPECT_EQ(patched["Labels"], "l");
  EXPECT_EQ(patched["Categories"], (json{"z"}));
  EXPECT_EQ(call("GET", "/api/item/gone").status, 404);
  EXPECT_EQ(ids(get("/api/items")["Items"]).size(), 2u);
  TearDown();
  fs::remove_all(dir);
}

INSTANTIATE_TEST_SUITE_P(LogOrSnapshot, HttpItemsRestartTest, ::testing::Bool(),
                         [](const auto& info) { return info.param ? "snapshot" : "log"; });

}  // namespace
