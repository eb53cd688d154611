// Loading the events a subcommand replays: from a file (read fully, bad lines
// reported as warnings) or from the seeded synthetic generator. Either way
// the events come back stable-sorted by timestamp (the generator's stream is
// in time order by construction).
#pragma once

#include <cstddef>
#include <string>
#include <vector>

#include "apps/rtrec/options.hpp"
#include "engine/event.hpp"

namespace rtrec::cli {

struct dataset {
  std::vector<engine::event> events;  ///< stable-sorted by timestamp
  std::size_t bad_lines = 0;          ///< lines of the file that were refused
  std::string description;            ///< e.g. "ratings.csv (movielens)"
};

/// Returns the events of o.path (format o.format) or, when o.path is empty,
/// o.synthetic's events. Throws usage_error for an invalid synthetic
/// configuration and std::runtime_error when the file cannot be read.
dataset load_dataset(const data_options& o);

using event_batches = std::vector<std::vector<engine::event>>;

/// Like load_dataset, but returns the events cut into batches of `batch`
/// (in order; the last may be shorter). Synthetic events are generated
/// straight into the batches, so the full stream is never held twice.
event_batches load_batches(const data_options& o, std::size_t batch, std::size_t& bad_lines);

}  // namespace rtrec::cli
