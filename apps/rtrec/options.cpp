#include "apps/rtrec/options.hpp"
#include "apps/rtrec/support.hpp"

#include <string_view>

namespace rtrec::cli {

namespace {

constexpr double seconds_per_day = 86400.0;

std::string check_format(const std::string& name) {
  if (engine::parse_data_format(name))
    return {};
  return "unknown format '" + name + "' (use auto, movielens, udata, csv or tsv)";
}

void add_topology_options(CLI::App& cmd, common_options& o) {
  const char* group = "Engine topology";
  auto& t = o.topology;
  cmd.add_option("--profile-shards", t.profile_shards, "Profile shards (user state)")
    ->check(CLI::Range(1u, 4096u))->capture_default_str()->group(group);
  cmd.add_option("--item-shards", t.item_shards, "Item shards (co-occurrence rows)")
    ->check(CLI::Range(1u, 4096u))->capture_default_str()->group(group);
  cmd.add_option("--ingestors", t.ingestors, "Ingestor actors")
    ->check(CLI::Range(1u, 4096u))->capture_default_str()->group(group);
  cmd.add_option("--recommenders", t.recommenders, "Recommender actors")
    ->check(CLI::Range(1u, 4096u))->capture_default_str()->group(group);
  cmd.add_option("--max-batch", t.max_batch, "Largest batch an ingestor sends to one shard")
    ->check(CLI::Range(1u, 1u << 20))->capture_default_str()->group(group);
  cmd.add_option("--max-deltas-in-flight", t.max_deltas_in_flight,
                 "Unacknowledged item-side batches per item shard before acks are held back")
    ->check(CLI::Range(1u, 1u << 20))->capture_default_str()->group(group);
  cmd.add_option("--item-apply-slice", t.item_apply_slice,
                 "Events of a delta batch an item shard applies before it lets a waiting "
                 "query in (0 = the whole batch)")
    ->check(CLI::Range(0u, 1u << 20))->capture_default_str()->group(group);
  cmd.add_option("--max-throughput", o.max_throughput,
                 "Messages an actor handles before yielding its thread (0 = auto: serve and "
                 "node 16, the other commands 1)")
    ->check(CLI::Range(std::size_t{0}, std::size_t{1} << 20))->capture_default_str()->group(group);
  cmd.add_option("--scheduler", o.scheduler,
                 "CAF scheduler policy: priority (shared queue with a query lane), sharing "
                 "(one FIFO queue), stealing (per-worker LIFO queues) or auto (serve and "
                 "node: sharing; the other commands: priority)")
    ->check(CLI::IsMember({"auto", "priority", "sharing", "stealing"}))->capture_default_str()->group(group);
  cmd.add_option("--detach-recommenders", t.detach_recommenders,
                 "Run each recommender on its own thread (true/false)")
    ->capture_default_str()->group(group);
  cmd.add_option("--workers", o.workers,
                 "CAF worker threads (0 = one per core)")
    ->check(CLI::Range(std::size_t{0}, std::size_t{4096}))->capture_default_str()->group(group);
}

void add_model_options(CLI::App& cmd, common_options& o) {
  const char* group = "Model";
  auto& m = o.topology.model;
  const auto positive = CLI::Range(std::size_t{1}, std::size_t{1} << 30);
  cmd.add_option("--recent-max", m.recent_max, "Recent interactions kept per user")
    ->check(positive)->capture_default_str()->group(group);
  cmd.add_option("--pair-window", m.pair_window, "Recent items a new event pairs with")
    ->check(positive)->capture_default_str()->group(group);
  cmd.add_option("--neighbors-max", m.neighbors_max, "Neighbors kept per item")
    ->check(positive)->capture_default_str()->group(group);
  cmd.add_option("--score-neighbors", m.score_neighbors,
                 "Strongest neighbors of each recent item a recommendation scores (0 = all)")
    ->capture_default_str()->group(group);
  cmd.add_option("--item-users-max", m.item_users_max,
                 "Most recent users remembered per item, for user neighbors (0 = none)")
    ->check(CLI::Range(std::size_t{0}, std::size_t{4096}))->capture_default_str()->group(group);
  cmd.add_option("--seen-max", m.seen_max, "Seen items remembered per user")
    ->check(positive)->capture_default_str()->group(group);
  cmd.add_option("--feedback-retention", m.feedback_retention,
                 "Feedback records kept per user for GET /api/feedback... (the newest "
                 "written; 0 = none)")
    ->capture_default_str()->group(group);
  cmd.add_option("--cooc-half-life-days", o.cooc_half_life_days,
                 "Half-life of co-occurrence evidence in days of event time (0 = none)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  cmd.add_option("--trend-half-life-days", o.trend_half_life_days,
                 "Half-life of popularity in days of event time (0 = none)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  cmd.add_option("--popular-refresh", m.popular_refresh_events,
                 "Popularity updates between two recomputations of the popular list (0 = exact)")
    ->capture_default_str()->group(group);
  cmd.add_option("--alpha", m.similarity_alpha,
                 "Similarity exponent: c_ij / (n_i^a * n_j^(1-a)); 0.5 = cosine")
    ->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(group);
}

void add_blend_options(CLI::App& cmd, common_options& o) {
  const char* group = "Blend (score = cf-weight * cf + seq-weight * rules + trend-weight * "
                      "trend, each over its max among a query's candidates)";
  auto& m = o.topology.model;
  cmd.add_option("--cf-weight", m.cf_weight, "Weight of item-to-item co-occurrence")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  cmd.add_option("--seq-weight", m.seq_weight,
                 "Weight of sequential rules i -> j (0 = off: no rules kept)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  cmd.add_option("--seq-window", m.seq_window,
                 "Recent items a new event forms rules with (its per-event cost)")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))->capture_default_str()->group(group);
  cmd.add_option("--trend-weight", m.trend_weight,
                 "Weight of the trend (short half-life popularity; 0 = off)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  cmd.add_option("--blend-trend-half-life-days", o.blend_trend_half_life_days,
                 "Half-life of the blend's trend in days of event time (0 = none)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
}

}  // namespace

