// rtrec demo: the quick start. Replays a data set (synthetic by default)
// through the embedded service in timestamp order, and
// prints what the engine did: throughput, sampled prequential quality,
// recommend latency, item-side lag, memory, and example answers.
//
// Quality is sampled: for every 10th event of the replay, recommend(user, 10)
// is asked right before that event is ingested (the batch is split there, so
// every earlier event is acknowledged and visible to the query) and scored
// against the event's item. The item side may still lag the profile side, so
// the figures can be slightly below those of `rtrec eval` (which flushes
// after every event and is exact).
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cstdio>
#include <memory>

#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/dataset.hpp"
#include "apps/rtrec/support.hpp"
#include "engine/evaluation.hpp"
#include "engine/histogram.hpp"

namespace rtrec::cli {

namespace {

constexpr std::size_t batch_size = 1000;
constexpr std::size_t sample_every = 10;
constexpr std::size_t top_k = 10;

struct demo_options {
  data_options data;
};

struct replay_result {
  ingest_counts counts;
  double ingest_seconds = 0.0;  ///< time inside ingest() calls plus the final flush()
  engine::histogram latency_ns;
  engine::eval_result quality;
};

// Asks recommend() for event i's user and scores it against event i's item.
void sample_query(service& eng, const engine::event& e,
                  engine::prequential_evaluator& eval, engine::histogram& latency_ns) {
  engine::recommend_options ro;
  ro.n = top_k;
  const auto start = clock_type::now();
  auto recs = unwrap(eng.recommend(e.user, ro), "recommend");
  latency_ns.record(nanos_since(start));
  eval.record(engine::hash_id(e.item), to_scored(recs));
}

replay_result replay(service& eng, const std::vector<engine::event>& events) {
  replay_result r;
  engine::prequential_evaluator eval{top_k};
  progress bar{"replaying", events.size()};
  auto ingest = [&](std::size_t from, std::size_t to) {
    if (from >= to)
      return;
    const auto start = clock_type::now();
    r.counts.add(ingest_range(eng, events, from, to));
    r.ingest_seconds += seconds_since(start);
  };
  for (std::size_t begin = 0; begin < events.size(); begin += batch_size) {
    const auto end = std::min(events.size(), begin + batch_size);
    // Split the batch at each sampled event: ask first, then ingest it.
    auto pos = begin;
    for (auto i = (begin + sample_every - 1) / sample_every * sample_every; i < end;
         i += sample_every) {
      ingest(pos, i);
      pos = i;
      sample_query(eng, events[i], eval, r.latency_ns);
    }
    ingest(pos, end);
    bar.update(end);
  }
  const auto start = clock_type::now();
  unwrap(eng.flush(), "flush");
  r.ingest_seconds += seconds_since(start);
  bar.finish();
  r.counts.report();
  r.quality = eval.result();
  return r;
}

// Returns the users of the last `n` events with distinct users (recently active).
std::vector<std::string> recent_users(const std::vector<engine::event>& events, std::size_t n) {
  std::vector<std::string> users;
  for (auto it = events.rbegin(); it != events.rend() && users.size() < n; ++it)
    if (std::find(users.begin(), users.end(), it->user) == users.end())
      users.push_back(it->user);
  return users;
}

void print_list(const std::vector<engine::recommendation>& recs) {
  for (std::size_t i = 0; i < recs.size(); ++i)
    std::printf("      %2zu. %-16s %.4f\n", i + 1, recs[i].item.c_str(), recs[i].score);
}

std::string join_recent(const std::vector<engine::interaction>& recent, std::size_t max) {
  std::string out;
  for (std::size_t i = 0; i < recent.size() && i < max; ++i)
    out += (i ? ", " : "") + recent[i].item;
  return out;
}

void print_examples(service& eng, const std::vector<engine::event>& events) {
  std::printf("\nExample recommendations (top 5, seen items excluded)\n");
  engine::recommend_options ro;
  ro.n = 5;
  for (const auto& user : recent_users(events, 3)) {
    const auto recent = unwrap(eng.user_recent(user), "user_recent");
    std::printf("  user %s (recent: %s)\n", user.c_str(), join_recent(recent, 5).c_str());
    print_list(unwrap(eng.recommend(user, ro), "recommend"));
  }
  const auto popular = unwrap(eng.popular(5), "popular");
  if (!popular.empty()) {
    std::printf("  items similar to %s (the most popular item)\n", popular.front().item.c_str());
    print_list(unwrap(eng.similar(popular.front().item, 5), "similar"));
  }
  std::printf("  popular top-5 (trending, decayed)\n");
  print_list(popular);
}

double per(double total, double count) {
  return count > 0 ? total / count : 0.0;
}

void print_summary(const dataset& d, const replay_result& r, const service_stats& s,
                   const common_options& common) {
  const auto& t = common.topology;
  const auto& q = r.quality;
  std::printf("rtrec demo: %s\n", d.description.c_str());
  std::printf("  topology          %u ingestor(s), %u profile shards, %u item shards, "
              "%u recommenders\n", t.ingestors, t.profile_shards, t.item_shards, t.recommenders);
  std::printf("\nIngest\n");
  std::printf("  events            %zu (%llu accepted, %llu rejected)\n", d.events.size(),
              static_cast<unsigned long long>(r.counts.accepted),
              static_cast<unsigned long long>(r.counts.rejected));
  std::printf("  users / items     %llu / %llu\n", static_cast<unsigned long long>(s.users),
              static_cast<unsigned long long>(s.items));
  std::printf("  throughput        %.0f events/s (ingest() calls of up to %zu events, split at "
              "the sampled queries, plus the final flush(); see rtrec bench for throughput)\n",
              per(static_cast<double>(r.counts.accepted), r.ingest_seconds), sample_every);
  std::printf("  item-side lag p99 %.2f ms\n", static_cast<double>(s.item_lag_p99_ns) / 1e6);
  std::printf("\nQuality (prequential, SAMPLED: every %zuth event, %zu queries, each asked "
              "right before its event was ingested)\n", sample_every, q.events);
  std::printf("  HR@%zu  %.4f   MRR@%zu  %.4f   NDCG@%zu  %.4f   coverage %.4f\n", q.k,
              q.hr_at_k, q.k, q.mrr_at_k, q.k, q.ndcg_at_k, q.coverage);
  std::printf("  (exact, event by event: rtrec eval --data FILE)\n");
  std::printf("\nRecommend latency (%llu calls)  p50 %.3f ms   p99 %.3f ms\n",
              static_cast<unsigned long long>(r.latency_ns.count()),
              static_cast<double>(r.latency_ns.percentile(0.5)) / 1e6,
              static_cast<double>(r.latency_ns.percentile(0.99)) / 1e6);
  std::printf("Memory  profiles %.1f MB (%.0f bytes/user)   items %.1f MB (%.0f bytes/item, "
              "all item shards)\n", static_cast<double>(s.profile_bytes) / 1e6,
              per(static_cast<double>(s.profile_bytes), static_cast<double>(s.users)),
              static_cast<double>(s.item_bytes) / 1e6,
              per(static_cast<double>(s.item_bytes), static_cast<double>(s.items)));
}

int run_demo(const demo_options& o, const common_options& common) {
  const auto d = load_dataset(o.data);
  service eng{make_service_options(common)};
  const auto r = replay(eng, d.events);
  print_summary(d, r, unwrap(eng.stats(), "stats"), common);
  print_examples(eng, d.events);
  return 0;
}

}  // namespace

void add_demo_command(CLI::App& root, common_options& common, command_runner& run) {
  auto* cmd = root.add_subcommand("demo", "Replay a data set through the engine and show what it does");
  auto o = std::make_shared<demo_options>();
  o->data.synthetic.events = 300'000;
  o->data.synthetic.users = 20'000;
  o->data.synthetic.items = 5'000;
  add_file_options(*cmd, o->data, false);
  add_synthetic_options(*cmd, o->data);
  add_common_options(*cmd, common);
  bind_runner(*cmd, run, [o, &common] { return run_demo(*o, common); });
}

}  // namespace rtrec::cli
