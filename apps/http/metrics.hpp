// Prometheus metrics of the HTTP API: request counters and latency histograms
// per route and status, feedback counters, gauges of what is in flight. The
// live series are prometheus-cpp metrics (prometheus::Counter/Histogram, each
// thread-safe and cheap enough for every request); render() adds the
// engine's per-shard sizes and queue depths from a stats snapshot as metric
// families of the same library and writes everything with
// prometheus::TextSerializer (text exposition format 0.0.4). Only the core
// library is used: /metrics is served by our own Beast server.
#pragma once

#include <array>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <string>

#include <prometheus/counter.h>
#include <prometheus/family.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

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
  user_write,
  user_delete,
  feedback_read,    ///< GET /api/feedback..., /api/user|item/{id}/feedback...
  feedback_delete,  ///< DELETE /api/feedback/...
  metrics,
  health,
  cluster,
  dashboard,  ///< the dashboard's pages and its stats
  user_neighbors,
  bulk,  ///< /api/bulk/{users,items,feedback}: import and export
  other,  ///< unknown paths, bad methods, requests rejected before routing (keep last)
};
constexpr std::size_t route_count = static_cast<std::size_t>(route::other) + 1;
const char* to_string(route r) noexcept;

class metrics {
 public:
  /// Statuses counted one by one; anything else is counted as "other".
  static constexpr std::array<int, 15> statuses{200, 400, 401, 404, 405, 411, 413, 414,
                                                415, 429, 431, 500, 501, 503, 504};
  /// Upper bounds (seconds) of the latency histograms' buckets.
  static const prometheus::Histogram::BucketBoundaries& latency_bounds();

  metrics();
  metrics(const metrics&) = delete;
  metrics& operator=(const metrics&) = delete;

  /// Counts a finished request and its latency.
  void record(route r, int status, std::chrono::nanoseconds latency) noexcept;

 private:
  // Declared first: the counters below are references into it.
  prometheus::Registry registry_;

 public:
  prometheus::Counter& events_accepted;    ///< feedback events applied
  prometheus::Counter& events_invalid;     ///< feedback events refused by validation
  prometheus::Counter& events_overloaded;  ///< feedback events refused with 503
  prometheus::Counter& auth_failures;
  prometheus::Counter& connections_refused;
  // Write-back on recommend (write_back.hpp): events written back at once
  // or when due, by outcome, and those held for their delay.
  prometheus::Counter& write_back_applied;
  prometheus::Counter& write_back_duplicates;
  prometheus::Counter& write_back_rejected;
  prometheus::Counter& write_back_scheduled;
  // Plain atomics, not gauges: the server also decides with them (limits,
  // drain), which needs the value fetch_add returns. render() exports them.
  std::atomic<std::int64_t> connections{0};         ///< open connections
  std::atomic<std::int64_t> requests_in_flight{0};  ///< being handled
  std::atomic<std::int64_t> queries_in_flight{0};   ///< waiting on the engine
  std::atomic<std::int64_t> write_back_pending{0};  ///< write-back events waiting for their delay

  /// Requests answered on route `r` so far, any status.
  double requests(route r) const noexcept;

  /// Latency quantiles of route `r` since start, estimated from its
  /// histogram's buckets (linear within a bucket; a quantile past the last
  /// bound reads as that bound). All zero before the first request.
  struct latency_summary {
    double count = 0;
    double p50_s = 0, p95_s = 0, p99_s = 0;
  };
  latency_summary latency(route r) const;

  /// Returns every metric in Prometheus text format. `stats` may be null
  /// (engine unavailable): the engine's gauges are then left out.
  std::string render(const service_stats* stats, std::size_t events_in_flight,
                     const durability_stats* durability = nullptr,
                     const cluster_status* cluster = nullptr) const;

 private:
  static std::size_t status_index(int status) noexcept;
  // Requests by route and status. Not a prometheus::Family: a Family keeps
  // labels in a std::map (code before route) and would list every pair even
  // when 0; render() keeps the published `{route,code}` form, non-zero only.
  std::array<std::array<prometheus::Counter, statuses.size() + 1>, route_count> requests_{};
  std::array<prometheus::Histogram*, route_count> latency_{};
};

}  // namespace rtrec::http
