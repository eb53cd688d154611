// POST /api/session/recommend with the feedback elements Gorse's clients
// send, copied from each client's code: PyGorse's README (strings as the
// caller writes them), gorse-go (time.Time: RFC 3339 with nanoseconds and
// offsets, the zero time when unset, UserId "" for a session), gorse-js
// (Date -> toISOString()), Gorse.NET (defaults: "" strings, Value 0) and
// gorse4j (Labels and Comment null). A session is ordered by its timestamps,
// as Gorse orders it, whatever order the array is in.
#include "tests/http/http_fixture.hpp"

#include "apps/http/json_io.hpp"

#include <algorithm>

namespace {

using rtrec::testing::http_fixture;
using nlohmann::json;
using rtrec::engine::event;
using rtrec::engine::event_type;

class HttpSessionTest : public http_fixture {
 protected:
  // bob likes a and x, carol likes b and y: a session's most recent item
  // decides whether x (after a) or y (after b) comes first.
  void SetUp() override {
    start();
    auto r = call("POST", "/api/feedback",
                  "[" + fb("like", "bob", "a") + "," + fb("like", "bob", "x") + "," +
                    fb("like", "carol", "b") + "," + fb("like", "carol", "y") + "]");
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(eng_->flush());
  }

  std::vector<std::string> session(const std::string& body) {
    auto r = call("POST", "/api/session/recommend?n=2", body);
    EXPECT_EQ(r.status, 200) << r.body;
    std::vector<std::string> out;
    const auto answer = parse(r);
    for (const auto& x : answer)
      out.push_back(x["Id"].get<std::string>());
    return out;
  }

  // What the engine answers for a session of likes of `items`, oldest first.
  std::vector<std::string> engine_answer(const std::vector<std::string>& items) {
    std::vector<event> events;
    for (const auto& i : items)
      events.push_back({"", i, event_type::like, 0, 1, ""});
    auto want = eng_->session_recommend(events, {.n = 2, .offset = 0, .filter = {},
                                                 .exclude_seen = true});
    EXPECT_TRUE(want);
    std::vector<std::string> out;
    for (const auto& x : *want)
      out.push_back(x.item);
    return out;
  }
};

TEST_F(HttpSessionTest, TheMostRecentItemDecidesTheOrder) {
  // The premise of the tests below: order matters.
  EXPECT_EQ(engine_answer({"a", "b"}), (std::vector<std::string>{"y", "x"}));
  EXPECT_EQ(engine_answer({"b", "a"}), (std::vector<std::string>{"x", "y"}));
}

// PyGorse's README, session_recommend(feedbacks) with its literal dicts.
TEST_F(HttpSessionTest, PyGorseReadmePayload) {
  const auto body = R"([
    { "FeedbackType": "star", "UserId": "bob", "ItemId": "b", "Timestamp": "2022-02-25T00:00:00Z" },
    { "FeedbackType": "star", "UserId": "bob", "ItemId": "a", "Timestamp": "2022-02-24T00:00:00Z" }
  ])";
  // Newest first in the array; by time, b is the most recent.
  EXPECT_EQ(session(body), engine_answer({"a", "b"}));
  // Nothing stored: the UserId of a session element is ignored.
  EXPECT_EQ(call("GET", "/api/user/bob").body.find("\"ItemId\":\"b\""), std::string::npos);
}

// gorse-go: Feedback{FeedbackType, UserId, ItemId, Value, Timestamp time.Time}
// marshalled by encoding/json (RFC 3339 with nanoseconds, the zone's offset;
// an unset time.Time is "0001-01-01T00:00:00Z"; an unset UserId is "").
TEST_F(HttpSessionTest, GorseGoClientPayload) {
  const auto body = R"([{"FeedbackType":"star","UserId":"","ItemId":"a","Value":0,"Timestamp":"2022-02-25T08:00:00.123456789+08:00"},{"FeedbackType":"star","UserId":"","ItemId":"b","Value":0,"Timestamp":"2022-02-24T16:00:00.5-08:00"}])";
  // a at 00:00:00.123 UTC, b at 00:00:00.5 UTC: b is the most recent.
  EXPECT_EQ(session(body), engine_answer({"a", "b"}));
  // Unset times are the zero time: the oldest, in the order sent.
  const auto unset = R"([{"FeedbackType":"star","UserId":"","ItemId":"b","Value":0,"Timestamp":"0001-01-01T00:00:00Z"},{"FeedbackType":"star","UserId":"","ItemId":"a","Value":0,"Timestamp":"0001-01-01T00:00:00Z"}])";
  EXPECT_EQ(session(unset), engine_answer({"b", "a"}));
}