void add_common_options(CLI::App& cmd, common_options& o) {
  add_topology_options(cmd, o);
  add_model_options(cmd, o);
  add_blend_options(cmd, o);
  cmd.add_option("--log-level", o.log_level, "Log level (logs go to stderr)")
    ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "off"}))
    ->capture_default_str();
}

engine::model_config make_model_config(const common_options& o) {
  auto m = o.topology.model;
  m.cooc_half_life_s = o.cooc_half_life_days * seconds_per_day;
  m.trend_half_life_s = o.trend_half_life_days * seconds_per_day;
  m.blend_trend_half_life_s = o.blend_trend_half_life_days * seconds_per_day;
  return m;
}

service_options make_service_options(const common_options& o) {
  service_options e;
  e.topology = o.topology;
  e.topology.model = make_model_config(o);
  e.worker_threads = o.workers;
  if (o.max_throughput != 0)
    e.max_throughput = o.max_throughput;
  if (o.scheduler != "auto")
    e.scheduler_policy = o.scheduler;
  e.topology.dedup_age = std::chrono::milliseconds(static_cast<long>(o.dedup_age_hours * 3600000.0));
  return e;
}

nlohmann::json to_json(const common_options& o) {
  const auto& t = o.topology;
  const auto m = make_model_config(o);
  return {
    {"profile_shards", t.profile_shards},
    {"item_shards", t.item_shards},
    {"ingestors", t.ingestors},
    {"recommenders", t.recommenders},
    {"workers", o.workers},
    {"max_throughput", o.max_throughput == 0 ? service_options{}.max_throughput : o.max_throughput},
    {"detach_recommenders", o.topology.detach_recommenders},
    {"scheduler", o.scheduler == "auto" ? service_options{}.scheduler_policy : o.scheduler},
    {"max_batch", o.topology.max_batch},
    {"max_deltas_in_flight", o.topology.max_deltas_in_flight},
    {"item_apply_slice", o.topology.item_apply_slice},
    {"recent_max", m.recent_max},
    {"pair_window", m.pair_window},
    {"popular_refresh_events", m.popular_refresh_events},
    {"neighbors_max", m.neighbors_max},
    {"score_neighbors", m.score_neighbors},
    {"item_users_max", m.item_users_max},
    {"seen_max", m.seen_max},
    {"feedback_retention", m.feedback_retention},
    {"cooc_half_life_days", o.cooc_half_life_days},
    {"trend_half_life_days", o.trend_half_life_days},
    {"alpha", m.similarity_alpha},
    {"cf_weight", m.cf_weight},
    {"seq_weight", m.seq_weight},
    {"seq_window", m.seq_window},
    {"trend_weight", m.trend_weight},
    {"blend_trend_half_life_days", o.blend_trend_half_life_days},
  };
}

