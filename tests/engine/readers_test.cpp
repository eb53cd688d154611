// Tests of the data set readers: every format from in-memory input, CRLF,
// quoting, header detection, one test per class of bad line (line number,
// count, and that good lines still come through), block boundaries, stream
// and file errors, format detection, and the real MovieLens ratings file.
#include "engine/readers.hpp"

#include <gtest/gtest.h>

#include <absl/container/flat_hash_set.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <vector>

namespace rtrec::engine {
namespace {

struct collected {
  read_result result;
  std::vector<event> events;
};

collected read_text(const std::string& text, data_format fmt, const reader_options& options = {}) {
  collected c;
  std::istringstream in(text);
  c.result = read_events(in, fmt, [&](event&& e) { c.events.push_back(std::move(e)); }, options);
  return c;
}

collected read_path(const std::string& path, data_format fmt) {
  collected c;
  c.result = read_events_file(path, fmt, [&](event&& e) { c.events.push_back(std::move(e)); });
  return c;
}

std::vector<std::size_t> error_lines(const read_stats& stats) {
  std::vector<std::size_t> lines;
  for (const auto& e : stats.errors)
    lines.push_back(e.line);
  return lines;
}

/// Fails unless error `index` exists and its message contains `part`.
void expect_error_contains(const read_stats& stats, std::size_t index, const std::string& part) {
  ASSERT_LT(index, stats.errors.size());
  EXPECT_NE(stats.errors[index].message.find(part), std::string::npos)
      << "message: " << stats.errors[index].message << "\nexpected to contain: " << part;
}

// --- formats ---------------------------------------------------------------

TEST(ReaderFormat, MovieLensCsv) {
  auto c = read_text("userId,movieId,rating,timestamp\n1,1,4.0,964982703\n1,3,4.5,964981247\n",
                     data_format::movielens_csv);
  ASSERT_TRUE(c.result.ok) << c.result.error;
  EXPECT_EQ(c.result.stats.lines, 3u);
  EXPECT_EQ(c.result.stats.events, 2u);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].user, "1");
  EXPECT_EQ(c.events[0].item, "1");
  EXPECT_EQ(c.events[0].type, event_type::rating);
  EXPECT_DOUBLE_EQ(c.events[0].value, 4.0);
  EXPECT_EQ(c.events[0].timestamp, 964982703000);
  EXPECT_EQ(c.events[1].item, "3");
  EXPECT_DOUBLE_EQ(c.events[1].value, 4.5);
  EXPECT_EQ(c.events[1].timestamp, 964981247000);
  EXPECT_TRUE(c.events[1].id.empty());
}

TEST(ReaderFormat, MovieLensCsvWithCrlfAndNoFinalNewline) {
  auto c = read_text("userId,movieId,rating,timestamp\r\n1,1,4.0,964982703\r\n2,7,0.5,964981247",
                     data_format::movielens_csv);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].item, "1");
  EXPECT_EQ(c.events[0].timestamp, 964982703000);
  EXPECT_EQ(c.events[1].user, "2");
  EXPECT_EQ(c.events[1].item, "7");
  EXPECT_DOUBLE_EQ(c.events[1].value, 0.5);
  EXPECT_EQ(c.events[1].timestamp, 964981247000);
}

TEST(ReaderFormat, MovieLensUdata) {
  // Timestamps in u.data are seconds even when they would look like ms.
  auto c = read_text("196\t242\t3\t881250949\n186\t302\t3\t200000000000\n",
                     data_format::movielens_udata);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].user, "196");
  EXPECT_EQ(c.events[0].item, "242");
  EXPECT_EQ(c.events[0].type, event_type::rating);
  EXPECT_DOUBLE_EQ(c.events[0].value, 3.0);
  EXPECT_EQ(c.events[0].timestamp, 881250949000);
  EXPECT_EQ(c.events[1].timestamp, 200000000000000);
}

TEST(ReaderFormat, UdataHasNoHeader) {
  auto c = read_text("user\titem\trating\tts\n1\t2\t3\t4\n", data_format::movielens_udata);
  EXPECT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.result.stats.bad_lines, 1u);
  EXPECT_EQ(error_lines(c.result.stats), std::vector<std::size_t>{1});
}

