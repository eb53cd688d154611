// Small pieces the subcommands share: the error types that pick the exit
// code, unwrapping engine results, clocks, process memory, feeding events to
// the embedded service in batches, and a progress display on stderr.
#pragma once

#include <caf/all.hpp>

#include <chrono>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "rtrec/rtrec.hpp"
#include "engine/event.hpp"
#include "engine/model_types.hpp"

namespace rtrec::cli {

/// A mistake on the command line found after parsing: exit code 2. Every
/// other exception that reaches main() is a runtime error: exit code 1.
struct usage_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Returns the value of `x`, or throws std::runtime_error("<what>: <error>").
template <class T>
T unwrap(result<T>&& x, const char* what) {
  if (!x)
    throw std::runtime_error(std::string{what} + ": " + x.error().to_string());
  return std::move(*x);
}

using clock_type = std::chrono::steady_clock;

/// Returns the seconds elapsed since `start`.
double seconds_since(clock_type::time_point start);

/// Returns the nanoseconds elapsed since `start`.
std::uint64_t nanos_since(clock_type::time_point start);

/// Returns VmHWM (peak resident set) of this process in bytes, 0 if unknown.
std::uint64_t peak_rss_bytes();
/// Returns VmRSS (current resident set) of this process in bytes, 0 if unknown.
std::uint64_t current_rss_bytes();

/// Returns `recs` as keys with scores (for prequential_evaluator).
std::vector<engine::scored> to_scored(const std::vector<engine::recommendation>& recs);

/// Shows how far a long loop has come, on stderr: a redrawn bar when stderr
/// is a terminal, else a log line at most once a second. Silent when the log
/// level is above info. A `total` of 0 means unknown: the count and the rate
/// are shown, without a bar.
class progress {
 public:
  progress(std::string label, std::size_t total);
  ~progress();
  progress(const progress&) = delete;
  progress& operator=(const progress&) = delete;

  /// Reports that `done` of `total` steps are complete. Cheap when nothing
  /// is due to be shown.
  void update(std::size_t done);
  /// Shows the final state (once).
  void finish();

 private:
  void draw(std::size_t done, bool final);

  std::string label_;
  std::size_t total_;
  std::size_t done_ = 0;
  bool enabled_;
  bool terminal_;
  bool finished_ = false;
  clock_type::time_point start_;
  clock_type::time_point next_draw_;
};

/// Counts of a batch ingest.
struct ingest_counts {
  std::uint64_t accepted = 0;
  std::uint64_t rejected = 0;
  engine::reject_reason first_reason = engine::reject_reason::none;

  void add(const ingest_result& r);
  /// Logs a warning when events were rejected.
  void report() const;
};

/// Ingests events[begin, end) with one ingest() call. Throws
/// std::runtime_error when the engine fails.
ingest_result ingest_range(service& eng, const std::vector<engine::event>& events,
                           std::size_t begin, std::size_t end);

/// Ingests all `events` in batches of `batch` (one ingest() each), then
/// flush()es so the item side has caught up. Throws std::runtime_error when
/// the engine fails.
ingest_counts load_into(service& eng, const std::vector<engine::event>& events,
                        std::size_t batch);

}  // namespace rtrec::cli