// gorse-js: Feedback objects with Date timestamps (axios sends
// JSON.stringify(date) = toISOString(), milliseconds and "Z"), Value, Comment.
TEST_F(HttpSessionTest, GorseJsClientPayload) {
  const auto body = R"([{"FeedbackType":"like","UserId":"","ItemId":"b","Value":1,"Timestamp":"2023-06-02T00:00:00.000Z","Comment":""},{"FeedbackType":"like","UserId":"","ItemId":"a","Value":1,"Timestamp":"2023-06-03T00:00:00.000Z","Comment":""}])";
  EXPECT_EQ(session(body), engine_answer({"b", "a"}));
}

// Gorse.NET: its Feedback class with the defaults (UserId "", Timestamp "",
// Value 0.0) and System.Text.Json's DateTime shape (7 fraction digits, no
// offset) where the caller set one.
TEST_F(HttpSessionTest, GorseDotNetClientPayload) {
  const auto body = R"([{"FeedbackType":"star","UserId":"","ItemId":"a","Value":0,"Timestamp":""},{"FeedbackType":"star","UserId":"","ItemId":"b","Value":0,"Timestamp":"2024-05-01T12:30:00.1234567"}])";
  // "" is no time: the oldest.
  EXPECT_EQ(session(body), engine_answer({"a", "b"}));
}

// gorse4j: Jackson writes every property, nulls included.
TEST_F(HttpSessionTest, Gorse4jClientPayload) {
  const auto body = R"([{"FeedbackType":"star","UserId":"bob","ItemId":"b","Value":0.0,"Timestamp":"2022-02-24T00:00:00Z","Labels":null,"Comment":null},{"FeedbackType":"star","UserId":"bob","ItemId":"a","Value":0.0,"Timestamp":"2022-02-24T00:00:01Z","Labels":null,"Comment":null}])";
  EXPECT_EQ(session(body), engine_answer({"b", "a"}));
}

TEST_F(HttpSessionTest, WithoutTimestampsTheArrayOrderIsKept) {
  EXPECT_EQ(session(R"([{"FeedbackType":"like","ItemId":"b"},{"FeedbackType":"like","ItemId":"a"}])"),
            engine_answer({"b", "a"}));
  EXPECT_EQ(session(R"([{"FeedbackType":"like","ItemId":"a"},{"FeedbackType":"like","ItemId":"b"}])"),
            engine_answer({"a", "b"}));
}

TEST_F(HttpSessionTest, BadElementsNameTheirField) {
  for (const auto& [body, field] : std::vector<std::pair<std::string, std::string>>{
         {R"([{"FeedbackType":"like","ItemId":""}])", "[0].ItemId"},
         {R"([{"FeedbackType":"like","UserId":5,"ItemId":"a"}])", "[0].UserId"},
         {R"([{"FeedbackType":"like","ItemId":"a","Timestamp":"0001-01-02T00:00:00Z"}])",
          "[0].Timestamp"},
         {R"([{"FeedbackType":"like","ItemId":"a"},{"FeedbackType":"nope","ItemId":"b"}])",
          "[1].FeedbackType"}}) {
    SCOPED_TRACE(body);
    auto r = call("POST", "/api/session/recommend", body);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(r.body.find(field), std::string::npos) << r.body;
  }
}

// /api/feedback reads the same shapes: Go's zero time means "now" there.
TEST_F(HttpSessionTest, FeedbackTakesTheZeroTimeAsNow) {
  auto r = call("POST", "/api/feedback",
                R"([{"FeedbackType":"star","UserId":"gopher","ItemId":"a","Value":0,"Timestamp":"0001-01-01T00:00:00Z","EventId":""}])");
  ASSERT_EQ(r.status, 200) << r.body;
  const auto user = parse(call("GET", "/api/user/gopher"));
  ASSERT_EQ(user["Recent"].size(), 1u);
  EXPECT_GT(rtrec::http::parse_timestamp(user["Recent"][0]["Timestamp"].get<std::string>()),
            eng_->now_ms() - 3'600'000);
}

}  // namespace
