#include "storage/map_store.hpp"

#include <filesystem>
#include <stdexcept>

#include "storage/codec.hpp"
#include "storage/snapshot.hpp"

namespace fs = std::filesystem;

namespace rtrec::storage {

std::string cluster_file_path(const std::string& data_dir) {
  return (fs::path{data_dir} / "CLUSTER").string();
}

std::optional<engine::map_acceptor> load_acceptor(const std::string& data_dir) {
  const auto path = cluster_file_path(data_dir);
  std::error_code ec;
  if (!fs::exists(path, ec))
    return std::nullopt;
  const auto payload = read_framed_file(path, blob_kind::cluster_map);
  engine::map_acceptor a;
  try {
    reader r{payload};
    a.fields(r);
    if (!r.done())
      throw corrupt(std::to_string(r.left()) + " bytes after its last field");
  } catch (const corrupt& e) {
    throw std::runtime_error(path + ": the stored cluster map does not decode (" + e.what()
                             + "); the file is damaged: restore it from a backup, or remove "
                               "the node's data directory and let it rejoin empty");
  }
  if (auto why = engine::check_map(a.accepted); !why.empty())
    throw std::runtime_error(path + ": the stored cluster map is invalid (" + why
                             + "); restore the file from a backup, or remove the node's data "
                               "directory and let it rejoin empty");
  return a;
}

void store_acceptor(const std::string& data_dir, const engine::map_acceptor& a, bool sync) {
  std::string payload;
  writer w{payload};
  auto copy = a;  // fields() serves reading too: not const
  copy.fields(w);
  write_framed_file(cluster_file_path(data_dir), blob_kind::cluster_map, payload, sync);
}

}  // namespace rtrec::storage
