#include "storage/snapshot.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "storage/codec.hpp"
#include "storage/file_ops.hpp"
#include "storage/whole_file.hpp"

namespace fs = std::filesystem;

namespace rtrec::storage {

namespace {

constexpr char file_magic[8] = {'R', 'T', 'R', 'E', 'C', 'S', 'N', 'P'};
constexpr std::size_t file_header = 32;

/// A framed file's header after its magic, up to the header's own CRC (which
/// covers the magic and these fields).
struct frame_fields {
  std::uint32_t version = snapshot_format_version;
  std::uint32_t kind = 0;
  std::uint64_t length = 0;
  std::uint32_t crc = 0;  ///< crc32 of the payload

  template <class A>
  void fields(A& a) {
    a.value(version);
    a.value(kind);
    a.value(length);
    a.value(crc);
  }
};

const char* kind_name(blob_kind k) {
  switch (k) {
    case blob_kind::profile_shard: return "profile shard snapshot";
    case blob_kind::item_shard: return "item shard snapshot";
    case blob_kind::manifest: return "checkpoint manifest";
    case blob_kind::identity: return "data directory identity";
    case blob_kind::node: return "cluster node identity";
    case blob_kind::cluster_map: return "cluster map acceptor";
  }
  return "unknown";
}

[[noreturn]] void fail(const std::string& path, const std::string& what) {
  throw std::runtime_error(path + ": " + what);
}

std::string id_name(std::uint64_t id) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%020llu", static_cast<unsigned long long>(id));
  return buf;
}

}  // namespace

std::string checkpoint_path(const std::string& root, std::uint64_t id) {
  return (fs::path{root} / id_name(id)).string();
}

void write_framed_file(const std::string& path, blob_kind kind, std::string_view payload,
                       bool sync) {
  std::string header(file_magic, sizeof file_magic);
  writer w{header};
  frame_fields f{snapshot_format_version, static_cast<std::uint32_t>(kind), payload.size(),
                 crc32(payload)};
  f.fields(w);
  w.value(crc32(std::string_view{header}.substr(0, 28)));
  const auto tmp = path + ".tmp";
  int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    fail(tmp, std::string{"cannot create: "} + std::strerror(errno));
  int rc = write_all(posix_file_ops(), fd, header.data(), header.size());
  if (rc == 0)
    rc = write_all(posix_file_ops(), fd, payload.data(), payload.size());
  if (rc == 0 && sync && ::fsync(fd) != 0)
    rc = errno;
  ::close(fd);
  if (rc != 0) {
    ::unlink(tmp.c_str());
    fail(tmp, std::string{"cannot write: "} + std::strerror(rc) + " (free disk space?)");
  }
  if (::rename(tmp.c_str(), path.c_str()) != 0) {
    rc = errno;
    ::unlink(tmp.c_str());
    fail(path, std::string{"cannot rename into place: "} + std::strerror(rc));
  }
  if (sync)
    sync_dir(fs::path{path}.parent_path().c_str());
}

std::string read_framed_file(const std::string& path, blob_kind kind) {
  std::string data;
  if (const int err = read_whole_file(path, data))
    fail(path, std::string{"cannot open or read: "} + std::strerror(err));
  if (data.size() < file_header)
    fail(path, "too short for a " + std::string{kind_name(kind)} + " (" +
                 std::to_string(data.size()) + " bytes)");
  if (std::memcmp(data.data(), file_magic, sizeof file_magic) != 0)
    fail(path, "not written by rtrec (bad magic number); refusing to load it");
  reader r{std::string_view{data}.substr(8, file_header - 8)};
  frame_fields f;
  f.fields(r);
  const auto hcrc = r.get<std::uint32_t>();
  const auto version = f.version;
  const auto k = f.kind;
  const auto len = f.length;
  const auto crc = f.crc;
  if (crc32(std::string_view{data}.substr(0, 28)) != hcrc)
    fail(path, "header CRC mismatch (the file is damaged)");
  if (version > snapshot_format_version)
    fail(path, "format version " + std::to_string(version) + " is newer than this build reads (" +
                 std::to_string(snapshot_format_version) +
                 "); run the rtrec version that wrote it or a newer one");
  if (version < 1)
    fail(path, "format version " + std::to_string(version) +
                 " is older than any this build reads (1.." +
                 std::to_string(snapshot_format_version) + ")");
  if (k != static_cast<std::uint32_t>(kind))
    fail(path, "holds kind " + std::to_string(k) + ", expected a " + kind_name(kind));
  if (len != data.size() - file_header)
    fail(path, "payload length " + std::to_string(len) + " but " +
                 std::to_string(data.size() - file_header) + " bytes follow the header "
                 "(truncated or extended)");
  std::string payload = data.substr(file_header);
  if (crc32(payload) != crc)
    fail(path, "payload CRC mismatch (the file is damaged)");
  return payload;
}

