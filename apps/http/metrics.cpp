#include "apps/http/metrics.hpp"

#include <fmt/format.h>

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
    case route::user_delete: return "user_delete";
    case route::metrics: return "metrics";
    case route::health: return "health";
    case route::cluster: return "cluster";
    case route::other: return "other";
  }
  return "other";
}

void latency_histogram::observe(std::chrono::nanoseconds d) noexcept {
  const double s = std::chrono::duration<double>(d).count();
  std::size_t k = 0;
  while (k < bounds.size() && s > bounds[k])
    ++k;
  counts_[k].fetch_add(1, std::memory_order_relaxed);
  sum_ns_.fetch_add(static_cast<std::uint64_t>(d.count() > 0 ? d.count() : 0),
                    std::memory_order_relaxed);
}

void latency_histogram::render(std::string& out, const std::string& name,
                               const std::string& labels) const {
  std::uint64_t cumulative = 0;
  for (std::size_t k = 0; k < bounds.size(); ++k) {
    cumulative += counts_[k].load(std::memory_order_relaxed);
    out += fmt::format("{}_bucket{{{},le=\"{}\"}} {}\n", name, labels, bounds[k], cumulative);
  }
  cumulative += counts_[bounds.size()].load(std::memory_order_relaxed);
  out += fmt::format("{}_bucket{{{},le=\"+Inf\"}} {}\n", name, labels, cumulative);
  out += fmt::format("{}_sum{{{}}} {}\n", name, labels,
                     static_cast<double>(sum_ns_.load(std::memory_order_relaxed)) / 1e9);
  out += fmt::format("{}_count{{{}}} {}\n", name, labels, cumulative);
}

std::size_t metrics::status_index(int status) noexcept {
  for (std::size_t k = 0; k < statuses.size(); ++k)
    if (statuses[k] == status)
      return k;
  return statuses.size();
}

void metrics::record(route r, int status, std::chrono::nanoseconds latency) noexcept {
  const auto ri = static_cast<std::size_t>(r);
  requests_[ri][status_index(status)].fetch_add(1, std::memory_order_relaxed);
  latency_[ri].observe(latency);
}

namespace {

void header(std::string& out, const char* name, const char* type, const char* help) {
  out += fmt::format("# HELP {} {}\n# TYPE {} {}\n", name, help, name, type);
}

}  // namespace

