// Write-back on GET /api/recommend/{user} (Gorse's write-back-type and
// write-back-delay): the answered items become feedback of that type, at
// once or when the delay has passed on the service clock (the test's), each
// item once however often it is written back. Delayed write-backs are run by
// the test after it moves the clock (write_back_queue::run_due), never waited
// for with a sleep.
#include "tests/http/http_fixture.hpp"

#include "apps/http/json_io.hpp"

#include <atomic>
#include <memory>
#include <set>

namespace {

using rtrec::testing::http_fixture;
using nlohmann::json;

constexpr std::int64_t t0 = 1'700'000'000'000;

class HttpWriteBackTest : public http_fixture {
 protected:
  void SetUp() override {
    start({}, {}, small_engine(), [now = now_] { return now->load(); });
    // bob and carol like book-1..3; alice likes book-1.
    std::string body = "[";
    for (const char* u : {"bob", "carol"})
      for (const char* i : {"book-1", "book-2", "book-3"})
        body += fb("like", u, i) + ",";
    body += fb("like", "alice", "book-1") + "]";
    auto r = call("POST", "/api/feedback", body);
    ASSERT_EQ(r.status, 200) << r.body;
    ASSERT_TRUE(eng_->flush());
  }

  // alice's recent items (newest first) as "item:type@timestamp".
  std::vector<std::string> recent(const std::string& user) {
    std::vector<std::string> out;
    auto r = call("GET", "/api/user/" + user);
    EXPECT_EQ(r.status, 200) << r.body;
    const auto body = parse(r);  // not parse(r)["Recent"]: it would dangle in the loop
    for (const auto& x : body["Recent"])
      out.push_back(x["ItemId"].get<std::string>() + ":" + x["FeedbackType"].get<std::string>() +
                    "@" + x["Timestamp"].get<std::string>());
    return out;
  }

  double metric(const std::string& line_start) {
    auto text = call("GET", "/metrics").body;
    auto pos = text.find("\n" + line_start + " ");
    if (pos == std::string::npos)
      return -1;
    return std::stod(text.substr(pos + line_start.size() + 2));
  }

  static std::vector<std::string> ids(const json& arr) {
    std::vector<std::string> out;
    for (const auto& x : arr)
      out.push_back(x.get<std::string>());
    return out;
  }

