// rtrec import / rtrec export as a user runs them: against a running
// `rtrec serve` (--url, with and without an API key) and against a stopped
// server's data directory (--data-dir, refused while the server runs), bad
// lines named and counted with exit code 1, usage errors exit 2, and the
// progress bar drawn when stderr is a terminal (run under script(1)).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/http/serve_process.hpp"
#include "tests/support/shell.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using rtrec::testing::serve_process;

using cli_result = rtrec::testing::shell_result;

std::string quote(const std::string& arg) {
  return rtrec::testing::shell_quote(arg);
}

class BulkCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() /
           ("rtrec_bulk_cli_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  /// Runs a shell command line; stdout and stderr captured apart.
  cli_result shell(const std::string& line) {
    return rtrec::testing::run_shell(line, dir_ / "stderr.txt");
  }

  cli_result run(const std::vector<std::string>& args, const std::string& env = {}) {
    std::string line = env.empty() ? "" : env + " ";
    line += quote(RTREC_CLI);
    for (const auto& a : args)
      line += " " + quote(a);
    return shell(line);
  }

  std::string write(const std::string& name, const std::string& content) {
    const auto path = (dir_ / name).string();
    std::ofstream{path} << content;
    return path;
  }

  static std::vector<json> lines_of(const std::string& text) {
    std::vector<json> out;
    std::istringstream in{text};
    for (std::string l; std::getline(in, l);)
      out.push_back(json::parse(l));
    return out;
  }

  static std::string url(const serve_process& p) {
    return "http://127.0.0.1:" + std::to_string(p.port());
  }

  static std::set<std::string> ids(const std::vector<json>& lines, const char* field) {
    std::set<std::string> out;
    for (const auto& x : lines)
      out.insert(x[field].get<std::string>());
    return out;
  }

  static constexpr const char* users =
    R"({"UserId":"alice","Labels":{"age":30},"Comment":"a"})" "\n"
    R"({"UserId":"bob"})" "\n"
    R"({"UserId":"carol","Subscribe":["x"]})" "\n"
    R"({"UserId":["not","a","string"]})" "\n";
  static constexpr const char* feedback =
    R"({"FeedbackType":"like","UserId":"bob","ItemId":"dune","Timestamp":"2024-05-01T00:00:00Z"})" "\n"
    R"({"FeedbackType":"like","UserId":"bob","ItemId":"emma","Timestamp":"2024-05-02T00:00:00Z"})" "\n"
    R"({"FeedbackType":"like","UserId":"alice","ItemId":"dune","Timestamp":"2024-05-03T00:00:00Z","Comment":"5 stars"})" "\n";

  /// Each feedback line as (type, user, item, Timestamp, Comment).
  static std::multiset<std::string> records_of(const std::vector<json>& lines) {
    std::multiset<std::string> out;
    for (const auto& x : lines)
      out.insert(x["FeedbackType"].get<std::string>() + " " + x["UserId"].get<std::string>() +
                 " " + x["ItemId"].get<std::string>() + " " + x["Timestamp"].get<std::string>() +
                 " " + x.value("Comment", std::string{}));
    return out;
  }
  static std::multiset<std::string> feedback_records() {
    return records_of(lines_of(feedback));
  }

  fs::path dir_;
};

TEST_F(BulkCliTest, ImportAndExportAgainstARunningServer) {
  serve_process p;
  auto imp = run({"import", "users", write("users.jsonl", users), "--url", url(p)});
  EXPECT_EQ(imp.exit_code, 1) << imp.err;  // one line was refused
  const auto report = json::parse(imp.out);
  EXPECT_EQ(report["RowAffected"], 3);
  EXPECT_EQ(report["Errors"], 1);
  EXPECT_NE(imp.err.find("line 4: UserId: expected a string"), std::string::npos) << imp.err;
  auto exp = run({"export", "users", "--url", url(p)});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  const auto exported = lines_of(exp.out);
  EXPECT_EQ(ids(exported, "UserId"), (std::set<std::string>{"alice", "bob", "carol"}));
  for (const auto& u : exported) {
    if (u["UserId"] == "alice") {
      EXPECT_EQ(u["Labels"], (json{{"age", 30}}));
    }
  }
  auto fb = run({"import", "feedback", write("feedback.jsonl", feedback), "--url", url(p)});
  EXPECT_EQ(fb.exit_code, 0) << fb.err;
  EXPECT_EQ(json::parse(fb.out)["RowAffected"], 3);
  // Items appear through feedback; their export re-imports unchanged.
  auto items = run({"export", "items", "--url", url(p)});
  ASSERT_EQ(items.exit_code, 0) << items.err;
  EXPECT_EQ(ids(lines_of(items.out), "ItemId"), (std::set<std::string>{"dune", "emma"}));
  auto again = run({"import", "items", write("items.jsonl", items.out), "--url", url(p)});
  EXPECT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["RowAffected"], 2);
  // From stdin too.
  auto piped = shell("printf '{\"UserId\":\"dave\"}\\n' | " + quote(RTREC_CLI) +
                     " import users - --url " + url(p));
  EXPECT_EQ(piped.exit_code, 0) << piped.err;
}

