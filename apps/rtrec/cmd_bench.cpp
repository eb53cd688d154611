// rtrec bench: ingest throughput of the embedded service under concurrent
// recommend load.
//
// The events are pre-generated in memory, cut into batches (not timed). One
// producer thread then sends them with ingest_async(), keeping up to
// --pipeline batches in flight, while --query-threads threads loop
// recommend(random user of the workload, 10) until ingestion is over (each
// asks at least once). Ingest throughput = events / (first send .. end of
// flush()), so every event is fully applied on the item side too.
//
// With --cluster N the same events then go through an N-node cluster in
// this process (each node its own CAF actor system, BASP over loopback
// TCP): ingested through node 0, queried through node N-1, next to the
// embedded figures of the same run. Bytes on the wire per event come from
// the loopback interface's counters (TCP/IP headers included), so run it on
// an otherwise quiet machine. With --data-dir (and --cluster) every node
// keeps a log and checkpoints too, in <data-dir>-node<I> (emptied first), so
// a durable and an --in-memory run give the cost of durable nodes.
#include <spdlog/spdlog.h>

#include <atomic>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <fstream>
#include <future>
#include <iostream>
#include <memory>
#include <random>
#include <thread>

#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/dataset.hpp"
#include "apps/rtrec/support.hpp"
#include "engine/histogram.hpp"

