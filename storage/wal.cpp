#include "storage/wal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <stdexcept>

#include "storage/codec.hpp"
#include "storage/whole_file.hpp"

namespace fs = std::filesystem;

namespace rtrec::storage {

namespace {

constexpr char segment_magic[8] = {'R', 'T', 'R', 'E', 'C', 'W', 'A', 'L'};
/// The format version this build writes; it reads 1 and 2 (version 1
/// bodies have no epoch).
constexpr std::uint32_t segment_version = 2;
constexpr std::uint32_t oldest_segment_version = 1;
constexpr std::size_t segment_header = 16;
constexpr std::size_t record_header = 8;                       // length + crc
constexpr std::size_t body_header_v1 = 1 + 4 + 8 + 8;          // kind stream seq time
constexpr std::size_t body_header_v2 = 1 + 4 + 8 + 8 + 8;      // kind stream seq epoch time

constexpr std::size_t body_header(std::uint32_t version) {
  return version >= 2 ? body_header_v2 : body_header_v1;
}
constexpr std::uint32_t max_record = 256u << 20;               // sanity bound on length

/// A segment's header after its magic: u32 version, u32 reserved (0).
struct segment_fields {
  std::uint32_t version = segment_version;
  std::uint32_t reserved = 0;

  template <class A>
  void fields(A& a) {
    a.value(version);
    a.value(reserved);
  }
};

/// A record: u32 body length, u32 crc32(body); the body is this header
/// (kind, stream, seq, time) then the payload.
struct record_frame {
  std::uint32_t length = 0;
  std::uint32_t crc = 0;

  template <class A>
  void fields(A& a) {
    a.value(length);
    a.value(crc);
  }
};

/// The fields of a record body before its payload (body_header(version)
/// bytes).
template <class A, class Record>
void record_body_fields(A& a, Record& r, std::uint32_t version) {
  a.value(r.kind);
  a.value(r.stream);
  a.value(r.seq);
  if (version >= 2)
    a.value(r.epoch);
  a.value(r.time_ms);
}

/// A truncate_stream marker's payload.
struct marker_fields {
  std::uint64_t keep = 0;

  template <class A>
  void fields(A& a) {
    a.value(keep);
  }
};

std::string segment_name(std::uint64_t number) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "wal-%016llu.log", static_cast<unsigned long long>(number));
  return buf;
}

bool parse_segment_name(const std::string& name, std::uint64_t& number) {
  if (name.size() != 24 || name.compare(0, 4, "wal-") != 0 || name.compare(20, 4, ".log") != 0)
    return false;
  number = 0;
  for (std::size_t k = 4; k < 20; ++k) {
    if (name[k] < '0' || name[k] > '9')
      return false;
    number = number * 10 + static_cast<std::uint64_t>(name[k] - '0');
  }
  return true;
}

std::string errno_text(int err) {
  return std::string{std::strerror(err)} + " (errno " + std::to_string(err) + ")";
}

}  // namespace

bool parse_sync_policy(const std::string& s, sync_policy& out) {
  if (s == "fsync")
    out = sync_policy::fsync;
  else if (s == "none")
    out = sync_policy::none;
  else
    return false;
  return true;
}

bool parse_corruption_policy(const std::string& s, corruption_policy& out) {
  if (s == "strict")
    out = corruption_policy::strict;
  else if (s == "truncate")
    out = corruption_policy::truncate;
  else
    return false;
  return true;
}

void frame_record(const log_record& r, std::string& out) {
  // The body goes after room for the frame, which is filled in once the
  // body's length and CRC are known.
  const auto start = out.size();
  out.append(record_header, '\0');
  writer w{out};
  record_body_fields(w, r, segment_version);
  out.append(r.payload);
  record_frame f;
  f.length = static_cast<std::uint32_t>(out.size() - start - record_header);
  f.crc = crc32(std::string_view{out}.substr(start + record_header, f.length));
  std::string frame;
  writer fw{frame};
  f.fields(fw);
  out.replace(start, record_header, frame);
}