namespace {

/// A manifest's fields: id, created_ms, the two shard counts, then per
/// profile shard its seq, per item shard per profile shard the applied seq,
/// then meta_seq, events_applied, users, items, and (stage 1b) per item
/// shard the last item metadata operation applied.
template <class A, class Manifest>
void manifest_fields(A& a, Manifest& m) {
  a.value(m.id);
  a.value(m.created_ms);
  a.value(m.profile_shards);
  a.value(m.item_shards);
  if constexpr (A::loading) {
    if (m.profile_shards == 0 || m.item_shards == 0 || m.profile_shards > 65536 ||
        m.item_shards > 65536)
      throw corrupt("impossible shard counts");
    const auto seqs = std::uint64_t{m.profile_shards} * (std::uint64_t{m.item_shards} + 1);
    if (seqs > a.left() / sizeof(std::uint64_t))
      throw corrupt("truncated: " + std::to_string(seqs) + " sequence numbers, " +
                    std::to_string(a.left()) + " bytes left");
    m.profile_seq.assign(m.profile_shards, 0);
    m.item_applied.assign(m.item_shards, std::vector<std::uint64_t>(m.profile_shards, 0));
  }
  for (auto& s : m.profile_seq)
    a.value(s);
  for (auto& v : m.item_applied)
    for (auto& s : v)
      a.value(s);
  a.value(m.meta_seq);
  a.value(m.events_applied);
  a.value(m.users);
  a.value(m.items);
  // Then, since stage 1b (docs/replication.md), per item shard the last
  // item metadata operation applied; absent in older manifests.
  if constexpr (A::loading) {
    if (a.left() == 0)
      return;
    if (a.left() != std::uint64_t{m.item_shards} * sizeof(std::uint64_t))
      throw corrupt("item metadata positions: " + std::to_string(a.left()) + " bytes for "
                    + std::to_string(m.item_shards) + " item shards");
    m.item_meta_applied.assign(m.item_shards, 0);
  } else if (!m.item_meta_applied.empty() && m.item_meta_applied.size() != m.item_shards) {
    throw std::logic_error("manifest: item_meta_applied has "
                           + std::to_string(m.item_meta_applied.size()) + " entries for "
                           + std::to_string(m.item_shards) + " item shards");
  }
  for (auto& s : m.item_meta_applied)
    a.value(s);
}

std::string encode_manifest(const checkpoint_manifest& m) {
  std::string out;
  writer w{out};
  manifest_fields(w, m);
  return out;
}

checkpoint_manifest decode_manifest(std::string_view in) {
  reader r{in};
  checkpoint_manifest m;
  manifest_fields(r, m);
  if (!r.done())
    throw corrupt("trailing bytes");
  return m;
}

}  // namespace

