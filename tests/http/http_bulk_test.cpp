// Bulk import and export (/api/bulk/{users,items,feedback}) through the real
// server: JSON lines in and out in Gorse's shapes, Gorse's multipart upload,
// bad lines counted and named, bodies far over --max-body streamed (the
// server holds one piece and one batch), a streamed export read chunk by
// chunk, and a refused upload answered without reading its body.
#include "tests/http/http_fixture.hpp"

#include <fmt/format.h>

#include <cstdlib>
#include <memory>
#include <set>
#include <sstream>

namespace {

using rtrec::testing::http_fixture;
using nlohmann::json;

class HttpBulkTest : public http_fixture {
 protected:
  void SetUp() override { start(); }

  rtrec::testing::http_reply import(const std::string& what, const std::string& body,
                                    const std::string& type = "application/jsonl") {
    return call("POST", "/api/bulk/" + what, body, {{"Content-Type", type}});
  }

  // The body as HTTP/1.1 chunks of `chunk` bytes (a client streaming a file).
  rtrec::testing::http_reply import_chunked(const std::string& what, const std::string& body,
                                            std::size_t chunk) {
    std::string raw = "POST /api/bulk/" + what +
                      " HTTP/1.1\r\nHost: x\r\nContent-Type: application/jsonl\r\n"
                      "Transfer-Encoding: chunked\r\n\r\n";
    for (std::size_t pos = 0; pos < body.size(); pos += chunk) {
      const auto part = body.substr(pos, chunk);
      raw += fmt::format("{:x}\r\n", part.size()) + part + "\r\n";
    }
    raw += "0\r\n\r\n";
    return client().raw(raw);
  }

  static std::vector<json> lines_of(const std::string& body) {
    std::vector<json> out;
    std::istringstream in{body};
    for (std::string l; std::getline(in, l);)
      out.push_back(json::parse(l));
    return out;
  }
};

TEST_F(HttpBulkTest, UsersRoundTripAndBadLinesAreNamed) {
  const std::string body =
    R"({"UserId":"u1","Labels":{"age":30},"Comment":"first","Subscribe":["a"]})" "\n"
    R"({"UserId":"u2","Labels":["x"],"Comment":""})" "\r\n"
    "\n"
    R"({"UserId":7})" "\n"
    "not json\n"
    R"({"UserId":"u3"})";
  auto r = import("users", body);
  ASSERT_EQ(r.status, 200) << r.body;
  const auto report = parse(r);
  EXPECT_EQ(report["RowAffected"], 3);
  EXPECT_EQ(report["Lines"], 6);
  EXPECT_EQ(report["Errors"], 2);
  ASSERT_EQ(report["FirstErrors"].size(), 2u);
  EXPECT_EQ(report["FirstErrors"][0].get<std::string>().rfind("line 4: UserId", 0), 0u)
    << report.dump();
  EXPECT_EQ(report["FirstErrors"][1].get<std::string>().rfind("line 5: malformed JSON", 0), 0u)
    << report.dump();
  auto u1 = parse(call("GET", "/api/user/u1"));
  EXPECT_EQ(u1["Labels"], (json{{"age", 30}}));
  EXPECT_EQ(u1["Comment"], "first");
  // Export: one user a line, each as GET /api/users answers it.
  auto e = call("GET", "/api/bulk/users");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.header("content-type"), "application/jsonl");
  EXPECT_EQ(e.header("transfer-encoding"), "chunked");
  EXPECT_NE(e.header("content-disposition").find("users.jsonl"), std::string::npos);
  const auto all = parse(call("GET", "/api/users?n=100"))["Users"];
  std::set<std::string> got, want;
  for (const auto& x : lines_of(e.body))
    got.insert(x.dump());
  for (const auto& x : all)
    want.insert(x.dump());
  EXPECT_EQ(got, want);
  EXPECT_EQ(got.size(), 3u);
}

