// Snapshot files and checkpoints.
//
// Every file rtrec writes besides the log is "framed": a 32-byte header
//   "RTRECSNP" | u32 format version | u32 kind | u64 payload length |
//   u32 crc32(payload) | u32 crc32(first 28 header bytes)
// then the payload. It is written to <name>.tmp, fsynced and renamed, so a
// reader sees either the old file or the complete new one. Only framed files
// that pass every check are handed to the engines' load() (which checks its
// input too, but cannot tell a damaged value that is still valid).
//
// A checkpoint is a directory <root>/<id, 20 digits>/ holding one file per
// profile shard and per item shard plus a MANIFEST (what each covers). It is
// built as <id>.tmp/ and renamed once every file is durable: a checkpoint
// directory either is complete or does not exist.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace rtrec::storage {

enum class blob_kind : std::uint32_t {
  profile_shard = 1,
  item_shard = 2,
  manifest = 3,
  identity = 4,
  node = 5,  ///< NODE: which node of a cluster the directory belongs to
  cluster_map = 6,  ///< CLUSTER: the node's cluster-map acceptor (storage/map_store.hpp)
};

/// The snapshot format this build writes. Older versions it still reads:
/// none yet (version 1 is the first); anything else is refused with a
/// message naming both versions.
constexpr std::uint32_t snapshot_format_version = 1;

/// Writes `payload` framed to `path` (via path.tmp and a rename; with `sync`,
/// fsyncs the file and its directory). Throws std::runtime_error naming the
/// file and the failed step.
void write_framed_file(const std::string& path, blob_kind kind, std::string_view payload,
                       bool sync);

/// Reads a framed file and checks magic, version, kind, length and CRCs.
/// Returns the payload. Throws std::runtime_error naming the file and the
/// check that failed.
std::string read_framed_file(const std::string& path, blob_kind kind);

/// What one checkpoint covers.
struct checkpoint_manifest {
  std::uint64_t id = 0;
  std::int64_t created_ms = 0;
  std::uint32_t profile_shards = 0;
  std::uint32_t item_shards = 0;
  /// Per profile shard: the last log seq applied to its snapshot.
  std::vector<std::uint64_t> profile_seq;
  /// Per item shard, per profile shard: the last delta seq applied.
  std::vector<std::vector<std::uint64_t>> item_applied;
  /// Last item-metadata record applied to every item shard's snapshot.
  std::uint64_t meta_seq = 0;
  std::uint64_t events_applied = 0;
  std::uint64_t users = 0;
  std::uint64_t items = 0;
  /// Per item shard: the last item metadata operation its snapshot holds
  /// (docs/replication.md, "Stage 1b"). Empty in manifests written before
  /// it existed (the item shards then hold meta_seq).
  std::vector<std::uint64_t> item_meta_applied;
};

struct checkpoint_data {
  checkpoint_manifest manifest;
  std::vector<std::string> profile_blobs;  ///< one per profile shard
  std::vector<std::string> item_blobs;     ///< one per item shard
};

/// Writes a checkpoint under `root` (created if needed). Returns the bytes
/// written. Throws std::runtime_error (the partial .tmp directory is removed).
std::uint64_t write_checkpoint(const std::string& root, const checkpoint_data& data, bool sync);

/// Ids of the complete checkpoints under `root`, newest first.
std::vector<std::uint64_t> list_checkpoints(const std::string& root);

/// Reads and checks checkpoint `id` (every file framed and consistent with
/// the manifest). Throws std::runtime_error naming what is wrong.
checkpoint_data read_checkpoint(const std::string& root, std::uint64_t id);

/// Reads and checks only checkpoint `id`'s MANIFEST. Throws
/// std::runtime_error.
checkpoint_manifest read_manifest(const std::string& root, std::uint64_t id);

/// Deletes all but the newest `keep` checkpoints (and checkpoint
/// `also_keep`, when not 0) and any leftover .tmp directories. Returns how
/// many checkpoints were deleted.
std::size_t prune_checkpoints(const std::string& root, std::size_t keep,
                              std::uint64_t also_keep = 0);

/// Path of checkpoint `id`'s directory.
std::string checkpoint_path(const std::string& root, std::uint64_t id);

}  // namespace rtrec::storage
