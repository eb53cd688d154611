// The item metadata stream of a log (docs/replication.md, "Stage 1b"): what
// one of its records says, and reading them back for a resync. The one place
// that turns a meta record into an operation: recovery's replay and the meta
// writer's resyncs both use it. Reads files only; safe while the live writer
// appends to the same log.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "engine/item_model.hpp"
#include "storage/wal.hpp"

namespace rtrec::storage {

/// One operation of the metadata stream.
struct meta_entry {
  std::uint64_t seq = 0;
  bool remove = false;
  engine::item_meta meta;  ///< !remove
  std::string id;          ///< remove
};

/// The operation record `r` (of the meta stream) holds. Throws corrupt when
/// its payload does not decode, std::runtime_error for a record kind the
/// meta stream cannot hold.
meta_entry decode_meta_record(const log_record& r);

/// Applies `e` to `model` (set_meta or remove); returns what the model says.
bool apply_meta(const meta_entry& e, engine::item_model& model);

/// The metadata operations of the log in `dir` with seq in (from, upto], in
/// order. Throws std::runtime_error, saying what is missing, when the log no
/// longer holds seq from + 1 (segments released after a checkpoint) or ends
/// before `upto`.
std::vector<meta_entry> read_meta_entries(const std::string& dir, std::uint64_t from,
                                          std::uint64_t upto);

}  // namespace rtrec::storage
