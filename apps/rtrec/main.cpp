// rtrec: the command-line tool. Parses the command line (CLI11), sets up
// logging (spdlog, to stderr), runs the chosen subcommand and turns failures
// into exit codes: 0 success, 1 runtime error, 2 usage error. Results go to
// stdout, everything else to stderr.
#include <CLI/CLI.hpp>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <exception>
#include <new>
#include <string>

#include "apps/rtrec/commands.hpp"
#include "apps/rtrec/support.hpp"

namespace {

constexpr int exit_runtime_error = 1;
constexpr int exit_usage_error = 2;

void setup_logging(const std::string& level) {
  auto logger = spdlog::stderr_color_mt("rtrec");
  logger->set_pattern("[%H:%M:%S.%e] [%^%l%$] %v");
  spdlog::set_default_logger(logger);
  spdlog::set_level(spdlog::level::from_str(level));
}

// Errors are printed directly, so --log-level off cannot hide why we failed.
int fail(int code, const char* what) {
  std::fprintf(stderr, "rtrec: error: %s\n", what);
  return code;
}

}  // namespace

int main(int argc, char** argv) {
  using namespace rtrec::cli;
  CLI::App app{"rtrec: a real-time recommendation engine (item-to-item co-occurrence on "
               "sharded actors).\nRun 'rtrec <command> --help' for a command's options."};
  app.set_version_flag("--version", "rtrec 0.1.0");
  app.require_subcommand(1);
  common_options common;
  command_runner run;
  add_demo_command(app, common, run);
  add_eval_command(app, common, run);
  add_bench_command(app, common, run);
  add_recommend_command(app, common, run);
  add_soak_command(app, common, run);
  add_serve_command(app, common, run);
  add_node_command(app, common, run);
  add_bulk_commands(app, common, run);
  try {
    app.parse(argc, argv);
  } catch (const usage_error& e) {
    return fail(exit_usage_error, e.what());
  } catch (const CLI::FileError& e) {  // only --config FILE reads a file while parsing
    return fail(exit_usage_error, (std::string{"--config: "} + e.what()).c_str());
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);  // prints help, version or the error
    return code == 0 ? 0 : exit_usage_error;
  }
  try {
    setup_logging(common.log_level);
    return run();
  } catch (const usage_error& e) {
    return fail(exit_usage_error, e.what());
  } catch (const std::bad_alloc&) {
    return fail(exit_runtime_error, "out of memory");
  } catch (const std::exception& e) {
    return fail(exit_runtime_error, e.what());
  }
}
