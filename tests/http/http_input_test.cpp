// Bad and hostile input over a real connection: every class of bad request
// gets a 4xx with a JSON error naming the problem, and nothing of a refused
// request is applied. Also API-key auth, on and off, on every endpoint.
#include "tests/http/http_fixture.hpp"

#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>

#include <fmt/format.h>

#include <sstream>

namespace {

using rtrec::testing::http_client;
using rtrec::testing::http_fixture;
using nlohmann::json;

class HttpInputTest : public http_fixture {
 protected:
  void SetUp() override {
    rtrec::http::server_options so;
    so.max_body_bytes = 64 * 1024;
    so.max_header_bytes = 4 * 1024;
    start({}, so);
  }

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
};

TEST_F(HttpInputTest, FeedbackBodiesNameTheWrongField) {
  struct bad {
    std::string body;
    std::string what;
  };
  const std::vector<bad> cases{
    {"[{\"FeedbackType\":\"like\",\"UserId\":\"u\",", "malformed JSON at byte"},
    {"not json", "malformed JSON"},
    {"{\"FeedbackType\":\"like\"}", "expected a JSON array"},
    {"[1]", "[0]: expected a feedback object, got a number"},
    {R"([{"UserId":"u","ItemId":"i"}])", "[0].FeedbackType: missing"},
    {R"([{"FeedbackType":"smile","UserId":"u","ItemId":"i"}])", "[0].FeedbackType: unknown type"},
    {R"([{"FeedbackType":7,"UserId":"u","ItemId":"i"}])", "[0].FeedbackType: expected a string"},
    {R"([{"FeedbackType":"like","ItemId":"i"}])", "[0].UserId: missing"},
    {R"([{"FeedbackType":"like","UserId":12,"ItemId":"i"}])", "[0].UserId: expected a string, got a number"},
    {R"([{"FeedbackType":"like","UserId":"u"}])", "[0].ItemId: missing"},
    {R"([{"FeedbackType":"like","UserId":"u","ItemId":""}])", "[0].ItemId: is empty"},
    {R"([{"FeedbackType":"like","UserId":"a/b","ItemId":"i"}])", "[0].UserId: contains '/'"},
    {"[{\"FeedbackType\":\"like\",\"UserId\":\"a\\u0001b\",\"ItemId\":\"i\"}]",
     "[0].UserId: contains '/' or a control character"},
    {R"([{"FeedbackType":"like","UserId":")" + std::string(300, 'x') + R"(","ItemId":"i"}])",
     "[0].UserId: is longer than 256 bytes"},
    {R"([{"FeedbackType":"rating","UserId":"u","ItemId":"i"}])", "[0].Value: missing"},
    {R"([{"FeedbackType":"rating","UserId":"u","ItemId":"i","Value":"5"}])", "[0].Value: expected a number"},
    {R"([{"FeedbackType":"rating","UserId":"u","ItemId":"i","Value":99}])", "[0].Value: 99 is outside"},
    {R"([{"FeedbackType":"like","UserId":"u","ItemId":"i","Timestamp":"yesterday"}])",
     "[0].Timestamp: \"yesterday\" is not an RFC 3339 time"},
    {R"([{"FeedbackType":"like","UserId":"u","ItemId":"i","Timestamp":true}])",
     "[0].Timestamp: expected an RFC 3339 string or Unix seconds, got a boolean"},
    {R"([{"FeedbackType":"like","UserId":"u","ItemId":"i","Timestamp":-5}])", "[0].Timestamp: -5"},
    {R"([{"FeedbackType":"like","UserId":"u","ItemId":"i","EventId":[1]}])", "[0].EventId: expected a string"},
    {std::string(40, '[') + std::string(40, ']'), "nested deeper than 32"},
  };
  for (const auto& c : cases) {
    SCOPED_TRACE(c.body.substr(0, 80));
    expect_error(call("POST", "/api/feedback", c.body), 400, c.what);
  }
  EXPECT_EQ(applied(), 0u);
}

TEST_F(HttpInputTest, NothingOfARefusedBatchIsApplied) {
  // Three good events and one bad one (the last): all refused.
  auto body = "[" + fb("like", "u1", "a") + "," + fb("like", "u2", "b") + "," +
              fb("like", "u3", "c") + R"(,{"FeedbackType":"like","UserId":"u4","ItemId":5}])";
  expect_error(call("POST", "/api/feedback", body), 400, "[3].ItemId: expected a string");
  ASSERT_TRUE(eng_->flush());
  EXPECT_EQ(applied(), 0u);
  EXPECT_EQ(call("GET", "/api/user/u1").status, 404);
  EXPECT_NE(call("GET", "/metrics").body.find("rtrec_http_feedback_invalid_total 4\n"),
            std::string::npos);
  // An item batch with one bad item writes none.
  expect_error(call("POST", "/api/items", R"([{"ItemId":"ok"},{"ItemId":"bad","IsHidden":"yes"}])"),
               400, "[1].IsHidden: expected true or false");
  EXPECT_EQ(call("GET", "/api/item/ok").status, 404);
}

TEST_F(HttpInputTest, ItemAndQueryErrors) {
  expect_error(call("POST", "/api/item", R"({"Categories":["a"]})"), 400, "body.ItemId: missing");
  expect_error(call("POST", "/api/item", R"({"ItemId":"x","Categories":"a"})"), 400,
               "body.Categories: expected an array of strings");
  expect_error(call("POST", "/api/item", R"({"ItemId":"x","Categories":["a/b"]})"), 400,
               "body.Categories[0]: contains '/'");
  expect_error(call("POST", "/api/item", R"({"ItemId":"x","Comment":5})"), 400,
               "body.Comment: expected a string");
  expect_error(call("PATCH", "/api/item/x", R"({})"), 400, "nothing to change");
  expect_error(call("PATCH", "/api/item/x", R"({"IsHidden":1})"), 400, "body.IsHidden");
  expect_error(call("GET", "/api/recommend/u?n=ten"), 400, "query parameter n: expected an integer");
  expect_error(call("GET", "/api/recommend/u?n=10001"), 400, "query parameter n");
  expect_error(call("GET", "/api/recommend/u?offset=-1"), 400, "query parameter offset");
  expect_error(call("GET", "/api/popular?n=6000&offset=6000"), 400, "n + offset");
  expect_error(call("GET", "/api/recommend/a%2Fb"), 400, "path: user id contains '/'");
  expect_error(call("GET", "/api/recommend/a%01b"), 400, "control character");
  expect_error(call("GET", "/api/recommend/a%zzb"), 400, "malformed %-escape");
  expect_error(call("GET", "/api/user/%7F"), 400, "control character");
  expect_error(call("GET", "/api/nothing/here"), 404, "no such endpoint");
  auto m = call("DELETE", "/api/feedback");
  expect_error(m, 405, "method DELETE is not allowed");
  EXPECT_EQ(m.header("allow"), "POST, PUT, GET");
  expect_error(call("POST", "/api/session/recommend", R"([{"FeedbackType":"like"}])"), 400,
               "[0].ItemId: missing");
}

TEST_F(HttpInputTest, UnsupportedEncodingsAndTypes) {
  const auto body = "[" + fb("like", "u", "i") + "]";
  expect_error(call("POST", "/api/feedback", body,
                    {{"Content-Type", "application/json"}, {"Content-Encoding", "gzip"}}),
               415, "Content-Encoding gzip is not supported");
  expect_error(call("POST", "/api/feedback", body, {{"Content-Type", "text/csv"}}), 415,
               "Content-Type text/csv is not supported");
  // A charset parameter is fine.
  EXPECT_EQ(call("POST", "/api/feedback", body,
                 {{"Content-Type", "application/json; charset=utf-8"}})
              .status,
            200);
  // Transfer codings other than chunked.
  auto gz = client().raw("POST /api/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: "
                         "application/json\r\nTransfer-Encoding: gzip, chunked\r\n\r\n"
                         "2\r\n[]\r\n0\r\n\r\n");
  expect_error(gz, 415, "Transfer-Encoding");
  auto gz2 = client().raw("POST /api/feedback HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n"
                          "\r\nxxxx");
  EXPECT_GE(gz2.status, 400);
  EXPECT_LT(gz2.status, 500);
  // Chunked that fits is accepted.
  auto chunked = client().raw("POST /api/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: "
                              "application/json\r\nTransfer-Encoding: chunked\r\n\r\n" +
                              fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body));
  EXPECT_EQ(chunked.status, 200) << chunked.body;
  EXPECT_EQ(applied(), 2u);
  // The coding and the media type compare without regard to case.
  auto upper = client().raw("POST /api/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: "
                            "Application/JSON  ; charset=utf-8\r\nTransfer-Encoding: CHUNKED"
                            "\r\n\r\n" +
                            fmt::format("{:x}\r\n{}\r\n0\r\n\r\n", body.size(), body));
  EXPECT_EQ(upper.status, 200) << upper.body;
}

