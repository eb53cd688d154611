// The data directory's CLUSTER file: a cluster node's map acceptor (the
// highest epoch it promised and the newest map it accepted;
// docs/replication.md, "The map keeper"). Written before the node answers
// a prepare or an accept, so a restarted node never promises an epoch
// twice nor forgets a map it accepted.
//
//   CLUSTER   framed (storage/snapshot.hpp), kind cluster_map: the fields of
//             engine::map_acceptor through the binary codec
#pragma once

#include <optional>
#include <string>

#include "engine/map_agreement.hpp"

namespace rtrec::storage {

/// <data_dir>/CLUSTER.
std::string cluster_file_path(const std::string& data_dir);

/// The acceptor stored in `data_dir`, nullopt when there is no CLUSTER file.
/// Throws std::runtime_error naming the file and what is wrong with it (a
/// damaged frame, bytes that do not decode, a map that fails
/// engine::check_map).
std::optional<engine::map_acceptor> load_acceptor(const std::string& data_dir);

/// Replaces the CLUSTER file by `a` (via a temporary file and a rename; with
/// `sync`, fsynced with its directory before it returns). Throws
/// std::runtime_error naming the file and the step that failed.
void store_acceptor(const std::string& data_dir, const engine::map_acceptor& a, bool sync);

}  // namespace rtrec::storage
