// The HTTP API's Prometheus metrics: per-request updates of prometheus-cpp
// counters and histograms, and render(), which collects them with the
// engine's stats snapshot into metric families and serializes them with
// prometheus::TextSerializer.
#include "apps/http/metrics.hpp"

#include <cmath>
#include <utility>
#include <vector>

#include <prometheus/client_metric.h>
#include <prometheus/metric_family.h>
#include <prometheus/text_serializer.h>

namespace rtrec::http {

const char* to_string(route r) noexcept {
  switch (r) {
    case route::feedback: return "feedback";
    case route::recommend: return "recommend";
    case route::session: return "session_recommend";
    case route::neighbors: return "neighbors";
    case route::popular: return "popular";
    case route::latest: return "latest";
    case route::item_read: return "item_read";
    case route::item_write: return "item_write";
    case route::item_delete: return "item_delete";
    case route::user_read: return "user_read";
    case route::user_write: return "user_write";
    case route::user_delete: return "user_delete";
    case route::feedback_read: return "feedback_read";
    case route::feedback_delete: return "feedback_delete";
    case route::metrics: return "metrics";
    case route::health: return "health";
    case route::cluster: return "cluster";
    case route::dashboard: return "dashboard";
    case route::user_neighbors: return "user_neighbors";
    case route::bulk: return "bulk";
    case route::other: return "other";
  }
  return "other";
}

namespace {

prometheus::Counter& plain_counter(prometheus::Registry& r, const char* name, const char* help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r).Add({});
}

// rtrec_write_back_events_total{outcome}: one family, one child per outcome.
prometheus::Counter& write_back_counter(prometheus::Registry& r, const char* outcome) {
  return prometheus::BuildCounter()
    .Name("rtrec_write_back_events_total")
    .Help("Write-back events of recommend (write-back-type) ingested, by outcome.")
    .Register(r)
    .Add({{"outcome", outcome}});
}

}  // namespace

const prometheus::Histogram::BucketBoundaries& metrics::latency_bounds() {
  static const prometheus::Histogram::BucketBoundaries bounds{
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5};
  return bounds;
}

metrics::metrics()
  : events_accepted(plain_counter(registry_, "rtrec_http_feedback_accepted_total",
                                  "Feedback events applied through the API.")),
    events_invalid(plain_counter(registry_, "rtrec_http_feedback_invalid_total",
                                 "Feedback events refused because their request failed validation.")),
    events_overloaded(plain_counter(registry_, "rtrec_http_feedback_overloaded_total",
                                    "Feedback events refused with 503 because ingestion was behind.")),
    auth_failures(plain_counter(registry_, "rtrec_http_auth_failures_total",
                                "Requests refused for a missing or wrong API key.")),
    connections_refused(plain_counter(registry_, "rtrec_http_connections_refused_total",
                                      "Connections refused because max_connections were open.")),
    write_back_applied(write_back_counter(registry_, "applied")),
    write_back_duplicates(write_back_counter(registry_, "duplicate")),
    write_back_rejected(write_back_counter(registry_, "rejected")),
    write_back_scheduled(plain_counter(registry_, "rtrec_write_back_delayed_total",
                                       "Write-back events held for their write-back-delay.")) {
  auto& latency = prometheus::BuildHistogram()
                    .Name("rtrec_http_request_duration_seconds")
                    .Help("Time from a request's arrival to its response, by route.")
                    .Register(registry_);
  for (std::size_t r = 0; r < route_count; ++r)
    latency_[r] = &latency.Add({{"route", to_string(static_cast<route>(r))}}, latency_bounds());
}

std::size_t metrics::status_index(int status) noexcept {
  for (std::size_t k = 0; k < statuses.size(); ++k)
    if (statuses[k] == status)
      return k;
  return statuses.size();
}

void metrics::record(route r, int status, std::chrono::nanoseconds latency) noexcept {
  const auto ri = static_cast<std::size_t>(r);
  requests_[ri][status_index(status)].Increment();
  const auto ns = latency.count() > 0 ? latency.count() : 0;
  latency_[ri]->Observe(static_cast<double>(ns) / 1e9);
}

double metrics::requests(route r) const noexcept {
  double n = 0;
  for (const auto& c : requests_[static_cast<std::size_t>(r)])
    n += c.Value();
  return n;
}

namespace {

// The q-quantile of a histogram's cumulative buckets.
double quantile(const prometheus::ClientMetric::Histogram& h, double q) {
  const double want = q * static_cast<double>(h.sample_count);
  double lower = 0, below = 0;
  for (const auto& b : h.bucket) {
    const auto upper = b.upper_bound;
    const auto cum = static_cast<double>(b.cumulative_count);
    if (cum >= want && cum > below) {
      if (std::isinf(upper))
        return lower;  // past the last bound
      return lower + (upper - lower) * (want - below) / (cum - below);
    }
    if (!std::isinf(upper))
      lower = upper;
    below = cum;
  }
  return lower;
}

}  // namespace