log_record truncate_marker(std::uint32_t stream, std::uint64_t keep, std::uint64_t upto,
                           std::uint64_t epoch, std::int64_t time_ms) {
  log_record r;
  r.kind = record_kind::truncate_stream;
  r.stream = stream;
  r.seq = upto;
  r.epoch = epoch;
  r.time_ms = time_ms;
  writer w{r.payload};
  marker_fields{keep}.fields(w);
  return r;
}

// -- writer -------------------------------------------------------------------

wal::wal(wal_options opts, std::vector<segment_info> existing)
  : opts_(std::move(opts)), ops_(opts_.ops ? opts_.ops : &posix_file_ops()),
    segments_(std::move(existing)) {
  std::error_code ec;
  fs::create_directories(opts_.dir, ec);
  if (ec)
    throw std::runtime_error("wal: cannot create directory " + opts_.dir + ": " + ec.message());
  open_segment();
  if (!failed_.empty())
    throw std::runtime_error(failed_);
  writer_ = std::thread([this] { run(); });
}

wal::~wal() {
  close();
}

void wal::open_segment() {
  std::uint64_t number = current_.number + 1;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!segments_.empty())
      number = std::max(number, segments_.back().number + 1);
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
    std::lock_guard<std::mutex> guard{mtx_};
    segments_.push_back(std::move(current_));
  }
  segment_info seg;
  seg.number = number;
  seg.path = (fs::path{opts_.dir} / segment_name(number)).string();
  int fd = ::open(seg.path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    auto why = "wal: cannot create segment " + seg.path + ": " + errno_text(errno) +
               "; check the data directory's permissions and free space, then restart";
    std::lock_guard<std::mutex> guard{mtx_};  // stats() reads failed_
    failed_ = std::move(why);
    return;
  }
  std::string header(segment_magic, sizeof segment_magic);
  writer w{header};
  segment_fields{}.fields(w);
  int rc = write_all(*ops_, fd, header.data(), header.size());
  if (rc == 0 && opts_.sync == sync_policy::fsync)
    rc = ops_->sync(fd) == 0 ? 0 : errno;
  if (rc == 0 && opts_.sync == sync_policy::fsync)
    rc = sync_dir(opts_.dir.c_str());
  if (rc != 0) {
    ::close(fd);
    ::unlink(seg.path.c_str());
    auto why = "wal: cannot initialise segment " + seg.path + ": " + errno_text(rc) +
               "; free disk space or fix the disk, then restart";
    std::lock_guard<std::mutex> guard{mtx_};  // stats() reads failed_
    failed_ = std::move(why);
    return;
  }
  seg.bytes = segment_header;
  fd_ = fd;
  current_ = std::move(seg);
  std::lock_guard<std::mutex> guard{mtx_};
  stats_.segments = segments_.size() + 1;
}

void wal::append(log_record r, wal_done done) {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (!closing_) {
      queue_.push_back({std::move(r), std::move(done)});
      cv_.notify_one();
      return;
    }
  }
  done("wal: the log is closed (rtrec is shutting down)");
}

void wal::run() {
  std::vector<pending> group;
  for (;;) {
    {
      std::unique_lock<std::mutex> guard{mtx_};
      cv_.wait(guard, [&] { return !queue_.empty() || closing_; });
      if (queue_.empty() && closing_)
        break;
      group.swap(queue_);
    }
    auto err = write_group(group);
    for (auto& p : group)
      p.done(err);
    group.clear();
  }
  if (fd_ >= 0) {
    ::close(fd_);
    fd_ = -1;
  }
}

