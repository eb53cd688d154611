// Gorse's official JavaScript client, unchanged, against a real rtrec serve:
// tests/clients/gorsejs/check.js calls every method gorsejs 0.4.8 has
// (users, items, categories, feedback reads/writes/deletes, cursors,
// recommend with write-back, session recommend, item and user neighbors,
// popular, latest, a wrong key) and checks each answer. The client comes
// from npm (tests/clients/gorsejs/package-lock.json), installed by
// scripts/setup.sh; Node.js is the machine's or Debian's.
#include <gtest/gtest.h>

#include <filesystem>
#include <string>

#include "tests/http/serve_process.hpp"
#include "tests/support/shell.hpp"

namespace {

namespace fs = std::filesystem;

TEST(GorseClient, GorsejsWorksUnchangedAgainstRtrecServe) {
  const fs::path dir = fs::path{RTREC_SOURCE_DIR} / "tests" / "clients" / "gorsejs";
  ASSERT_TRUE(fs::exists(dir / "node_modules" / "gorsejs" / "package.json"))
    << "gorsejs is not installed in " << dir
    << ": run scripts/setup.sh (it installs it with npm ci from package-lock.json)";
  ASSERT_EQ(rtrec::testing::run_shell("node --version").exit_code, 0)
    << "node is not on PATH: run scripts/setup.sh (it installs Debian's nodejs and npm)";

  rtrec::testing::serve_process server{"gorse-key"};
  const auto r = rtrec::testing::run_shell(
    "node " + rtrec::testing::shell_quote((dir / "check.js").string()) +
    " http://127.0.0.1:" + std::to_string(server.port()) + " gorse-key");
  EXPECT_EQ(r.exit_code, 0) << r.out << "\nserver log:\n" << server.log();
  // Every step ran: a step left out would change the count.
  EXPECT_NE(r.out.find("all 25 checks passed"), std::string::npos) << r.out;
  EXPECT_EQ(server.terminate(), 0) << server.log();
}

}  // namespace
