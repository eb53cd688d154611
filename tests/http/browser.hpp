// Headless Chromium for the dashboard's end-to-end tests: loads a page,
// lets it run (--virtual-time-budget: virtual time stops while fetches are
// pending, so the page's API calls finish whatever the machine's speed), and
// returns the rendered DOM or writes a screenshot. Each run is bounded by
// coreutils' timeout and uses a fresh profile directory.
#pragma once

#include <signal.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <regex>
#include <string>
#include <vector>

#include "tests/http/serve_process.hpp"  // slurp

namespace rtrec::testing {

/// Chromium's path in $PATH ("chromium", Debian's package, or
/// "chromium-browser"); empty when neither is installed.
inline std::string find_chromium() {
  const char* path = std::getenv("PATH");
  std::string dirs = path != nullptr ? path : "/usr/bin:/bin";
  for (const char* name : {"chromium", "chromium-browser"}) {
    std::size_t start = 0;
    while (start <= dirs.size()) {
      const auto end = std::min(dirs.find(':', start), dirs.size());
      const auto candidate = std::filesystem::path{dirs.substr(start, end - start)} / name;
      if (::access(candidate.c_str(), X_OK) == 0)
        return candidate.string();
      start = end + 1;
    }
  }
  return {};
}

class browser {
 public:
  /// How long the page may run in virtual time (its refresh timers included).
  static constexpr int budget_ms = 5000;

  browser() : chromium_(find_chromium()) {
    dir_ = std::filesystem::temp_directory_path() /
           ("rtrec_browser_" + std::to_string(::getpid()) + "_" + std::to_string(counter_++));
    std::filesystem::create_directories(dir_);
  }
  ~browser() {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  browser(const browser&) = delete;
  browser& operator=(const browser&) = delete;

  bool available() const { return !chromium_.empty(); }
  const std::filesystem::path& dir() const { return dir_; }

  /// The DOM of `url` after it ran, serialized; empty if Chromium failed
  /// (see last_error()).
  std::string dump_dom(const std::string& url) { return run({"--dump-dom", url}); }

  /// Writes a 1280x900 PNG of `url` to `png`; returns whether it exists.
  bool screenshot(const std::string& url, const std::filesystem::path& png) {
    std::error_code ec;
    std::filesystem::remove(png, ec);
    run({"--window-size=1280,900", "--screenshot=" + png.string(), url});
    return std::filesystem::exists(png);
  }

  /// Chromium's stderr and exit status of the last run.
  const std::string& last_error() const { return last_error_; }

 private:
  std::string run(const std::vector<std::string>& extra) {
    const auto n = std::to_string(runs_++);
    const auto out = dir_ / ("out" + n), err = dir_ / ("err" + n);
    std::vector<std::string> args{"timeout", "-k", "5", "60", chromium_, "--headless",
                                  "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
                                  "--no-first-run", "--hide-scrollbars", "--mute-audio",
                                  "--user-data-dir=" + (dir_ / ("profile" + n)).string(),
                                  "--virtual-time-budget=" + std::to_string(budget_ms)};
    args.insert(args.end(), extra.begin(), extra.end());
    std::vector<char*> argv;
    for (auto& a : args)
      argv.push_back(a.data());
    argv.push_back(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::prctl(PR_SET_PDEATHSIG, SIGKILL);
      std::freopen(out.c_str(), "w", stdout);
      std::freopen(err.c_str(), "w", stderr);
      ::execvp("timeout", argv.data());
      std::_Exit(127);
    }
    int status = 0;
    ::waitpid(pid, &status, 0);
    const int code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    last_error_ = "chromium exit status " + std::to_string(code) + ":\n" + slurp(err);
    return code == 0 ? slurp(out) : std::string{};
  }

  static inline int counter_ = 0;
  std::string chromium_;
  std::filesystem::path dir_;
  int runs_ = 0;
  std::string last_error_;
};

// -- reading a dumped DOM -------------------------------------------------------

/// The value of `attr` on the element with id `id` (the attribute must come
/// after the id, as the dashboard writes them); empty if absent.
inline std::string attr_of(const std::string& dom, const std::string& id, const std::string& attr) {
  std::smatch m;
  const std::regex re{"id=\"" + id + "\"[^>]*? " + attr + "=\"([^\"]*)\""};
  return std::regex_search(dom, m, re) ? m[1].str() : std::string{};
}

/// The text directly inside the element with id `id`.
inline std::string text_of(const std::string& dom, const std::string& id) {
  std::smatch m;
  const std::regex re{"id=\"" + id + "\"[^>]*>([^<]*)<"};
  return std::regex_search(dom, m, re) ? m[1].str() : std::string{};
}

/// The page's <body data-state>: loading, ready, not-found, need-key, error.
inline std::string page_state(const std::string& dom) {
  std::smatch m;
  return std::regex_search(dom, m, std::regex{"<body data-state=\"([^\"]*)\""}) ? m[1].str()
                                                                               : std::string{};
}

/// The values of `attr` (data-item, data-from, ...) in the element with id
/// `id`, up to its closing `end_tag`, in document order.
inline std::vector<std::string> attrs_in(const std::string& dom, const std::string& id,
                                         const std::string& end_tag,
                                         const std::string& attr = "data-item") {
  std::vector<std::string> out;
  const auto begin = dom.find("id=\"" + id + "\"");
  if (begin == std::string::npos)
    return out;
  const auto end = dom.find(end_tag, begin);
  const auto part = dom.substr(begin, end == std::string::npos ? std::string::npos : end - begin);
  const std::regex re{" " + attr + "=\"([^\"]*)\""};
  for (auto it = std::sregex_iterator(part.begin(), part.end(), re); it != std::sregex_iterator();
       ++it)
    out.push_back((*it)[1].str());
  return out;
}

}  // namespace rtrec::testing
