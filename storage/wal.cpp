#include "storage/wal.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <stdexcept>

#include "storage/codec.hpp"

namespace fs = std::filesystem;

namespace rtrec::storage {

namespace {

constexpr char segment_magic[8] = {'R', 'T', 'R', 'E', 'C', 'W', 'A', 'L'};
constexpr std::uint32_t segment_version = 1;
constexpr std::size_t segment_header = 16;
constexpr std::size_t record_header = 8;                       // length + crc
constexpr std::size_t body_header = 1 + 4 + 8 + 8;             // kind stream seq time
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

/// The fields of a record body before its payload (body_header bytes).
template <class A, class Record>
void record_body_fields(A& a, Record& r) {
  a.value(r.kind);
  a.value(r.stream);
  a.value(r.seq);
  a.value(r.time_ms);
}

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
  record_body_fields(w, r);
  out.append(r.payload);
  record_frame f;
  f.length = static_cast<std::uint32_t>(out.size() - start - record_header);
  f.crc = crc32(std::string_view{out}.substr(start + record_header, f.length));
  std::string frame;
  writer fw{frame};
  f.fields(fw);
  out.replace(start, record_header, frame);
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

// Parses the record at `pos` of `data`; on ok fills `r` and `next`.
parse_result parse_at(std::string_view data, std::size_t pos, log_record& r, std::size_t& next,
                      std::string& why) {
  if (pos == data.size())
    return parse_result::end;
  if (data.size() - pos < record_header + body_header) {
    why = "record header cut short";
    return parse_result::bad;
  }
  record_frame f;
  reader fr{data.substr(pos, record_header)};
  f.fields(fr);
  const auto len = f.length;
  const auto crc = f.crc;
  if (len < body_header || len > max_record) {
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
  if (crc32(body) != crc) {
    why = "CRC mismatch";
    return parse_result::bad;
  }
  reader rd{body};
  record_body_fields(rd, r);  // the kind was checked above
  r.payload.assign(body.substr(body_header));
  next = pos + record_header + len;
  return parse_result::ok;
}

// True when some valid record starts after `pos` in `data`.
bool valid_record_after(std::string_view data, std::size_t pos) {
  log_record r;
  std::size_t next = 0;
  std::string why;
  for (std::size_t p = pos + 1; p + record_header + body_header <= data.size(); ++p)
    if (parse_at(data, p, r, next, why) == parse_result::ok)
      return true;
  return false;
}

std::string read_file(const std::string& path) {
  std::ifstream in{path, std::ios::binary};
  if (!in)
    throw std::runtime_error("wal: cannot read " + path + ": " + std::strerror(errno));
  std::string data{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
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

// True when a segment after files[k] holds a valid record. Asked lazily (only
// when a bad record is found); the segments are read one at a time.
bool later_has_records(const std::vector<segment_file>& files, std::size_t k) {
  for (std::size_t j = k + 1; j < files.size(); ++j) {
    auto data = read_file(files[j].second);
    if (data.size() > segment_header && valid_record_after(data, segment_header - 1))
      return true;
  }
  return false;
}

// Checks the header of segment `path`, whose contents are `data`. Returns
// false when the segment is the last one (`last`) and its header never made it
// to disk: it is removed, with a warning in `rep`. Throws on a bad magic
// anywhere else and on an unknown format version.
bool check_segment_header(const std::string& data, const std::string& path, bool last,
                          scan_report& rep) {
  if (data.size() < segment_header ||
      std::memcmp(data.data(), segment_magic, sizeof segment_magic) != 0) {
    // A segment whose header never made it to disk (crash while rolling:
    // short, or extended with zeros by the file system).
    const bool zeros = data.size() >= segment_header &&
                       std::all_of(data.begin(), data.begin() + segment_header,
                                   [](char c) { return c == '\0'; }) &&
                       !valid_record_after(data, segment_header - 1);
    if (last && (data.size() < segment_header || zeros)) {
      rep.warnings.push_back("wal: " + path + " has an incomplete header (" +
                             std::to_string(data.size()) + " bytes); removed");
      std::error_code ec;
      fs::remove(path, ec);
      return false;
    }
    throw std::runtime_error("wal: " + path + " is not an rtrec log segment (bad magic); move "
                             "it out of the data directory");
  }
  segment_fields header;
  reader hr{std::string_view{data}.substr(sizeof segment_magic,
                                          segment_header - sizeof segment_magic)};
  header.fields(hr);
  const auto version = header.version;
  if (version != segment_version)
    throw std::runtime_error("wal: " + path + " has format version " + std::to_string(version) +
                             ", this build reads version " + std::to_string(segment_version) +
                             "; run the rtrec version that wrote it");
  return true;
}

// Handles the bad record (`why`) at `pos` of segment files[k], whose contents
// are `data`. A torn tail (no valid record after it, in this segment or a
// later one) is dropped. A corrupt record followed by valid ones throws under
// policy strict; under truncate it is dropped with everything after it,
// later segments included. Returns true when later segments were removed.
bool drop_bad_record(std::string& data, std::size_t pos, const std::string& why,
                     const std::vector<segment_file>& files, std::size_t k,
                     corruption_policy policy, scan_report& rep) {
  const auto& path = files[k].second;
  const bool more = valid_record_after(data, pos) || later_has_records(files, k);
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

// Passes each record of segment files[k] (contents `data`, header checked)
// to `fn`, noting in `seg` the highest seq per stream, up to the first bad
// record (see drop_bad_record). Returns true when the scan must stop after
// this segment (the later ones were removed).
bool scan_segment(std::string& data, const std::vector<segment_file>& files, std::size_t k,
                  corruption_policy policy, const std::function<void(const log_record&)>& fn,
                  segment_info& seg, scan_report& rep) {
  std::size_t pos = segment_header;
  for (;;) {
    log_record r;
    std::size_t next = 0;
    std::string why;
    auto res = parse_at(data, pos, r, next, why);
    if (res == parse_result::end)
      return false;
    if (res == parse_result::bad)
      return drop_bad_record(data, pos, why, files, k, policy, rep);
    fn(r);
    ++rep.records;
    auto& m = seg.max_seq[r.stream];
    m = std::max(m, r.seq);
    pos = next;
  }
}

// The records of a segment's contents up to the first one that is not
// complete and valid; false once `fn` asks to stop.
bool read_segment(const std::string& data, const std::function<bool(const log_record&)>& fn) {
  std::size_t pos = segment_header;
  for (;;) {
    log_record r;
    std::size_t next = 0;
    std::string why;
    if (parse_at(data, pos, r, next, why) != parse_result::ok)
      return true;
    if (!fn(r))
      return false;
    pos = next;
  }
}

}  // namespace

void read_log(const std::string& dir, const std::function<bool(const log_record&)>& fn) {
  std::error_code ec;
  if (!fs::exists(dir, ec))
    return;
  const auto files = list_segments(dir);
  for (const auto& [number, path] : files) {
    const auto data = read_file(path);
    if (data.size() < segment_header
        || std::memcmp(data.data(), segment_magic, sizeof segment_magic) != 0)
      continue;  // a segment being created: nothing in it is durable yet
    if (!read_segment(data, fn))
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
  // Contents are read one segment at a time.
  for (std::size_t k = 0; k < files.size(); ++k) {
    const auto& path = files[k].second;
    auto data = read_file(path);
    if (!check_segment_header(data, path, k + 1 == files.size(), rep))
      continue;
    segment_info seg;
    seg.number = files[k].first;
    seg.path = path;
    const bool stop_all = scan_segment(data, files, k, policy, fn, seg, rep);
    seg.bytes = data.size();
    rep.bytes += seg.bytes;
    rep.segments.push_back(std::move(seg));
    if (stop_all)
      break;
  }
  return rep;
}

}  // namespace rtrec::storage
