// Gorse's official JavaScript client, unchanged, against a real rtrec serve:
// tests/clients/gorsejs/check.js calls every method gorsejs 0.4.8 has
// (users, items, categories, feedback reads/writes/deletes, cursors,
// recommend with write-back, session recommend, item and user neighbors,
// popular, latest, a wrong key) and checks each answer. The client comes
// from npm (tests/clients/gorsejs/package-lock.json), installed by
// scripts/setup.sh; Node.js is the machine's or Debian's.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <string>

#include "tests/http/serve_process.hpp"

namespace {

namespace fs = std::filesystem;

struct run_result {
  int exit_code = -1;
  std::string output;
};

run_result run(const std::string& line) {
  run_result r;
  FILE* pipe = ::popen((line + " 2>&1").c_str(), "r");
  if (pipe == nullptr)
    return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;)
    r.output.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}

TEST(GorseClient, GorsejsWorksUnchangedAgainstRtrecServe) {
  const fs::path dir = fs::path{RTREC_SOURCE_DIR} / "tests" / "clients" / "gorsejs";
  ASSERT_TRUE(fs::exists(dir / "node_modules" / "gorsejs" / "package.json"))
    << "gorsejs is not installed in " << dir
    << ": run scripts/setup.sh (it installs it with npm ci from package-lock.json)";
  ASSERT_EQ(run("node --version").exit_code, 0)
    << "node is not on PATH: run scripts/setup.sh (it installs Debian's nodejs and npm)";

  rtrec::testing::serve_process server{"gorse-key"};
  const auto r = run("node '" + (dir / "check.js").string() + "' http://127.0.0.1:" +
                     std::to_string(server.port()) + " gorse-key");
  EXPECT_EQ(r.exit_code, 0) << r.output << "\nserver log:\n" << server.log();
  // Every step ran: a step left out would change the count.
  EXPECT_NE(r.output.find("all 25 checks passed"), std::string::npos) << r.output;
  EXPECT_EQ(server.terminate(), 0) << server.log();
}

}  // namespace