TEST(ReaderFormat, GenericCsvUserItemOnlyUsesDefaultTypeAndLineNumbers) {
  reader_options opts;
  opts.default_type = event_type::click;
  auto c = read_text("alice,book\nbob,pen\n", data_format::generic_csv, opts);
  ASSERT_TRUE(c.result.ok);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].user, "alice");
  EXPECT_EQ(c.events[0].item, "book");
  EXPECT_EQ(c.events[0].type, event_type::click);
  EXPECT_DOUBLE_EQ(c.events[0].value, 0.0);
  EXPECT_EQ(c.events[0].timestamp, 1);
  EXPECT_EQ(c.events[1].timestamp, 2);
}

TEST(ReaderFormat, GenericCsvValueAndSecondsOrMilliseconds) {
  auto c = read_text("alice,book,3.5,1700000000\nbob,pen,2,1700000000123\ncat,cup,1,99999999999\n"
                     "dan,mug,5,1700000000.25\n",
                     data_format::generic_csv);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), 4u);
  EXPECT_EQ(c.events[0].type, event_type::rating);
  EXPECT_DOUBLE_EQ(c.events[0].value, 3.5);
  EXPECT_EQ(c.events[0].timestamp, 1700000000000);  // seconds
  EXPECT_EQ(c.events[1].timestamp, 1700000000123);  // milliseconds
  EXPECT_EQ(c.events[2].timestamp, 99999999999000);  // just below the threshold: seconds
  EXPECT_EQ(c.events[3].timestamp, 1700000000250);  // fractional seconds
}

TEST(ReaderFormat, GenericCsvEmptyOptionalFieldsAreAbsent) {
  auto c = read_text("alice,book,,1700000000\nbob,pen,4,\n", data_format::generic_csv);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].type, event_type::view);
  EXPECT_EQ(c.events[0].timestamp, 1700000000000);
  EXPECT_EQ(c.events[1].type, event_type::rating);
  EXPECT_DOUBLE_EQ(c.events[1].value, 4.0);
  EXPECT_EQ(c.events[1].timestamp, 2);
}

TEST(ReaderFormat, GenericTsvWithHeaderAndTrimming) {
  auto c = read_text("user\titem\tvalue\n a \t b c \t 1.5\nx,y\tz\t2\t1700000000000\n",
                     data_format::generic_tsv);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].user, "a");
  EXPECT_EQ(c.events[0].item, "b c");
  EXPECT_DOUBLE_EQ(c.events[0].value, 1.5);
  EXPECT_EQ(c.events[0].timestamp, 2);
  EXPECT_EQ(c.events[1].user, "x,y");  // commas are plain text in TSV
  EXPECT_EQ(c.events[1].timestamp, 1700000000000);
}

TEST(ReaderFormat, QuotedCsvFields) {
  auto c = read_text(
      "\"smith, john\",\"the \"\"best\"\" book\",4,1700000000\n"
      "\"a\",  \"b\"  ,\"2.5\",\"1700000001\"\n"
      "plain\"quote,item\n"
      "\"\",item\n",
      data_format::generic_csv);
  ASSERT_TRUE(c.result.ok);
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].user, "smith, john");
  EXPECT_EQ(c.events[0].item, "the \"best\" book");
  EXPECT_DOUBLE_EQ(c.events[0].value, 4.0);
  EXPECT_EQ(c.events[0].timestamp, 1700000000000);
  EXPECT_EQ(c.events[1].user, "a");
  EXPECT_EQ(c.events[1].item, "b");
  EXPECT_DOUBLE_EQ(c.events[1].value, 2.5);
  EXPECT_EQ(c.events[1].timestamp, 1700000001000);
  EXPECT_EQ(c.events[2].user, "plain\"quote");  // a quote inside an unquoted field is text
  EXPECT_EQ(c.result.stats.bad_lines, 1u);     // the quoted empty user
  EXPECT_EQ(error_lines(c.result.stats), std::vector<std::size_t>{4});
  expect_error_contains(c.result.stats, 0, "field 1 (user) is empty");
}

