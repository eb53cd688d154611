#include "apps/rtrec/support.hpp"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace rtrec::cli {

double seconds_since(clock_type::time_point start) {
  return std::chrono::duration<double>(clock_type::now() - start).count();
}

std::uint64_t nanos_since(clock_type::time_point start) {
  const auto ns = std::chrono::duration_cast<std::chrono::nanoseconds>(clock_type::now() - start);
  return static_cast<std::uint64_t>(std::max<std::int64_t>(0, ns.count()));
}

namespace {

// Returns the value of a "Name:   1234 kB" line of /proc/self/status in bytes.
std::uint64_t proc_status_kb(const std::string& name) {
  std::ifstream in{"/proc/self/status"};
  std::string line;
  while (std::getline(in, line)) {
    if (line.compare(0, name.size() + 1, name + ":") != 0)
      continue;
    std::istringstream fields{line.substr(name.size() + 1)};
    std::uint64_t kb = 0;
    fields >> kb;
    return kb * 1024;
  }
  return 0;
}

}  // namespace

std::uint64_t peak_rss_bytes() {
  return proc_status_kb("VmHWM");
}

std::uint64_t current_rss_bytes() {
  return proc_status_kb("VmRSS");
}

std::vector<engine::scored> to_scored(const std::vector<engine::recommendation>& recs) {
  std::vector<engine::scored> out;
  out.reserve(recs.size());
  for (const auto& r : recs)
    out.push_back({engine::hash_id(r.item), r.score});
  return out;
}

// -- progress -------------------------------------------------------------------

progress::progress(std::string label, std::size_t total)
  : label_(std::move(label)),
    total_(total),
    enabled_(spdlog::should_log(spdlog::level::info)),
    terminal_(isatty(fileno(stderr)) != 0),
    start_(clock_type::now()),
    next_draw_(start_ + std::chrono::seconds(1)) {}

progress::~progress() {
  if (terminal_ && enabled_ && !finished_ && done_ > 0)
    std::fputc('\n', stderr);  // leave the cursor on a fresh line after an error
}

void progress::update(std::size_t done) {
  done_ = done;
  if (!enabled_ || finished_)
    return;
  const auto now = clock_type::now();
  if (now < next_draw_)
    return;
  next_draw_ = now + (terminal_ ? std::chrono::milliseconds(100) : std::chrono::seconds(1));
  draw(done, false);
}

void progress::finish() {
  if (!enabled_ || finished_)
    return;
  draw(done_, true);
  finished_ = true;
}

void progress::draw(std::size_t done, bool final) {
  const double elapsed = seconds_since(start_);
  const double rate = elapsed > 0 ? static_cast<double>(done) / elapsed : 0.0;
  const double fraction =
    total_ > 0 ? std::min(1.0, static_cast<double>(done) / static_cast<double>(total_)) : 0.0;
  if (total_ == 0) {  // unknown total: the count and the rate
    if (!terminal_) {
      spdlog::info("{}: {}, {:.0f}/s", label_, done, rate);
      return;
    }
    std::fprintf(stderr, "\r%s %zu %.0f/s\033[K%s", label_.c_str(), done, rate,
                 final ? "\n" : "");
    std::fflush(stderr);
    return;
  }
  if (!terminal_) {
    spdlog::info("{}: {}/{} ({:.0f}%), {:.0f}/s", label_, done, total_, 100 * fraction, rate);
    return;
  }
  constexpr int width = 30;
  const auto filled = static_cast<int>(fraction * width);
  const double eta = rate > 0 ? static_cast<double>(total_ - std::min(done, total_)) / rate : 0.0;
  std::fprintf(stderr, "\r%s [%s%s] %3.0f%% %zu/%zu %.0f/s ETA %.0fs\033[K%s", label_.c_str(),
               std::string(static_cast<std::size_t>(filled), '#').c_str(),
               std::string(static_cast<std::size_t>(width - filled), ' ').c_str(),
               100 * fraction, done, total_, rate, eta, final ? "\n" : "");
  std::fflush(stderr);
}

// -- ingest helpers ---------------------------------------------------------------

void ingest_counts::add(const ingest_result& r) {
  accepted += r.accepted;
  rejected += r.rejected.size();
  if (first_reason == engine::reject_reason::none && !r.rejected.empty())
    first_reason = r.rejected.front().reason;
}

void ingest_counts::report() const {
  if (rejected > 0)
    spdlog::warn("the engine rejected {} event(s) (first reason: {})", rejected,
                 engine::to_string(first_reason));
}

ingest_result ingest_range(service& eng, const std::vector<engine::event>& events,
                           std::size_t begin, std::size_t end) {
  std::vector<engine::event> batch(events.begin() + static_cast<std::ptrdiff_t>(begin),
                                   events.begin() + static_cast<std::ptrdiff_t>(end));
  return unwrap(eng.ingest(std::move(batch)), "ingest");
}

ingest_counts load_into(service& eng, const std::vector<engine::event>& events,
                        std::size_t batch) {
  ingest_counts counts;
  progress bar{"loading", events.size()};
  for (std::size_t begin = 0; begin < events.size(); begin += batch) {
    const auto end = std::min(events.size(), begin + batch);
    counts.add(ingest_range(eng, events, begin, end));
    bar.update(end);
  }
  unwrap(eng.flush(), "flush");
  bar.finish();
  counts.report();
  return counts;
}

}  // namespace rtrec::cli
