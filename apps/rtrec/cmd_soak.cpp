// rtrec soak: a long run for memory. Streams synthetic events through the
// embedded service, generated on the fly (never held in memory), and every
// --report-every events flushes and prints the average ingest rate so far
// (events fully applied, generation included), users, items, engine bytes per
// user and per item, and the process RSS, so bounded growth can be seen.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <deque>
#include <future>
#include <iostream>
#include <memory>

#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/support.hpp"
#include "engine/synthetic.hpp"

namespace rtrec::cli {

namespace {

struct soak_options {
  data_options data;
  std::size_t report_every = 5'000'000;
  std::size_t batch = 4096;
  std::size_t pipeline = 8;
  bool json = false;
};

nlohmann::json sample(service& eng, std::size_t events, double seconds) {
  auto s = unwrap(eng.stats(), "stats");
  auto per = [](std::uint64_t total, std::uint64_t n) {
    return n == 0 ? 0.0 : static_cast<double>(total) / static_cast<double>(n);
  };
  return {{"events", events},
          {"seconds", seconds},
          {"users", s.users},
          {"items", s.items},
          {"profile_bytes", s.profile_bytes},
          {"item_bytes", s.item_bytes},
          {"bytes_per_user", per(s.profile_bytes, s.users)},
          {"bytes_per_item", per(s.item_bytes, s.items)},
          {"rss_bytes", current_rss_bytes()}};
}

int run_soak(const soak_options& o, const common_options& common) {
  engine::synthetic_generator gen{o.data.synthetic};
  if (!gen.error().empty())
    throw usage_error("synthetic workload: " + gen.error());
  service eng{make_service_options(common)};
  std::deque<std::future<rtrec::result<ingest_result>>> in_flight;
  auto rows = nlohmann::json::array();
  std::size_t sent = 0;
  const auto start = clock_type::now();
  for (;;) {
    std::vector<engine::event> batch;
    if (gen.next_batch(batch, o.batch) == 0)
      break;
    if (in_flight.size() >= o.pipeline) {
      unwrap(in_flight.front().get(), "ingest");
      in_flight.pop_front();
    }
    const auto before = sent / o.report_every;
    sent += batch.size();
    in_flight.push_back(eng.ingest_async(std::move(batch)));
    if (sent / o.report_every != before || gen.remaining() == 0) {
      while (!in_flight.empty()) {
        unwrap(in_flight.front().get(), "ingest");
        in_flight.pop_front();
      }
      unwrap(eng.flush(), "flush");
      auto row = sample(eng, sent, seconds_since(start));
      if (!o.json)
        std::printf("%12zu events  %8.0f events/s  %9llu users  %7llu items  %8.0f B/user  "
                    "%8.0f B/item  RSS %6.0f MiB\n",
                    sent, static_cast<double>(sent) / row["seconds"].get<double>(),
                    row["users"].get<unsigned long long>(),
                    row["items"].get<unsigned long long>(), row["bytes_per_user"].get<double>(),
                    row["bytes_per_item"].get<double>(),
                    static_cast<double>(row["rss_bytes"].get<std::uint64_t>()) / (1 << 20));
      std::fflush(stdout);
      rows.push_back(std::move(row));
    }
  }
  if (o.json)
    std::cout << nlohmann::json{{"samples", rows}, {"config", to_json(common)}}.dump(2) << '\n';
  return 0;
}

}  // namespace

void add_soak_command(CLI::App& root, common_options& common, command_runner& run) {
  auto* cmd = root.add_subcommand(
    "soak", "Long run for memory: stream synthetic events, report bytes per user/item as it goes");
  auto o = std::make_shared<soak_options>();
  o->data.synthetic.events = 50'000'000;
  o->data.synthetic.users = 1'000'000;
  o->data.synthetic.items = 100'000;
  add_synthetic_options(*cmd, o->data);
  cmd->add_option("--report-every", o->report_every, "Events between two reports")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 40))->capture_default_str();
  cmd->add_option("--batch", o->batch, "Events per ingest call")
    ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 20))->capture_default_str();
  cmd->add_flag("--json", o->json, "Print one JSON object at the end instead of lines");
  add_common_options(*cmd, common);
  bind_runner(*cmd, run, [o, &common] { return run_soak(*o, common); });
}

}  // namespace rtrec::cli
