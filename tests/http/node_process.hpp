// Processes for the end-to-end tests of cluster mode: a running `rtrec node`
// (one node of a cluster on loopback, HTTP on a free port reported through
// --port-file) that can be killed with SIGKILL and started again with the
// same arguments, free loopback ports for the cluster addresses, and a
// one-shot run of the CLI that is expected to exit by itself.
#pragma once

#include "actors/cluster.hpp"

#include <netinet/in.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "tests/http/serve_process.hpp"  // slurp

namespace rtrec::testing {

/// `count` distinct loopback ports that were free a moment ago (bound to
/// 127.0.0.1:0 together, read back, released).
inline std::vector<std::uint16_t> free_loopback_ports(std::size_t count) {
  std::vector<std::uint16_t> ports;
  for (const auto& a : rtrec::free_loopback_nodes(count))
    ports.push_back(a.port);
  return ports;
}

namespace detail {

// Forks and execs RTREC_CLI with `args`; the child dies with the test process
// and writes stderr to `log` (appended), stdout to /dev/null.
inline pid_t spawn_cli(const std::vector<std::string>& args, const std::string& log,
                       const std::string& banner) {
  std::vector<std::string> argv_s{RTREC_CLI};
  argv_s.insert(argv_s.end(), args.begin(), args.end());
  std::vector<char*> argv;
  for (auto& a : argv_s)
    argv.push_back(a.data());
  argv.push_back(nullptr);
  const std::string line = banner.empty() ? std::string{} : banner + "\n";
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);
    std::freopen(log.c_str(), "a", stderr);
    std::freopen("/dev/null", "w", stdout);
    if (!line.empty()) {
      [[maybe_unused]] auto n = ::write(2, line.data(), line.size());
    }
    ::execv(RTREC_CLI, argv.data());
    std::_Exit(127);
  }
  if (pid < 0)
    throw std::runtime_error("fork failed");
  return pid;
}

inline std::filesystem::path fresh_dir(const char* prefix) {
  static int counter = 0;
  auto dir = std::filesystem::temp_directory_path() /
             (std::string{prefix} + std::to_string(::getpid()) + "_" + std::to_string(counter++));
  std::filesystem::remove_all(dir);
  std::filesystem::create_directories(dir);
  return dir;
}

}  // namespace detail

/// A running `rtrec node`; killed (SIGKILL) by the destructor, so a failing
/// test leaves no process behind. Every run appends to one log file.
class node_process {
 public:
  /// `args` follow `rtrec node` (the node list, --node, shard counts, ...);
  /// --port 0, --port-file and --log-level debug are added. `name` labels
  /// the log. Starts the node and waits until its HTTP port is bound.
  explicit node_process(std::vector<std::string> args, std::string name = "node")
      : args_(std::move(args)), name_(std::move(name)), dir_(detail::fresh_dir("rtrec_node_test_")) {
    start();
  }

  node_process(const node_process&) = delete;
  node_process& operator=(const node_process&) = delete;

  ~node_process() {
    kill9();
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }

  /// Starts the node (again, after kill9) with the same arguments; returns
  /// once its HTTP port file appeared (the HTTP port differs per run).
  void start() {
    namespace fs = std::filesystem;
    if (pid_ > 0)
      throw std::logic_error(name_ + " is already running");
    const auto port_file = dir_ / "port";
    std::error_code ec;
    fs::remove(port_file, ec);
    std::vector<std::string> argv{"node"};
    argv.insert(argv.end(), args_.begin(), args_.end());
    // Its data directory lives as long as this object: a restart after
    // kill9() recovers from it.
    if (std::find(args_.begin(), args_.end(), "--data-dir") == args_.end()
        && std::find(args_.begin(), args_.end(), "--in-memory") == args_.end())
      argv.insert(argv.end(), {"--data-dir", (dir_ / "data").string()});
    argv.insert(argv.end(), {"--port", "0", "--port-file", port_file.string(), "--log-level",
                             "debug"});
    ++runs_;
    pid_ = detail::spawn_cli(argv, log_path().string(),
                             "==== test: " + name_ + " run " + std::to_string(runs_) + " ====");
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (!fs::exists(port_file)) {
      int status = 0;
      if (::waitpid(pid_, &status, WNOHANG) == pid_) {
        pid_ = -1;
        throw std::runtime_error(name_ + " (rtrec node) exited early:\n" + log());
      }
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error(name_ + " (rtrec node) did not bind its HTTP port within 60 s:\n" +
                                 log());
      ::usleep(10000);  // polling a child process's file, not an actor
    }
    port_ = static_cast<std::uint16_t>(std::stoi(slurp(port_file)));
  }

  /// Kills the process with SIGKILL (no cleanup of any kind) and reaps it.
  void kill9() {
    if (pid_ > 0) {
      ::kill(pid_, SIGKILL);
      ::waitpid(pid_, nullptr, 0);
      pid_ = -1;
    }
  }

  /// True while the process has not exited (reaps it if it has).
  bool running() {
    if (pid_ <= 0)
      return false;
    int status = 0;
    if (::waitpid(pid_, &status, WNOHANG) == pid_) {
      pid_ = -1;
      return false;
    }
    return true;
  }

  std::uint16_t port() const { return port_; }
  pid_t pid() const { return pid_; }
  const std::string& name() const { return name_; }
  std::string log() const { return slurp(log_path()); }

 private:
  std::filesystem::path log_path() const { return dir_ / "node.log"; }

  std::vector<std::string> args_;
  std::string name_;
  std::filesystem::path dir_;
  pid_t pid_ = -1;
  std::uint16_t port_ = 0;
  int runs_ = 0;
};

/// How a CLI run that should end by itself ended.
struct cli_result {
  std::optional<int> exit_code;  ///< nullopt: killed by a signal or by the deadline
  bool timed_out = false;
  double seconds = 0;
  std::string stderr_text;
};

/// Runs `rtrec args...` to completion; kills it after `limit`.
inline cli_result run_cli(const std::vector<std::string>& args,
                          std::chrono::milliseconds limit = std::chrono::seconds(30)) {
  const auto dir = detail::fresh_dir("rtrec_cli_test_");
  const auto log = dir / "stderr";
  const auto start = std::chrono::steady_clock::now();
  const pid_t pid = detail::spawn_cli(args, log.string(), {});
  cli_result r;
  int status = 0;
  for (;;) {
    if (::waitpid(pid, &status, WNOHANG) == pid)
      break;
    if (std::chrono::steady_clock::now() - start > limit) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      r.timed_out = true;
      break;
    }
    ::usleep(10000);  // waiting for a child process to exit
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (!r.timed_out && WIFEXITED(status))
    r.exit_code = WEXITSTATUS(status);
  r.stderr_text = slurp(log);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
  return r;
}

}  // namespace rtrec::testing