namespace rtrec::cli {

namespace {

constexpr std::size_t query_n = 10;
constexpr std::size_t max_query_users = 1 << 16;

struct bench_options {
  data_options data;
  std::size_t batch = 4096;
  std::size_t pipeline = 8;
  std::size_t query_threads = 1;
  double rate = 0.0;  // events/s offered; 0 = as fast as the engine takes them
  bool json = false;
  durability_cli durability;
  bool measure_recovery = false;
  std::size_t cluster = 0;  // nodes; 0 = embedded only
  std::uint32_t replication_factor = 1;  // of the --cluster run's profile shards
};

struct query_load {
  engine::histogram latency_ns;
  std::uint64_t errors = 0;
};

struct ingest_timing {
  ingest_counts counts;
  std::size_t events = 0;
  double seconds = 0.0;
};

// Returns up to `max` users taken at even strides over the stream, so the
// query mix follows user activity.
std::vector<std::string> sample_users(const event_batches& batches, std::size_t events,
                                      std::size_t max) {
  std::vector<std::string> users;
  const auto stride = std::max<std::size_t>(1, events / max);
  std::size_t next = 0, index = 0;
  for (const auto& b : batches)
    for (const auto& e : b) {
      if (index++ == next && users.size() < max) {
        users.push_back(e.user);
        next += stride;
      }
    }
  return users;
}

void query_loop(service& eng, const std::vector<std::string>& users, std::uint64_t seed,
                const std::atomic<bool>& done, query_load& out) {
  std::mt19937_64 rng{seed};
  engine::recommend_options ro;
  ro.n = query_n;
  do {
    const auto& user = users[rng() % users.size()];
    const auto start = clock_type::now();
    if (eng.recommend(user, ro))
      out.latency_ns.record(nanos_since(start));
    else
      ++out.errors;
  } while (!done.load(std::memory_order_acquire));
}

ingest_timing ingest_pipelined(service& eng, event_batches& batches, std::size_t events,
                               std::size_t pipeline, double rate) {
  ingest_timing t;
  std::deque<std::future<rtrec::result<ingest_result>>> in_flight;
  auto settle = [&] {
    t.counts.add(unwrap(in_flight.front().get(), "ingest"));
    in_flight.pop_front();
  };
  progress bar{"ingesting", events};
  const auto start = clock_type::now();
  for (auto& b : batches) {
    if (in_flight.size() >= pipeline)
      settle();
    if (rate > 0.0) {
      // Open-loop pacing: batch k leaves at start + events_before_k / rate.
      const auto due = start + std::chrono::duration_cast<clock_type::duration>(
                                 std::chrono::duration<double>(static_cast<double>(t.events) / rate));
      std::this_thread::sleep_until(due);
    }
    t.events += b.size();
    in_flight.push_back(eng.ingest_async(std::move(b)));
    bar.update(t.events);
  }
  while (!in_flight.empty())
    settle();
  unwrap(eng.flush(), "flush");
  t.seconds = seconds_since(start);
  bar.finish();
  t.counts.report();
  return t;
}

// Runs the ingest (through `eng`) with query threads (through `query_eng`)
// alongside; returns the merged latencies.
query_load run_load(service& eng, service& query_eng, event_batches& batches,
                    std::size_t events, const bench_options& o, ingest_timing& timing) {
  const auto users = sample_users(batches, events, max_query_users);
  std::atomic<bool> done{users.empty()};
  std::vector<query_load> loads(users.empty() ? 0 : o.query_threads);
  std::vector<std::thread> threads;
  for (std::size_t i = 0; i < loads.size(); ++i)
    threads.emplace_back(query_loop, std::ref(query_eng), std::cref(users),
                         o.data.synthetic.seed + 1 + i, std::cref(done), std::ref(loads[i]));
  try {
    timing = ingest_pipelined(eng, batches, events, o.pipeline, o.rate);
  } catch (...) {
    done = true;
    for (auto& t : threads)
      t.join();
    throw;
  }
  done.store(true, std::memory_order_release);
  query_load total;
  for (std::size_t i = 0; i < threads.size(); ++i) {
    threads[i].join();
    total.latency_ns.merge(loads[i].latency_ns);
    total.errors += loads[i].errors;
  }
  return total;
}

double ms(std::uint64_t ns) {
  return static_cast<double>(ns) / 1e6;
}

double ratio(double a, double b) {
  return b > 0 ? a / b : 0.0;
}

nlohmann::json report(const ingest_timing& t, const query_load& q, const service_stats& s,
                      std::uint64_t rss_before, std::size_t bad_lines, const bench_options& o,
                      const common_options& common) {
  return {
    {"events", t.events},
    {"accepted", t.counts.accepted},
    {"rejected", t.counts.rejected},
    {"bad_lines", bad_lines},
    {"users", s.users},
    {"items", s.items},
    {"ingest_seconds", t.seconds},
    {"ingest_events_per_sec", ratio(static_cast<double>(t.events), t.seconds)},
    {"recommend_count", q.latency_ns.count()},
    {"recommend_errors", q.errors},
    {"recommend_per_sec", ratio(static_cast<double>(q.latency_ns.count()), t.seconds)},
    {"recommend_p50_ms", ms(q.latency_ns.percentile(0.5))},
    {"recommend_p99_ms", ms(q.latency_ns.percentile(0.99))},
    {"recommend_max_ms", ms(q.latency_ns.max())},
    {"item_side_lag_p99_ms", ms(s.item_lag_p99_ns)},
    {"worker_threads", s.worker_threads},
    {"scheduler_urgent_turns", s.scheduler.urgent_turns},
    {"scheduler_normal_turns", s.scheduler.normal_turns},
    {"scheduler_promotions", s.scheduler.promotions},
    {"scheduler_starvation_breaks", s.scheduler.starvation_breaks},
    {"peak_rss_bytes", peak_rss_bytes()},
    {"rss_before_ingest_bytes", rss_before},
    {"profile_bytes", s.profile_bytes},
    {"item_bytes", s.item_bytes},
    {"bytes_per_user", ratio(static_cast<double>(s.profile_bytes), static_cast<double>(s.users))},
    {"bytes_per_item", ratio(static_cast<double>(s.item_bytes), static_cast<double>(s.items))},
    {"batch", o.batch},
    {"pipeline", o.pipeline},
    {"query_threads", o.query_threads},
    {"offered_rate", o.rate},
    {"data", to_json(o.data)},
    {"config", to_json(common)},
  };
}

void print_readable(const nlohmann::json& r) {
  for (const auto& [key, value] : r.items()) {
    if (value.is_object())
      continue;
    if (value.is_number_float())
      std::printf("%-24s %.3f\n", key.c_str(), value.get<double>());
    else
      std::printf("%-24s %s\n", key.c_str(), value.dump().c_str());
  }
  for (const char* section : {"data", "config", "durability"})
    if (r.contains(section))
    std::printf("%-24s %s\n", section, r[section].dump().c_str());
}

// Bytes sent over the loopback interface so far (0 when unreadable).
std::uint64_t loopback_tx_bytes() {
  std::ifstream in{"/sys/class/net/lo/statistics/tx_bytes"};
  std::uint64_t v = 0;
  in >> v;
  return v;
}

// The --cluster run: N nodes in this process on free loopback ports.
nlohmann::json run_cluster(const bench_options& o, const common_options& common,
                           event_batches& batches, std::size_t events, std::size_t bad_lines) {
  const auto nodes = free_loopback_nodes(o.cluster);
  std::vector<std::unique_ptr<service>> cluster;
  for (std::uint32_t n = 0; n < nodes.size(); ++n) {
    auto eo = make_service_options(common);
    eo.worker_threads = common.workers > 0 ? common.workers : 1;
    eo.cluster.nodes = nodes;
    eo.cluster.self = n;
    eo.cluster.replication_factor = o.replication_factor;
    if (!o.durability.data_dir.empty()) {
      // Each node its own fresh directory, beside the embedded run's.
      auto d = o.durability;
      d.data_dir = o.durability.data_dir + "-node" + std::to_string(n);
      std::filesystem::remove_all(d.data_dir);
      apply_durability(d, eo);
    }
    cluster.push_back(std::make_unique<service>(eo));
  }
  // Connected, and with replication every profile shard's copies in sync.
  const auto ready = [rf = o.replication_factor](const cluster_status& s) {
    return s.complete() && (rf <= 1 || s.profiles_in_sync(rf));
  };
  for (auto& node : cluster)
    if (!node->await_cluster(ready, std::chrono::seconds(30)))
      throw std::runtime_error("bench --cluster: the nodes did not connect (and, with "
                               "replication, bring every copy in sync) within 30 s");
  spdlog::info("cluster of {} nodes formed; ingesting through node 0, querying through node {}",
               nodes.size(), nodes.size() - 1);
  const auto rss_before = current_rss_bytes();
  const auto tx_before = loopback_tx_bytes();
  ingest_timing timing;
  const auto queries = run_load(*cluster.front(), *cluster.back(), batches, events, o, timing);
  const auto tx = loopback_tx_bytes() - tx_before;
  auto r = report(timing, queries, unwrap(cluster.front()->stats(), "stats"),
                  rss_before, bad_lines, o, common);
  r["wire_bytes"] = tx;
  r["wire_bytes_per_event"] = ratio(static_cast<double>(tx), static_cast<double>(events));
  r["wire_bytes_note"] = "loopback tx bytes during the run (TCP/IP headers, query traffic and "
                         "any other loopback traffic on the machine included)";
  r["durable_nodes"] = !o.durability.data_dir.empty();
  r["replication_factor"] = o.replication_factor;
  for (auto& node : cluster)
    node->stop();
  return r;
}

// The log and checkpoints the embedded run wrote (`r`: its report).
nlohmann::json durability_report(const durability_stats& d, const nlohmann::json& r,
                                 const ingest_timing& timing, const bench_options& o,
                                 const std::string& data_dir) {
  const auto users = r["users"].get<double>(), items = r["items"].get<double>();
  return {
    {"data_dir", data_dir},
    {"sync", o.durability.sync},
    {"wal_records", d.wal.records},
    {"wal_bytes", d.wal.bytes},
    {"wal_groups", d.wal.groups},
    {"events_per_group", ratio(static_cast<double>(timing.events), static_cast<double>(d.wal.groups))},
    {"checkpoints", d.checkpoints},
    {"max_shard_pause_ms", static_cast<double>(d.max_pause_ns) / 1e6},
    {"max_shard_write_hold_ms", static_cast<double>(d.max_hold_ns) / 1e6},
    {"last_checkpoint_bytes", d.last_checkpoint.bytes},
    {"last_checkpoint_ms", d.last_checkpoint.total_ms},
    {"snapshot_bytes_per_user", ratio(static_cast<double>(d.last_checkpoint.profile_bytes),
                                      static_cast<double>(d.last_checkpoint.users ? d.last_checkpoint.users : users))},
    {"snapshot_bytes_per_item", ratio(static_cast<double>(d.last_checkpoint.item_bytes),
                                      static_cast<double>(d.last_checkpoint.items ? d.last_checkpoint.items : items))},
  };
}

// The --measure-recovery part: stops and drops `eng`, times a new service's
// recovery from the same data directory and adds its figures to `dj`.
void measure_recovery(std::unique_ptr<service>& eng, const service_options& eo,
                      nlohmann::json& dj) {
  eng->stop();
  eng.reset();
  const auto t0 = clock_type::now();
  service again{eo};
  const auto secs = seconds_since(t0);
  const auto rep = again.durability().recovery;
  dj["recovery_seconds"] = secs;
  dj["recovery_checkpoint_events"] = rep.events_in_snapshot;
  dj["recovery_log_records"] = rep.records_replayed;
  dj["recovery_log_events"] = rep.events_replayed;
  dj["recovery_load_ms"] = rep.load_ms;
  dj["recovery_replay_ms"] = rep.replay_ms;
  dj["recovered_users"] = rep.users;
  dj["recovered_items"] = rep.items;
  again.stop();
}

// The reports of the embedded and the --cluster run side by side, with the
// cluster's figures relative to the embedded ones.
nlohmann::json compare_runs(nlohmann::json embedded, nlohmann::json cluster, std::size_t nodes) {
  nlohmann::json r{{"embedded", std::move(embedded)}, {"cluster", std::move(cluster)}};
  auto& e = r["embedded"];
  auto& c = r["cluster"];
  r["cluster_nodes"] = nodes;
  r["ingest_ratio_cluster_vs_embedded"] =
    ratio(c["ingest_events_per_sec"].get<double>(), e["ingest_events_per_sec"].get<double>());
  r["recommend_p99_ratio_cluster_vs_embedded"] =
    ratio(c["recommend_p99_ms"].get<double>(), e["recommend_p99_ms"].get<double>());
  return r;
}

// Prints the report as JSON (--json) or as readable lines, one block per run.
void print_result(const nlohmann::json& r, const bench_options& o) {
  if (o.json)
    std::cout << r.dump(2) << '\n';
  else if (o.cluster > 0)
    for (const char* part : {"embedded", "cluster"}) {
      std::printf("== %s\n", part);
      print_readable(r[part]);
    }
  else
    print_readable(r);
}

int run_bench(const bench_options& o, const common_options& common) {
  std::size_t bad_lines = 0;
  auto batches = load_batches(o.data, o.batch, bad_lines);
  std::size_t events = 0;
  for (const auto& b : batches)
    events += b.size();
  const auto rss_before = current_rss_bytes();
  auto eo = make_service_options(common);
  apply_durability(o.durability, eo);
  // A bench "crash": no final checkpoint, so recovery replays the log tail
  // written since the last periodic one.
  eo.durability.snapshot_on_stop = !o.measure_recovery;
  auto eng = std::make_unique<service>(eo);
  spdlog::info("ingesting {} events in batches of {}, {} in flight, {} query thread(s)", events,
               o.batch, o.pipeline, o.query_threads);
  ingest_timing timing;
  auto cluster_batches = o.cluster > 0 ? batches : event_batches{};
  const auto queries = run_load(*eng, *eng, batches, events, o, timing);
  auto r = report(timing, queries, unwrap(eng->stats(), "stats"), rss_before, bad_lines, o,
                  common);
  if (!eo.durability.data_dir.empty()) {
    auto dj = durability_report(eng->durability(), r, timing, o, eo.durability.data_dir);
    if (o.measure_recovery)
      measure_recovery(eng, eo, dj);
    r["durability"] = std::move(dj);
  }
  if (o.cluster > 0) {
    eng.reset();
    auto cluster = run_cluster(o, common, cluster_batches, events, bad_lines);
    r = compare_runs(std::move(r), std::move(cluster), o.cluster);
  }
  print_result(r, o);
  return 0;
}

}  // namespace

void add_bench_command(CLI::App& root, common_options& common, command_runner& run) {
  auto* cmd = root.add_subcommand("bench", "Measure ingest throughput under concurrent recommend load");
  auto o = std::make_shared<bench_options>();
  o->data.synthetic.events = 2'000'000;
  o->data.synthetic.users = 1'000'000;
  o->data.synthetic.items = 100'000;
  add_file_options(*cmd, o->data, false);
  add_synthetic_options(*cmd, o->data);
  cmd->add_option("--batch", o->batch, "Events per ingest call")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))->capture_default_str();
  cmd->add_option("--pipeline", o->pipeline, "Asynchronous ingest calls in flight")
    ->check(CLI::Range(std::size_t{1}, std::size_t{4096}))->capture_default_str();
  cmd->add_option("--query-threads", o->query_threads, "Threads looping recommend() meanwhile")
    ->check(CLI::Range(std::size_t{0}, std::size_t{256}))->capture_default_str();
  cmd->add_option("--rate", o->rate,
                  "Offered ingest rate in events/s (0 = as fast as the engine accepts)")
    ->check(CLI::NonNegativeNumber)->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object instead of readable lines");
  add_durability_options(*cmd, o->durability, common, "");
  cmd->add_flag("--measure-recovery", o->measure_recovery,
                "With --data-dir: stop without a final checkpoint, then time the recovery "
                "(newest periodic checkpoint + log tail)");
  cmd->add_option("--cluster", o->cluster,
                  "Then run the same events through an N-node cluster in this process "
                  "(loopback TCP) and report both; with --data-dir DIR each node keeps its log "
                  "and checkpoints in DIR-node<I> (emptied first)")
    ->check(CLI::Range(std::size_t{0}, std::size_t{16}))->capture_default_str();
  cmd->add_option("--replication-factor", o->replication_factor,
                  "Copies of each profile shard in the --cluster run (above 1 needs "
                  "--data-dir)")
    ->check(CLI::Range(1u, 16u))->capture_default_str();
  add_common_options(*cmd, common);
  bind_runner(*cmd, run, [o, &common] { return run_bench(*o, common); });
}

}  // namespace rtrec::cli
