// Unit tests of what the write-ahead log keeps for replicas (storage/wal,
// docs/replication.md "The log on disk"): every record's epoch, and
// truncate_stream markers that void a stream's replaced tail for every
// reader (scan_log, which recovery uses, and read_log, which resyncs and
// the metadata reader use).
//
// The meaning of a log is checked against a model: per stream, the records
// in log order, a marker dropping the stream's earlier records above its
// keep. Randomised tests are seeded and name their seed on failure.
#include "storage/wal.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "storage/codec.hpp"
#include "storage/recovery.hpp"
#include "tests/storage/log_writer.hpp"
#include "tests/storage/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace rtrec::storage;

namespace {

using rtrec::storage_test::temp_dir;

log_record record(std::uint32_t stream, std::uint64_t seq, std::uint64_t epoch,
                  std::string payload = "p") {
  log_record r;
  r.kind = stream == meta_stream ? record_kind::item_meta : record_kind::events;
  r.stream = stream;
  r.seq = seq;
  r.epoch = epoch;
  r.time_ms = 1'700'000'000'000 + static_cast<std::int64_t>(seq);
  r.payload = std::move(payload);
  return r;
}

std::uint64_t keep_of(const log_record& marker) {
  reader rd{marker.payload};
  std::uint64_t keep = 0;
  rd.value(keep);
  return keep;
}

// What a log means: the records no later marker voids, in log order.
std::vector<log_record> model(const std::vector<log_record>& log) {
  std::vector<log_record> live;
  for (const auto& r : log) {
    if (r.kind != record_kind::truncate_stream) {
      live.push_back(r);
      continue;
    }
    const auto keep = keep_of(r);
    live.erase(std::remove_if(live.begin(), live.end(),
                              [&](const log_record& x) {
                                return x.stream == r.stream && x.seq > keep;
                              }),
               live.end());
  }
  return live;
}

std::string describe(const log_record& r) {
  return "{stream " + std::to_string(r.stream) + " seq " + std::to_string(r.seq) + " epoch " +
         std::to_string(r.epoch) + " kind " + std::to_string(static_cast<int>(r.kind)) +
         " payload " + r.payload + "}";
}

std::string describe(const std::vector<log_record>& rs) {
  std::string out;
  for (const auto& r : rs)
    out += describe(r) + " ";
  return out;
}

bool same(const log_record& a, const log_record& b) {
  return a.kind == b.kind && a.stream == b.stream && a.seq == b.seq && a.epoch == b.epoch &&
         a.time_ms == b.time_ms && a.payload == b.payload;
}

bool same(const std::vector<log_record>& a, const std::vector<log_record>& b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(),
                                            [](const auto& x, const auto& y) { return same(x, y); });
}

std::vector<log_record> scan_all(const std::string& dir, scan_report* rep = nullptr,
                                 corruption_policy policy = corruption_policy::strict) {
  std::vector<log_record> out;
  auto r = scan_log(dir, policy, [&](const log_record& x) { out.push_back(x); });
  if (rep)
    *rep = r;
  return out;
}

std::vector<log_record> read_all(const std::string& dir) {
  std::vector<log_record> out;
  read_log(dir, [&](const log_record& x) {
    out.push_back(x);
    return true;
  });
  return out;
}

// A version 2 segment holding `records`, written byte by byte as the format
// says (no writer thread): "RTRECWAL", u32 version 2, u32 0, then frames.
std::string segment_bytes(const std::vector<log_record>& records) {
  std::string out = "RTRECWAL";
  writer w{out};
  w.value(std::uint32_t{2});
  w.value(std::uint32_t{0});
  for (const auto& r : records)
    frame_record(r, out);
  return out;
}