std::string wal::write_group(std::vector<pending>& group) {
  auto fail = [&](std::string why) {
    std::lock_guard<std::mutex> guard{mtx_};
    stats_.failures += group.size();
    stats_.failed = !failed_.empty();
    return why;
  };
  if (!failed_.empty())
    return fail(failed_);
  std::string buf;
  for (auto& p : group)
    frame_record(p.record, buf);
  if (current_.bytes > segment_header && current_.bytes + buf.size() > opts_.segment_bytes) {
    open_segment();
    if (!failed_.empty()) {
      spdlog::error("{}", failed_);
      return fail(failed_);
    }
  }
  auto& cur = current_;
  const auto start = static_cast<off_t>(cur.bytes);
  int rc = write_all(*ops_, fd_, buf.data(), buf.size());
  const char* step = "write";
  if (rc == 0 && opts_.sync == sync_policy::fsync) {
    if (ops_->sync(fd_) != 0) {
      rc = errno;
      step = "fdatasync";
    }
  }
  if (rc != 0) {
    // Take the group back out so nothing unacknowledged stays in the log.
    std::string why = "wal: " + std::string{step} + " of " + std::to_string(group.size()) +
                      " records to " + cur.path + " failed: " + errno_text(rc);
    if (ops_->truncate(fd_, start) != 0 ||
        (opts_.sync == sync_policy::fsync && ops_->sync(fd_) != 0) ||
        ::lseek(fd_, start, SEEK_SET) < 0) {
      {
        std::lock_guard<std::mutex> guard{mtx_};  // stats() reads failed_
        failed_ = why + "; the log could not be rolled back, so it refuses every later write: "
                        "fix the disk and restart rtrec";
      }
      spdlog::critical("{}", failed_);
      return fail(failed_);
    }
    spdlog::error("{}; those records were not acknowledged (free disk space or check the "
                  "disk; later writes are retried)",
                  why);
    return fail(why + "; not acknowledged, retry later");
  }
  std::lock_guard<std::mutex> guard{mtx_};
  cur.bytes += buf.size();
  for (auto& p : group) {
    auto& m = cur.max_seq[p.record.stream];
    m = std::max(m, p.record.seq);
  }
  stats_.records += group.size();
  stats_.bytes += buf.size();
  ++stats_.groups;
  return {};
}

std::size_t wal::release(const std::map<std::uint32_t, std::uint64_t>& covered) {
  std::vector<std::string> doomed;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    // Only closed segments (never current_, the open one).
    for (std::size_t k = 0; k < segments_.size();) {
      bool all = true;
      for (auto& [stream, seq] : segments_[k].max_seq) {
        auto it = covered.find(stream);
        if (it == covered.end() || it->second < seq) {
          all = false;
          break;
        }
      }
      if (all) {
        doomed.push_back(segments_[k].path);
        segments_.erase(segments_.begin() + static_cast<std::ptrdiff_t>(k));
      } else {
        ++k;
      }
    }
    stats_.segments_deleted += doomed.size();
    stats_.segments = segments_.size() + 1;
  }
  for (auto& p : doomed) {
    std::error_code ec;
    fs::remove(p, ec);
    if (ec)
      spdlog::warn("wal: could not delete covered segment {}: {} (it is harmless but takes "
                   "space)",
                   p, ec.message());
  }
  if (!doomed.empty())
    sync_dir(opts_.dir.c_str());
  return doomed.size();
}

void wal::close() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    if (closed_)
      return;
    closed_ = true;
    closing_ = true;
  }
  cv_.notify_one();
  if (writer_.joinable())
    writer_.join();
}

wal_stats wal::stats() const {
  std::lock_guard<std::mutex> guard{mtx_};
  auto s = stats_;
  s.failed = !failed_.empty();
  return s;
}

// -- reader -------------------------------------------------------------------

