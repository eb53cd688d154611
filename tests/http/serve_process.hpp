// A running `rtrec serve` process for end-to-end tests: it binds a free
// loopback port (--port 0, reported through --port-file), logs to a file in
// its own temporary directory and keeps its data directory there too unless
// the test names one (which then outlives the process, for restarts).
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

namespace rtrec::testing {

inline std::string slurp(const std::filesystem::path& p) {
  std::ifstream in{p};
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A running `rtrec serve`; killed (SIGKILL) by the destructor if the test
// did not stop it, so a failing test leaves no process behind.
class serve_process {
 public:
  /// Starts `rtrec serve` with `args` added; data in `data_dir` (empty: a
  /// fresh directory removed with the process).
  explicit serve_process(const std::string& key = {}, std::vector<std::string> args = {},
                         std::string data_dir = {}) {
    namespace fs = std::filesystem;
    dir_ = fs::temp_directory_path() / ("rtrec_serve_test_" + std::to_string(::getpid()) + "_" +
                                        std::to_string(counter_++));
    fs::create_directories(dir_);
    if (data_dir.empty())
      data_dir = (dir_ / "data").string();
    auto port_file = (dir_ / "port").string();
    std::vector<std::string> argv_s{RTREC_CLI, "serve", "--port", "0", "--port-file", port_file,
                                    "--data-dir", data_dir, "--log-level", "debug"};
    argv_s.insert(argv_s.end(), args.begin(), args.end());
    std::vector<char*> argv;
    for (auto& a : argv_s)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      // Dies with the test process, even if that one aborts.
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (!key.empty())
        ::setenv("RTREC_API_KEY", key.c_str(), 1);
      auto log = (dir_ / "serve.log").string();
      std::freopen(log.c_str(), "w", stderr);
      std::freopen("/dev/null", "w", stdout);
      ::execv(RTREC_CLI, argv.data());
      std::_Exit(127);
    }
    // The port file appears (renamed into place, whole) once listening.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!fs::exists(dir_ / "port")) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error("rtrec serve exited early: " + log());
      }
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("rtrec serve did not start: " + log());
      ::usleep(10000);  // polling a child process's file, not an actor
    }
    port_ = static_cast<std::uint16_t>(std::stoi(slurp(dir_ / "port")));
  }

  ~serve_process() {
    kill9();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  /// Kills the process with SIGKILL (no cleanup of any kind) and reaps it.
  void kill9() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  /// Sends SIGTERM and returns the exit status (-1 if it did not exit normally).
  int terminate() {
    ::kill(pid_, SIGTERM);
    int status = 0;
    ::waitpid(pid_, &status, 0);
    pid_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  std::string log() const { return slurp(dir_ / "serve.log"); }

 private:
  static inline int counter_ = 0;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
};

}  // namespace rtrec::testing
