// End-to-end tests of the users routes in Gorse's shapes (api_users.cpp):
// insert one and many, read, patch only the fields sent, list with cursors
// (every user exactly once over several profile shards), delete, the 404s
// and the 400s that name the field, and users that survive a restart of a
// durable service (log replay and checkpoint).
#include "tests/http/http_fixture.hpp"
#include "tests/storage/temp_dir.hpp"

#include <set>

namespace {

using rtrec::testing::http_fixture;
using nlohmann::json;

class HttpUsersTest : public http_fixture {
 protected:
  void SetUp() override {
    auto eo = small_engine();
    eo.topology.profile_shards = 3;
    start({}, {}, eo);
  }

  // Every user of a full listing with pages of n.
  std::multiset<std::string> list_all(std::size_t n, int* pages = nullptr) {
    std::multiset<std::string> out;
    for (const auto& u : every_page("/api/users", "Users", n, pages))
      out.insert(u["UserId"].get<std::string>());
    return out;
  }
};

TEST_F(HttpUsersTest, InsertReadPatchAndDeleteInGorseShapes) {
  auto r = call("POST", "/api/user",
                R"({"UserId":"ann","Labels":{"age":31,"tags":["a"]},"Comment":"hi",)"
                R"("Subscribe":["news"]})");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["RowAffected"], 1);
  auto u = parse(call("GET", "/api/user/ann"));
  EXPECT_EQ(u["UserId"], "ann");
  EXPECT_EQ(u["Labels"], json::parse(R"({"age":31,"tags":["a"]})"));
  EXPECT_EQ(u["Comment"], "hi");
  EXPECT_EQ(u["Subscribe"], json::parse(R"(["news"])"));
  EXPECT_EQ(u["Recent"], json::array()) << "a user with no feedback yet";

  // PATCH changes only what it sends.
  ASSERT_EQ(call("PATCH", "/api/user/ann", R"({"Comment":"changed"})").status, 200);
  u = parse(call("GET", "/api/user/ann"));
  EXPECT_EQ(u["Comment"], "changed");
  EXPECT_EQ(u["Labels"]["age"], 31);
  // Feedback keeps the metadata; the user's recent items show.
  ASSERT_EQ(call("POST", "/api/feedback", "[" + fb("like", "ann", "book") + "]").status, 200);
  u = parse(call("GET", "/api/user/ann"));
  EXPECT_EQ(u["Comment"], "changed");
  ASSERT_EQ(u["Recent"].size(), 1u);

  // A user without metadata reads back Gorse's empty values.
  ASSERT_EQ(call("POST", "/api/feedback", "[" + fb("like", "bo", "book") + "]").status, 200);
  u = parse(call("GET", "/api/user/bo"));
  EXPECT_TRUE(u["Labels"].is_null());
  EXPECT_EQ(u["Comment"], "");
  EXPECT_TRUE(u["Subscribe"].is_null());

  ASSERT_EQ(parse(call("DELETE", "/api/user/ann"))["RowAffected"], 1);
  EXPECT_EQ(call("GET", "/api/user/ann").status, 404);
  auto p = call("PATCH", "/api/user/ann", R"({"Comment":"x"})");
  EXPECT_EQ(p.status, 404) << "PATCH does not create a deleted user";
  EXPECT_EQ(call("GET", "/api/user/ann").status, 404);
  // Inserting again starts from nothing.
  ASSERT_EQ(call("POST", "/api/user", R"({"UserId":"ann"})").status, 200);
  u = parse(call("GET", "/api/user/ann"));
  EXPECT_EQ(u["Comment"], "");
  EXPECT_EQ(u["Recent"], json::array());
}

