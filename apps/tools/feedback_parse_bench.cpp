// rtrec_feedback_parse_bench: the CPU cost of turning a POST /api/feedback
// body into events, without the network or the engine: the DOM path
// (parse_json() + parse_feedback(), what the API did before) against the
// simdjson parser the API uses (parse_feedback_body()), alternated in one
// run over the bodies scripts/bench/feedback.lua sends (batches of 100
// events like {"FeedbackType":"view","UserId":"u123","ItemId":"i45"}).
// Prints the median ns per event of each over --reps passes and their
// ratio. Under valgrind --tool=callgrind the instruction counts of
// parse_feedback_body and of parse_json + parse_feedback compare the two
// independently of the machine's load.
//
//   cmake --build build --target rtrec_feedback_parse_bench
//   build/apps/rtrec_feedback_parse_bench
#include <CLI/CLI.hpp>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "apps/http/feedback_body.hpp"
#include "apps/http/json_io.hpp"

using namespace rtrec::http;

namespace {

std::size_t dom(const std::string& body, const input_limits& limits) {
  input_error err;
  auto doc = parse_json(body, limits, err);
  if (!doc)
    return 0;
  auto events = parse_feedback(*doc, 0, limits, true, err);
  return events ? events->size() : 0;
}

std::size_t body_parser(const std::string& body, const input_limits& limits) {
  input_error err;
  auto events = parse_feedback_body(body, 0, limits, true, err);
  return events ? events->size() : 0;
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"CPU per feedback event parsed: nlohmann's DOM path against parse_feedback_body()"};
  std::size_t reps = 9, bodies = 512, batch = 100;
  std::uint64_t seed = 42;
  app.add_option("--reps", reps, "Passes over the bodies per parser (the median is printed)")
    ->check(CLI::PositiveNumber)->capture_default_str();
  app.add_option("--bodies", bodies, "Distinct bodies")->check(CLI::PositiveNumber)
    ->capture_default_str();
  app.add_option("--batch", batch, "Events per body")->check(CLI::PositiveNumber)
    ->capture_default_str();
  app.add_option("--seed", seed, "Seed of the bodies")->capture_default_str();
  CLI11_PARSE(app, argc, argv);

  // The shape of scripts/bench/feedback.lua: 100k users, 20k items drawn
  // as floor(20000 * u^3).
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<double> unit(0.0, 1.0);
  const char* types[] = {"view", "view", "view", "click", "like", "purchase"};
  std::vector<std::string> texts;
  for (std::size_t b = 0; b < bodies; ++b) {
    std::string s = "[";
    for (std::size_t k = 0; k < batch; ++k)
      s += (k > 0 ? "," : "") + std::string{R"({"FeedbackType":")"} + types[rng() % 6] +
           R"(","UserId":"u)" + std::to_string(rng() % 100000) + R"(","ItemId":"i)" +
           std::to_string(static_cast<long>(20000 * std::pow(unit(rng), 3))) + "\"}";
    texts.push_back(s + "]");
  }
  const input_limits limits;
  const std::size_t events = bodies * batch;
  auto pass = [&](auto parse) {
    std::size_t parsed = 0;
    const auto t0 = std::chrono::steady_clock::now();
    for (const auto& body : texts)
      parsed += parse(body, limits);
    const double ns =
      std::chrono::duration<double, std::nano>(std::chrono::steady_clock::now() - t0).count();
    if (parsed != events) {
      std::fprintf(stderr, "feedback_parse_bench: parsed %zu of %zu events\n", parsed, events);
      std::exit(1);
    }
    return ns / static_cast<double>(events);
  };
  std::vector<double> dom_ns, body_ns, ratio;
  for (std::size_t rep = 0; rep < reps; ++rep) {
    dom_ns.push_back(pass(dom));
    body_ns.push_back(pass(body_parser));
    ratio.push_back(body_ns.back() / dom_ns.back());
  }
  auto median = [](std::vector<double> v) {
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  };
  std::printf("feedback_parse_bench events=%zu dom_ns_per_event=%.1f body_ns_per_event=%.1f "
              "body_over_dom=%.3f\n",
              events, median(dom_ns), median(body_ns), median(ratio));
  return 0;
}
