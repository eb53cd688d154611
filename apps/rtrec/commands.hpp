// The subcommands of the rtrec tool. Each add_*_command adds its subcommand
// to `root` with its own options plus the common ones (bound to `common`);
// when the subcommand is chosen on the command line, parsing sets `run` to
// the function that executes it. `run` returns the process exit code and
// throws usage_error (exit 2) or another std::exception (exit 1) on failure.
//
//   demo       replay a data set, print throughput, quality, latency, examples
//   eval       prequential (test-then-train) evaluation of a data file
//   bench      ingest throughput under concurrent recommend load
//   recommend  load a data file and print one user's recommendations
//   soak       long ingest run watching memory
//   serve      the HTTP/JSON API server (the main job)
//   node       one node of a cluster (serve with the shards spread over nodes)
//   import     Gorse JSON lines into a server (--url) or a data directory
//   export     users or items as Gorse JSON lines, from a server or a data directory
#pragma once

#include <CLI/CLI.hpp>

#include <functional>
#include <string>
#include <vector>

#include "apps/rtrec/options.hpp"

namespace rtrec::cli {

using command_runner = std::function<int()>;

/// Makes parsing set `run` to `fn` when `cmd` is the chosen subcommand.
inline void bind_runner(CLI::App& cmd, command_runner& run, command_runner fn) {
  cmd.callback([&run, fn = std::move(fn)] { run = fn; });
}

void add_demo_command(CLI::App& root, common_options& common, command_runner& run);
void add_eval_command(CLI::App& root, common_options& common, command_runner& run);
void add_bench_command(CLI::App& root, common_options& common, command_runner& run);
void add_recommend_command(CLI::App& root, common_options& common, command_runner& run);
void add_soak_command(CLI::App& root, common_options& common, command_runner& run);
void add_serve_command(CLI::App& root, common_options& common, command_runner& run);
/// rtrec node; also adds the root's --config FILE (CLI11 config support, a
/// TOML file read for rtrec node only; "[openssl] certificate = x" is
/// --openssl-certificate x; flags on the command line win).
void add_node_command(CLI::App& root, common_options& common, command_runner& run);
/// rtrec import and rtrec export (cmd_bulk.cpp).
void add_bulk_commands(CLI::App& root, common_options& common, command_runner& run);

}  // namespace rtrec::cli