TEST_F(HttpInputTest, OversizedBodiesAndHeaders) {
  const std::string big(100 * 1024, ' ');
  auto r = call("POST", "/api/feedback", "[" + big + "]");
  expect_error(r, 413, "request body larger than 65536 bytes");
  // Chunked bodies are bounded too, whatever the chunk sizes.
  std::string chunked = "POST /api/feedback HTTP/1.1\r\nHost: x\r\nContent-Type: "
                        "application/json\r\nTransfer-Encoding: chunked\r\n\r\n";
  for (int k = 0; k < 40; ++k)
    chunked += fmt::format("{:x}\r\n{}\r\n", 4096, std::string(4096, ' '));
  chunked += "0\r\n\r\n";
  expect_error(client().raw(chunked), 413, "request body larger than");
  // A header block over the limit.
  expect_error(call("GET", "/api/popular", {}, {{"X-Filler", std::string(8000, 'a')}}), 431,
               "request header larger than 4096 bytes");
  // Garbage instead of HTTP.
  expect_error(client().raw("HELLO THERE\r\n\r\n"), 400, "malformed HTTP request");
  // Too many feedback in one body.
  std::string many = "[";
  for (int k = 0; k < 10001; ++k)
    many += std::string(k ? "," : "") + "{}";
  many += "]";
  EXPECT_EQ(call("POST", "/api/feedback", many).status, 413);
  // The server is still healthy after all this.
  EXPECT_EQ(call("GET", "/api/health/live").status, 200);
  EXPECT_EQ(applied(), 0u);
}

