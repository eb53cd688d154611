// rtrec_query_bench: the CPU cost of one recommend query on the item side,
// without HTTP or actors: the engine's chained scoring on two item shards
// (score_chained_on_shard, as the recommenders ask them), over a model fed
// the data shape of scripts/bench_http.sh (scripts/bench/feedback.lua:
// 100k users, 20k items drawn as floor(20000 * u^3), view/click/like/
// purchase, 100 events per batch). Prints the median µs per query over
// --reps passes of 4096 random users' queries, and the candidates the
// first shard passes on. Compare variants in one sitting:
//
//   cmake --build build --target rtrec_query_bench
//   build/apps/rtrec_query_bench                                  # the defaults (the blend)
//   build/apps/rtrec_query_bench --seq-weight 0 --trend-weight 0  # item-to-item alone
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"
#include "engine/scoring.hpp"

using namespace rtrec::engine;

int main(int argc, char** argv) {
  CLI::App app{"CPU per recommend query on two chained item shards (no HTTP, no actors)"};
  model_config cfg;
  std::size_t events = 1'200'000;
  std::size_t reps = 7;
  std::uint64_t seed = 42;
  app.add_option("--events", events, "Events fed before the queries")->capture_default_str();
  app.add_option("--reps", reps, "Passes over the 4096 queries (the median is printed)")
    ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--seed", seed, "Seed of the events and the users asked")->capture_default_str();
  app.add_option("--seq-weight", cfg.seq_weight)->capture_default_str();
  app.add_option("--trend-weight", cfg.trend_weight)->capture_default_str();
  app.add_option("--score-neighbors", cfg.score_neighbors)->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  profile_store store(cfg);
  std::vector<item_model> shards;
  for (std::uint32_t s = 0; s < 2; ++s)
    shards.emplace_back(cfg, s, 2);
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const event_type types[] = {event_type::view, event_type::view, event_type::view,
                              event_type::click, event_type::like, event_type::purchase};
  std::int64_t ts = 1'700'000'000'000;
  item_delta_batch batch;
  for (std::size_t k = 0; k < events; k += 100) {
    batch.clear();
    for (int j = 0; j < 100; ++j) {
      event e;
      e.user = "u" + std::to_string(rng() % 100000);
      e.item = "i" + std::to_string(static_cast<long>(20000 * std::pow(unit(rng), 3)));
      e.type = types[rng() % 6];
      e.timestamp = ts++;
      store.apply(e, batch);
    }
    for (auto& m : shards)
      m.apply(batch);
  }
  std::vector<score_query> queries;
  for (int k = 0; k < 4096; ++k) {
    recommend_options o;
    queries.push_back(make_query(store.view("u" + std::to_string(rng() % 100000)), o, false));
  }
  // As the recommender asks (recommender.cpp, chain_step): shard 0 adds the
  // popular list and passes its partial sums on; the last names its best.
  std::vector<double> per_query;
  std::size_t passed = 0;
  for (std::size_t rep = 0; rep < reps; ++rep) {
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& base : queries) {
      auto first = base;
      first.popular = 10;
      first.names = false;
      auto part = score_chained_on_shard(shards[0], first, {}, false);
      if (rep == 0)
        passed += part.candidates.size();
      auto last = base;
      last.names_top = 10;
      auto page = score_chained_on_shard(shards[1], last, std::move(part), true);
      if (page.candidates.size() > 10)
        return 1;  // the last shard names at most names_top
    }
    per_query.push_back(
      std::chrono::duration<double, std::micro>(std::chrono::steady_clock::now() - t0).count()
      / static_cast<double>(queries.size()));
  }
  std::sort(per_query.begin(), per_query.end());
  std::printf("query_bench seq_weight=%g trend_weight=%g score_neighbors=%zu events=%zu "
              "us_per_query_median=%.2f min=%.2f max=%.2f passed_candidates_avg=%.0f\n",
              cfg.seq_weight, cfg.trend_weight, cfg.score_neighbors, events,
              per_query[per_query.size() / 2], per_query.front(), per_query.back(),
              static_cast<double>(passed) / static_cast<double>(queries.size()));
  return 0;
}