TEST(ReaderFormat, BrokenQuotingIsABadLine) {
  auto c = read_text("a,\"unterminated\nb,c\n\"x\"y,z\nd,e\n", data_format::generic_csv);
  ASSERT_TRUE(c.result.ok);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].user, "b");
  EXPECT_EQ(c.events[1].user, "d");
  EXPECT_EQ(c.result.stats.bad_lines, 2u);
  EXPECT_EQ(error_lines(c.result.stats), (std::vector<std::size_t>{1, 3}));
  expect_error_contains(c.result.stats, 0, "line 1: field 2 has an unterminated quote");
  expect_error_contains(c.result.stats, 1, "line 3: field 1 has 'y' after its closing quote");
}

TEST(ReaderFormat, ByteOrderMarkIsIgnored) {
  auto c = read_text("\xEF\xBB\xBFuserId,movieId,rating,timestamp\n1,2,3,4\n",
                     data_format::auto_detect);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].user, "1");
}

TEST(ReaderFormat, BlankLinesAreSkippedNotErrors) {
  auto c = read_text("a,b\n\n   \n\r\nc,d\n\n", data_format::generic_csv);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  EXPECT_EQ(c.result.stats.lines, 6u);
  ASSERT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[1].user, "c");
  EXPECT_EQ(c.events[1].timestamp, 5);  // physical line number
}

TEST(ReaderFormat, EmptyInputIsOk) {
  auto c = read_text("", data_format::auto_detect);
  EXPECT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.lines, 0u);
  EXPECT_TRUE(c.events.empty());
}

// --- header detection ------------------------------------------------------

TEST(ReaderHeader, KnownHeaderWordsAreSkipped) {
  for (const char* header : {"user,item", "userId,itemId,rating", "user_id,movie_id",
                             "visitorid,product_id,x,y", "someone,item"}) {
    SCOPED_TRACE(header);
    auto c = read_text(std::string(header) + "\nalice,book\n", data_format::generic_csv);
    EXPECT_EQ(c.result.stats.bad_lines, 0u);
    ASSERT_EQ(c.events.size(), 1u);
    EXPECT_EQ(c.events[0].user, "alice");
  }
}

TEST(ReaderHeader, NonNumericThirdFieldOnFirstLineIsAHeader) {
  auto c = read_text("who,what,score,when\nbob,pen,4,1700000000\n", data_format::generic_csv);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].user, "bob");
}

TEST(ReaderHeader, DataOnFirstLineIsKept) {
  auto c = read_text("alice,book\nbob,pen,4\n", data_format::generic_csv);
  EXPECT_EQ(c.events.size(), 2u);
  EXPECT_EQ(c.events[0].user, "alice");
}

TEST(ReaderHeader, ABadFirstLineIsNotFollowedByAHeader) {
  auto c = read_text("a,\"broken\nuser,item\n", data_format::generic_csv);
  EXPECT_EQ(error_lines(c.result.stats), std::vector<std::size_t>{1});
  ASSERT_EQ(c.events.size(), 1u);  // line 2 is data: the header slot was line 1
  EXPECT_EQ(c.events[0].user, "user");
}

TEST(ReaderHeader, OnlyTheFirstNonBlankLineCanBeAHeader) {
  auto c = read_text("\n\nuser,item\nalice,book,3\nuser,item,x\n", data_format::generic_csv);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].user, "alice");
  EXPECT_EQ(c.result.stats.bad_lines, 1u);
  EXPECT_EQ(error_lines(c.result.stats), std::vector<std::size_t>{5});
  expect_error_contains(c.result.stats, 0, "line 5: field 3 (value) 'x' is not a number");
}

// --- bad lines ---------------------------------------------------------------