namespace {

enum class parse_result { ok, bad, end };

/// How parse_at reads a record: with its CRC checked (once per record in
/// scan_log, whose second pass reads what the first one checked), and with
/// its payload copied (a marker's always is).
struct parse_mode {
  bool check_crc = true;
  bool payload = true;
};

// Parses the record at `pos` of `data`, a segment of format `version`; on ok
// fills `r` and `next`.
parse_result parse_at(std::string_view data, std::uint32_t version, std::size_t pos,
                      log_record& r, std::size_t& next, std::string& why,
                      parse_mode mode = {}) {
  if (pos == data.size())
    return parse_result::end;
  const auto head = body_header(version);
  if (data.size() - pos < record_header + head) {
    why = "record header cut short";
    return parse_result::bad;
  }
  record_frame f;
  reader fr{data.substr(pos, record_header)};
  f.fields(fr);
  const auto len = f.length;
  const auto crc = f.crc;
  if (len < head || len > max_record) {
    why = "impossible record length " + std::to_string(len);
    return parse_result::bad;
  }
  if (data.size() - pos - record_header < len) {
    why = "record of " + std::to_string(len) + " bytes cut short";
    return parse_result::bad;
  }
  auto body = data.substr(pos + record_header, len);
  const auto kind = static_cast<std::uint8_t>(body[0]);
  if (kind < 1 || kind > last_record_kind) {
    why = "unknown record kind " + std::to_string(kind);
    return parse_result::bad;
  }
  if (mode.check_crc && crc32(body) != crc) {
    why = "CRC mismatch";
    return parse_result::bad;
  }
  reader rd{body};
  r.epoch = 0;  // version 1 bodies have none
  record_body_fields(rd, r, version);  // the kind was checked above
  if (mode.payload || r.kind == record_kind::truncate_stream)
    r.payload.assign(body.substr(head));
  else
    r.payload.clear();
  next = pos + record_header + len;
  return parse_result::ok;
}

// True when some valid record starts after `pos` in `data`.
bool valid_record_after(std::string_view data, std::uint32_t version, std::size_t pos) {
  log_record r;
  std::size_t next = 0;
  std::string why;
  for (std::size_t p = pos + 1; p + record_header + body_header(version) <= data.size(); ++p)
    if (parse_at(data, version, p, r, next, why, {true, false}) == parse_result::ok)
      return true;
  return false;
}

std::string read_file(const std::string& path) {
  std::string data;
  if (const int err = read_whole_file(path, data))
    throw std::runtime_error("wal: cannot read " + path + ": " + errno_text(err));
  return data;
}

void truncate_file(const std::string& path, std::uint64_t size) {
  if (::truncate(path.c_str(), static_cast<off_t>(size)) != 0)
    throw std::runtime_error("wal: cannot truncate " + path + " to " + std::to_string(size) +
                             " bytes: " + errno_text(errno));
  int fd = ::open(path.c_str(), O_WRONLY | O_CLOEXEC);
  if (fd >= 0) {
    ::fsync(fd);
    ::close(fd);
  }
}

// A segment file found in the log directory: its number and path.
using segment_file = std::pair<std::uint64_t, std::string>;

// Returns the segment files in `dir`, by number. Throws when it cannot be
// listed.
std::vector<segment_file> list_segments(const std::string& dir) {
  std::error_code ec;
  std::vector<segment_file> files;
  for (auto& entry : fs::directory_iterator(dir, ec)) {
    std::uint64_t number = 0;
    if (entry.is_regular_file() && parse_segment_name(entry.path().filename().string(), number))
      files.emplace_back(number, entry.path().string());
  }
  if (ec)
    throw std::runtime_error("wal: cannot list " + dir + ": " + ec.message());
  std::sort(files.begin(), files.end());
  return files;
}

// True when `data` starts with a segment header's magic.
bool has_magic(std::string_view data) {
  return data.size() >= segment_header &&
         std::memcmp(data.data(), segment_magic, sizeof segment_magic) == 0;
}

// The format version a segment's header names (its magic checked by the
// caller). Throws when this build cannot read it.
std::uint32_t header_version(std::string_view data, const std::string& path) {
  segment_fields header;
  reader hr{data.substr(sizeof segment_magic, segment_header - sizeof segment_magic)};
  header.fields(hr);
  const auto version = header.version;
  if (version < oldest_segment_version || version > segment_version)
    throw std::runtime_error("wal: " + path + " has format version " + std::to_string(version) +
                             ", this build reads versions " +
                             std::to_string(oldest_segment_version) + " to " +
                             std::to_string(segment_version) +
                             "; run the rtrec version that wrote it");
  return version;
}

// True when a segment after files[k] holds a valid record. Asked lazily (only
// when a bad record is found); the segments are read one at a time.
bool later_has_records(const std::vector<segment_file>& files, std::size_t k) {
  for (std::size_t j = k + 1; j < files.size(); ++j) {
    auto data = read_file(files[j].second);
    const auto version =
      has_magic(data) ? header_version(data, files[j].second) : segment_version;
    if (data.size() > segment_header && valid_record_after(data, version, segment_header - 1))
      return true;
  }
  return false;
}

// Checks the header of segment `path`, whose contents are `data`, and
// returns its format version; 0 when the segment is the last one (`last`)
// and its header never made it to disk: it is removed, with a warning in
// `rep`. Throws on a bad magic anywhere else and on an unknown version.
std::uint32_t check_segment_header(const std::string& data, const std::string& path, bool last,
                                   scan_report& rep) {
  if (!has_magic(data)) {
    // A segment whose header never made it to disk (crash while rolling:
    // short, or extended with zeros by the file system).
    const bool zeros = data.size() >= segment_header &&
                       std::all_of(data.begin(), data.begin() + segment_header,
                                   [](char c) { return c == '\0'; }) &&
                       !valid_record_after(data, segment_version, segment_header - 1);
    if (last && (data.size() < segment_header || zeros)) {
      rep.warnings.push_back("wal: " + path + " has an incomplete header (" +
                             std::to_string(data.size()) + " bytes); removed");
      std::error_code ec;
      fs::remove(path, ec);
      return 0;
    }
    throw std::runtime_error("wal: " + path + " is not an rtrec log segment (bad magic); move "
                             "it out of the data directory");
  }
  return header_version(data, path);
}

// Handles the bad record (`why`) at `pos` of segment files[k] (format
// `version`), whose contents are `data`. A torn tail (no valid record after
// it, in this segment or a later one) is dropped. A corrupt record followed
// by valid ones throws under policy strict; under truncate it is dropped with
// everything after it, later segments included. Returns true when later
// segments were removed.
bool drop_bad_record(std::string& data, std::uint32_t version, std::size_t pos,
                     const std::string& why, const std::vector<segment_file>& files,
                     std::size_t k, corruption_policy policy, scan_report& rep) {
  const auto& path = files[k].second;
  const bool more = valid_record_after(data, version, pos) || later_has_records(files, k);
  const auto dropped = data.size() - pos;
  if (more && policy == corruption_policy::strict)
    throw std::runtime_error(
      "wal: " + path + " offset " + std::to_string(pos) + ": corrupt record (" + why +
      ") followed by valid records; replaying past it would lose acknowledged events. "
      "Restore the data directory from a backup, or start with --wal-recovery truncate "
      "to drop everything from this record on");
  rep.warnings.push_back(
    "wal: " + path + " offset " + std::to_string(pos) + ": " +
    (more ? "corrupt record (" + why + "); dropped it and everything after it "
            "(--wal-recovery truncate)"
          : "torn record at the tail (" + why + "); dropped (it was never acknowledged)") +
    ", " + std::to_string(dropped) + " bytes");
  rep.dropped_bytes += dropped;
  truncate_file(path, pos);
  data.resize(pos);
  if (more) {
    std::error_code ec;
    for (std::size_t j = k + 1; j < files.size(); ++j) {
      rep.warnings.push_back("wal: removed later segment " + files[j].second);
      fs::remove(files[j].second, ec);
    }
  }
  return more;
}

/// Where a record starts: its segment's number and its offset there.
using log_pos = std::pair<std::uint64_t, std::size_t>;

/// The truncate_stream markers of a log, to tell which records they void:
/// a record of stream X at position p with seq q is void when a marker of X
/// after p keeps less than q. Markers are added in log order; seal() then
/// makes each lookup one binary search.
class void_index {
 public:
  /// Notes the marker `r` found at `pos` of `path`. Throws when its payload
  /// is not a marker's.
  void add(const log_record& r, log_pos pos, const std::string& path) {
    marker_fields m;
    try {
      reader rd{r.payload};
      m.fields(rd);
      if (!rd.done())
        throw corrupt{"trailing bytes"};
    } catch (const corrupt& e) {
      throw std::runtime_error("wal: " + path + " offset " + std::to_string(pos.second) +
                               ": truncate_stream marker of stream " +
                               std::to_string(r.stream) + " has a bad payload (" + e.what() +
                               "); the log was not written by rtrec: restore the data "
                               "directory from a backup");
    }
    by_stream_[r.stream].push_back({pos, m.keep, m.keep});
  }