metrics::latency_summary metrics::latency(route r) const {
  const auto m = latency_[static_cast<std::size_t>(r)]->Collect();
  latency_summary out;
  out.count = static_cast<double>(m.histogram.sample_count);
  if (m.histogram.sample_count == 0)
    return out;
  out.p50_s = quantile(m.histogram, 0.50);
  out.p95_s = quantile(m.histogram, 0.95);
  out.p99_s = quantile(m.histogram, 0.99);
  return out;
}

namespace {

using prometheus::ClientMetric;
using prometheus::MetricFamily;
using prometheus::MetricType;
using labels = std::vector<ClientMetric::Label>;

// Builds the families read from snapshots at scrape time, in the order they
// are added. Labels keep the order they are given in.
class families {
 public:
  explicit families(std::vector<MetricFamily>& out) : out_(out) {}

  /// Starts a family; sample() adds to the last one started.
  families& family(const char* name, MetricType type, const char* help) {
    out_.push_back(MetricFamily{name, help, type, {}});
    return *this;
  }
  families& sample(double v, labels l = {}) {
    ClientMetric m;
    m.label = std::move(l);
    if (out_.back().type == MetricType::Counter)
      m.counter.value = v;
    else
      m.gauge.value = v;
    out_.back().metric.push_back(std::move(m));
    return *this;
  }
  void counter(const char* name, const char* help, double v) {
    family(name, MetricType::Counter, help).sample(v);
  }
  void gauge(const char* name, const char* help, double v) {
    family(name, MetricType::Gauge, help).sample(v);
  }