TEST_F(HttpBulkTest, ItemsRoundTripInGorsesShape) {
  const std::string body =
    R"({"ItemId":"vuejs:vue","IsHidden":false,"Labels":{"language":"JavaScript"},"Categories":["framework"],"Timestamp":"2022-02-24T00:00:00Z","Comment":"Vue.js framework"})" "\n"
    R"({"ItemId":"d3:d3","IsHidden":true,"Categories":[],"Timestamp":"2022-02-25T00:00:00Z","Labels":null,"Comment":""})" "\n"
    R"({"ItemId":"bad","Timestamp":"yesterday"})" "\n";
  auto r = import("items", body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["RowAffected"], 2);
  EXPECT_EQ(parse(r)["FirstErrors"][0].get<std::string>().rfind("line 3: Timestamp", 0), 0u)
    << r.body;
  auto e = call("GET", "/api/bulk/items");
  ASSERT_EQ(e.status, 200);
  auto items = lines_of(e.body);
  ASSERT_EQ(items.size(), 2u);
  std::map<std::string, json> by_id;
  for (auto& x : items)
    by_id[x["ItemId"].get<std::string>()] = x;
  EXPECT_EQ(by_id["vuejs:vue"], parse(call("GET", "/api/item/vuejs:vue")));
  EXPECT_EQ(by_id["vuejs:vue"]["Timestamp"], "2022-02-24T00:00:00Z");
  EXPECT_EQ(by_id["d3:d3"]["IsHidden"], true);
  // Re-importing the export gives the same items.
  auto again = import("items", e.body);
  EXPECT_EQ(parse(again)["RowAffected"], 2);
  EXPECT_EQ(lines_of(call("GET", "/api/bulk/items").body).size(), 2u);
}

// Gorse's dashboard and `curl -F file=@feedback.jsonl` upload a form.
TEST_F(HttpBulkTest, FeedbackFromAGorseMultipartUpload) {
  const std::string lines =
    R"({"FeedbackType":"star","UserId":"bob","ItemId":"a","Value":0,"Timestamp":"2022-02-24T00:00:00Z","Updated":"0001-01-01T00:00:00Z","Comment":""})" "\n"
    R"({"FeedbackType":"star","UserId":"bob","ItemId":"b","Value":0,"Timestamp":"2022-02-25T00:00:00Z","Comment":""})" "\n"
    R"({"FeedbackType":"star","UserId":"alice","ItemId":"a","Value":0,"Timestamp":"2022-02-26T00:00:00Z","Comment":""})" "\n"
    R"({"FeedbackType":"watch","UserId":"alice","ItemId":"c"})" "\n";
  const std::string body = "--------------------------d74496d66958873e\r\n"
                           "Content-Disposition: form-data; name=\"file\"; "
                           "filename=\"feedback.jsonl\"\r\n"
                           "Content-Type: application/octet-stream\r\n\r\n" +
                           lines + "\r\n--------------------------d74496d66958873e--\r\n";
  auto r = import("feedback", body,
                  "multipart/form-data; boundary=------------------------d74496d66958873e");
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["RowAffected"], 3);
  EXPECT_EQ(parse(r)["Errors"], 1);
  EXPECT_EQ(parse(r)["FirstErrors"][0].get<std::string>().rfind("line 4: FeedbackType", 0), 0u)
    << r.body;
  ASSERT_TRUE(eng_->flush());
  EXPECT_EQ(parse(call("GET", "/api/recommend/alice")), (json{"b"}));
  // A form without the "file" field.
  auto none = import("feedback", "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\n1\r\n--B--\r\n",
                     "multipart/form-data; boundary=B");
  EXPECT_EQ(none.status, 400) << none.body;
  EXPECT_NE(none.body.find("no part named"), std::string::npos) << none.body;
}

TEST_F(HttpBulkTest, EventIdsMakeAReImportCountOnce) {
  std::string body;
  for (int k = 0; k < 50; ++k)
    body += json{{"FeedbackType", "like"}, {"UserId", "u" + std::to_string(k % 7)},
                 {"ItemId", "i" + std::to_string(k)}, {"EventId", "e" + std::to_string(k)}}
              .dump() +
            "\n";
  EXPECT_EQ(parse(import("feedback", body))["RowAffected"], 50);
  const auto before = applied();
  auto again = parse(import("feedback", body));
  EXPECT_EQ(again["RowAffected"], 50);
  EXPECT_EQ(again["Duplicates"], 50);
  EXPECT_EQ(applied(), before);
}

