// Unit tests of the /metrics text (apps/http/metrics): the exact sample lines
// other tools grep for, histogram buckets, and HELP/TYPE once per family,
// without a server or an engine.
#include <gtest/gtest.h>

#include <map>
#include <sstream>

#include "apps/http/metrics.hpp"

namespace {

using namespace rtrec::http;
using namespace std::chrono_literals;

// The dashboard's figures: requests per route (any status) and latency
// quantiles read from the histogram's buckets (linear within a bucket).
TEST(HttpMetrics, RequestTotalsAndLatencyQuantiles) {
  metrics m;
  EXPECT_EQ(m.latency(route::recommend).count, 0);
  EXPECT_EQ(m.latency(route::recommend).p99_s, 0);
  for (int k = 0; k < 98; ++k)
    m.record(route::recommend, 200, 300us);  // bucket (0.00025, 0.0005]
  m.record(route::recommend, 503, 2ms);      // bucket (0.001, 0.0025]
  m.record(route::recommend, 200, 10s);      // past the last bound
  m.record(route::feedback, 200, 1ms);
  EXPECT_EQ(m.requests(route::recommend), 100);
  EXPECT_EQ(m.requests(route::feedback), 1);
  EXPECT_EQ(m.requests(route::popular), 0);
  const auto l = m.latency(route::recommend);
  EXPECT_EQ(l.count, 100);
  // The 50th of 98 samples in (0.00025, 0.0005]: 0.00025 + 0.00025 * 50/98.
  EXPECT_NEAR(l.p50_s, 0.00025 + 0.00025 * 50.0 / 98.0, 1e-9);
  EXPECT_GT(l.p95_s, 0.00025);
  EXPECT_LE(l.p95_s, 0.0005);
  // The 99th sample is the 2 ms one: (0.001, 0.0025] holds it alone.
  EXPECT_NEAR(l.p99_s, 0.0025, 1e-9);
  EXPECT_NEAR(m.latency(route::feedback).p50_s, 0.00075, 1e-9);
}

TEST(HttpMetrics, RequestCountersAndLatencyHistogram) {
  metrics m;
  m.record(route::recommend, 200, 300us);
  m.record(route::recommend, 200, 2ms);
  m.record(route::other, 404, 50us);
  m.record(route::feedback, 418, 1s);  // a status not counted one by one
  const auto t = m.render(nullptr, 0);
  EXPECT_NE(t.find("rtrec_http_requests_total{route=\"recommend\",code=\"200\"} 2\n"),
            std::string::npos) << t;
  EXPECT_NE(t.find("rtrec_http_requests_total{route=\"other\",code=\"404\"} 1\n"),
            std::string::npos) << t;
  EXPECT_NE(t.find("rtrec_http_requests_total{route=\"feedback\",code=\"other\"} 1\n"),
            std::string::npos) << t;
  // Pairs never seen are left out.
  EXPECT_EQ(t.find("rtrec_http_requests_total{route=\"recommend\",code=\"404\"}"),
            std::string::npos) << t;
  // Cumulative buckets; a bound is inclusive (le).
  const std::string b = "rtrec_http_request_duration_seconds_bucket{route=\"recommend\",le=";
  EXPECT_NE(t.find(b + "\"0.00025\"} 0\n"), std::string::npos) << t;
  EXPECT_NE(t.find(b + "\"0.0005\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find(b + "\"0.001\"} 1\n"), std::string::npos) << t;
  EXPECT_NE(t.find(b + "\"0.0025\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find(b + "\"+Inf\"} 2\n"), std::string::npos) << t;
  EXPECT_NE(t.find("rtrec_http_request_duration_seconds_count{route=\"recommend\"} 2\n"),
            std::string::npos) << t;
  EXPECT_NE(t.find("rtrec_http_request_duration_seconds_sum{route=\"recommend\"} 0.0023\n"),
            std::string::npos) << t;
  EXPECT_NE(t.find("rtrec_http_request_duration_seconds_bucket{route=\"feedback\",le=\"2.5\"} 1\n"),
            std::string::npos) << t;
  // Every route has its histogram, even with no request yet.
  EXPECT_NE(t.find("rtrec_http_request_duration_seconds_count{route=\"cluster\"} 0\n"),
            std::string::npos) << t;
}

TEST(HttpMetrics, CountersGaugesAndOneHeaderPerFamily) {
  metrics m;
  m.events_accepted.Increment(6);
  m.events_invalid.Increment(4);
  m.auth_failures.Increment();
  m.connections = 3;
  m.queries_in_flight = 2;
  const auto t = m.render(nullptr, 7);
  for (const char* line :
       {"rtrec_http_feedback_accepted_total 6\n", "rtrec_http_feedback_invalid_total 4\n",
        "rtrec_http_feedback_overloaded_total 0\n", "rtrec_http_auth_failures_total 1\n",
        "rtrec_http_connections_refused_total 0\n", "rtrec_http_connections 3\n",
        "rtrec_http_requests_in_flight 0\n", "rtrec_queries_in_flight 2\n",
        "rtrec_events_in_flight 7\n", "# TYPE rtrec_http_feedback_accepted_total counter\n",
        "# TYPE rtrec_http_connections gauge\n",
        "# TYPE rtrec_http_request_duration_seconds histogram\n"})
    EXPECT_NE(t.find(line), std::string::npos) << line << t;
  // No engine stats: no engine gauges.
  EXPECT_EQ(t.find("rtrec_shard_users"), std::string::npos) << t;
  std::map<std::string, int> types;
  std::istringstream in{t};
  std::string l;
  while (std::getline(in, l))
    if (l.rfind("# TYPE ", 0) == 0)
      ++types[l.substr(7, l.find(' ', 7) - 7)];
  EXPECT_GE(types.size(), 10u);
  for (const auto& [name, n] : types)
    EXPECT_EQ(n, 1) << name;
}

// The item shards' streams (docs/replication.md, "Stage 1b"): the metadata
// position, gaps and resyncs per item shard.
TEST(HttpMetrics, ItemShardStreams) {
  metrics m;
  rtrec::service_stats stats;
  rtrec::item_shard_stats a, b;
  a.shard = 0;
  a.meta_applied = 42;
  a.gaps = 3;
  a.resyncs = 2;
  a.resync_failures = 1;
  b.shard = 3;
  b.meta_applied = 41;
  stats.item_shards = {a, b};
  const auto t = m.render(&stats, 0);
  for (const char* line :
       {"rtrec_item_shard_meta_applied{shard=\"0\"} 42\n",
        "rtrec_item_shard_meta_applied{shard=\"3\"} 41\n",
        "rtrec_item_shard_stream_gaps_total{shard=\"0\"} 3\n",
        "rtrec_item_shard_resyncs_total{shard=\"0\",result=\"applied\"} 2\n",
        "rtrec_item_shard_resyncs_total{shard=\"0\",result=\"failed\"} 1\n",
        "rtrec_item_shard_resyncs_total{shard=\"3\",result=\"failed\"} 0\n",
        "# TYPE rtrec_item_shard_meta_applied gauge\n",
        "# TYPE rtrec_item_shard_stream_gaps_total counter\n"})
    EXPECT_NE(t.find(line), std::string::npos) << line << t;
}

}  // namespace