TEST(ReaderErrors, EachClassIsReportedWithItsLineNumber) {
  const std::string text =
      "userId,movieId,rating,timestamp\n"  // 1 header
      "1,10,4.0,964982703\n"               // 2 good
      "1,11,4.0\n"                         // 3 too few fields
      "1,12,abc,964982703\n"               // 4 non-numeric rating
      "1,13,4.0,yesterday\n"               // 5 non-numeric timestamp
      ",14,4.0,964982703\n"                // 6 empty user
      "1,15,NaN,964982703\n"               // 7 NaN
      "1,16,5.0,964982703\n"               // 8 good
      "1,,3.0,964982703\n"                 // 9 empty item
      "1,17,3.0,-5\n"                      // 10 negative timestamp
      "1,18,3.0,964982703,extra\n"         // 11 too many fields
      "1,19,inf,964982703\n"               // 12 infinite
      "1,20,3.5x,964982703\n"              // 13 trailing garbage
      "1,21,2.0,964982703\n";              // 14 good
  auto c = read_text(text, data_format::movielens_csv);
  ASSERT_TRUE(c.result.ok);
  const auto& s = c.result.stats;
  EXPECT_EQ(s.lines, 14u);
  EXPECT_EQ(s.events, 3u);
  EXPECT_EQ(s.bad_lines, 10u);
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].item, "10");
  EXPECT_EQ(c.events[1].item, "16");
  EXPECT_EQ(c.events[2].item, "21");
  EXPECT_EQ(error_lines(s), (std::vector<std::size_t>{3, 4, 5, 6, 7, 9, 10, 11, 12, 13}));
  ASSERT_EQ(s.errors.size(), 10u);
  EXPECT_EQ(s.errors[0].message,
            "line 3: expected 4 fields (user, item, rating, timestamp), found 3");
  EXPECT_EQ(s.errors[1].message, "line 4: field 3 (rating) 'abc' is not a number");
  EXPECT_EQ(s.errors[2].message, "line 5: field 4 (timestamp) 'yesterday' is not a number");
  EXPECT_EQ(s.errors[3].message, "line 6: field 1 (user) is empty");
  EXPECT_EQ(s.errors[4].message, "line 7: field 3 (rating) 'NaN' is not a finite number");
  EXPECT_EQ(s.errors[5].message, "line 9: field 2 (item) is empty");
  EXPECT_EQ(s.errors[6].message, "line 10: field 4 (timestamp) '-5' is negative");
  expect_error_contains(s, 7, "found 5");
  expect_error_contains(s, 8, "'inf' is not a finite number");
  expect_error_contains(s, 9, "'3.5x' is not a number");
}

TEST(ReaderErrors, GenericFieldCountAndRanges) {
  auto c = read_text("lonely\na,b,1,2,3\nc,d,1,99999999999999999999\ne,f,1,1e400\ng,h\n",
                     data_format::generic_csv);
  ASSERT_TRUE(c.result.ok);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].user, "g");
  EXPECT_EQ(error_lines(c.result.stats), (std::vector<std::size_t>{1, 2, 3, 4}));
  expect_error_contains(c.result.stats, 0, "expected 2 to 4 fields");
  expect_error_contains(c.result.stats, 0, "found 1");
  expect_error_contains(c.result.stats, 1, "found 5");
  expect_error_contains(c.result.stats, 2, "field 4 (timestamp)");
  expect_error_contains(c.result.stats, 2, "out of range");
  expect_error_contains(c.result.stats, 3, "field 4 (timestamp) '1e400' is out of range");
}

TEST(ReaderErrors, OnlyTheFirstErrorsAreKeptButAllAreCounted) {
  std::string text;
  for (int i = 0; i < 10; ++i)
    text += "u,i,bad\ngood,item\n";
  reader_options opts;
  opts.max_errors_kept = 3;
  auto c = read_text("user,item\n" + text, data_format::generic_csv, opts);
  EXPECT_EQ(c.result.stats.bad_lines, 10u);
  EXPECT_EQ(c.result.stats.events, 10u);
  EXPECT_EQ(error_lines(c.result.stats), (std::vector<std::size_t>{2, 4, 6}));
}

