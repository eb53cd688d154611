// rtrec import / rtrec export: Gorse's JSON-lines bulk format in and out.
//
//   rtrec import {users|items|feedback} FILE --url http://host:port [--api-key K]
//   rtrec export {users|items|feedback} --url http://host:port > FILE
//   ... or --data-dir DIR instead of --url: the data directory of a stopped
//       server, opened in this process (its lock refuses a running one)
//
// Against a server the file is streamed to POST /api/bulk/<kind> (and the
// export read from GET /api/bulk/<kind>) in 64 KiB pieces; with --data-dir
// it goes through the same importer (apps/http/bulk_import.hpp). A progress
// bar is drawn on stderr when it is a terminal (bytes sent, or lines
// exported, of the users or items there are). The import's report (the
// server's JSON) goes to stdout; bad lines are named on stderr by line
// number, and make the exit code 1.
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>

#include "apps/http/body_reader.hpp"
#include "apps/http/bulk_export.hpp"
#include "apps/http/bulk_import.hpp"
#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/data_dir_lock.hpp"
#include "apps/rtrec/http_transfer.hpp"
#include "apps/rtrec/support.hpp"

namespace rtrec::cli {

namespace {

using nlohmann::json;

struct bulk_cli {
  std::string kind;
  std::string file;
  std::string url;
  std::string api_key;
  std::string data_dir;
  std::string sync = "fsync";
};

http::bulk_kind kind_of(const bulk_cli& o) {
  auto k = http::parse_bulk_kind(o.kind);
  if (!k)
    throw usage_error("expected users, items or feedback, not " + o.kind);
  if (o.url.empty() == o.data_dir.empty())
    throw usage_error("give either --url (a running server) or --data-dir (a stopped one)");
  return *k;
}

header_list headers_for(const bulk_cli& o) {
  header_list h{{"Content-Type", "application/jsonl"}};
  std::string key = o.api_key;
  if (const char* env = std::getenv("RTREC_API_KEY"); key.empty() && env != nullptr)
    key = env;
  if (!key.empty())
    h.emplace_back("X-API-Key", key);
  return h;
}

// Prints an import's report: the JSON on stdout, a summary and the bad lines
// on stderr. Returns the exit code: 1 when any line was refused.
int print_report(const json& report, const std::string& what) {
  std::cout << report.dump() << '\n' << std::flush;
  const auto errors = report.value("Errors", std::uint64_t{0});
  spdlog::info("imported {} {} from {} lines ({} duplicates)", report.value("RowAffected", 0),
               what, report.value("Lines", 0), report.value("Duplicates", 0));
  if (errors == 0)
    return 0;
  spdlog::warn("{} lines were refused:", errors);
  for (const auto& e : report.value("FirstErrors", json::array()))
    spdlog::warn("  {}", e.get<std::string>());
  if (errors > report.value("FirstErrors", json::array()).size())
    spdlog::warn("  ... and {} more", errors - report["FirstErrors"].size());
  return 1;
}

std::unique_ptr<std::istream> open_input(const std::string& file, std::uint64_t& size) {
  if (file == "-") {
    size = 0;
    return std::make_unique<std::istream>(std::cin.rdbuf());
  }
  auto in = std::make_unique<std::ifstream>(file, std::ios::binary);
  if (!*in)
    throw usage_error(file + ": cannot be read");
  std::error_code ec;
  size = std::filesystem::file_size(file, ec);
  return in;
}

int import_remote(const bulk_cli& o, http::bulk_kind kind) {
  std::uint64_t size = 0;
  auto in = open_input(o.file, size);
  progress bar{std::string{"import "} + http::to_string(kind), static_cast<std::size_t>(size)};
  auto answer = upload(parse_server_url(o.url), std::string{"/api/bulk/"} + http::to_string(kind),
                       *in, headers_for(o), [&](std::uint64_t sent) { bar.update(sent); });
  bar.finish();
  auto report = json::parse(answer.body, nullptr, false);
  if (report.is_object() && report.contains("RowAffected")) {
    int code = print_report(report, http::to_string(kind));
    if (answer.status != 200)
      throw std::runtime_error(report.value("error", "the server stopped the import"));
    return code;
  }
  const auto message = report.is_object() ? report.value("error", answer.body) : answer.body;
  throw std::runtime_error("the server answered " + std::to_string(answer.status) + ": " +
                           message.substr(0, 500));
}

// Reads FILE line by line into an importer on a local service.
int import_local(const bulk_cli& o, http::bulk_kind kind, const common_options& common) {
  data_dir_lock lock{o.data_dir};
  auto eo = make_service_options(common);
  eo.durability.data_dir = o.data_dir;
  if (!storage::parse_sync_policy(o.sync, eo.durability.sync))
    throw usage_error("--sync must be fsync or none, not " + o.sync);
  std::uint64_t size = 0;
  auto in = open_input(o.file, size);
  service eng{eo};
  http::input_limits limits;
  limits.ids = make_model_config(common).limits;
  http::bulk_importer importer{eng, kind, limits};
  http::line_splitter lines{1u << 20};
  auto on_line = [&](std::uint64_t n, std::string_view text, bool too_long) {
    too_long ? importer.refuse(n, "longer than 1048576 bytes") : importer.line(n, text);
  };
  progress bar{std::string{"import "} + http::to_string(kind), static_cast<std::size_t>(size)};
  std::vector<char> buf(64 * 1024);
  std::uint64_t read = 0;
  while (*in && !importer.stopped()) {
    in->read(buf.data(), static_cast<std::streamsize>(buf.size()));
    const auto n = static_cast<std::size_t>(in->gcount());
    lines.feed(std::string_view{buf.data(), n}, on_line);
    bar.update(read += n);
  }
  lines.finish(on_line);
  const auto report = importer.finish();
  bar.finish();
  unwrap(eng.flush(), "flush");
  eng.stop();
  if (const auto& s = importer.stopped())
    throw std::runtime_error("the import stopped: " + s->to_string());
  return print_report(report.to_json(), http::to_string(kind));
}

// How many objects an export will write, for its progress bar: the users
// or items there are (0, unknown, for feedback: no count is kept).
std::size_t export_total(http::bulk_kind kind, std::size_t users, std::size_t items) {
  switch (kind) {
    case http::bulk_kind::users:
      return users;
    case http::bulk_kind::items:
      return items;
    case http::bulk_kind::feedback:
      return 0;
  }
  return 0;
}

int export_remote(const bulk_cli& o, http::bulk_kind kind) {
  const auto url = parse_server_url(o.url);
  const auto headers = headers_for(o);
  std::size_t total = 0;
  auto ready = json::parse(get(url, "/api/health/ready", headers).body, nullptr, false);
  if (ready.is_object())
    total = export_total(kind, ready.value("users", std::size_t{0}),
                         ready.value("items", std::size_t{0}));
  progress bar{std::string{"export "} + http::to_string(kind), total};
  std::uint64_t exported = 0;
  auto answer = download(url, std::string{"/api/bulk/"} + http::to_string(kind), std::cout,
                         headers, [&](std::uint64_t, std::uint64_t lines) {
                           bar.update(static_cast<std::size_t>(exported = lines));
                         });
  std::cout.flush();
  if (answer.status != 200) {
    auto j = json::parse(answer.body, nullptr, false);
    throw std::runtime_error("the server answered " + std::to_string(answer.status) + ": " +
                             (j.is_object() ? j.value("error", answer.body) : answer.body));
  }
  bar.finish();
  spdlog::info("exported {} {}", exported, http::to_string(kind));
  return 0;
}

// Pages through a local service's users, items or feedback.
int export_local(const bulk_cli& o, http::bulk_kind kind, const common_options& common) {
  data_dir_lock lock{o.data_dir};
  auto eo = make_service_options(common);
  eo.durability.data_dir = o.data_dir;
  eo.durability.snapshot_on_stop = false;  // nothing changes: leave the directory as it was
  service eng{eo};
  const auto stats = unwrap(eng.stats(), "stats");
  progress bar{std::string{"export "} + http::to_string(kind),
               export_total(kind, static_cast<std::size_t>(stats.users),
                            static_cast<std::size_t>(stats.items))};
  std::string cursor, lines;
  std::size_t exported = 0;
  do {
    lines.clear();
    if (auto why = http::bulk_export_page(eng, kind, cursor, 1000, lines, exported); !why.empty())
      throw std::runtime_error("the export stopped after " + std::to_string(exported) + " " +
                               http::to_string(kind) + ": " + why);
    std::cout << lines;
    bar.update(exported);
  } while (!cursor.empty());
  std::cout.flush();
  bar.finish();
  eng.stop();
  spdlog::info("exported {} {}", exported, http::to_string(kind));
  return 0;
}

void add_target_options(CLI::App* cmd, const std::shared_ptr<bulk_cli>& o) {
  cmd->add_option("--url", o->url, "A running server, http://host:port");
  cmd->add_option("--api-key", o->api_key,
                  "The server's API key (else $RTREC_API_KEY; a key on the command line is "
                  "visible to other users of this machine)");
  cmd->add_option("--data-dir", o->data_dir,
                  "The data directory of a stopped server, opened here instead of --url");
}

}  // namespace

void add_bulk_commands(CLI::App& root, common_options& common, command_runner& run) {
  auto* imp = root.add_subcommand(
    "import", "Import Gorse JSON lines (users, items or feedback) into a server or a data "
              "directory");
  auto io = std::make_shared<bulk_cli>();
  imp->add_option("kind", io->kind, "users, items or feedback")->required();
  imp->add_option("file", io->file, "JSON-lines file (- = stdin)")->required();
  add_target_options(imp, io);
  imp->add_option("--sync", io->sync, "With --data-dir: fsync or none")
    ->check(CLI::IsMember({"fsync", "none"}))->capture_default_str();
  add_common_options(*imp, common);
  bind_runner(*imp, run, [io, &common] {
    const auto kind = kind_of(*io);
    return io->url.empty() ? import_local(*io, kind, common) : import_remote(*io, kind);
  });

  auto* exp = root.add_subcommand(
    "export", "Export users or items as Gorse JSON lines to stdout, from a server or a data "
              "directory");
  auto eo = std::make_shared<bulk_cli>();
  exp->add_option("kind", eo->kind, "users or items")->required();
  add_target_options(exp, eo);
  add_common_options(*exp, common);
  bind_runner(*exp, run, [eo, &common] {
    const auto kind = kind_of(*eo);
    return eo->url.empty() ? export_local(*eo, kind, common) : export_remote(*eo, kind);
  });
}

}  // namespace rtrec::cli