TEST_F(HttpUsersTest, InsertManyAndListEveryUserExactlyOnce) {
  json batch = json::array();
  std::multiset<std::string> want;
  for (int k = 0; k < 57; ++k) {
    const auto id = "user-" + std::to_string(k);
    batch.push_back({{"UserId", id}, {"Comment", "c" + std::to_string(k)}});
    want.insert(id);
  }
  auto r = call("POST", "/api/users", batch.dump());
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["RowAffected"], 57);
  // Users that only sent feedback are listed too.
  ASSERT_EQ(call("POST", "/api/feedback", "[" + fb("view", "fb-only", "i") + "]").status, 200);
  want.insert("fb-only");
  for (std::size_t n : {1u, 7u, 100u}) {
    int pages = 0;
    EXPECT_EQ(list_all(n, &pages), want) << "pages of " << n;
    if (n == 1) {
      EXPECT_GE(pages, 58);
    }
  }
  auto page = parse(call("GET", "/api/users?n=5"));
  ASSERT_EQ(page["Users"].size(), 5u);
  EXPECT_FALSE(page["Cursor"].get<std::string>().empty());
  EXPECT_TRUE(page["Users"][0].contains("Comment"));
}

TEST_F(HttpUsersTest, BadInputIsRefusedNamingTheField) {
  auto expect_400 = [&](const std::string& method, const std::string& target,
                        const std::string& body, const std::string& names) {
    auto r = call(method, target, body);
    EXPECT_EQ(r.status, 400) << body << " -> " << r.body;
    EXPECT_NE(r.body.find(names), std::string::npos) << body << " -> " << r.body;
  };
  expect_400("POST", "/api/user", R"({"Comment":"no id"})", "body.UserId");
  expect_400("POST", "/api/user", R"({"UserId":7})", "body.UserId");
  expect_400("POST", "/api/user", R"({"UserId":"a","Comment":5})", "body.Comment");
  expect_400("POST", "/api/user", R"({"UserId":"a","Subscribe":"x"})", "body.Subscribe");
  expect_400("POST", "/api/user", R"({"UserId":"a","Subscribe":["x",1]})", "Subscribe[1]");
  expect_400("POST", "/api/users", R"([{"UserId":"a"},{"UserId":""}])", "[1].UserId");
  expect_400("POST", "/api/users", R"({"UserId":"a"})", "JSON array");
  expect_400("POST", "/api/user",
             json{{"UserId", "a"}, {"Comment", std::string(5000, 'x')}}.dump(), "Comment");
  expect_400("GET", "/api/users?cursor=nonsense", "", "cursor");
  expect_400("GET", "/api/users?cursor=99.0", "", "cursor");
  expect_400("GET", "/api/users?n=0", "", "n");
  EXPECT_EQ(call("GET", "/api/user/nobody").status, 404);
  EXPECT_EQ(call("PATCH", "/api/user/nobody", R"({"Comment":"x"})").status, 404);
  // Nothing of the refused requests was stored.
  EXPECT_EQ(list_all(100), std::multiset<std::string>{});
}

TEST(HttpUsersDurability, UsersSurviveARestartFromTheLogAndFromACheckpoint) {
  rtrec::storage_test::temp_dir dir;
  for (bool checkpoint : {false, true}) {
    SCOPED_TRACE(checkpoint ? "from a checkpoint" : "from the log");
    const std::string id = checkpoint ? "cp-user" : "log-user";
    rtrec::service_options eo;
    eo.worker_threads = 2;
    eo.call_timeout = std::chrono::seconds(10);
    eo.durability.data_dir = dir.data_dir();
    eo.durability.snapshot_on_stop = checkpoint;
    {
      rtrec::service svc{eo};
      rtrec::engine::user_patch p;
      p.set_labels = true;
      p.labels = R"(["vip"])";
      p.set_subscribe = true;
      p.subscribe = {"a", "b"};
      auto r = svc.put_user(id, p);
      ASSERT_TRUE(r) << r.error().to_string();
      EXPECT_TRUE(*r) << "created";
    }
    rtrec::service again{eo};
    auto u = again.user(id);
    ASSERT_TRUE(u);
    ASSERT_TRUE(u->known);
    EXPECT_EQ(u->meta.labels, R"(["vip"])");
    EXPECT_EQ(u->meta.subscribe, (std::vector<std::string>{"a", "b"}));
    auto listed = again.list_users("", 100);
    ASSERT_TRUE(listed);
    EXPECT_TRUE(listed->cursor.empty());
  }
}

}  // namespace
