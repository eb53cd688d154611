// Prometheus metrics of the HTTP API: request counters and latency histograms
// per route and status, feedback counters, gauges of what is in flight. All
// updates are lock-free (atomics) and cheap enough for every request; render()
// writes the Prometheus text exposition format (version 0.0.4), adding the
// engine's per-shard sizes and queue depths from a stats snapshot.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include "rtrec/rtrec.hpp"

namespace rtrec::http {

/// The routes requests are counted under (a fixed set: labels stay bounded
/// whatever paths clients send).
enum class route : std::uint8_t {
  feedback,
  recommend,
  session,
  neighbors,
  popular,
  latest,
  item_read,
  item_write,
  item_delete,
  user_read,
  user_delete,
  metrics,
  health,
  cluster,
  other,  ///< unknown paths, bad methods, requests rejected before routing
};
constexpr std::size_t route_count = 15;
const char* to_string(route r) noexcept;

/// Latency histogram with fixed buckets in seconds (Prometheus cumulative).
class latency_histogram {
 public:
  static constexpr std::array<double, 14> bounds{0.0001, 0.00025, 0.0005, 0.001, 0.0025,
                                                 0.005,  0.01,    0.025,  0.05,  0.1,
                                                 0.25,   0.5,     1.0,    2.5};
  void observe(std::chrono::nanoseconds d) noexcept;
  /// Appends the _bucket, _sum and _count lines of `name` with `labels`
  /// (a `key="value"` list without braces).
  void render(std::string& out, const std::string& name, const std::string& labels) const;

 private:
  std::array<std::atomic<std::uint64_t>, bounds.size() + 1> counts_{};
  std::atomic<std::uint64_t> sum_ns_{0};
};

class metrics {
 public:
  /// Statuses counted one by one; anything else is counted as "other".
  static constexpr std::array<int, 15> statuses{200, 400, 401, 404, 405, 411, 413, 414,
                                                415, 429, 431, 500, 501, 503, 504};

  /// Counts a finished request and its latency.
  void record(route r, int status, std::chrono::nanoseconds latency) noexcept;

  std::atomic<std::uint64_t> events_accepted{0};    ///< feedback events applied
  std::atomic<std::uint64_t> events_invalid{0};     ///< feedback events refused by validation
  std::atomic<std::uint64_t> events_overloaded{0};  ///< feedback events refused with 503
  std::atomic<std::uint64_t> auth_failures{0};
  std::atomic<std::int64_t> connections{0};         ///< open connections
  std::atomic<std::uint64_t> connections_refused{0};
  std::atomic<std::int64_t> requests_in_flight{0};  ///< being handled
  std::atomic<std::int64_t> queries_in_flight{0};   ///< waiting on the engine

  /// Returns every metric in Prometheus text format. `stats` may be null
  /// (engine unavailable): the engine's gauges are then left out.
  std::string render(const service_stats* stats, std::size_t events_in_flight,
                     const durability_stats* durability = nullptr,
                     const cluster_status* cluster = nullptr) const;

 private:
  static std::size_t status_index(int status) noexcept;
  std::array<std::array<std::atomic<std::uint64_t>, statuses.size() + 1>, route_count> requests_{};
  std::array<latency_histogram, route_count> latency_{};
};

}  // namespace rtrec::http
