// Command-line options shared by every subcommand, and their mapping onto the
// engine's configuration: topology sizes, CAF threads, model knobs
// (engine::model_config), logging, and where the events come from (a file or
// the synthetic generator). Each subcommand adds the groups it needs to its
// own CLI::App; the values land in these plain structs.
#pragma once

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <string>

#include "rtrec/rtrec.hpp"
#include "engine/config.hpp"
#include "engine/readers.hpp"
#include "engine/synthetic.hpp"

namespace rtrec::cli {

/// Options every subcommand accepts.
struct common_options {
  topology_config topology = service_options{}.topology;  ///< shard counts, model knobs (embedded defaults)
  std::size_t workers = service_options{}.worker_threads;  ///< CAF threads, 0 = one per core
  /// Messages per turn; 0 = auto: the engine's default (1, for the query
  /// lane) for the embedded commands, 16 for serve and node (see run_serve).
  std::size_t max_throughput = 0;
  /// CAF scheduler policy; "auto" = the engine's default (priority) for the
  /// embedded commands, sharing for serve and node (see run_serve).
  std::string scheduler = "auto";
  double cooc_half_life_days = topology_config{}.model.cooc_half_life_s / 86400.0;
  double trend_half_life_days = topology_config{}.model.trend_half_life_s / 86400.0;
  double blend_trend_half_life_days = topology_config{}.model.blend_trend_half_life_s / 86400.0;
  double dedup_age_hours = 24.0;
  std::string log_level = "info";
};

/// Adds --profile-shards ... --alpha and --log-level to `cmd`, bound to `o`.
void add_common_options(CLI::App& cmd, common_options& o);

/// Returns the model configuration `o` describes (half-lives in seconds).
engine::model_config make_model_config(const common_options& o);

/// Returns the embedded service's options for `o`.
service_options make_service_options(const common_options& o);

/// Returns `o` as JSON (topology sizes, workers, model knobs), for reports.
nlohmann::json to_json(const common_options& o);

/// Persistence options (serve and bench).
struct durability_cli {
  std::string data_dir;
  bool in_memory = false;
  std::string sync = "fsync";
  std::string wal_recovery = "strict";
  double snapshot_interval_s = 300;
  std::uint64_t segment_mb = 64;
};

/// Adds --data-dir, --in-memory, --sync, --wal-recovery,
/// --snapshot-interval, --wal-segment-mb, --dedup-window and --dedup-age-hours
/// to `cmd`. `default_dir` is --data-dir's default (empty: in memory unless
/// given).
void add_durability_options(CLI::App& cmd, durability_cli& o, common_options& common,
                            const std::string& default_dir);

/// Applies `o` to `eo`. Throws usage_error for an unknown policy name.
void apply_durability(const durability_cli& o, service_options& eo);

/// Where the events come from: `path` when set, else the synthetic generator.
struct data_options {
  std::string path;
  std::string format = "auto";
  engine::synthetic_config synthetic;
};

/// Adds --data (required or not) and --format to `cmd`, bound to `o`.
void add_file_options(CLI::App& cmd, data_options& o, bool required);

/// Adds --events, --users, --items and --seed (defaults: the current values
/// of o.synthetic) to `cmd`; they exclude --data when that was added before.
void add_synthetic_options(CLI::App& cmd, data_options& o);

/// Returns the data source as JSON (file and format, or the generator's sizes).
nlohmann::json to_json(const data_options& o);

}  // namespace rtrec::cli