std::uint64_t write_checkpoint(const std::string& root, const checkpoint_data& data, bool sync) {
  const auto final_dir = checkpoint_path(root, data.manifest.id);
  const auto tmp_dir = final_dir + ".tmp";
  std::error_code ec;
  fs::create_directories(root, ec);
  fs::remove_all(tmp_dir, ec);
  if (!fs::create_directories(tmp_dir, ec) || ec)
    throw std::runtime_error("snapshot: cannot create " + tmp_dir + ": " + ec.message());
  std::uint64_t bytes = 0;
  try {
    for (std::size_t p = 0; p < data.profile_blobs.size(); ++p) {
      write_framed_file(tmp_dir + "/profile-" + std::to_string(p) + ".snap",
                        blob_kind::profile_shard, data.profile_blobs[p], sync);
      bytes += data.profile_blobs[p].size() + file_header;
    }
    for (std::size_t i = 0; i < data.item_blobs.size(); ++i) {
      write_framed_file(tmp_dir + "/item-" + std::to_string(i) + ".snap", blob_kind::item_shard,
                        data.item_blobs[i], sync);
      bytes += data.item_blobs[i].size() + file_header;
    }
    auto manifest = encode_manifest(data.manifest);
    write_framed_file(tmp_dir + "/MANIFEST", blob_kind::manifest, manifest, sync);
    bytes += manifest.size() + file_header;
    fs::rename(tmp_dir, final_dir);
    if (sync)
      sync_dir(root.c_str());
  } catch (const std::exception& e) {
    fs::remove_all(tmp_dir, ec);
    throw std::runtime_error(std::string{"snapshot: checkpoint "} + std::to_string(data.manifest.id) +
                             " not written: " + e.what());
  }
  return bytes;
}

std::vector<std::uint64_t> list_checkpoints(const std::string& root) {
  std::vector<std::uint64_t> ids;
  std::error_code ec;
  if (!fs::exists(root, ec))
    return ids;
  for (auto& entry : fs::directory_iterator(root, ec)) {
    auto name = entry.path().filename().string();
    if (!entry.is_directory() || name.size() != 20 ||
        !std::all_of(name.begin(), name.end(), [](char c) { return c >= '0' && c <= '9'; }))
      continue;
    ids.push_back(std::stoull(name));
  }
  std::sort(ids.rbegin(), ids.rend());
  return ids;
}

checkpoint_manifest read_manifest(const std::string& root, std::uint64_t id) {
  const auto dir = checkpoint_path(root, id);
  auto manifest_bytes = read_framed_file(dir + "/MANIFEST", blob_kind::manifest);
  checkpoint_manifest m;
  try {
    m = decode_manifest(manifest_bytes);
  } catch (const corrupt& e) {
    fail(dir + "/MANIFEST", std::string{"malformed: "} + e.what());
  }
  if (m.id != id)
    fail(dir + "/MANIFEST", "names checkpoint " + std::to_string(m.id));
  return m;
}

checkpoint_data read_checkpoint(const std::string& root, std::uint64_t id) {
  const auto dir = checkpoint_path(root, id);
  checkpoint_data out;
  out.manifest = read_manifest(root, id);
  for (std::uint32_t p = 0; p < out.manifest.profile_shards; ++p)
    out.profile_blobs.push_back(
      read_framed_file(dir + "/profile-" + std::to_string(p) + ".snap", blob_kind::profile_shard));
  for (std::uint32_t i = 0; i < out.manifest.item_shards; ++i)
    out.item_blobs.push_back(
      read_framed_file(dir + "/item-" + std::to_string(i) + ".snap", blob_kind::item_shard));
  return out;
}

std::size_t prune_checkpoints(const std::string& root, std::size_t keep,
                              std::uint64_t also_keep) {
  std::error_code ec;
  std::size_t removed = 0;
  auto ids = list_checkpoints(root);
  for (std::size_t k = keep; k < ids.size(); ++k) {
    if (ids[k] == also_keep)
      continue;
    fs::remove_all(checkpoint_path(root, ids[k]), ec);
    ++removed;
  }
  if (fs::exists(root, ec))
    for (auto& entry : fs::directory_iterator(root, ec)) {
      auto name = entry.path().filename().string();
      if (entry.is_directory() && name.size() > 4 && name.compare(name.size() - 4, 4, ".tmp") == 0)
        fs::remove_all(entry.path(), ec);
    }
  return removed;
}

}  // namespace rtrec::storage