void add_durability_options(CLI::App& cmd, durability_cli& o, common_options& common,
                            const std::string& default_dir) {
  const char* group = "Durability";
  o.data_dir = default_dir;
  cmd.add_option("--data-dir", o.data_dir,
                 default_dir.empty()
                   ? "Directory of the node's write-ahead log and checkpoints (created if "
                     "missing; default rtrec-data-node<N>, N = --node)"
                   : "Directory of the write-ahead log and checkpoints (created if missing)")
    ->capture_default_str()->group(group);
  cmd.add_flag("--in-memory", o.in_memory,
               "Keep everything in memory (no log, nothing survives a restart)")
    ->group(group);
  cmd.add_option("--sync", o.sync,
                 "fsync: fdatasync each group of records before acknowledging it; none: "
                 "acknowledge once handed to the OS (a power loss may lose the last moments)")
    ->check(CLI::IsMember({"fsync", "none"}))->capture_default_str()->group(group);
  cmd.add_option("--wal-recovery", o.wal_recovery,
                 "When valid log records follow a corrupt one: strict refuses to start, "
                 "truncate drops everything from the corrupt record on")
    ->check(CLI::IsMember({"strict", "truncate"}))->capture_default_str()->group(group);
  cmd.add_option("--snapshot-interval", o.snapshot_interval_s,
                 "Seconds between checkpoints (0 = only at shutdown)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
  cmd.add_option("--wal-segment-mb", o.segment_mb, "Log segment size before it rolls (MiB)")
    ->check(CLI::Range(std::uint64_t{1}, std::uint64_t{4096}))->capture_default_str()->group(group);
  cmd.add_option("--dedup-window", common.topology.dedup_ids,
                 "Event ids remembered per node for idempotent ingestion (0 = off)")
    ->capture_default_str()->group(group);
  cmd.add_option("--dedup-age-hours", common.dedup_age_hours,
                 "How long an event id is remembered (0 = until the window is full)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(group);
}

void apply_durability(const durability_cli& o, service_options& eo) {
  auto& d = eo.durability;
  if (o.in_memory || o.data_dir.empty()) {
    d.data_dir.clear();
    return;
  }
  d.data_dir = o.data_dir;
  if (!storage::parse_sync_policy(o.sync, d.sync))
    throw usage_error("--sync must be fsync or none, not " + o.sync);
  if (!storage::parse_corruption_policy(o.wal_recovery, d.recovery))
    throw usage_error("--wal-recovery must be strict or truncate, not " + o.wal_recovery);
  d.snapshot_interval = std::chrono::milliseconds(static_cast<long>(o.snapshot_interval_s * 1000));
  d.segment_bytes = o.segment_mb << 20;
}

void add_file_options(CLI::App& cmd, data_options& o, bool required) {
  auto* data = cmd.add_option("--data", o.path, "Interaction file (MovieLens, CSV or TSV)")
                 ->check(CLI::ExistingFile);
  if (required)
    data->required();
  cmd.add_option("--format", o.format, "File format: auto, movielens, udata, csv or tsv")
    ->check(check_format, "FORMAT")
    ->needs(data)
    ->capture_default_str();
}

void add_synthetic_options(CLI::App& cmd, data_options& o) {
  const char* group = "Synthetic workload (when no --data is given)";
  auto& s = o.synthetic;
  const auto positive = CLI::Range(std::size_t{1}, std::size_t{4294967295u});
  auto* data = cmd.get_option_no_throw("--data");
  auto add = [&](const char* name, auto& value, const char* help) {
    auto* opt = cmd.add_option(name, value, help)->capture_default_str()->group(group);
    if (data != nullptr)
      opt->excludes(data);
    return opt;
  };
  add("--events", s.events, "Events to generate")->check(positive);
  add("--users", s.users, "Users")->check(positive);
  add("--items", s.items, "Items")->check(positive);
  add("--seed", s.seed, "Random seed");
}

nlohmann::json to_json(const data_options& o) {
  if (!o.path.empty())
    return {{"file", o.path}, {"format", o.format}};
  const auto& s = o.synthetic;
  return {{"synthetic", true}, {"events", s.events}, {"users", s.users},
          {"items", s.items},  {"seed", s.seed}};
}

}  // namespace rtrec::cli
