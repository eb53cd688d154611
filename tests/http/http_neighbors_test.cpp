// User neighbors over HTTP in Gorse's shapes: GET /api/user/{id}/neighbors
// and Gorse v0.5's /api/user-to-user/neighbors/{id}, [{"Id","Score"}], best
// first, paged, equal to the engine's answer; a forgotten user is nobody's
// neighbor; unknown names, users and bad parameters get clear answers.
#include "tests/http/http_fixture.hpp"

namespace {

using rtrec::testing::http_fixture;
using nlohmann::json;

class HttpNeighborsTest : public http_fixture {
 protected:
  // alice: a b c; bob: a b (two in common with alice); carol: c d (one);
  // dave: z (none).
  void SetUp() override {
    start();
    std::string body = "[";
    for (const auto& [u, i] : std::vector<std::pair<const char*, const char*>>{
           {"alice", "a"}, {"alice", "b"}, {"alice", "c"}, {"bob", "a"}, {"bob", "b"},
           {"carol", "c"}, {"carol", "d"}, {"dave", "z"}})
      body += fb("like", u, i) + ",";
    body.back() = ']';
    auto r = call("POST", "/api/feedback", body);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(eng_->flush());
  }
};

TEST_F(HttpNeighborsTest, SimilarUsersBestFirstAsTheEngineAnswers) {
  auto r = call("GET", "/api/user/alice/neighbors");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto got = parse(r);
  ASSERT_EQ(got.size(), 2u) << got.dump();
  EXPECT_EQ(got[0]["Id"], "bob");
  EXPECT_EQ(got[1]["Id"], "carol");
  EXPECT_GT(got[0]["Score"].get<double>(), got[1]["Score"].get<double>());
  auto want = eng_->user_neighbors("alice", 10);
  ASSERT_TRUE(want);
  ASSERT_EQ(want->size(), 2u);
  for (std::size_t k = 0; k < 2; ++k) {
    EXPECT_EQ(got[k]["Id"], (*want)[k].item);
    EXPECT_DOUBLE_EQ(got[k]["Score"].get<double>(), (*want)[k].score);
  }
  // Gorse v0.5's name answers the same; paging.
  EXPECT_EQ(call("GET", "/api/user-to-user/neighbors/alice").body, r.body);
  auto page = parse(call("GET", "/api/user/alice/neighbors?n=1&offset=1"));
  ASSERT_EQ(page.size(), 1u);
  EXPECT_EQ(page[0]["Id"], "carol");
  EXPECT_EQ(parse(call("GET", "/api/user-to-user/neighbors/alice?n=1")).size(), 1u);
  // Gorse's Go client puts a trailing slash on the path.
  EXPECT_EQ(call("GET", "/api/user/alice/neighbors/?n=10&offset=0").body, r.body);
}

TEST_F(HttpNeighborsTest, NeighborsFollowNewFeedbackAndForgottenUsers) {
  // dave likes a, b and c: now the closest to alice.
  auto r = call("POST", "/api/feedback",
                "[" + fb("like", "dave", "a") + "," + fb("like", "dave", "b") + "," +
                  fb("like", "dave", "c") + "]");
  ASSERT_EQ(r.status, 200);
  ASSERT_TRUE(eng_->flush());
  auto got = parse(call("GET", "/api/user/alice/neighbors?n=1"));
  ASSERT_EQ(got.size(), 1u);
  EXPECT_EQ(got[0]["Id"], "dave");
  ASSERT_EQ(call("DELETE", "/api/user/dave").status, 200);
  got = parse(call("GET", "/api/user/alice/neighbors"));
  ASSERT_EQ(got.size(), 2u) << got.dump();
  EXPECT_EQ(got[0]["Id"], "bob");
}

TEST_F(HttpNeighborsTest, NobodyToCompareWithIsAnEmptyList) {
  EXPECT_EQ(call("GET", "/api/user/nobody/neighbors").body, "[]");
  EXPECT_EQ(call("GET", "/api/user/dave/neighbors").body, "[]");
}

TEST_F(HttpNeighborsTest, BadRequestsNameWhatWasWrong) {
  auto name = call("GET", "/api/user-to-user/similar/alice");
  EXPECT_EQ(name.status, 404);
  EXPECT_NE(name.body.find("rtrec has \\\"neighbors\\\""), std::string::npos) << name.body;
  auto n = call("GET", "/api/user/alice/neighbors?n=abc");
  EXPECT_EQ(n.status, 400);
  EXPECT_NE(n.body.find("query parameter n"), std::string::npos) << n.body;
  auto offset = call("GET", "/api/user/alice/neighbors?offset=20000");
  EXPECT_EQ(offset.status, 400);
  EXPECT_NE(offset.body.find("offset"), std::string::npos) << offset.body;
  auto method = call("POST", "/api/user/alice/neighbors", "[]");
  EXPECT_EQ(method.status, 405);
  EXPECT_EQ(call("GET", "/api/user/a%01b/neighbors").status, 400);
}

}  // namespace
