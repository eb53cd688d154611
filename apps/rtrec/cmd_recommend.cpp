// rtrec recommend: load a data file into the embedded service (batches of
// 1000, then flush) and print one user's recommendations, one per line as
// "item<TAB>score", or as JSON with --json.
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <memory>

#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/dataset.hpp"
#include "apps/rtrec/support.hpp"

namespace rtrec::cli {

namespace {

constexpr std::size_t load_batch = 1000;

struct recommend_cli_options {
  data_options data;
  std::string user;
  std::size_t n = 10;
  std::string category;
  bool json = false;
};

std::string check_user_id(const std::string& id) {
  if (id.empty())
    return "the user id is empty";
  const auto r = engine::validate_id(id, engine::validation_limits{}.max_id_length);
  return r == engine::reject_reason::none ? "" : std::string{"invalid user id: "} + engine::to_string(r);
}

void print(const std::vector<engine::recommendation>& recs, const recommend_cli_options& o,
           bool known) {
  if (o.json) {
    auto items = nlohmann::json::array();
    for (const auto& r : recs)
      items.push_back({{"item", r.item}, {"score", r.score}});
    std::cout << nlohmann::json{{"user", o.user}, {"known_user", known}, {"items", items}}.dump(2)
              << '\n';
    return;
  }
  for (const auto& r : recs)
    std::printf("%s\t%.6g\n", r.item.c_str(), r.score);
}

int run_recommend(const recommend_cli_options& o, const common_options& common) {
  const auto d = load_dataset(o.data);
  service eng{make_service_options(common)};
  load_into(eng, d.events, load_batch);
  const bool known = !unwrap(eng.user_recent(o.user), "user_recent").empty();
  if (!known)
    spdlog::warn("user '{}' has no interactions in {}: showing popular items", o.user,
                 d.description);
  engine::recommend_options ro;
  ro.n = o.n;
  ro.filter.category = o.category;
  const auto recs = unwrap(eng.recommend(o.user, ro), "recommend");
  if (recs.empty() && !o.category.empty())
    spdlog::warn("no recommendation in category '{}' (interaction files carry no item "
                 "categories; set them with service::set_item)",
                 o.category);
  print(recs, o, known);
  return 0;
}

}  // namespace

void add_recommend_command(CLI::App& root, common_options& common, command_runner& run) {
  auto* cmd = root.add_subcommand("recommend", "Load a data file and print a user's recommendations");
  auto o = std::make_shared<recommend_cli_options>();
  add_file_options(*cmd, o->data, true);
  cmd->add_option("--user", o->user, "User id")->required()->check(check_user_id, "ID");
  cmd->add_option("-n", o->n, "How many recommendations")
    ->check(CLI::Range(std::size_t{1}, std::size_t{10000}))->capture_default_str();
  cmd->add_option("--category", o->category, "Only items of this category");
  cmd->add_flag("--json", o->json, "Print JSON instead of item<TAB>score lines");
  add_common_options(*cmd, common);
  bind_runner(*cmd, run, [o, &common] { return run_recommend(*o, common); });
}

}  // namespace rtrec::cli
