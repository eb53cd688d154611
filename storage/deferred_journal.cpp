// The deferred-events journal (see the header for the format): reading it on
// open, appending adds and done markers, and rewriting it with the live
// entries only.
#include "storage/deferred_journal.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <map>
#include <stdexcept>

#include "storage/codec.hpp"
#include "storage/whole_file.hpp"

namespace rtrec::storage {

namespace {

namespace fs = std::filesystem;

constexpr char magic[8] = {'R', 'T', 'R', 'E', 'C', 'D', 'E', 'F'};
constexpr std::uint32_t version = 1;
constexpr std::size_t header_bytes = 16;
constexpr std::size_t frame_bytes = 8;  // u32 length + u32 crc
constexpr std::uint8_t kind_add = 1;
constexpr std::uint8_t kind_done = 2;
constexpr std::uint32_t max_body = 256u << 20;

std::string errno_text(int err) {
  return std::strerror(err);
}

std::string header() {
  std::string out(magic, sizeof magic);
  writer w{out};
  w.value(version);
  w.value(std::uint32_t{0});
  return out;
}

// Frames `body` as a record.
std::string frame(const std::string& body) {
  std::string out;
  writer w{out};
  w.value(static_cast<std::uint32_t>(body.size()));
  w.value(crc32(body));
  out += body;
  return out;
}

std::string add_record(std::uint64_t seq, std::int64_t due_ms,
                       const std::vector<engine::event>& events) {
  std::string body;
  writer w{body};
  w.value(kind_add);
  w.value(seq);
  w.value(due_ms);
  encode_events(events, body);
  return frame(body);
}

std::string done_record(std::uint64_t seq) {
  std::string body;
  writer w{body};
  w.value(kind_done);
  w.value(seq);
  return frame(body);
}

// Writes `bytes` to a new file `path` and syncs it. Returns 0 or errno.
int write_file(file_ops& ops, const std::string& path, const std::string& bytes) {
  int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0)
    return errno;
  int rc = write_all(ops, fd, bytes.data(), bytes.size());
  if (rc == 0 && ops.sync(fd) != 0)
    rc = errno;
  ::close(fd);
  return rc;
}

}  // namespace

deferred_journal::deferred_journal(std::string dir, sync_policy sync, file_ops* ops)
  : dir_(std::move(dir)), sync_(sync), ops_(ops != nullptr ? ops : &posix_file_ops()) {
  std::error_code ec;
  fs::create_directories(dir_, ec);
  if (ec)
    throw std::runtime_error("deferred journal: cannot create " + dir_ + ": " + ec.message());
  const auto p = path();
  if (!fs::exists(p)) {
    if (int rc = write_file(*ops_, p, header()); rc != 0)
      throw std::runtime_error("deferred journal: cannot create " + p + ": " + errno_text(rc));
    sync_dir(dir_.c_str());
  }
  std::string data;
  if (const int err = read_whole_file(p, data))
    throw std::runtime_error("deferred journal: cannot read " + p + ": " + errno_text(err));
  load(data);
  // Appends go to the end (O_APPEND), after a dropped tail is cut off.
  fd_ = ::open(p.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd_ < 0 || ::ftruncate(fd_, static_cast<off_t>(size_)) != 0)
    throw std::runtime_error("deferred journal: cannot open " + p + " for writing: " +
                             errno_text(errno));
}

deferred_journal::~deferred_journal() {
  if (fd_ >= 0)
    ::close(fd_);
}

std::string deferred_journal::path() const {
  return (fs::path{dir_} / "pending.log").string();
}

// Reads the records of `bytes`; stops (with a warning) at the first torn or
// corrupt one. Sets size_ to the bytes that were read whole.
void deferred_journal::load(const std::string& bytes) {
  if (bytes.size() < header_bytes || bytes.compare(0, header_bytes, header()) != 0)
    throw std::runtime_error("deferred journal: " + path() +
                             " is not a journal of this version (bad header); move it away");
  std::map<std::uint64_t, deferred_entry> live;
  std::size_t pos = header_bytes;
  while (pos < bytes.size()) {
    try {
      reader fr{std::string_view{bytes}.substr(pos)};
      const auto len = fr.get<std::uint32_t>();
      const auto crc = fr.get<std::uint32_t>();
      if (len > max_body)
        throw corrupt("record length " + std::to_string(len) + " is implausible");
      const auto body = fr.raw(len);
      if (crc32(body) != crc)
        throw corrupt("CRC mismatch");
      reader br{body};
      const auto kind = br.get<std::uint8_t>();
      const auto seq = br.get<std::uint64_t>();
      if (kind == kind_add) {
        deferred_entry e{seq, br.get<std::int64_t>(), {}};
        e.events = decode_events(body.substr(body.size() - br.left()));
        live[seq] = std::move(e);
      } else if (kind == kind_done) {
        live.erase(seq);
      } else {
        throw corrupt("unknown record kind " + std::to_string(kind));
      }
      next_seq_ = std::max(next_seq_, seq + 1);
      pos += frame_bytes + len;
      ++records_;
    } catch (const corrupt& e) {
      warnings_.push_back("deferred journal " + path() + ": dropped " +
                          std::to_string(bytes.size() - pos) + " bytes from offset " +
                          std::to_string(pos) + " (" + e.what() + ")");
      break;
    }
  }
  size_ = pos;
  for (auto& [seq, e] : live)
    loaded_.push_back(std::move(e));
}

std::string deferred_journal::append(const std::string& record, bool sync) {
  if (fd_ < 0)
    return "deferred journal " + path() + " is not open";
  int rc = write_all(*ops_, fd_, record.data(), record.size());
  if (rc == 0 && sync && sync_ == sync_policy::fsync && ops_->sync(fd_) != 0)
    rc = errno;
  if (rc != 0) {
    // Cut what may have been written; the next append starts clean.
    if (ops_->truncate(fd_, static_cast<off_t>(size_)) != 0) {
      ::close(fd_);
      fd_ = -1;
    }
    return "deferred journal " + path() + ": " + errno_text(rc);
  }
  size_ += record.size();
  ++records_;
  return {};
}

std::string deferred_journal::add(std::int64_t due_ms, const std::vector<engine::event>& events,
                                  std::uint64_t& seq) {
  auto why = append(add_record(next_seq_, due_ms, events), true);
  if (why.empty())
    seq = next_seq_++;
  return why;
}

std::string deferred_journal::done(std::uint64_t seq) {
  return append(done_record(seq), false);
}

std::string deferred_journal::rewrite(const std::vector<deferred_entry>& live) {
  std::string bytes = header();
  for (const auto& e : live)
    bytes += add_record(e.seq, e.due_ms, e.events);
  const auto tmp = path() + ".tmp";
  if (int rc = write_file(*ops_, tmp, bytes); rc != 0) {
    ::unlink(tmp.c_str());
    return "deferred journal: cannot write " + tmp + ": " + errno_text(rc);
  }
  if (::rename(tmp.c_str(), path().c_str()) != 0)
    return "deferred journal: cannot rename " + tmp + ": " + errno_text(errno);
  sync_dir(dir_.c_str());
  int fd = ::open(path().c_str(), O_WRONLY | O_APPEND | O_CLOEXEC);
  if (fd < 0)
    return "deferred journal: cannot reopen " + path() + ": " + errno_text(errno);
  if (fd_ >= 0)
    ::close(fd_);
  fd_ = fd;
  size_ = bytes.size();
  records_ = live.size();
  return {};
}

}  // namespace rtrec::storage