  /// Computes, for each marker, the least keep of it and every later one.
  void seal() {
    for (auto& [stream, marks] : by_stream_)
      for (std::size_t k = marks.size(); k-- > 1;)
        marks[k - 1].min_keep = std::min(marks[k - 1].keep, marks[k].min_keep);
  }

  bool is_void(const log_record& r, log_pos pos) const {
    auto it = by_stream_.find(r.stream);
    if (it == by_stream_.end())
      return false;
    const auto& marks = it->second;
    auto after = std::upper_bound(marks.begin(), marks.end(), pos,
                                  [](const log_pos& p, const mark& m) { return p < m.pos; });
    return after != marks.end() && after->min_keep < r.seq;
  }

 private:
  struct mark {
    log_pos pos;
    std::uint64_t keep = 0;
    std::uint64_t min_keep = 0;  ///< least keep of this marker and the later ones
  };
  std::map<std::uint32_t, std::vector<mark>> by_stream_;
};

// Checks each record of segment files[k] (contents `data`, format `version`)
// up to the first bad one (see drop_bad_record), noting in `seg` the highest
// seq per stream and its markers in `voids`. Returns true when the scan must
// stop after this segment (the later ones were removed).
bool check_segment(std::string& data, std::uint32_t version,
                   const std::vector<segment_file>& files, std::size_t k,
                   corruption_policy policy, void_index& voids, segment_info& seg,
                   scan_report& rep) {
  std::size_t pos = segment_header;
  for (;;) {
    log_record r;
    std::size_t next = 0;
    std::string why;
    auto res = parse_at(data, version, pos, r, next, why, {true, false});
    if (res == parse_result::end)
      return false;
    if (res == parse_result::bad)
      return drop_bad_record(data, version, pos, why, files, k, policy, rep);
    if (r.kind == record_kind::truncate_stream) {
      voids.add(r, {seg.number, pos}, seg.path);
      ++rep.markers;
    }
    auto& m = seg.max_seq[r.stream];
    m = std::max(m, r.seq);
    pos = next;
  }
}

// Calls `fn` for each record in data[segment_header, end) (checked before,
// or checked now when `mode` says so) that is neither a marker nor void,
// counting the void ones in `voided`. Returns false once `fn` asks to stop.
bool pass_records(std::string_view data, std::uint32_t version, std::uint64_t number,
                  std::size_t end, parse_mode mode, const void_index& voids,
                  std::uint64_t& voided, const std::function<bool(const log_record&)>& fn) {
  data = data.substr(0, end);
  log_record r;
  for (std::size_t pos = segment_header; pos < end;) {
    std::size_t next = 0;
    std::string why;
    if (parse_at(data, version, pos, r, next, why, mode) != parse_result::ok)
      throw std::runtime_error("wal: segment " + std::to_string(number) + " offset " +
                               std::to_string(pos) + " changed while the log was read (" +
                               why + "); read it again");
    const auto at = pos;
    pos = next;
    if (r.kind == record_kind::truncate_stream)
      continue;
    if (voids.is_void(r, {number, at})) {
      ++voided;
      continue;
    }
    if (!fn(r))
      return false;
  }
  return true;
}

// The end of the valid records of a segment's contents: the first record
// that is not complete and valid (the tail being written), noting markers.
std::size_t valid_extent(std::string_view data, std::uint32_t version, std::uint64_t number,
                         const std::string& path, void_index& voids) {
  std::size_t pos = segment_header;
  for (;;) {
    log_record r;
    std::size_t next = 0;
    std::string why;
    if (parse_at(data, version, pos, r, next, why, {true, false}) != parse_result::ok)
      return pos;
    if (r.kind == record_kind::truncate_stream)
      voids.add(r, {number, pos}, path);
    pos = next;
  }
}

}  // namespace

