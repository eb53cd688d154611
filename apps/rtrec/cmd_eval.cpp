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
//
// --split-mod M --split-part R scores only the events of users whose key is R
// modulo M (every event is still ingested): disjoint user splits of one
// stream, to tune knobs on one split and report on another. --ablation runs
// the evaluation once with the configured blend and once without each of its
// terms (that term's weight 0), and prints one line per run.
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
  std::uint64_t split_mod = 0;  ///< 0 = score every event
  std::uint64_t split_part = 0;
  bool ablation = false;
};

struct eval_run {
  engine::eval_result result;
  std::size_t skipped = 0;  ///< events refused by validate()
  double seconds = 0.0;
};

// Runs test-then-train over `events`: recommend(user) must return the top-k
// keys, ingest(event) must apply the event before returning.
template <class Recommend, class Ingest>
eval_run prequential(const std::vector<engine::event>& events, const eval_options& o,
                     const engine::validation_limits& limits, Recommend recommend,
                     Ingest ingest) {
  const std::size_t k = o.k;
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
    if (o.split_mod == 0 || engine::hash_id(e.user) % o.split_mod == o.split_part)
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
    events, o, cfg.limits, [&](const std::string& user) { return model.recommend_keys(user, ro); },
    [&](const engine::event& e) { model.ingest(e); });
}

eval_run eval_actors(const std::vector<engine::event>& events, const eval_options& o,
                     const common_options& common) {
  service eng{make_service_options(common)};
  engine::recommend_options ro;
  ro.n = o.k;
  return prequential(
    events, o, eng.options().topology.model.limits,
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

/// --ablation: the blend as configured, then without each term it has.
int run_ablation(const eval_options& o, const common_options& common,
                 const std::vector<engine::event>& events) {
  const auto full = make_model_config(common);
  struct variant {
    const char* name;
    engine::model_config cfg;
  };
  std::vector<variant> runs{{"blend as configured", full}};
  auto without = [&](const char* name, double engine::model_config::*weight) {
    if (full.*weight > 0.0) {
      auto cfg = full;
      cfg.*weight = 0.0;
      runs.push_back({name, cfg});
    }
  };
  without("without item-to-item (cf-weight 0)", &engine::model_config::cf_weight);
  without("without rules (seq-weight 0)", &engine::model_config::seq_weight);
  without("without trend (trend-weight 0)", &engine::model_config::trend_weight);
  auto base = full;
  base.cf_weight = 1.0;
  base.seq_weight = 0.0;
  base.trend_weight = 0.0;
  runs.push_back({"item-to-item alone (blend off)", base});
  nlohmann::json all = nlohmann::json::array();
  for (const auto& v : runs) {
    const auto run = eval_reference(events, o, v.cfg);
    const auto& r = run.result;
    if (o.json)
      all.push_back({{"variant", v.name}, {"cf_weight", v.cfg.cf_weight},
                     {"seq_weight", v.cfg.seq_weight}, {"trend_weight", v.cfg.trend_weight},
                     {"events", r.events}, {"hr_at_k", r.hr_at_k}, {"mrr_at_k", r.mrr_at_k},
                     {"ndcg_at_k", r.ndcg_at_k}, {"coverage", r.coverage}});
    else
      std::printf("%-38s HR@%zu %.4f  MRR@%zu %.4f  NDCG@%zu %.4f  (%zu events, %.1f s)\n", v.name,
                  r.k, r.hr_at_k, r.k, r.mrr_at_k, r.k, r.ndcg_at_k, r.events, run.seconds);
  }
  if (o.json)
    std::cout << all.dump(2) << '\n';
  return 0;
}

int run_eval(const eval_options& o, const common_options& common) {
  auto d = load_dataset(o.data);
  if (o.limit > 0 && d.events.size() > o.limit)
    d.events.resize(o.limit);
  if (o.split_mod > 0 && o.split_part >= o.split_mod)
    throw usage_error("--split-part must be below --split-mod");
  if (o.ablation) {
    if (o.engine != "reference")
      throw usage_error("--ablation needs --engine reference");
    return run_ablation(o, common, d.events);
  }
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
  add_file_options(*cmd, o->data, false);
  // Without --data: the synthetic generator, with its shape knobs.
  o->data.synthetic.events = 200'000;
  o->data.synthetic.users = 5'000;
  o->data.synthetic.items = 5'000;
  add_synthetic_options(*cmd, o->data);
  const char* shape = "Synthetic workload (when no --data is given)";
  auto& s = o->data.synthetic;
  cmd->add_option("--zipf", s.zipf_exponent, "Item popularity skew (0 = uniform)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(shape);
  cmd->add_option("--user-zipf", s.user_zipf_exponent, "User activity skew (0 = uniform)")
    ->check(CLI::NonNegativeNumber)->capture_default_str()->group(shape);
  cmd->add_option("--tastes", s.tastes, "Latent taste clusters")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1000000}))->capture_default_str()->group(shape);
  cmd->add_option("--taste-affinity", s.taste_affinity,
                  "Probability an event's item is drawn from the user's cluster")
    ->check(CLI::Range(0.0, 1.0))->capture_default_str()->group(shape);
  cmd->add_option("--k", o->k, "Recommendations per query (top-K)")
    ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))->capture_default_str();
  cmd->add_option("--engine", o->engine,
                  "actors: the embedded actor engine, flushed after every event (exact, slow); "
                  "reference: the single-threaded reference model (fast)")
    ->check(CLI::IsMember({"actors", "reference"}))->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object instead of a table");
  cmd->add_option("--limit", o->limit, "Evaluate only the first N events (0 = all)")
    ->capture_default_str();
  cmd->add_option("--split-mod", o->split_mod,
                  "Score only users whose key modulo this is --split-part (0 = every user; "
                  "all events are ingested): held-out user splits for tuning")
    ->capture_default_str();
  cmd->add_option("--split-part", o->split_part, "Which split --split-mod scores")
    ->capture_default_str();
  cmd->add_flag("--ablation", o->ablation,
                "Reference engine: HR/MRR/NDCG of the blend as configured, without each of "
                "its terms, and item-to-item alone");
  add_common_options(*cmd, common);
  bind_runner(*cmd, run, [o, &common] { return run_eval(*o, common); });
}

}  // namespace rtrec::cli
