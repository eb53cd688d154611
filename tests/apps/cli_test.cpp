// Tests of the rtrec command-line tool, run as a subprocess (RTREC_CLI): help,
// usage errors and their exit codes, missing files, eval --json on a small
// generated CSV (both engines must agree exactly), bad-line counting, bench
// --json, recommend output and a short demo. One test evaluates MovieLens
// (RTREC_ML_DIR) and is skipped when the file is absent.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "engine/synthetic.hpp"
#include "tests/support/shell.hpp"

namespace {

namespace fs = std::filesystem;

using cli_result = rtrec::testing::shell_result;
using rtrec::testing::shell_quote;

class CliTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = fs::temp_directory_path() / ("rtrec_cli_test_" + std::to_string(::getpid()));
    fs::create_directories(dir_);
    write_synthetic(small_csv(), 2000);
  }
  static void TearDownTestSuite() {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  static fs::path small_csv() { return dir_ / "small.csv"; }

  static rtrec::engine::synthetic_config small_config(std::size_t events) {
    rtrec::engine::synthetic_config cfg;
    cfg.seed = 7;
    cfg.users = 200;
    cfg.items = 100;
    cfg.tastes = 8;
    cfg.events = events;
    return cfg;
  }

  /// Writes `events` synthetic events as "user,item,value,timestamp" lines.
  static void write_synthetic(const fs::path& path, std::size_t events) {
    std::ofstream out{path};
    rtrec::engine::synthetic_generator gen{small_config(events)};
    for (rtrec::engine::event e; gen.next(e);)
      out << e.user << ',' << e.item << ',' << e.value << ',' << e.timestamp << '\n';
  }

  /// Runs the CLI with `args`; stdout and stderr are captured separately.
  static cli_result run(const std::vector<std::string>& args) {
    std::string cmd = shell_quote(RTREC_CLI);
    for (const auto& a : args)
      cmd += " " + shell_quote(a);
    return rtrec::testing::run_shell(cmd, dir_ / "stderr.txt");
  }

  /// Runs the CLI expecting success and one JSON object on stdout.
  static nlohmann::json run_json(const std::vector<std::string>& args) {
    auto r = run(args);
    EXPECT_EQ(r.exit_code, 0) << "stderr:\n" << r.err;
    auto j = nlohmann::json::parse(r.out, nullptr, false);
    EXPECT_TRUE(j.is_object()) << "stdout is not one JSON object:\n" << r.out;
    return j;
  }

  static void expect_keys(const nlohmann::json& j, const std::vector<std::string>& keys) {
    for (const auto& k : keys)
      EXPECT_TRUE(j.contains(k)) << "missing key " << k << " in " << j.dump();
  }

  static inline fs::path dir_;
};

TEST_F(CliTest, HelpListsTheSubcommands) {
  auto r = run({"--help"});
  EXPECT_EQ(r.exit_code, 0);
  for (const char* sub : {"demo", "eval", "bench", "recommend"})
    EXPECT_NE(r.out.find(sub), std::string::npos) << sub << " missing from:\n" << r.out;
}