TEST(ReaderErrors, OverlongLinesAreRefusedAndReadingGoesOn) {
  reader_options opts;
  opts.max_line_bytes = 1000;
  // Line 2 fits in a block, line 4 spans several 64 KiB blocks, line 6 is the
  // last and has no newline.
  std::string text = "a,b\n" + std::string(5000, 'x') + ",y\nc,d\n" + std::string(300'000, 'z')
                     + ",w\ne,f\n" + std::string(200'000, 'q');
  auto c = read_text(text, data_format::generic_csv, opts);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.lines, 6u);
  ASSERT_EQ(c.events.size(), 3u);
  EXPECT_EQ(c.events[0].user, "a");
  EXPECT_EQ(c.events[1].user, "c");
  EXPECT_EQ(c.events[1].timestamp, 3);
  EXPECT_EQ(c.events[2].user, "e");
  EXPECT_EQ(c.events[2].timestamp, 5);
  EXPECT_EQ(error_lines(c.result.stats), (std::vector<std::size_t>{2, 4, 6}));
  expect_error_contains(c.result.stats, 0, "line 2: longer than 1000 bytes");
}

// --- streams and block boundaries -------------------------------------------

TEST(ReaderStream, LargeInputCrossesBlockBoundaries) {
  // ~2 MB of lines of varying length: many lines straddle a block boundary.
  const std::size_t n = 60'000;
  std::string text = "user,item,value,timestamp\r\n";
  for (std::size_t k = 0; k < n; ++k) {
    text += "user" + std::string(k % 17, 'x') + std::to_string(k) + ",\"it,em"
            + std::to_string(k * 7) + "\"," + std::to_string(k % 5 + 1) + ".5,"
            + std::to_string(1'600'000'000 + k) + "\r\n";
  }
  auto c = read_text(text, data_format::generic_csv);
  ASSERT_TRUE(c.result.ok);
  EXPECT_EQ(c.result.stats.bad_lines, 0u);
  ASSERT_EQ(c.events.size(), n);
  for (std::size_t k = 0; k < n; ++k) {
    const auto& e = c.events[k];
    ASSERT_EQ(e.user, "user" + std::string(k % 17, 'x') + std::to_string(k)) << "k=" << k;
    ASSERT_EQ(e.item, "it,em" + std::to_string(k * 7)) << "k=" << k;
    ASSERT_DOUBLE_EQ(e.value, static_cast<double>(k % 5 + 1) + 0.5) << "k=" << k;
    ASSERT_EQ(e.timestamp, static_cast<std::int64_t>(1'600'000'000 + k) * 1000) << "k=" << k;
  }
}

TEST(ReaderStream, FailedStreamIsAnError) {
  std::istringstream in("a,b\n");
  in.setstate(std::ios::failbit);
  std::size_t seen = 0;
  auto r = read_events(in, data_format::generic_csv, [&](event&&) { ++seen; });
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  EXPECT_EQ(seen, 0u);
}

/// Serves `data` once, then fails like a broken device.
class failing_buf : public std::streambuf {
 public:
  explicit failing_buf(std::string data) : data_(std::move(data)) {
    setg(data_.data(), data_.data(), data_.data() + data_.size());
  }

 protected:
  int_type underflow() override { throw std::runtime_error("device gone"); }

 private:
  std::string data_;
};

TEST(ReaderStream, StreamGoingBadMidwayIsAnErrorAfterTheEventsSoFar) {
  std::string text;
  for (int k = 0; k < 20'000; ++k)
    text += "u" + std::to_string(k) + ",i\n";  // ~170 KB, more than one block
  failing_buf buf(text);
  std::istream in(&buf);
  std::size_t seen = 0;
  auto r = read_events(in, data_format::generic_csv, [&](event&&) { ++seen; });
  EXPECT_FALSE(r.ok);
  EXPECT_FALSE(r.error.empty());
  EXPECT_GT(seen, 0u);
  EXPECT_LT(seen, 20'000u);
  EXPECT_EQ(r.stats.events, seen);
}

// --- files and detection ----------------------------------------------------

class ReaderFile : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = (std::filesystem::temp_directory_path() / "rtrec_readers_XXXXXX").string();
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override {
    std::error_code ec;
    std::filesystem::remove_all(dir_, ec);
  }
  std::string write(const std::string& name, const std::string& content) {
    auto path = (dir_ / name).string();
    std::ofstream(path, std::ios::binary) << content;
    return path;
  }
  std::filesystem::path dir_;
};

TEST_F(ReaderFile, MissingFileNamesThePath) {
  const std::string path = (dir_ / "no_such_dir" / "ratings.csv").string();
  std::size_t seen = 0;
  auto r = read_events_file(path, data_format::auto_detect, [&](event&&) { ++seen; });
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("cannot open"), std::string::npos) << r.error;
  EXPECT_NE(r.error.find(path), std::string::npos) << r.error;
  EXPECT_EQ(seen, 0u);
}

TEST_F(ReaderFile, DirectoryIsAnError) {
  auto r = read_events_file(dir_.string(), data_format::generic_csv, [](event&&) {});
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find(dir_.string()), std::string::npos) << r.error;
}

TEST_F(ReaderFile, AutoDetectUsesTheFileName) {
  // 200000000000 is milliseconds for the generic formats, seconds for MovieLens.
  auto udata = read_path(write("u.data", "1\t2\t3\t200000000000\n"), data_format::auto_detect);
  ASSERT_TRUE(udata.result.ok) << udata.result.error;
  ASSERT_EQ(udata.events.size(), 1u);
  EXPECT_EQ(udata.events[0].timestamp, 200000000000000);

  auto ml = read_path(write("ratings.csv", "userId,movieId,rating,timestamp\n1,2,3,200000000000\n"),
                      data_format::auto_detect);
  ASSERT_EQ(ml.events.size(), 1u);
  EXPECT_EQ(ml.events[0].timestamp, 200000000000000);

  auto tsv = read_path(write("clicks.tsv", "a,b\tc\n"), data_format::auto_detect);
  ASSERT_EQ(tsv.events.size(), 1u);
  EXPECT_EQ(tsv.events[0].user, "a,b");

  auto sniffed = read_path(write("events.txt", "a\tb\t1\t200000000000\n"), data_format::auto_detect);
  ASSERT_EQ(sniffed.events.size(), 1u);
  EXPECT_EQ(sniffed.events[0].timestamp, 200000000000);

  auto forced = read_path(write("u.data", "1,2\n"), data_format::generic_csv);
  ASSERT_EQ(forced.events.size(), 1u);  // an explicit format wins over the name
}

TEST(ReaderDetect, ByNameThenByFirstLine) {
  EXPECT_EQ(detect_format("/data/ml/ratings.csv", "x"), data_format::movielens_csv);
  EXPECT_EQ(detect_format("RATINGS.CSV", ""), data_format::movielens_csv);
  EXPECT_EQ(detect_format("ml-100k/u.data", "1,2"), data_format::movielens_udata);
  EXPECT_EQ(detect_format("a/b/events.TSV", "a,b"), data_format::generic_tsv);
  EXPECT_EQ(detect_format("events.csv", "a\tb"), data_format::generic_tsv);
  EXPECT_EQ(detect_format("", "userId,movieId,rating,timestamp"), data_format::movielens_csv);
  EXPECT_EQ(detect_format("", "\xEF\xBB\xBFuserId,movieId,rating,timestamp"),
            data_format::movielens_csv);
  EXPECT_EQ(detect_format("x.csv", "alice,book,4"), data_format::generic_csv);
  EXPECT_EQ(detect_format("", ""), data_format::generic_csv);
}

TEST(ReaderDetect, AutoDetectOnAStreamSniffsTheFirstLine) {
  auto ml = read_text("userId,movieId,rating,timestamp\n1,2,3,200000000000\n",
                      data_format::auto_detect);
  ASSERT_EQ(ml.events.size(), 1u);
  EXPECT_EQ(ml.events[0].timestamp, 200000000000000);  // MovieLens: seconds
  auto csv = read_text("1,2,3,200000000000\n", data_format::auto_detect);
  ASSERT_EQ(csv.events.size(), 1u);
  EXPECT_EQ(csv.events[0].timestamp, 200000000000);  // generic: milliseconds
}

TEST(ReaderDetect, FormatNamesRoundTrip) {
  for (auto f : {data_format::auto_detect, data_format::movielens_csv,
                 data_format::movielens_udata, data_format::generic_csv,
                 data_format::generic_tsv}) {
    auto parsed = parse_data_format(to_string(f));
    ASSERT_TRUE(parsed.has_value()) << to_string(f);
    EXPECT_EQ(*parsed, f);
  }
  EXPECT_EQ(parse_data_format("ml-csv"), data_format::movielens_csv);
  EXPECT_EQ(parse_data_format("MovieLens"), data_format::movielens_csv);
  EXPECT_EQ(parse_data_format("udata"), data_format::movielens_udata);
  EXPECT_EQ(parse_data_format("TSV"), data_format::generic_tsv);
  EXPECT_FALSE(parse_data_format("json").has_value());
  EXPECT_FALSE(parse_data_format("").has_value());
}

// --- the real MovieLens file -------------------------------------------------

TEST(ReaderMovieLens, LatestSmallRatings) {
  const std::string path = RTREC_ML_DIR "/ratings.csv";
  if (!std::filesystem::exists(path))
    GTEST_SKIP() << "MovieLens data not found at " << path;
  std::size_t count = 0;
  absl::flat_hash_set<std::string> users;
  absl::flat_hash_set<std::string> items;
  event first;
  bool all_valid = true;
  const auto start = std::chrono::steady_clock::now();
  auto r = read_events_file(path, data_format::auto_detect, [&](event&& e) {
    if (count == 0)
      first = e;
    ++count;
    all_valid = all_valid && e.type == event_type::rating && e.value >= 0.5 && e.value <= 5.0
                && validate(e) == reject_reason::none;
    users.insert(e.user);
    items.insert(e.item);
  });
  const double ms =
      std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count();
  ASSERT_TRUE(r.ok) << r.error;
  EXPECT_EQ(r.stats.events, 100836u);
  EXPECT_EQ(count, 100836u);
  EXPECT_EQ(r.stats.bad_lines, 0u);
  EXPECT_EQ(r.stats.lines, 100837u);
  EXPECT_EQ(users.size(), 610u);
  EXPECT_EQ(items.size(), 9724u);
  EXPECT_EQ(first.user, "1");
  EXPECT_EQ(first.item, "1");
  EXPECT_EQ(first.type, event_type::rating);
  EXPECT_DOUBLE_EQ(first.value, 4.0);
  EXPECT_EQ(first.timestamp, 964982703000);
  EXPECT_TRUE(all_valid);
  std::cout << "[ info     ] read " << count << " events in " << ms << " ms (with set inserts)\n";
}

TEST(ReaderFormat, NamesAndHeadersCompareWithoutCase) {
  EXPECT_EQ(parse_data_format("MovieLens"), data_format::movielens_csv);
  EXPECT_EQ(parse_data_format("TSV"), data_format::generic_tsv);
  EXPECT_FALSE(parse_data_format("tsv2"));
  EXPECT_EQ(detect_format("data/U.DATA", "1\t2\t3\t4"), data_format::movielens_udata);
  EXPECT_EQ(detect_format("Ratings.CSV", "1,2,3,4"), data_format::movielens_csv);
  EXPECT_EQ(detect_format("clicks.TsV", "a,b"), data_format::generic_tsv);
  EXPECT_EQ(detect_format("x.csv", "USERID,MOVIEID,rating"), data_format::movielens_csv);
  EXPECT_EQ(detect_format("x.csv", "userId,movie"), data_format::generic_csv);
  EXPECT_EQ(detect_format("tsv", "a,b"), data_format::generic_csv);  // ".tsv" is a suffix
  // A header names its id columns in any case: it is skipped, not read as data.
  auto c = read_text("UserID,Item_ID\nu1,i1\n", data_format::generic_csv);
  ASSERT_EQ(c.events.size(), 1u);
  EXPECT_EQ(c.events[0].user, "u1");
}

}  // namespace
}  // namespace rtrec::engine
