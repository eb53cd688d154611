// Running a command line from a test: /bin/sh, stdout captured, stderr
// captured apart (through a file) or merged into stdout, the exit code.
// Shared by the CLI tests and the tests that run other programs (node).
#pragma once

#include <sys/wait.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace rtrec::testing {

struct shell_result {
  int exit_code = -1;  ///< -1: not started, or ended by a signal
  std::string out;
  std::string err;  ///< empty when stderr was merged into out
};

/// `arg` quoted for /bin/sh.
inline std::string shell_quote(const std::string& arg) {
  std::string q = "'";
  for (char c : arg)
    q += c == '\'' ? std::string{"'\\''"} : std::string(1, c);
  return q + "'";
}

/// Runs `line`. With `err_file` its stderr goes there and is read back into
/// err; without, stderr is merged into out.
inline shell_result run_shell(const std::string& line, const std::filesystem::path& err_file = {}) {
  shell_result r;
  const auto redirect = err_file.empty() ? std::string{" 2>&1"}
                                         : " 2>" + shell_quote(err_file.string());
  FILE* pipe = ::popen((line + redirect).c_str(), "r");
  if (pipe == nullptr)
    return r;
  char buf[4096];
  for (std::size_t n; (n = std::fread(buf, 1, sizeof buf, pipe)) > 0;)
    r.out.append(buf, n);
  const int status = ::pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  if (!err_file.empty()) {
    std::ifstream in{err_file};
    std::stringstream ss;
    ss << in.rdbuf();
    r.err = ss.str();
  }
  return r;
}

}  // namespace rtrec::testing