TEST_F(CliTest, UnknownFlagIsAUsageError) {
  auto r = run({"eval", "--data", small_csv().string(), "--bogus"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--bogus"), std::string::npos) << r.err;
}

TEST_F(CliTest, BadOptionValueAndMissingSubcommandAreUsageErrors) {
  EXPECT_EQ(run({"eval", "--data", small_csv().string(), "--profile-shards", "0"}).exit_code, 2);
  EXPECT_EQ(run({"eval", "--data", small_csv().string(), "--engine", "magic"}).exit_code, 2);
  EXPECT_EQ(run({}).exit_code, 2);
}

TEST_F(CliTest, NodeConfigFileThroughCli11) {
  auto write = [](const std::string& name, const std::string& text) {
    const auto path = (dir_ / name).string();
    std::ofstream{path} << text;
    return path;
  };
  // Each case fails during start-up checks, before any node runs.
  const std::string nodes = "nodes = [\"127.0.0.1:1\"]\n";
  // A file's value reaches the option (and its range check).
  auto r = run({"node", "--config", write("range.toml", nodes + "heartbeat = 0.0001\n"), "--port", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--heartbeat: Value 0.0001 not in range"), std::string::npos) << r.err;
  // A flag on the command line wins: no range error, the TLS check speaks.
  const auto tls = write("tls.toml", nodes + "heartbeat = 0.0001\n[openssl]\ncertificate = \"c.pem\"\n");
  r = run({"node", "--config=" + tls, "--heartbeat", "1", "--port", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("TLS needs all of openssl.certificate"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("got a certificate, no key"), std::string::npos) << r.err;
  // [openssl] key is --openssl-key; the flag adds to the file.
  r = run({"node", "--config", tls, "--heartbeat", "1", "--openssl-key", "k.pem", "--port", "0"});
  EXPECT_NE(r.err.find("got a certificate, a key, no CA file"), std::string::npos) << r.err;
  // An unknown key is named, like an unknown flag.
  r = run({"node", "--config", write("typo.toml", nodes + "[openssl]\ncertifcate = \"c.pem\"\n"),
           "--port", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("not expected: node.openssl-certifcate"), std::string::npos) << r.err;
  // A missing file is named; only node reads a config file.
  r = run({"node", "--config", (dir_ / "none.toml").string(), "--port", "0"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("--config: " + (dir_ / "none.toml").string()), std::string::npos) << r.err;
  r = run({"--config", tls, "serve", "--port", "0", "--in-memory"});
  EXPECT_EQ(r.exit_code, 2);
  EXPECT_NE(r.err.find("only rtrec node reads a config file"), std::string::npos) << r.err;
}

TEST_F(CliTest, MissingDataFileIsNamed) {
  const auto missing = (dir_ / "no-such-file.csv").string();
  auto r = run({"eval", "--data", missing});
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.err.find(missing), std::string::npos) << r.err;
}

TEST_F(CliTest, EvalJsonHasTheMetricsAndBothEnginesAgree) {
  const std::vector<std::string> keys = {"events", "k", "hr_at_k", "mrr_at_k", "ndcg_at_k",
                                         "coverage", "events_per_sec", "engine", "bad_lines"};
  auto ref = run_json({"eval", "--data", small_csv().string(), "--json", "--engine", "reference"});
  auto act = run_json({"eval", "--data", small_csv().string(), "--json", "--engine", "actors"});
  expect_keys(ref, keys);
  expect_keys(act, keys);
  EXPECT_EQ(ref["events"], 2000);
  EXPECT_EQ(ref["k"], 10);
  EXPECT_EQ(ref["bad_lines"], 0);
  EXPECT_EQ(ref["engine"], "reference");
  EXPECT_EQ(act["engine"], "actors");
  const double hr = ref["hr_at_k"];
  EXPECT_GT(hr, 0.0);  // 200 users over 100 items: something must hit
  EXPECT_LE(hr, 1.0);
  EXPECT_GT(ref["events_per_sec"].get<double>(), 0.0);
  // The actors engine flushes after every event, so it must match exactly.
  EXPECT_EQ(act["hr_at_k"].get<double>(), hr);
  EXPECT_EQ(act["mrr_at_k"].get<double>(), ref["mrr_at_k"].get<double>());
  EXPECT_EQ(act["coverage"].get<double>(), ref["coverage"].get<double>());
}

// The blend on the default topology (two item shards, which the CLI refused
// before the shards passed their partial sums along): the actors engine,
// flushed after every event, ranks exactly as the reference model; the
// blend changes the ranking (or this would test item-to-item again); and it
// is the default (no flags rank the same).
TEST_F(CliTest, EvalWithTheBlendOnTwoItemShardsMatchesTheReference) {
  const std::vector<std::string> blend = {"--seq-weight", "0.6", "--seq-window", "20",
                                          "--trend-weight", "0.3"};
  auto args = [&](const char* engine) {
    std::vector<std::string> a = {"eval", "--data", small_csv().string(), "--json",
                                  "--engine", engine, "--item-shards", "2"};
    a.insert(a.end(), blend.begin(), blend.end());
    return a;
  };
  auto ref = run_json(args("reference"));
  auto act = run_json(args("actors"));
  auto off = run_json({"eval", "--data", small_csv().string(), "--json", "--engine", "reference",
                       "--seq-weight", "0", "--trend-weight", "0"});
  auto defaults =
    run_json({"eval", "--data", small_csv().string(), "--json", "--engine", "reference"});
  EXPECT_EQ(act["events"], 2000);
  EXPECT_EQ(act["hr_at_k"].get<double>(), ref["hr_at_k"].get<double>());
  EXPECT_EQ(act["mrr_at_k"].get<double>(), ref["mrr_at_k"].get<double>());
  EXPECT_EQ(act["ndcg_at_k"].get<double>(), ref["ndcg_at_k"].get<double>());
  EXPECT_NE(ref["mrr_at_k"].get<double>(), off["mrr_at_k"].get<double>())
    << "the blend changed no ranking";
  EXPECT_EQ(defaults["mrr_at_k"].get<double>(), ref["mrr_at_k"].get<double>())
    << "the blend is not the default";
  EXPECT_EQ(defaults["hr_at_k"].get<double>(), ref["hr_at_k"].get<double>());
}

TEST_F(CliTest, EvalCountsBadLines) {
  const auto path = dir_ / "with-bad-lines.csv";
  write_synthetic(path, 300);
  {
    std::ofstream out{path, std::ios::app};
    out << "just-one-field\n";        // wrong field count
    out << ",i1,3.0,1700000000000\n";  // empty user
    out << "u1,i2,abc,1700000000000\n";  // rating not a number
  }
  auto j = run_json({"eval", "--data", path.string(), "--json", "--engine", "reference"});
  EXPECT_EQ(j["bad_lines"], 3);
  EXPECT_EQ(j["events"], 300);
}

TEST_F(CliTest, BenchJsonReportsPositiveFigures) {
  auto j = run_json({"bench", "--events", "20000", "--users", "2000", "--items", "500", "--json"});
  expect_keys(j, {"ingest_events_per_sec", "recommend_p50_ms", "recommend_p99_ms",
                  "recommend_count", "item_side_lag_p99_ms", "peak_rss_bytes", "bytes_per_user",
                  "bytes_per_item", "events", "users", "items"});
  for (const char* k : {"ingest_events_per_sec", "recommend_p50_ms", "recommend_p99_ms",
                        "recommend_count", "peak_rss_bytes", "bytes_per_user", "bytes_per_item",
                        "users", "items"})
    EXPECT_GT(j[k].get<double>(), 0.0) << k;
  EXPECT_GE(j["item_side_lag_p99_ms"].get<double>(), 0.0);
  EXPECT_EQ(j["events"], 20000);
  EXPECT_EQ(j["rejected"], 0);
}

TEST_F(CliTest, RecommendPrintsNLines) {
  rtrec::engine::event first;
  rtrec::engine::synthetic_generator{small_config(1)}.next(first);
  auto r = run({"recommend", "--data", small_csv().string(), "--user", first.user, "-n", "7"});
  ASSERT_EQ(r.exit_code, 0) << r.err;
  std::istringstream lines{r.out};
  std::size_t count = 0;
  for (std::string line; std::getline(lines, line); ++count)
    EXPECT_NE(line.find('\t'), std::string::npos) << "not item<TAB>score: " << line;
  EXPECT_EQ(count, 7u) << r.out;
}

TEST_F(CliTest, DemoRunsOnASmallWorkload) {
  auto r = run({"demo", "--events", "5000", "--users", "500", "--items", "200"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_NE(r.out.find("HR@10"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("SAMPLED"), std::string::npos) << r.out;
}

TEST_F(CliTest, MovieLensReferenceHitRate) {
  const auto path = fs::path{RTREC_ML_DIR} / "ratings.csv";
  if (!fs::exists(path))
    GTEST_SKIP() << "MovieLens file " << path << " is absent; skipping the quality check";
  auto j = run_json({"eval", "--data", path.string(), "--json", "--engine", "reference"});
  EXPECT_GE(j["hr_at_k"].get<double>(), 0.09) << j.dump(2);
  EXPECT_GT(j["events"].get<std::size_t>(), 100000u);
}

}  // namespace