// A body 16x larger than --max-body, sent in HTTP chunks: streamed through
// in pieces, never held whole (a whole-body read would answer 413).
TEST_F(HttpBulkTest, ImportsFarOverMaxBodyAreStreamed) {
  TearDown();
  rtrec::http::server_options so;
  so.max_body_bytes = 64 * 1024;
  start({}, so);
  std::string body;
  std::size_t n = 0;
  while (body.size() < 16 * so.max_body_bytes) {
    body += json{{"FeedbackType", "view"}, {"UserId", "u" + std::to_string(n % 100)},
                 {"ItemId", "i" + std::to_string(n % 3000)}, {"Timestamp", 1700000000 + n}}
              .dump() +
            "\n";
    ++n;
  }
  auto r = import_chunked("feedback", body, 10000);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(parse(r)["RowAffected"], n);
  EXPECT_EQ(parse(r)["Lines"], n);
  EXPECT_EQ(applied(), n);
  // With a Content-Length instead of chunks: streamed too (each line again:
  // every event counted twice now).
  auto sized = import("feedback", body);
  ASSERT_EQ(sized.status, 200) << sized.body;
  EXPECT_EQ(parse(sized)["RowAffected"], n);
  EXPECT_EQ(applied(), 2 * n);
  // The same body whole on a normal route is refused for its size.
  EXPECT_EQ(call("POST", "/api/feedback", body).status, 413);
  // The connection stays usable after a streamed import.
  auto c = client();
  std::string small = R"({"FeedbackType":"like","UserId":"x","ItemId":"y"})";
  EXPECT_EQ(c.request("POST", "/api/bulk/feedback", small, {{"Content-Type", "application/jsonl"}})
              .status,
            200);
  EXPECT_EQ(c.request("GET", "/api/health/live").status, 200);
}

TEST_F(HttpBulkTest, ExportOfManyUsersComesInChunks) {
  std::string body;
  for (int k = 0; k < 2500; ++k)
    body += json{{"UserId", fmt::format("user-{:05}", k)}, {"Comment", std::string(40, 'c')}}
              .dump() +
            "\n";
  ASSERT_EQ(parse(import("users", body))["RowAffected"], 2500);
  auto e = call("GET", "/api/bulk/users");
  ASSERT_EQ(e.status, 200);
  auto users = lines_of(e.body);
  std::set<std::string> ids;
  for (const auto& u : users)
    ids.insert(u["UserId"].get<std::string>());
  EXPECT_EQ(users.size(), 2500u);
  EXPECT_EQ(ids.size(), 2500u);
}

// The feedback histories, page after page (1500 records: three pages of
// the export), each record once, in Gorse's shape with Timestamp and
// Comment as written; a deleted record is not exported.
TEST_F(HttpBulkTest, FeedbackExportHasEveryRecordOnce) {
  std::string body;
  std::multiset<std::string> want;
  for (int k = 0; k < 1500; ++k) {
    const auto user = fmt::format("user-{:04}", k % 700);
    const auto item = fmt::format("item-{:04}", k);
    const auto ts = fmt::format("2024-05-01T00:{:02}:{:02}Z", (k / 60) % 60, k % 60);
    body += json{{"FeedbackType", "like"}, {"UserId", user}, {"ItemId", item},
                 {"Timestamp", ts}, {"Comment", fmt::format("c{}", k)}}
              .dump() +
            "\n";
    if (k != 42)
      want.insert("like " + user + " " + item + " " + ts + " " + fmt::format("c{}", k));
  }
  ASSERT_EQ(parse(import("feedback", body))["RowAffected"], 1500);
  ASSERT_EQ(call("DELETE", "/api/feedback/user-0042/item-0042").status, 200);
  auto e = call("GET", "/api/bulk/feedback");
  ASSERT_EQ(e.status, 200) << e.body;
  EXPECT_EQ(e.header("content-type"), "application/jsonl");
  std::multiset<std::string> got;
  for (const auto& x : lines_of(e.body))
    got.insert(x["FeedbackType"].get<std::string>() + " " + x["UserId"].get<std::string>() + " " +
               x["ItemId"].get<std::string>() + " " + x["Timestamp"].get<std::string>() + " " +
               x["Comment"].get<std::string>());
  EXPECT_EQ(got.size(), 1499u);
  EXPECT_TRUE(got == want);
}

TEST_F(HttpBulkTest, RefusalsNameTheProblem) {
  EXPECT_EQ(call("GET", "/api/bulk/ratings").status, 404);
  EXPECT_EQ(import("ratings", "{}").status, 404);
  auto type = import("users", "{}", "text/csv");
  EXPECT_EQ(type.status, 415);
  EXPECT_NE(type.body.find("application/jsonl"), std::string::npos);
  EXPECT_EQ(call("DELETE", "/api/bulk/users").status, 405);
}

