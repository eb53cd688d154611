// Re-deriving a profile shard's delta batches from its data directory: what
// the shard answers an item shard that found a gap in its delta stream
// (docs/replication.md, "Stage 1: durable nodes"). Reads files only; safe
// while the live shard appends to the same log.
#pragma once

#include <cstdint>
#include <vector>

#include "engine/model_types.hpp"
#include "storage/recovery.hpp"

namespace rtrec::storage {

/// One re-derived delta batch: the item side of log record `seq`.
struct rederived_batch {
  std::uint64_t seq = 0;
  engine::item_delta_batch delta;
};

/// The non-empty delta batches of profile shard `shard`'s log records with
/// seq in (from, upto], in order, computed from opts.data_dir: the newest
/// checkpoint whose seq for the shard is <= from (none: from an empty shard)
/// plus the log records after it, applied as the live shard applied them.
/// Throws std::runtime_error, saying what is missing, when the log does not
/// hold every record from the checkpoint on up to `upto` (segments released,
/// or deleted while reading: ask again).
std::vector<rederived_batch> rederive_deltas(const recovery_options& opts, std::uint32_t shard,
                                             std::uint64_t from, std::uint64_t upto);

}  // namespace rtrec::storage