void read_log(const std::string& dir, const std::function<bool(const log_record&)>& fn) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return;
  // First pass: each segment's valid prefix (what the writer has finished)
  // and its markers; the second reads those prefixes again, CRCs checked
  // again (a live log), passing on the records no marker voids.
  struct extent {
    std::uint64_t number;
    std::string path;
    std::uint32_t version;
    std::size_t end;
  };
  std::vector<extent> extents;
  void_index voids;
  for (const auto& [number, path] : list_segments(dir)) {
    const auto data = read_file(path);
    if (!has_magic(data))
      continue;  // a segment being created: nothing in it is durable yet
    const auto version = header_version(data, path);
    extents.push_back({number, path, version, valid_extent(data, version, number, path, voids)});
  }
  voids.seal();
  std::uint64_t voided = 0;
  for (const auto& e : extents) {
    const auto data = read_file(e.path);
    if (data.size() < e.end)
      throw std::runtime_error("wal: " + e.path + " shrank while the log was read; read it "
                               "again");
    if (!pass_records(data, e.version, e.number, e.end, {true, true}, voids, voided, fn))
      return;
  }
}

scan_report scan_log(const std::string& dir, corruption_policy policy,
                     const std::function<void(const log_record&)>& fn) {
  scan_report rep;
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return rep;
  const auto files = list_segments(dir);
  // First pass: every record's CRC, a torn or corrupt tail dropped, the
  // markers noted (contents read one segment at a time, payloads not kept).
  void_index voids;
  std::vector<std::uint32_t> versions;
  for (std::size_t k = 0; k < files.size(); ++k) {
    const auto& path = files[k].second;
    auto data = read_file(path);
    const auto version = check_segment_header(data, path, k + 1 == files.size(), rep);
    if (version == 0)
      continue;
    segment_info seg;
    seg.number = files[k].first;
    seg.path = path;
    const bool stop_all = check_segment(data, version, files, k, policy, voids, seg, rep);
    seg.bytes = data.size();
    rep.bytes += seg.bytes;
    rep.segments.push_back(std::move(seg));
    versions.push_back(version);
    if (stop_all)
      break;
  }
  voids.seal();
  // Second pass: the checked records again, void ones and markers left out.
  for (std::size_t k = 0; k < rep.segments.size(); ++k) {
    const auto& seg = rep.segments[k];
    const auto data = read_file(seg.path);
    if (data.size() < seg.bytes)
      throw std::runtime_error("wal: " + seg.path + " shrank during recovery; is another "
                               "rtrec process using this data directory?");
    pass_records(data, versions[k], seg.number, seg.bytes, {false, true}, voids,
                 rep.void_records, [&](const log_record& r) {
                   fn(r);
                   ++rep.records;
                   return true;
                 });
  }
  return rep;
}

}  // namespace rtrec::storage