void write_file(const fs::path& p, const std::string& bytes) {
  std::ofstream out{p, std::ios::binary | std::ios::trunc};
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string segment_name(std::uint64_t number) {
  char buf[40];
  std::snprintf(buf, sizeof buf, "wal-%016llu.log", static_cast<unsigned long long>(number));
  return buf;
}

// -- epochs -------------------------------------------------------------------

TEST(wal_epochs, every_record_keeps_its_epoch_through_both_readers) {
  temp_dir tmp;
  std::vector<log_record> log;
  for (std::uint64_t seq = 1; seq <= 40; ++seq) {
    log.push_back(record(0, seq, seq / 7, "a" + std::to_string(seq)));
    log.push_back(record(meta_stream, seq, (seq * 0x9E3779B97F4A7C15ull) >> 8));
  }
  rtrec::storage_test::append_records(tmp.path().string(), log, 512, 3);
  const auto dir = wal_dir(tmp.path().string());
  ASSERT_GT(std::distance(fs::directory_iterator(dir), fs::directory_iterator{}), 2)
    << "the records should span several segments";
  scan_report rep;
  const auto scanned = scan_all(dir, &rep);
  EXPECT_TRUE(same(scanned, log)) << describe(scanned);
  EXPECT_EQ(rep.records, log.size());
  EXPECT_EQ(rep.markers, 0u);
  EXPECT_EQ(rep.void_records, 0u);
  EXPECT_TRUE(same(read_all(dir), log));
}

// -- markers ------------------------------------------------------------------

TEST(wal_markers, a_marker_voids_exactly_its_streams_earlier_records_above_keep) {
  temp_dir tmp;
  const std::vector<log_record> log = {
    record(0, 1, 1), record(0, 2, 1), record(1, 1, 1), record(0, 3, 1, "old3"),
    truncate_marker(0, 1, 3, 2, 1'700'000'000'100),
    record(0, 2, 2, "new2"), record(0, 3, 2, "new3"), record(1, 2, 2), record(0, 4, 2)};
  rtrec::storage_test::append_records(tmp.path().string(), log);
  const std::vector<log_record> want = {record(0, 1, 1), record(1, 1, 1), record(0, 2, 2, "new2"),
                                        record(0, 3, 2, "new3"), record(1, 2, 2),
                                        record(0, 4, 2)};
  const auto dir = wal_dir(tmp.path().string());
  scan_report rep;
  const auto got = scan_all(dir, &rep);
  EXPECT_TRUE(same(got, want)) << describe(got);
  EXPECT_TRUE(same(model(log), want));
  EXPECT_EQ(rep.records, want.size());
  EXPECT_EQ(rep.void_records, 2u);
  EXPECT_EQ(rep.markers, 1u);
  ASSERT_EQ(rep.segments.size(), 1u);
  EXPECT_EQ(rep.segments[0].max_seq.at(0), 4u);
  EXPECT_TRUE(same(read_all(dir), want));
}

// Random logs of three streams (one of them item metadata), whose tails are
// replaced again and again under growing epochs, some replaced tails
// replaced again before anything follows, in segments small enough that a
// marker and the records it voids are often in different segments.
TEST(wal_markers, random_logs_read_as_the_model_says) {
  std::size_t spread = 0;  // seeds whose log spans several segments
  for (std::uint64_t seed = 1; seed <= 60; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng{seed};
    const std::uint32_t streams[] = {0, 1, meta_stream};
    std::map<std::uint32_t, std::uint64_t> last;
    std::uint64_t epoch = 0;
    std::vector<log_record> log;
    const auto n = 50 + rng() % 150;
    for (std::size_t k = 0; k < n; ++k) {
      const auto stream = streams[rng() % 3];
      auto& top = last[stream];
      if (top > 0 && rng() % 8 == 0) {
        const auto keep = rng() % top;
        log.push_back(truncate_marker(stream, keep, top, ++epoch, 1'700'000'000'000));
        top = keep;
      } else {
        log.push_back(record(stream, ++top, epoch, std::string(rng() % 40, 'a' + k % 26)));
      }
    }
    temp_dir tmp;
    rtrec::storage_test::append_records(tmp.path().string(), log, 96 + rng() % 600,
                                         1 + rng() % 4);
    const auto dir = wal_dir(tmp.path().string());
    const auto want = model(log);
    scan_report rep;
    const auto scanned = scan_all(dir, &rep);
    ASSERT_TRUE(same(scanned, want)) << "got " << describe(scanned) << "\nwant "
                                     << describe(want);
    const auto markers = static_cast<std::size_t>(std::count_if(
      log.begin(), log.end(),
      [](const log_record& r) { return r.kind == record_kind::truncate_stream; }));
    EXPECT_EQ(rep.markers, markers);
    spread += rep.segments.size() > 2 ? 1 : 0;
    EXPECT_EQ(rep.records + rep.void_records + rep.markers, log.size());
    const auto read = read_all(dir);
    ASSERT_TRUE(same(read, want)) << "read_log: " << describe(read);
    // Every stream reads back as seqs 1, 2, ... with no gap (the replaced
    // tails leave none), as rederive and the replicas need.
    std::map<std::uint32_t, std::uint64_t> next;
    for (const auto& r : scanned)
      EXPECT_EQ(r.seq, ++next[r.stream]) << describe(r);
  }
  EXPECT_GE(spread, 50u) << "most logs should span several segments";
}

// A crash while a group (marker + the records replacing the void ones) was
// being written leaves any prefix of its bytes: the log then reads as its
// complete records say, whatever the cut, and nothing else is disturbed.
TEST(wal_markers, a_group_cut_at_any_byte_reads_as_its_complete_records) {
  const std::vector<log_record> before = {record(0, 1, 1), record(1, 1, 1), record(0, 2, 1),
                                          record(0, 3, 1), record(1, 2, 1)};
  const std::vector<log_record> group = {truncate_marker(0, 1, 3, 2, 1'700'000'000'000),
                                         record(0, 2, 2, "new2"), record(0, 3, 2, "new3")};
  const auto base = segment_bytes(before);
  auto full = before;
  full.insert(full.end(), group.begin(), group.end());
  const auto whole = segment_bytes(full);
  // Where each group record ends, to know which are complete at a cut.
  std::vector<std::size_t> ends;
  std::string grown = base;
  for (const auto& r : group) {
    frame_record(r, grown);
    ends.push_back(grown.size());
  }
  ASSERT_EQ(grown, whole);
  for (std::size_t cut = base.size(); cut <= whole.size(); ++cut) {
    SCOPED_TRACE("cut at byte " + std::to_string(cut));
    temp_dir tmp;
    const auto dir = wal_dir(tmp.path().string());
    fs::create_directories(dir);
    write_file(fs::path{dir} / segment_name(1), whole.substr(0, cut));
    auto complete = before;
    for (std::size_t k = 0; k < group.size(); ++k)
      if (ends[k] <= cut)
        complete.push_back(group[k]);
    const auto want = model(complete);
    EXPECT_TRUE(same(read_all(dir), want));  // read_log first: it changes no file
    scan_report rep;
    const auto got = scan_all(dir, &rep);
    EXPECT_TRUE(same(got, want)) << describe(got);
    const bool torn = std::find(ends.begin(), ends.end(), cut) == ends.end() && cut != base.size();
    EXPECT_EQ(rep.warnings.size(), torn ? 1u : 0u);
  }
}

// release() may delete a marker's segment only once a snapshot covers every
// seq the marker voided (its seq is the highest of them): a void record
// left in an older segment is then below the covered seq, which no reader
// replays.
TEST(wal_markers, release_keeps_a_markers_segment_until_every_voided_seq_is_covered) {
  temp_dir tmp;
  const auto dir = wal_dir(tmp.path().string());
  fs::create_directories(dir);
  write_file(fs::path{dir} / segment_name(1),
             segment_bytes({record(0, 1, 1), record(0, 2, 1), record(1, 1, 1), record(0, 3, 1),
                            record(0, 4, 1), record(0, 5, 1)}));
  write_file(fs::path{dir} / segment_name(2),
             segment_bytes({truncate_marker(0, 2, 5, 2, 1'700'000'000'000), record(0, 3, 2),
                            record(0, 4, 2)}));
  scan_report rep;
  const auto got = scan_all(dir, &rep);
  EXPECT_EQ(rep.void_records, 3u);
  ASSERT_EQ(rep.segments.size(), 2u);
  EXPECT_EQ(rep.segments[1].max_seq.at(0), 5u) << "the marker's seq counts for release";
  wal_options o;
  o.dir = dir;
  o.sync = sync_policy::none;
  wal w{o, rep.segments};
  // Stream 1 is not covered, so segment 1 stays; segment 2 needs seq 5.
  EXPECT_EQ(w.release({{0, 4}}), 0u);
  EXPECT_TRUE(fs::exists(fs::path{dir} / segment_name(2)));
  EXPECT_EQ(w.release({{0, 5}}), 1u);
  EXPECT_FALSE(fs::exists(fs::path{dir} / segment_name(2)));
  EXPECT_TRUE(fs::exists(fs::path{dir} / segment_name(1)));
  w.close();
  // What is left above the covered seqs is exactly stream 1's record.
  std::vector<log_record> above;
  scan_log(dir, corruption_policy::strict, [&](const log_record& r) {
    if (r.stream == 1 || r.seq > 5)
      above.push_back(r);
  });
  EXPECT_TRUE(same(above, {record(1, 1, 1)})) << describe(above);
}

TEST(wal_markers, a_marker_with_a_bad_payload_is_refused_with_its_place) {
  temp_dir tmp;
  const auto dir = wal_dir(tmp.path().string());
  fs::create_directories(dir);
  auto bad = truncate_marker(0, 1, 2, 2, 1'700'000'000'000);
  bad.payload.resize(4);  // a whole record (valid CRC) with a cut payload
  const auto bytes = segment_bytes({record(0, 1, 1), record(0, 2, 1), bad});
  write_file(fs::path{dir} / segment_name(1), bytes);
  for (bool live : {false, true}) {
    SCOPED_TRACE(live ? "read_log" : "scan_log");
    try {
      if (live)
        read_all(dir);
      else
        scan_all(dir);
      ADD_FAILURE() << "a bad marker was accepted";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find(segment_name(1)), std::string::npos) << what;
      EXPECT_NE(what.find("offset"), std::string::npos) << what;
      EXPECT_NE(what.find("truncate_stream marker of stream 0"), std::string::npos) << what;
    }
  }
  // The file is as it was: a refused log is left for the operator.
  std::ifstream in{fs::path{dir} / segment_name(1), std::ios::binary};
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}),
            bytes);
}

}  // namespace