 private:
  std::vector<MetricFamily>& out_;
};

constexpr auto counter_t = MetricType::Counter;
constexpr auto gauge_t = MetricType::Gauge;

template <class T>
double d(T v) {
  return static_cast<double>(v);
}

// The scheduler's turns by lane and what moved work between the lanes.
void add_scheduler(families& f, const service_stats& stats) {
  const auto& q = stats.scheduler;
  f.family("rtrec_scheduler_turns_total", counter_t,
           "Actor turns by scheduler lane (urgent: query work, normal: the rest).")
    .sample(d(q.urgent_turns), {{"lane", "urgent"}})
    .sample(d(q.normal_turns), {{"lane", "normal"}});
  f.counter("rtrec_scheduler_promotions_total",
            "Queued shards moved to the urgent lane because a query reached them.",
            d(q.promotions));
  f.counter("rtrec_scheduler_starvation_breaks_total",
            "Normal turns taken ahead of waiting query work so that ingest is never starved.",
            d(q.starvation_breaks));
}

// Which nodes this one reaches and, with `stats`, what the unreachable ones
// cost the queries.
void add_cluster(families& f, const service_stats* stats, const cluster_status& cluster) {
  if (stats != nullptr) {
    f.counter("rtrec_cluster_partial_answers_total",
              "Queries answered without the item shards of an unreachable node.",
              d(stats->partial_answers));
    f.gauge("rtrec_cluster_unreachable_shards",
            "Profile and item shards on nodes this node cannot reach.",
            d(stats->unreachable_shards));
  }
  const auto& nodes = cluster.nodes;
  f.family("rtrec_cluster_node_up", gauge_t,
           "1 while this node reaches the node (and its shards), else 0.");
  for (std::size_t n = 0; n < nodes.size(); ++n)
    f.sample(nodes[n].up ? 1 : 0,
             {{"node", std::to_string(n)}, {"address", nodes[n].address.to_string()}});
  f.family("rtrec_cluster_connects_total", counter_t,
           "Connections made to each peer (more than 1: it came back after a failure).");
  for (std::size_t n = 0; n < nodes.size(); ++n)
    if (!nodes[n].self)
      f.sample(d(nodes[n].connects), {{"node", std::to_string(n)}});
  f.family("rtrec_cluster_failures_total", counter_t,
           "Failed connection attempts and lost connections per peer.");
  for (std::size_t n = 0; n < nodes.size(); ++n)
    if (!nodes[n].self)
      f.sample(d(nodes[n].failures), {{"node", std::to_string(n)}});
}

// The write-ahead log, the checkpoints and the start-up recovery.
void add_durability(families& f, const durability_stats& dur) {
  f.counter("rtrec_wal_records_total", "Records written to the write-ahead log.",
            d(dur.wal.records));
  f.counter("rtrec_wal_bytes_total", "Bytes written to the write-ahead log.", d(dur.wal.bytes));
  f.counter("rtrec_wal_syncs_total", "Group writes (each one write and, with --sync fsync, one "
            "fdatasync) of the write-ahead log.", d(dur.wal.groups));
  f.counter("rtrec_wal_failures_total", "Log records that could not be written (not applied).",
            d(dur.wal.failures));
  f.gauge("rtrec_wal_failed",
          "1 once the log refuses every write (restart after fixing the disk).",
          dur.wal.failed ? 1.0 : 0.0);
  f.gauge("rtrec_wal_segments", "Log segments on disk.", d(dur.wal.segments));
  f.counter("rtrec_checkpoints_total", "Checkpoints written.", d(dur.checkpoints));
  f.counter("rtrec_checkpoint_failures_total", "Checkpoints that failed.",
            d(dur.checkpoint_failures));
  f.gauge("rtrec_checkpoint_last_seconds", "Time the last checkpoint took.",
          dur.last_checkpoint.total_ms / 1000.0);
  f.gauge("rtrec_checkpoint_last_bytes", "Size of the last checkpoint.",
          d(dur.last_checkpoint.bytes));
  f.gauge("rtrec_checkpoint_max_pause_seconds",
          "Longest time one shard answered nothing for a checkpoint, over every checkpoint.",
          d(dur.max_pause_ns) / 1e9);
  f.gauge("rtrec_checkpoint_max_write_hold_seconds",
          "Longest time one shard held back writes while a thread serialized its state.",
          d(dur.max_hold_ns) / 1e9);
  f.gauge("rtrec_recovery_seconds", "Time the start-up recovery took (checkpoint + log replay).",
          (dur.recovery.load_ms + dur.recovery.replay_ms) / 1000.0);
  f.gauge("rtrec_recovery_replayed_events", "Events replayed from the log at start-up.",
          d(dur.recovery.events_replayed));
}

// What the ingestors received and accepted, and the events refused or not
// applied, by reason.
void add_ingest(families& f, const service_stats& stats) {
  std::uint64_t received = 0, accepted = 0;
  std::vector<std::uint64_t> rejected(engine::reject_reason_count, 0);
  std::vector<std::uint64_t> failed(delivery_failure_count, 0);
  for (const auto& i : stats.ingestors) {
    received += i.received;
    accepted += i.accepted;
    for (std::size_t k = 0; k < i.rejected_by_reason.size() && k < rejected.size(); ++k)
      rejected[k] += i.rejected_by_reason[k];
    for (std::size_t k = 0; k < i.failed_by_reason.size() && k < failed.size(); ++k)
      failed[k] += i.failed_by_reason[k];
  }
  f.counter("rtrec_events_received_total", "Events received by the ingestors.", d(received));
  f.counter("rtrec_events_accepted_total", "Events the ingestors accepted.", d(accepted));
  f.family("rtrec_events_rejected_total", counter_t, "Events the engine refused, by reason.");
  for (std::size_t k = 1; k < rejected.size(); ++k)
    f.sample(d(rejected[k]),
             {{"reason", engine::to_string(static_cast<engine::reject_reason>(k))}});
  // Valid events that could not be applied, in the same family.
  for (std::size_t k = 0; k < failed.size(); ++k)
    f.sample(d(failed[k]), {{"reason", to_string(static_cast<delivery_failure>(k))}});
}

// One family with a sample per shard: `value(s)` of each shard in `shards`.
template <class Shards, class Value>
void add_per_shard(families& f, const char* name, MetricType type, const char* help,
                   const Shards& shards, Value value) {
  f.family(name, type, help);
  for (const auto& s : shards)
    f.sample(d(value(s)), {{"shard", std::to_string(s.shard)}});
}

// The sizes, queues and counters of each profile and item shard.
void add_shards(families& f, const service_stats& stats) {
  const auto& ps = stats.profile_shards;
  const auto& is = stats.item_shards;
  add_per_shard(f, "rtrec_shard_users", gauge_t, "Users held by each profile shard.", ps,
                [](const shard_stats& s) { return s.users; });
  add_per_shard(f, "rtrec_shard_events_applied_total", counter_t,
                "Events applied by each profile shard.", ps,
                [](const shard_stats& s) { return s.events_applied; });
  f.family("rtrec_shard_memory_bytes", gauge_t, "Approximate heap bytes per shard.");
  for (const auto& s : ps)
    f.sample(d(s.memory_bytes), {{"role", "profile"}, {"shard", std::to_string(s.shard)}});
  for (const auto& s : is)
    f.sample(d(s.model.memory_bytes), {{"role", "item"}, {"shard", std::to_string(s.shard)}});
  add_per_shard(f, "rtrec_shard_queue_depth", gauge_t,
                "Item-side delta batches a profile shard has sent and not yet seen applied.", ps,
                [](const shard_stats& s) { return s.deltas_in_flight; });
  add_per_shard(f, "rtrec_shard_acks_deferred_total", counter_t,
                "Ingest acknowledgements held back while the item side caught up.", ps,
                [](const shard_stats& s) { return s.acks_deferred; });
  add_per_shard(f, "rtrec_shard_duplicates_total", counter_t,
                "Events acknowledged again because their id was already applied.", ps,
                [](const shard_stats& s) { return s.duplicates; });
  add_per_shard(f, "rtrec_shard_log_pending", gauge_t,
                "Records a profile shard has logged and not yet seen durable.", ps,
                [](const shard_stats& s) { return s.log_pending; });
  add_per_shard(f, "rtrec_shard_delta_failures_total", counter_t,
                "Item-side delta batches that an item shard failed to apply.", ps,
                [](const shard_stats& s) { return s.delta_failures; });
  add_per_shard(f, "rtrec_item_shard_items", gauge_t, "Items known to each item shard.", is,
                [](const item_shard_stats& s) { return s.model.items; });
  add_per_shard(f, "rtrec_item_shard_row_entries", gauge_t,
                "Co-occurrence entries held by each item shard.", is,
                [](const item_shard_stats& s) { return s.model.row_entries; });
  add_per_shard(f, "rtrec_item_shard_user_entries", gauge_t,
                "Users listed over the items of each item shard (user neighbors).", is,
                [](const item_shard_stats& s) { return s.item_user_entries; });
  f.family("rtrec_item_lag_seconds", gauge_t,
           "Delay from a profile update to its item-side application, p99 per item shard.");
  for (const auto& s : is)
    f.sample(d(s.lag_p99_ns) / 1e9, {{"shard", std::to_string(s.shard)}, {"quantile", "0.99"}});
  // The streams an item shard follows (docs/replication.md, "Stage 1", "Stage 1b").
  add_per_shard(f, "rtrec_item_shard_meta_applied", gauge_t,
                "The last item metadata operation of the meta writer's log applied by each "
                "item shard (equal on every item shard once the cluster is whole).",
                is, [](const item_shard_stats& s) { return s.meta_applied; });
  add_per_shard(f, "rtrec_item_shard_stream_gaps_total", counter_t,
                "Delta batches and metadata operations an item shard dropped because earlier "
                "ones were missing (each starts a resync).",
                is, [](const item_shard_stats& s) { return s.gaps; });
  f.family("rtrec_item_shard_resyncs_total", counter_t,
           "Resyncs of a delta or metadata stream, by result, per item shard.");
  for (const auto& s : is) {
    f.sample(d(s.resyncs), {{"shard", std::to_string(s.shard)}, {"result", "applied"}});
    f.sample(d(s.resync_failures), {{"shard", std::to_string(s.shard)}, {"result", "failed"}});
  }
}

}  // namespace

