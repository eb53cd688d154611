#include "apps/rtrec/dataset.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <fstream>
#include <iterator>
#include <stdexcept>

#include "apps/rtrec/support.hpp"
#include "engine/readers.hpp"
#include "engine/synthetic.hpp"

namespace rtrec::cli {

namespace {

constexpr std::size_t errors_shown = 5;

void report_bad_lines(const std::string& path, const engine::read_stats& stats) {
  if (stats.bad_lines == 0)
    return;
  spdlog::warn("{}: skipped {} bad line(s) of {}", path, stats.bad_lines, stats.lines);
  const auto shown = std::min(errors_shown, stats.errors.size());
  for (std::size_t i = 0; i < shown; ++i)
    spdlog::warn("{}: {}", path, stats.errors[i].message);
  if (stats.bad_lines > shown)
    spdlog::warn("{}: ... and {} more", path, stats.bad_lines - shown);
}

// Returns the format auto-detection picks for `path` (for messages only: the
// reader detects on its own).
engine::data_format detected_format(const std::string& path) {
  std::ifstream in{path};
  std::string first_line;
  std::getline(in, first_line);
  if (first_line.rfind("\xEF\xBB\xBF", 0) == 0)
    first_line.erase(0, 3);
  return engine::detect_format(path, first_line);
}

dataset read_file(const std::string& path, const std::string& format_name) {
  const auto fmt = engine::parse_data_format(format_name);
  if (!fmt)
    throw usage_error("unknown format '" + format_name + "'");
  dataset d;
  auto r = engine::read_events_file(path, *fmt,
                                    [&](engine::event&& e) { d.events.push_back(std::move(e)); });
  if (!r.ok)
    throw std::runtime_error(r.error);
  report_bad_lines(path, r.stats);
  d.bad_lines = r.stats.bad_lines;
  const auto shown = *fmt == engine::data_format::auto_detect ? detected_format(path) : *fmt;
  d.description = path + " (" + engine::to_string(shown) + ")";
  return d;
}

engine::synthetic_generator make_generator(const engine::synthetic_config& cfg) {
  engine::synthetic_generator gen{cfg};
  if (!gen.error().empty())
    throw usage_error("synthetic workload: " + gen.error());
  return gen;
}

std::string describe(const engine::synthetic_config& cfg) {
  return "synthetic (seed " + std::to_string(cfg.seed) + ", " + std::to_string(cfg.users) +
         " users, " + std::to_string(cfg.items) + " items)";
}

dataset generate(const engine::synthetic_config& cfg) {
  auto gen = make_generator(cfg);
  dataset d;
  d.events.reserve(cfg.events);
  gen.next_batch(d.events, cfg.events);
  d.description = describe(cfg);
  return d;
}

bool by_time(const engine::event& a, const engine::event& b) {
  return a.timestamp < b.timestamp;
}

}  // namespace

dataset load_dataset(const data_options& o) {
  const auto start = clock_type::now();
  auto d = o.path.empty() ? generate(o.synthetic) : read_file(o.path, o.format);
  if (!std::is_sorted(d.events.begin(), d.events.end(), by_time))
    std::stable_sort(d.events.begin(), d.events.end(), by_time);
  spdlog::info("loaded {} events from {} in {:.2f} s", d.events.size(), d.description,
               seconds_since(start));
  if (d.events.empty())
    spdlog::warn("{} holds no usable event", d.description);
  return d;
}

event_batches load_batches(const data_options& o, std::size_t batch, std::size_t& bad_lines) {
  event_batches batches;
  if (o.path.empty()) {
    const auto start = clock_type::now();
    auto gen = make_generator(o.synthetic);
    for (std::vector<engine::event> b; gen.next_batch(b, batch) > 0; b.clear())
      batches.push_back(std::move(b));
    bad_lines = 0;
    spdlog::info("generated {} events, {} in {:.2f} s", gen.produced(), describe(o.synthetic),
                 seconds_since(start));
    return batches;
  }
  auto d = load_dataset(o);
  bad_lines = d.bad_lines;
  for (std::size_t begin = 0; begin < d.events.size(); begin += batch) {
    const auto end = std::min(d.events.size(), begin + batch);
    batches.emplace_back(std::make_move_iterator(d.events.begin() + static_cast<std::ptrdiff_t>(begin)),
                         std::make_move_iterator(d.events.begin() + static_cast<std::ptrdiff_t>(end)));
  }
  return batches;
}

}  // namespace rtrec::cli