class HttpAuthTest : public http_fixture {};

TEST_F(HttpAuthTest, KeyRequiredOnEveryEndpointAndNeverLogged) {
  const std::string key = "s3cret-key-do-not-log";
  std::ostringstream log;
  auto sink = std::make_shared<spdlog::sinks::ostream_sink_mt>(log);
  auto previous = spdlog::default_logger();
  spdlog::set_default_logger(std::make_shared<spdlog::logger>("capture", sink));
  spdlog::set_level(spdlog::level::trace);
  rtrec::http::api_options ao;
  ao.api_key = key;
  start(ao);
  const std::vector<std::pair<std::string, std::string>> endpoints{
    {"POST", "/api/feedback"},        {"PUT", "/api/feedback"},
    {"GET", "/api/recommend/u"},      {"POST", "/api/session/recommend"},
    {"GET", "/api/item/i/neighbors"}, {"GET", "/api/popular"},
    {"GET", "/api/latest"},           {"POST", "/api/item"},
    {"POST", "/api/items"},           {"GET", "/api/item/i"},
    {"PATCH", "/api/item/i"},         {"DELETE", "/api/item/i"},
    {"GET", "/api/user/u"},           {"DELETE", "/api/user/u"},
    {"GET", "/metrics"},              {"GET", "/api/health/live"},
    {"GET", "/api/health/ready"},     {"GET", "/no/such/path"},
    {"GET", "/api/items"},            {"PUT", "/api/item/i/category/c"},
    {"DELETE", "/api/item/i/category/c"},
    {"GET", "/api/non-personalized/popular"},
    {"GET", "/api/item-to-item/neighbors/i"},
    {"GET", "/api/user-to-user/neighbors/u"}, {"GET", "/api/user/u/neighbors"},
    {"POST", "/api/session/recommend/c"},
    {"GET", "/api/feedback"},         {"GET", "/api/feedback/like"},
    {"GET", "/api/feedback/u/i"},     {"DELETE", "/api/feedback/u/i"},
    {"GET", "/api/feedback/like/u/i"}, {"DELETE", "/api/feedback/like/u/i"},
    {"GET", "/api/user/u/feedback"},  {"GET", "/api/user/u/feedback/like"},
    {"GET", "/api/item/i/feedback"},  {"GET", "/api/item/i/feedback/like"},
    {"GET", "/api/bulk/users"},       {"GET", "/api/bulk/items"},
    {"GET", "/api/bulk/feedback"},    {"POST", "/api/bulk/users"},
    {"POST", "/api/bulk/items"},      {"POST", "/api/bulk/feedback"},
  };
  for (const auto& [method, target] : endpoints) {
    SCOPED_TRACE(method + " " + target);
    auto none = call(method, target, "[]");
    EXPECT_EQ(none.status, 401);
    EXPECT_NE(parse(none)["error"].get<std::string>().find("X-API-Key"), std::string::npos);
    EXPECT_EQ(call(method, target, "[]", {{"Content-Type", "application/json"},
                                          {"X-API-Key", key + "x"}})
                .status,
              401);
    EXPECT_EQ(call(method, target, "[]", {{"Content-Type", "application/json"},
                                          {"X-API-Key", key.substr(0, 5)}})
                .status,
              401);
    auto ok = call(method, target, "[]", {{"Content-Type", "application/json"}, {"X-API-Key", key}});
    EXPECT_NE(ok.status, 401) << ok.body;
  }
  auto fed = call("POST", "/api/feedback", "[" + fb("like", "u", "i") + "]",
                  {{"Content-Type", "application/json"}, {"X-API-Key", key}});
  EXPECT_EQ(fed.status, 200);
  EXPECT_NE(call("GET", "/metrics", {}, {{"X-API-Key", key}})
              .body.find(fmt::format("rtrec_http_auth_failures_total {}\n",
                                     3 * endpoints.size())),
            std::string::npos);
  TearDown();
  spdlog::set_default_logger(previous);
  EXPECT_EQ(log.str().find(key.substr(0, 6)), std::string::npos) << log.str();
  EXPECT_NE(log.str().find("listening"), std::string::npos);  // the capture worked
}

TEST_F(HttpAuthTest, NoKeyConfiguredMeansOpen) {
  start();
  EXPECT_EQ(call("GET", "/api/popular").status, 200);
  EXPECT_EQ(call("GET", "/api/popular", {}, {{"X-API-Key", "anything"}}).status, 200);
}

}  // namespace