std::string metrics::render(const service_stats* stats, std::size_t events_in_flight,
                            const durability_stats* durability,
                            const cluster_status* cluster) const {
  std::vector<MetricFamily> all;
  families f{all};
  f.family("rtrec_http_requests_total", counter_t, "HTTP requests answered, by route and status.");
  for (std::size_t r = 0; r < route_count; ++r)
    for (std::size_t s = 0; s <= statuses.size(); ++s) {
      const auto n = requests_[r][s].Value();
      if (n == 0)
        continue;
      f.sample(n, {{"route", to_string(static_cast<route>(r))},
                   {"code", s < statuses.size() ? std::to_string(statuses[s]) : "other"}});
    }
  for (auto& family : registry_.Collect())
    all.push_back(std::move(family));
  f.gauge("rtrec_http_connections", "Open HTTP connections.", d(connections.load()));
  f.gauge("rtrec_http_requests_in_flight", "HTTP requests being handled.",
          d(requests_in_flight.load()));
  f.gauge("rtrec_queries_in_flight", "Queries waiting for the engine.",
          d(queries_in_flight.load()));
  f.gauge("rtrec_write_back_pending", "Write-back events waiting for their write-back-delay.",
          d(write_back_pending.load()));
  f.gauge("rtrec_events_in_flight", "Events accepted by the engine and not yet acknowledged.",
          d(events_in_flight));
  if (stats != nullptr)
    add_scheduler(f, *stats);
  if (cluster != nullptr && cluster->enabled)
    add_cluster(f, stats, *cluster);
  if (durability != nullptr && durability->enabled)
    add_durability(f, *durability);
  if (stats != nullptr) {
    add_ingest(f, *stats);
    add_shards(f, *stats);
  }
  return prometheus::TextSerializer().Serialize(all);
}

}  // namespace rtrec::http