  std::shared_ptr<std::atomic<std::int64_t>> now_ =
    std::make_shared<std::atomic<std::int64_t>>(t0);
};

TEST_F(HttpWriteBackTest, WithoutDelayTheItemsAreStoredBeforeTheAnswer) {
  auto r = call("GET", "/api/recommend/alice?n=2&write-back-type=read");
  ASSERT_EQ(r.status, 200) << r.body;
  auto items = ids(parse(r));
  ASSERT_EQ(std::set<std::string>(items.begin(), items.end()),
            (std::set<std::string>{"book-2", "book-3"}));
  const auto at = rtrec::http::format_timestamp(t0);
  // "read" is rtrec's view; stored for alice with the request's time, in
  // the answer's order (Recent is newest first).
  EXPECT_EQ(recent("alice"), (std::vector<std::string>{items[1] + ":view@" + at,
                                                       items[0] + ":view@" + at,
                                                       "book-1:like@" + at}));
  // Seen now: the next answer leaves them out.
  const auto next = parse(call("GET", "/api/recommend/alice?n=5"));
  for (const auto& x : next)
    EXPECT_TRUE(x != "book-2" && x != "book-3") << next.dump();
  EXPECT_EQ(metric("rtrec_write_back_events_total{outcome=\"applied\"}"), 2);
}

TEST_F(HttpWriteBackTest, ScoredAnswerWritesBackToo) {
  auto r = call("GET", "/api/recommend/alice?n=1&write-back-type=like", {},
                {{"X-API-Version", "2"}});
  ASSERT_EQ(r.status, 200) << r.body;
  ASSERT_EQ(parse(r).size(), 1u);
  EXPECT_GT(parse(r)[0]["Score"].get<double>(), 0);
  EXPECT_EQ(recent("alice").front(), parse(r)[0]["Id"].get<std::string>() + ":like@" +
                                       rtrec::http::format_timestamp(t0));
}

TEST_F(HttpWriteBackTest, DelayedWriteBackWaitsForTheClockAndCountsOnce) {
  const std::string target = "/api/recommend/alice?n=2&write-back-type=read&write-back-delay=10m";
  auto first = call("GET", target);
  ASSERT_EQ(first.status, 200) << first.body;
  const auto items = ids(parse(first));
  ASSERT_EQ(items.size(), 2u);
  // Not stored yet: alice is still offered the same items (Gorse's delay).
  EXPECT_EQ(recent("alice").size(), 1u);
  now_->store(t0 + 60'000);
  auto second = call("GET", target);
  ASSERT_EQ(parse(second), parse(first));
  EXPECT_EQ(srv_->write_backs().pending_events(), 4u);
  EXPECT_EQ(metric("rtrec_write_back_pending"), 4);
  // 9 minutes in: the first write-back is not due yet.
  now_->store(t0 + 9 * 60'000);
  srv_->write_backs().run_due();
  EXPECT_EQ(recent("alice").size(), 1u);
  // 10 minutes: the first is due (timestamp t0 + 10m); 11 minutes: the
  // second, whose events have the same ids: duplicates, applied once.
  now_->store(t0 + 10 * 60'000);
  srv_->write_backs().run_due();
  const auto at = rtrec::http::format_timestamp(t0 + 10 * 60'000);
  EXPECT_EQ(recent("alice"),
            (std::vector<std::string>{items[1] + ":view@" + at, items[0] + ":view@" + at,
                                      "book-1:like@" + rtrec::http::format_timestamp(t0)}));
  now_->store(t0 + 11 * 60'000);
  srv_->write_backs().run_due();
  EXPECT_EQ(recent("alice").size(), 3u);
  EXPECT_EQ(srv_->write_backs().pending_events(), 0u);
  EXPECT_EQ(metric("rtrec_write_back_events_total{outcome=\"applied\"}"), 2);
  EXPECT_EQ(metric("rtrec_write_back_events_total{outcome=\"duplicate\"}"), 2);
  EXPECT_EQ(metric("rtrec_write_back_delayed_total"), 4);
  const auto after = parse(call("GET", "/api/recommend/alice?n=5"));
  for (const auto& x : after)
    EXPECT_TRUE(x != "book-2" && x != "book-3") << after.dump();
}

TEST_F(HttpWriteBackTest, ZeroOrNegativeDelayIsImmediateWithThatTimestamp) {
  auto a = call("GET", "/api/recommend/alice?n=1&write-back-type=read&write-back-delay=-1h30m");
  ASSERT_EQ(a.status, 200) << a.body;
  EXPECT_EQ(recent("alice").front(), parse(a)[0].get<std::string>() + ":view@" +
                                       rtrec::http::format_timestamp(t0 - 90 * 60'000));
  auto b = call("GET", "/api/recommend/alice?n=1&write-back-type=read&write-back-delay=0h0m0s");
  ASSERT_EQ(b.status, 200) << b.body;
  EXPECT_NE(parse(b), parse(a));
  EXPECT_EQ(recent("alice").front(),
            parse(b)[0].get<std::string>() + ":view@" + rtrec::http::format_timestamp(t0));
}

TEST_F(HttpWriteBackTest, EmptyParametersAsGorsesGoClientSendsThemWriteNothing) {
  const auto before = applied();
  auto r = call("GET", "/api/recommend/alice?write-back-type=&write-back-delay=&n=2&offset=0");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r).size(), 2u);
  // A delay alone writes nothing either (Gorse writes back only with a type).
  ASSERT_EQ(call("GET", "/api/recommend/alice?write-back-delay=5m").status, 200);
  EXPECT_EQ(applied(), before);
  EXPECT_EQ(srv_->write_backs().pending_events(), 0u);
}

TEST_F(HttpWriteBackTest, BadParametersAreRefusedNamingThem) {
  const auto before = applied();
  for (const auto& [query, field] : std::vector<std::pair<std::string, std::string>>{
         {"write-back-type=bogus", "write-back-type"},
         {"write-back-type=read&write-back-delay=10", "write-back-delay"},
         {"write-back-type=read&write-back-delay=10x", "write-back-delay"},
         {"write-back-type=read&write-back-delay=1h-", "write-back-delay"},
         {"write-back-type=read&write-back-delay=-1000000h", "write-back-delay"},
         {"write-back-type=read&write-back-delay=99999999999h", "write-back-delay"}}) {
    SCOPED_TRACE(query);
    auto r = call("GET", "/api/recommend/alice?" + query);
    EXPECT_EQ(r.status, 400) << r.body;
    EXPECT_NE(parse(r)["error"].get<std::string>().find(field), std::string::npos) << r.body;
  }
  EXPECT_EQ(applied(), before);
}

TEST_F(HttpWriteBackTest, DelayedWriteBacksBeyondTheLimitGet503) {
  TearDown();
  rtrec::http::api_options ao;
  ao.write_back.max_pending_events = 3;
  start(ao, {}, small_engine(), [now = now_] { return now->load(); });
  auto body = "[" + fb("like", "bob", "x1") + "," + fb("like", "bob", "x2") + "]";
  ASSERT_EQ(call("POST", "/api/feedback", body).status, 200);
  ASSERT_TRUE(eng_->flush());
  const std::string target = "/api/recommend/ann?n=2&write-back-type=read&write-back-delay=1m";
  EXPECT_EQ(call("GET", target).status, 200);
  auto refused = call("GET", target);
  EXPECT_EQ(refused.status, 503) << refused.body;
  EXPECT_NE(refused.body.find("max-write-back-pending"), std::string::npos) << refused.body;
  EXPECT_EQ(srv_->write_backs().pending_events(), 2u);
}

}  // namespace

// A delayed write-back is in the data directory's journal before the answer:
// `rtrec serve` killed with SIGKILL and restarted on the same directory still
// holds it (and an immediate write-back is in the log like any feedback).
#include "tests/http/serve_process.hpp"

namespace {

TEST(WriteBackProcess, DelayedWriteBacksSurviveAKill) {
  namespace fs = std::filesystem;
  const auto data = fs::temp_directory_path() /
                    ("rtrec_write_back_kill_" + std::to_string(::getpid()));
  fs::remove_all(data);
  auto pending = [](rtrec::testing::http_client& c) {
    auto text = c.request("GET", "/metrics").body;
    auto pos = text.find("\nrtrec_write_back_pending ");
    return pos == std::string::npos ? -1.0 : std::stod(text.substr(pos + 26));
  };
  {
    rtrec::testing::serve_process p{{}, {}, data.string()};
    rtrec::testing::http_client c{p.port()};
    ASSERT_EQ(c.request("POST", "/api/feedback",
                        R"([{"FeedbackType":"like","UserId":"bob","ItemId":"b1"},
                            {"FeedbackType":"like","UserId":"bob","ItemId":"b2"},
                            {"FeedbackType":"like","UserId":"alice","ItemId":"b1"}])")
                .status,
              200);
    auto later = c.request("GET", "/api/recommend/alice?write-back-type=read&write-back-delay=1h");
    ASSERT_EQ(later.status, 200) << later.body;
    EXPECT_EQ(later.body, R"(["b2"])");
    // The item side may lag the acknowledgement (as in ReadmeWalkthrough).
    for (int k = 0; k < 1000; ++k)
      if (nlohmann::json::parse(c.request("GET", "/api/popular").body).size() == 2)
        break;
    // carol is new: popular items, stored at once as her likes.
    auto now = c.request("GET", "/api/recommend/carol?write-back-type=like");
    ASSERT_EQ(now.status, 200) << now.body;
    ASSERT_EQ(nlohmann::json::parse(now.body).size(), 2u) << now.body;
    EXPECT_EQ(pending(c), 1);
    p.kill9();
  }
  rtrec::testing::serve_process p{{}, {}, data.string()};
  rtrec::testing::http_client c{p.port()};
  EXPECT_EQ(pending(c), 1) << p.log();
  EXPECT_NE(p.log().find("1 delayed write-backs (1 events) reloaded"), std::string::npos)
    << p.log();
  // Not due for an hour: alice has only her like.
  auto alice = nlohmann::json::parse(c.request("GET", "/api/user/alice").body);
  EXPECT_EQ(alice["Recent"].size(), 1u) << alice.dump();
  auto carol = nlohmann::json::parse(c.request("GET", "/api/user/carol").body);
  ASSERT_EQ(carol["Recent"].size(), 2u) << carol.dump();
  EXPECT_EQ(carol["Recent"][0]["FeedbackType"], "like");
  EXPECT_EQ(p.terminate(), 0) << p.log();
  fs::remove_all(data);
}

}  // namespace