std::string metrics::render(const service_stats* stats, std::size_t events_in_flight,
                            const durability_stats* durability,
                            const cluster_status* cluster) const {
  std::string out;
  out.reserve(16 * 1024);
  header(out, "rtrec_http_requests_total", "counter", "HTTP requests answered, by route and status.");
  for (std::size_t r = 0; r < route_count; ++r)
    for (std::size_t s = 0; s <= statuses.size(); ++s) {
      auto n = requests_[r][s].load(std::memory_order_relaxed);
      if (n == 0)
        continue;
      out += fmt::format("rtrec_http_requests_total{{route=\"{}\",code=\"{}\"}} {}\n",
                         to_string(static_cast<route>(r)),
                         s < statuses.size() ? std::to_string(statuses[s]) : "other", n);
    }
  header(out, "rtrec_http_request_duration_seconds", "histogram",
         "Time from a request's arrival to its response, by route.");
  for (std::size_t r = 0; r < route_count; ++r)
    latency_[r].render(out, "rtrec_http_request_duration_seconds",
                       fmt::format("route=\"{}\"", to_string(static_cast<route>(r))));
  auto counter = [&](const char* name, const char* help, std::uint64_t v) {
    header(out, name, "counter", help);
    out += fmt::format("{} {}\n", name, v);
  };
  auto gauge = [&](const char* name, const char* help, double v) {
    header(out, name, "gauge", help);
    out += fmt::format("{} {}\n", name, v);
  };
  counter("rtrec_http_feedback_accepted_total", "Feedback events applied through the API.",
          events_accepted.load());
  counter("rtrec_http_feedback_invalid_total",
          "Feedback events refused because their request failed validation.",
          events_invalid.load());
  counter("rtrec_http_feedback_overloaded_total",
          "Feedback events refused with 503 because ingestion was behind.",
          events_overloaded.load());
  counter("rtrec_http_auth_failures_total", "Requests refused for a missing or wrong API key.",
          auth_failures.load());
  counter("rtrec_http_connections_refused_total",
          "Connections refused because max_connections were open.", connections_refused.load());
  gauge("rtrec_http_connections", "Open HTTP connections.",
        static_cast<double>(connections.load()));
  gauge("rtrec_http_requests_in_flight", "HTTP requests being handled.",
        static_cast<double>(requests_in_flight.load()));
  gauge("rtrec_queries_in_flight", "Queries waiting for the engine.",
        static_cast<double>(queries_in_flight.load()));
  gauge("rtrec_events_in_flight", "Events accepted by the engine and not yet acknowledged.",
        static_cast<double>(events_in_flight));
  if (stats != nullptr) {
    const auto& q = stats->scheduler;
    header(out, "rtrec_scheduler_turns_total", "counter",
           "Actor turns by scheduler lane (urgent: query work, normal: the rest).");
    out += fmt::format("rtrec_scheduler_turns_total{{lane=\"urgent\"}} {}\n", q.urgent_turns);
    out += fmt::format("rtrec_scheduler_turns_total{{lane=\"normal\"}} {}\n", q.normal_turns);
    counter("rtrec_scheduler_promotions_total",
            "Queued shards moved to the urgent lane because a query reached them.",
            q.promotions);
    counter("rtrec_scheduler_starvation_breaks_total",
            "Normal turns taken ahead of waiting query work so that ingest is never starved.",
            q.starvation_breaks);
  }
  if (cluster != nullptr && cluster->enabled) {
    if (stats != nullptr) {
      counter("rtrec_cluster_partial_answers_total",
              "Queries answered without the item shards of an unreachable node.",
              stats->partial_answers);
      gauge("rtrec_cluster_unreachable_shards",
            "Profile and item shards on nodes this node cannot reach.",
            static_cast<double>(stats->unreachable_shards));
    }
    header(out, "rtrec_cluster_node_up", "gauge",
           "1 while this node reaches the node (and its shards), else 0.");
    for (std::size_t n = 0; n < cluster->nodes.size(); ++n)
      out += fmt::format("rtrec_cluster_node_up{{node=\"{}\",address=\"{}\"}} {}\n", n,
                         cluster->nodes[n].address.to_string(), cluster->nodes[n].up ? 1 : 0);
    header(out, "rtrec_cluster_connects_total", "counter",
           "Connections made to each peer (more than 1: it came back after a failure).");
    for (std::size_t n = 0; n < cluster->nodes.size(); ++n)
      if (!cluster->nodes[n].self)
        out += fmt::format("rtrec_cluster_connects_total{{node=\"{}\"}} {}\n", n,
                           cluster->nodes[n].connects);
    header(out, "rtrec_cluster_failures_total", "counter",
           "Failed connection attempts and lost connections per peer.");
    for (std::size_t n = 0; n < cluster->nodes.size(); ++n)
      if (!cluster->nodes[n].self)
        out += fmt::format("rtrec_cluster_failures_total{{node=\"{}\"}} {}\n", n,
                           cluster->nodes[n].failures);
  }
  if (durability != nullptr && durability->enabled) {
    const auto& d = *durability;
    counter("rtrec_wal_records_total", "Records written to the write-ahead log.", d.wal.records);
    counter("rtrec_wal_bytes_total", "Bytes written to the write-ahead log.", d.wal.bytes);
    counter("rtrec_wal_syncs_total", "Group writes (each one write and, with --sync fsync, one "
            "fdatasync) of the write-ahead log.", d.wal.groups);
    counter("rtrec_wal_failures_total", "Log records that could not be written (not applied).",
            d.wal.failures);
    gauge("rtrec_wal_failed", "1 once the log refuses every write (restart after fixing the disk).",
          d.wal.failed ? 1.0 : 0.0);
    gauge("rtrec_wal_segments", "Log segments on disk.", static_cast<double>(d.wal.segments));
    counter("rtrec_checkpoints_total", "Checkpoints written.", d.checkpoints);
    counter("rtrec_checkpoint_failures_total", "Checkpoints that failed.", d.checkpoint_failures);
    gauge("rtrec_checkpoint_last_seconds", "Time the last checkpoint took.",
          d.last_checkpoint.total_ms / 1000.0);
    gauge("rtrec_checkpoint_last_bytes", "Size of the last checkpoint.",
          static_cast<double>(d.last_checkpoint.bytes));
    gauge("rtrec_checkpoint_max_pause_seconds",
          "Longest time one shard answered nothing for a checkpoint, over every checkpoint.",
          static_cast<double>(d.max_pause_ns) / 1e9);
    gauge("rtrec_checkpoint_max_write_hold_seconds",
          "Longest time one shard held back writes while a thread serialized its state.",
          static_cast<double>(d.max_hold_ns) / 1e9);
    gauge("rtrec_recovery_seconds", "Time the start-up recovery took (checkpoint + log replay).",
          (d.recovery.load_ms + d.recovery.replay_ms) / 1000.0);
    gauge("rtrec_recovery_replayed_events", "Events replayed from the log at start-up.",
          static_cast<double>(d.recovery.events_replayed));
  }
  if (stats == nullptr)
    return out;
  std::uint64_t received = 0, accepted = 0;
  std::vector<std::uint64_t> rejected(engine::reject_reason_count, 0);
  std::vector<std::uint64_t> failed(delivery_failure_count, 0);
  for (const auto& i : stats->ingestors) {
    received += i.received;
    accepted += i.accepted;
    for (std::size_t k = 0; k < i.rejected_by_reason.size() && k < rejected.size(); ++k)
      rejected[k] += i.rejected_by_reason[k];
    for (std::size_t k = 0; k < i.failed_by_reason.size() && k < failed.size(); ++k)
      failed[k] += i.failed_by_reason[k];
  }
  counter("rtrec_events_received_total", "Events received by the ingestors.", received);
  counter("rtrec_events_accepted_total", "Events the ingestors accepted.", accepted);
  header(out, "rtrec_events_rejected_total", "counter", "Events the engine refused, by reason.");
  for (std::size_t k = 1; k < rejected.size(); ++k)
    out += fmt::format("rtrec_events_rejected_total{{reason=\"{}\"}} {}\n",
                       engine::to_string(static_cast<engine::reject_reason>(k)), rejected[k]);
  // Valid events that could not be applied, under the same metric.
  for (std::size_t k = 0; k < failed.size(); ++k)
    out += fmt::format("rtrec_events_rejected_total{{reason=\"{}\"}} {}\n",
                       to_string(static_cast<delivery_failure>(k)), failed[k]);
  // One metric with a sample per shard: `value(s)` of each shard in `shards`.
  auto per_shard = [&](const char* name, const char* type, const char* help,
                       const auto& shards, auto value, const char* extra_labels = "") {
    header(out, name, type, help);
    for (const auto& s : shards)
      out += fmt::format("{}{{{}shard=\"{}\"}} {}\n", name, extra_labels, s.shard, value(s));
  };
  const auto& ps = stats->profile_shards;
  const auto& is = stats->item_shards;
  per_shard("rtrec_shard_users", "gauge", "Users held by each profile shard.", ps,
            [](const shard_stats& s) { return s.users; });
  per_shard("rtrec_shard_events_applied_total", "counter",
            "Events applied by each profile shard.", ps,
            [](const shard_stats& s) { return s.events_applied; });
  per_shard("rtrec_shard_memory_bytes", "gauge", "Approximate heap bytes per shard.", ps,
            [](const shard_stats& s) { return s.memory_bytes; }, "role=\"profile\",");
  // Same metric, item role: samples only (one HELP/TYPE per metric).
  for (const auto& s : is)
    out += fmt::format("rtrec_shard_memory_bytes{{role=\"item\",shard=\"{}\"}} {}\n", s.shard,
                       s.model.memory_bytes);
  per_shard("rtrec_shard_queue_depth", "gauge",
            "Item-side delta batches a profile shard has sent and not yet seen applied.", ps,
            [](const shard_stats& s) { return s.deltas_in_flight; });
  per_shard("rtrec_shard_acks_deferred_total", "counter",
            "Ingest acknowledgements held back while the item side caught up.", ps,
            [](const shard_stats& s) { return s.acks_deferred; });
  per_shard("rtrec_shard_duplicates_total", "counter",
            "Events acknowledged again because their id was already applied.", ps,
            [](const shard_stats& s) { return s.duplicates; });
  per_shard("rtrec_shard_log_pending", "gauge",
            "Records a profile shard has logged and not yet seen durable.", ps,
            [](const shard_stats& s) { return s.log_pending; });
  per_shard("rtrec_shard_delta_failures_total", "counter",
            "Item-side delta batches that an item shard failed to apply.", ps,
            [](const shard_stats& s) { return s.delta_failures; });
  per_shard("rtrec_item_shard_items", "gauge", "Items known to each item shard.", is,
            [](const item_shard_stats& s) { return s.model.items; });
  per_shard("rtrec_item_shard_row_entries", "gauge",
            "Co-occurrence entries held by each item shard.", is,
            [](const item_shard_stats& s) { return s.model.row_entries; });
  header(out, "rtrec_item_lag_seconds", "gauge",
         "Delay from a profile update to its item-side application, p99 per item shard.");
  for (const auto& s : is)
    out += fmt::format("rtrec_item_lag_seconds{{shard=\"{}\",quantile=\"0.99\"}} {}\n", s.shard,
                       static_cast<double>(s.lag_p99_ns) / 1e9);
  return out;
}

}  // namespace rtrec::http