// The feedback histories go out in Gorse's shape and come back unchanged:
// exported from one server, imported into a fresh one, exported again.
TEST_F(BulkCliTest, FeedbackRoundTripsThroughExportAndImport) {
  serve_process first;
  auto imp = run({"import", "feedback", write("feedback.jsonl", feedback), "--url", url(first)});
  ASSERT_EQ(imp.exit_code, 0) << imp.err;
  auto exp = run({"export", "feedback", "--url", url(first)});
  ASSERT_EQ(exp.exit_code, 0) << exp.err;
  EXPECT_EQ(records_of(lines_of(exp.out)), feedback_records()) << exp.out;
  EXPECT_NE(exp.err.find("exported 3 feedback"), std::string::npos) << exp.err;

  serve_process second;
  auto again = run({"import", "feedback", write("exported.jsonl", exp.out), "--url",
                    url(second)});
  ASSERT_EQ(again.exit_code, 0) << again.err;
  EXPECT_EQ(json::parse(again.out)["RowAffected"], 3);
  auto exp2 = run({"export", "feedback", "--url", url(second)});
  ASSERT_EQ(exp2.exit_code, 0) << exp2.err;
  EXPECT_EQ(records_of(lines_of(exp2.out)), feedback_records()) << exp2.out;
}

TEST_F(BulkCliTest, TheServersApiKeyFromTheFlagOrTheEnvironment) {
  serve_process p{"bulk-key"};
  const auto file = write("users.jsonl", R"({"UserId":"u1"})" "\n");
  auto refused = run({"import", "users", file, "--url", url(p)});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.err.find("401"), std::string::npos) << refused.err;
  EXPECT_EQ(run({"import", "users", file, "--url", url(p), "--api-key", "bulk-key"}).exit_code, 0);
  EXPECT_EQ(run({"export", "users", "--url", url(p)}, "RTREC_API_KEY=bulk-key").exit_code, 0);
}

TEST_F(BulkCliTest, ADataDirectoryOfAStoppedServer) {
  const auto data = (dir_ / "data").string();
  auto imp = run({"import", "users", write("users.jsonl", users), "--data-dir", data});
  EXPECT_EQ(imp.exit_code, 1) << imp.err;
  EXPECT_EQ(json::parse(imp.out)["RowAffected"], 3);
  auto fb = run({"import", "feedback", write("feedback.jsonl", feedback), "--data-dir", data});
  EXPECT_EQ(fb.exit_code, 0) << fb.err;
  auto local = run({"export", "users", "--data-dir", data});
  ASSERT_EQ(local.exit_code, 0) << local.err;
  EXPECT_EQ(ids(lines_of(local.out), "UserId"), (std::set<std::string>{"alice", "bob", "carol"}));
  auto local_fb = run({"export", "feedback", "--data-dir", data});
  ASSERT_EQ(local_fb.exit_code, 0) << local_fb.err;
  EXPECT_EQ(records_of(lines_of(local_fb.out)), feedback_records()) << local_fb.out;
  // A server started on the directory has them; meanwhile the directory is
  // locked against offline imports.
  serve_process p{{}, {}, data};
  auto served = run({"export", "items", "--url", url(p)});
  EXPECT_EQ(ids(lines_of(served.out), "ItemId"), (std::set<std::string>{"dune", "emma"}));
  auto locked = run({"import", "users", write("more.jsonl", R"({"UserId":"x"})"), "--data-dir",
                     data});
  EXPECT_EQ(locked.exit_code, 1);
  EXPECT_NE(locked.err.find("in use"), std::string::npos) << locked.err;
  EXPECT_EQ(p.terminate(), 0) << p.log();
}

TEST_F(BulkCliTest, UsageErrors) {
  const auto file = write("u.jsonl", "{}\n");
  for (const auto& args : std::vector<std::vector<std::string>>{
         {"import", "users", file},
         {"import", "users", file, "--url", "http://127.0.0.1:1", "--data-dir", "x"},
         {"import", "ratings", file, "--url", "http://127.0.0.1:1"},
         {"import", "users", (dir_ / "missing.jsonl").string(), "--url", "http://127.0.0.1:1"},
         {"export", "users", "--url", "https://example.com"},
         {"export", "users", "--url", "127.0.0.1:8087"},
         {"export", "ratings", "--data-dir", "x"}}) {
    auto r = run(args);
    EXPECT_EQ(r.exit_code, 2) << args[1] << " " << args.back() << ": " << r.err;
  }
  auto unreachable = run({"export", "users", "--url", "http://127.0.0.1:1"});
  EXPECT_EQ(unreachable.exit_code, 1);
  EXPECT_NE(unreachable.err.find("cannot reach"), std::string::npos) << unreachable.err;
}

// script(1) gives the command a terminal: the bar is redrawn in place.
TEST_F(BulkCliTest, ProgressBarWhenStderrIsATerminal) {
  serve_process p;
  std::string lines;
  for (int k = 0; k < 20000; ++k)
    lines += R"({"FeedbackType":"view","UserId":"u)" + std::to_string(k % 300) +
             R"(","ItemId":"i)" + std::to_string(k % 500) + "\"}\n";
  const auto file = write("big.jsonl", lines);
  auto r = shell("script -qfec " +
                 quote(quote(RTREC_CLI) + " import feedback " + quote(file) + " --url " + url(p)) +
                 " /dev/null");
  EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
  EXPECT_NE(r.out.find("\rimport feedback ["), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("100%"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("\"RowAffected\":20000"), std::string::npos) << r.out;
  // Feedback has no known total: a running count, no bar.
  auto exp = shell("script -qfec " +
                   quote(quote(RTREC_CLI) + " export feedback --url " + url(p) + " >" +
                         quote((dir_ / "fb.jsonl").string())) +
                   " /dev/null");
  EXPECT_EQ(exp.exit_code, 0) << exp.out << exp.err;
  EXPECT_NE(exp.out.find("\rexport feedback "), std::string::npos) << exp.out;
  EXPECT_EQ(exp.out.find("\rexport feedback ["), std::string::npos) << exp.out;
  // One record per (type, user, item): u(k % 300) and i(k % 500) pair up
  // 1500 ways.
  EXPECT_EQ(lines_of(shell("cat " + quote((dir_ / "fb.jsonl").string())).out).size(), 1500u);
}

}  // namespace
