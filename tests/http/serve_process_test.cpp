// `rtrec serve` as a separate process, the way the README starts it: it
// binds a free loopback port (--port 0, reported through --port-file), serves
// feedback and recommendations, takes its API key from RTREC_API_KEY without
// logging it, and on SIGTERM stops accepting, flushes and exits 0.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "tests/http/http_client.hpp"
#include "tests/http/serve_process.hpp"

namespace {

namespace fs = std::filesystem;
using rtrec::testing::http_client;

using rtrec::testing::serve_process;

TEST(ServeProcess, ServesThenShutsDownCleanlyOnSigterm) {
  serve_process p;
  http_client c{p.port()};
  auto fed = c.request(
    "POST", "/api/feedback",
    R"([{"FeedbackType":"like","UserId":"bob","ItemId":"b1"},{"FeedbackType":"like","UserId":"bob","ItemId":"b2"},
        {"FeedbackType":"like","UserId":"alice","ItemId":"b1"}])");
  ASSERT_EQ(fed.status, 200) << fed.body;
  EXPECT_EQ(nlohmann::json::parse(fed.body)["RowAffected"], 3);
  auto rec = c.request("GET", "/api/recommend/alice");
  ASSERT_EQ(rec.status, 200);
  // alice's like is excluded at once; b2 comes from bob's co-occurrence or
  // popularity, either way it is the only unseen item.
  EXPECT_EQ(nlohmann::json::parse(rec.body), (nlohmann::json{"b2"}));
  // Durable by default: the log's counters are on /metrics.
  auto metrics = c.request("GET", "/metrics").body;
  // One record per shard batch: bob's and alice's users may share a shard.
  EXPECT_NE(metrics.find("\nrtrec_wal_records_total "), std::string::npos) << metrics;
  EXPECT_EQ(metrics.find("\nrtrec_wal_records_total 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("rtrec_wal_failed 0\n"), std::string::npos) << metrics;
  EXPECT_NE(metrics.find("rtrec_checkpoints_total 0\n"), std::string::npos) << metrics;
  EXPECT_EQ(p.terminate(), 0) << p.log();
  const auto log = p.log();
  EXPECT_NE(log.find("SIGTERM received"), std::string::npos) << log;
  EXPECT_NE(log.find("flushed; 3 events applied"), std::string::npos) << log;
  EXPECT_NE(log.find("stopped"), std::string::npos) << log;
  EXPECT_NE(log.find("checkpoint 1 written"), std::string::npos) << log;
  // The port is closed now.
  EXPECT_THROW(http_client{p.port()}, std::exception);
}

// The README's curl walkthrough, step by step, with the same bodies.
TEST(ServeProcess, ReadmeWalkthrough) {
  serve_process p;
  http_client c{p.port()};
  auto fed = c.request("POST", "/api/feedback", R"([
  {"FeedbackType":"like","UserId":"bob","ItemId":"dune"},
  {"FeedbackType":"like","UserId":"bob","ItemId":"hyperion"},
  {"FeedbackType":"like","UserId":"carol","ItemId":"dune"},
  {"FeedbackType":"like","UserId":"carol","ItemId":"hyperion"},
  {"FeedbackType":"like","UserId":"carol","ItemId":"emma"},
  {"FeedbackType":"like","UserId":"alice","ItemId":"dune"}])");
  ASSERT_EQ(fed.body, R"({"RowAffected":6})");
  // The item side may lag the acknowledgement by a moment; the README's
  // reader types the next command by hand. Here: wait for it explicitly.
  for (int k = 0; k < 1000; ++k)
    if (c.request("GET", "/api/recommend/alice?n=3").body == R"(["hyperion","emma"])")
      break;
  EXPECT_EQ(c.request("GET", "/api/recommend/alice?n=3").body, R"(["hyperion","emma"])");
  auto v2 = nlohmann::json::parse(
    c.request("GET", "/api/recommend/alice", {}, {{"X-API-Version", "2"}}).body);
  ASSERT_EQ(v2.size(), 2u);
  EXPECT_EQ(v2[0]["Id"], "hyperion");
  ASSERT_EQ(c.request("POST", "/api/feedback",
                      R"([{"FeedbackType":"like","UserId":"alice","ItemId":"hyperion"}])")
              .status,
            200);
  // Reflected at once: no waiting here.
  EXPECT_EQ(c.request("GET", "/api/recommend/alice").body, R"(["emma"])");
  EXPECT_EQ(p.terminate(), 0);
}

TEST(ServeProcess, ApiKeyFromTheEnvironmentIsEnforcedAndNeverLogged) {
  const std::string key = "env-key-7f3a9c";
  serve_process p{key};
  EXPECT_EQ(http_client{p.port()}.request("GET", "/api/popular").status, 401);
  EXPECT_EQ(http_client{p.port()}
              .request("GET", "/api/popular", {}, {{"X-API-Key", key}})
              .status,
            200);
  EXPECT_EQ(p.terminate(), 0);
  const auto log = p.log();
  EXPECT_NE(log.find("API key required"), std::string::npos) << log;
  EXPECT_EQ(log.find(key), std::string::npos) << log;
}

}  // namespace
