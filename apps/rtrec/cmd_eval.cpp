// rtrec eval: prequential (test-then-train) evaluation of a data file.
//
// For each event in timestamp order: recommend the top-K for its user (seen
// items excluded), score that list against the event's item, then ingest the
// event. Events the engine would refuse (engine::validate) are skipped and
// counted, so both engines see exactly the same stream.
//
// --engine actors drives the embedded actor engine with one ingest() plus one
// flush() per event: flush() waits until the item side has applied the event,
// so every query sees the model exactly as the reference model would, and the
// metrics equal --engine reference (the single-threaded oracle) exactly. That
// makes it slow (two round trips per event); the reference engine is the fast
// path for offline evaluation.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/dataset.hpp"
#include "apps/rtrec/support.hpp"
#include "engine/evaluation.hpp"
#include "engine/reference_model.hpp"

namespace rtrec::cli {

namespace {

struct eval_options {
  data_options data;
  std::size_t k = 10;
  std::string engine = "actors";
  bool json = false;
  std::size_t limit = 0;
};

struct eval_run {
  engine::eval_result result;
  std::size_t skipped = 0;  ///< events refused by validate()
  double seconds = 0.0;
};

// Runs test-then-train over `events`: recommend(user) must return the top-k
// keys, ingest(event) must apply the event before returning.
template <class Recommend, class Ingest>
eval_run prequential(const std::vector<engine::event>& events, std::size_t k,
                     const engine::validation_limits& limits, Recommend recommend,
                     Ingest ingest) {
  eval_run run;
  engine::prequential_evaluator evaluator{k};
  progress bar{"evaluating", events.size()};
  const auto start = clock_type::now();
  for (std::size_t i = 0; i < events.size(); ++i) {
    const auto& e = events[i];
    if (engine::validate(e, limits) != engine::reject_reason::none) {
      ++run.skipped;
      continue;
    }
    evaluator.record(engine::hash_id(e.item), recommend(e.user));
    ingest(e);
    bar.update(i + 1);
  }
  run.seconds = seconds_since(start);
  bar.finish();
  run.result = evaluator.result();
  return run;
}

eval_run eval_reference(const std::vector<engine::event>& events, const eval_options& o,
                        const engine::model_config& cfg) {
  engine::reference_model model{cfg};
  engine::recommend_options ro;
  ro.n = o.k;
  return prequential(
    events, o.k, cfg.limits, [&](const std::string& user) { return model.recommend_keys(user, ro); },
    [&](const engine::event& e) { model.ingest(e); });
}

eval_run eval_actors(const std::vector<engine::event>& events, const eval_options& o,
                     const common_options& common) {
  service eng{make_service_options(common)};
  engine::recommend_options ro;
  ro.n = o.k;
  return prequential(
    events, o.k, eng.options().topology.model.limits,
    [&](const std::string& user) { return to_scored(unwrap(eng.recommend(user, ro), "recommend")); },
    [&](const engine::event& e) {
      unwrap(eng.ingest({e}), "ingest");
      unwrap(eng.flush(), "flush");
    });
}

nlohmann::json to_json(const eval_run& run, const eval_options& o, const dataset& d,
                       const common_options& common) {
  const auto& r = run.result;
  return {
    {"events", r.events},
    {"k", r.k},
    {"hits", r.hits},
    {"hr_at_k", r.hr_at_k},
    {"mrr_at_k", r.mrr_at_k},
    {"ndcg_at_k", r.ndcg_at_k},
    {"coverage", r.coverage},
    {"catalog", r.catalog},
    {"recommended_items", r.recommended_items},
    {"events_per_sec", run.seconds > 0 ? static_cast<double>(r.events) / run.seconds : 0.0},
    {"seconds", run.seconds},
    {"engine", o.engine},
    {"bad_lines", d.bad_lines},
    {"skipped_events", run.skipped},
    {"data", to_json(o.data)},
    {"config", to_json(common)},
  };
}

void print_table(const eval_run& run, const eval_options& o, const dataset& d) {
  const auto& r = run.result;
  std::printf("prequential evaluation of %s\n", d.description.c_str());
  std::printf("  engine          %s%s\n", o.engine.c_str(),
              o.engine == "actors" ? " (flush after every event: exact)" : "");
  std::printf("  events          %zu (%zu bad lines, %zu invalid events skipped)\n", r.events,
              d.bad_lines, run.skipped);
  std::printf("  HR@%-3zu          %.4f  (%zu hits)\n", r.k, r.hr_at_k, r.hits);
  std::printf("  MRR@%-3zu         %.4f\n", r.k, r.mrr_at_k);
  std::printf("  NDCG@%-3zu        %.4f\n", r.k, r.ndcg_at_k);
  std::printf("  coverage        %.4f  (%zu of %zu items recommended)\n", r.coverage,
              r.recommended_items, r.catalog);
  std::printf("  throughput      %.0f events/s (%.2f s)\n",
              run.seconds > 0 ? static_cast<double>(r.events) / run.seconds : 0.0, run.seconds);
}

int run_eval(const eval_options& o, const common_options& common) {
  auto d = load_dataset(o.data);
  if (o.limit > 0 && d.events.size() > o.limit)
    d.events.resize(o.limit);
  spdlog::info("evaluating {} events with the {} engine, k={}", d.events.size(), o.engine, o.k);
  const auto run = o.engine == "reference" ? eval_reference(d.events, o, make_model_config(common))
                                           : eval_actors(d.events, o, common);
  if (o.json)
    std::cout << to_json(run, o, d, common).dump(2) << '\n';
  else
    print_table(run, o, d);
  return 0;
}

}  // namespace

void add_eval_command(CLI::App& root, common_options& common, command_runner& run) {
  auto* cmd = root.add_subcommand("eval", "Prequential (test-then-train) evaluation of a data file");
  auto o = std::make_shared<eval_options>();
  add_file_options(*cmd, o->data, true);
  cmd->add_option("--k", o->k, "Recommendations per query (top-K)")
    ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))->capture_default_str();
  cmd->add_option("--engine", o->engine,
                  "actors: the embedded actor engine, flushed after every event (exact, slow); "
                  "reference: the single-threaded reference model (fast)")
    ->check(CLI::IsMember({"actors", "reference"}))->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object instead of a table");
  cmd->add_option("--limit", o->limit, "Evaluate only the first N events (0 = all)")
    ->capture_default_str();
  add_common_options(*cmd, common);
  bind_runner(*cmd, run, [o, &common] { return run_eval(*o, common); });
}

}  // namespace rtrec::cli