TEST_F(HttpBulkTest, ARefusedUploadIsAnsweredWithoutReadingItsBody) {
  TearDown();
  rtrec::http::api_options ao;
  ao.api_key = "k";
  start(ao);
  std::string body(4 << 20, 'x');
  auto r = call("POST", "/api/bulk/feedback", body, {{"Content-Type", "application/jsonl"}});
  EXPECT_EQ(r.status, 401);
  auto ok = call("POST", "/api/bulk/feedback",
                 R"({"FeedbackType":"like","UserId":"x","ItemId":"y"})",
                 {{"Content-Type", "application/jsonl"}, {"X-API-Key", "k"}});
  EXPECT_EQ(ok.status, 200) << ok.body;
  EXPECT_EQ(call("GET", "/api/bulk/users", {}, {{"X-API-Key", "k"}}).status, 200);
}

}  // namespace

// A real `rtrec serve`: an import of 24 MiB (three times --max-body) of
// feedback on a fixed set of users and items, whose engine state therefore
// stays small, must not grow the server's peak memory by anything like the
// body's size: the body is never held whole.
#include "tests/http/serve_process.hpp"

namespace {

std::uint64_t peak_rss_kib(pid_t pid) {
  std::ifstream in{"/proc/" + std::to_string(pid) + "/status"};
  for (std::string line; std::getline(in, line);)
    if (line.rfind("VmHWM:", 0) == 0)
      return std::stoull(line.substr(6));
  return 0;
}

// The server under test, started with `extra` added to ASAN_OPTIONS (the
// test's own environment is left as it was).
std::unique_ptr<rtrec::testing::serve_process> serve_with_asan_options(const std::string& extra) {
  const char* old = std::getenv("ASAN_OPTIONS");
  const std::string saved = old != nullptr ? old : "";
  ::setenv("ASAN_OPTIONS", (saved.empty() ? extra : saved + ":" + extra).c_str(), 1);
  auto p = std::make_unique<rtrec::testing::serve_process>(std::string{},
                                                           std::vector<std::string>{"--sync", "none"});
  if (old != nullptr)
    ::setenv("ASAN_OPTIONS", saved.c_str(), 1);
  else
    ::unsetenv("ASAN_OPTIONS");
  return p;
}

TEST(BulkProcess, AnImportThreeTimesMaxBodyKeepsMemoryBounded) {
  // Under AddressSanitizer freed memory waits in a quarantine (256 MiB by
  // default) and counts in the peak RSS: the server runs without one, so
  // the peak measures what the import holds (without ASan the option is
  // ignored).
  auto server = serve_with_asan_options("quarantine_size_mb=0:thread_local_quarantine_size_kb=0");
  auto& p = *server;
  std::string body;
  const std::size_t target = 24u << 20;
  std::size_t n = 0;
  // Warm up: the same users and items once, so the state exists before.
  for (; n < 20000; ++n)
    body += fmt::format(R"({{"FeedbackType":"view","UserId":"u{}","ItemId":"i{}"}})", n % 200,
                        n % 100) + "\n";
  rtrec::testing::http_client warm{p.port()};
  ASSERT_EQ(warm.request("POST", "/api/bulk/feedback", body, {{"Content-Type", "application/jsonl"}})
              .status,
            200);
  const auto before = peak_rss_kib(p.pid());
  ASSERT_GT(before, 0u);
  while (body.size() < target) {
    body += fmt::format(R"({{"FeedbackType":"view","UserId":"u{}","ItemId":"i{}"}})", n % 200,
                        n % 100) + "\n";
    ++n;
  }
  rtrec::testing::http_client c{p.port()};
  auto r = c.request("POST", "/api/bulk/feedback", body, {{"Content-Type", "application/jsonl"}});
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(nlohmann::json::parse(r.body)["RowAffected"], n);
  const auto after = peak_rss_kib(p.pid());
  EXPECT_LT(after - before, (target >> 10) / 3)
    << "peak RSS grew from " << before << " KiB to " << after << " KiB for a "
    << (target >> 10) << " KiB body";
  EXPECT_EQ(p.terminate(), 0) << p.log();
}

}  // namespace
