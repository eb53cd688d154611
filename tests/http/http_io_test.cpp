// Unit tests of the API's wire formats (apps/http/json_io): timestamps,
// percent-decoding, ids and the feedback parser's field-level errors.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "apps/http/json_io.hpp"

namespace {

using namespace rtrec::http;

TEST(HttpIo, ParsesRfc3339Timestamps) {
  EXPECT_EQ(parse_timestamp("1970-01-01T00:00:00Z"), 0);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:30:00Z"), 1714566600000);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:30:00.25Z"), 1714566600250);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:30:00.123456Z"), 1714566600123);
  EXPECT_EQ(parse_timestamp("2024-05-01T14:30:00+02:00"), 1714566600000);
  EXPECT_EQ(parse_timestamp("2024-05-01T10:30:00-02:00"), 1714566600000);
  EXPECT_EQ(parse_timestamp("2024-05-01 12:30:00"), 1714566600000);
  EXPECT_EQ(parse_timestamp("2024-05-01"), 1714521600000);
  EXPECT_EQ(parse_timestamp("2024-02-29T00:00:00Z"), 1709164800000);
  for (const char* bad : {"", "2024", "2024-13-01", "2024-04-31T00:00:00Z", "2024-05-01T25:00:00Z",
                          "2024-05-01T12:30Z", "2024-05-01T12:30:00+2", "2024-05-01T12:30:00.Z",
                          "yesterday", "1969-12-31T23:59:59Z", "2024-05-01T12:30:00Zjunk"})
    EXPECT_FALSE(parse_timestamp(bad)) << bad;
}

// Go's time.ParseDuration, the format of Gorse's write-back-delay.
TEST(HttpIo, ParsesGoDurations) {
  EXPECT_EQ(parse_duration_ms("0"), 0);
  EXPECT_EQ(parse_duration_ms("0h0m0s"), 0);
  EXPECT_EQ(parse_duration_ms("10m"), 600000);
  EXPECT_EQ(parse_duration_ms("1h30m"), 5400000);
  EXPECT_EQ(parse_duration_ms("1.5s"), 1500);
  EXPECT_EQ(parse_duration_ms(".5s"), 500);
  EXPECT_EQ(parse_duration_ms("2.h"), 7200000);
  EXPECT_EQ(parse_duration_ms("0.001s"), 1);
  EXPECT_EQ(parse_duration_ms("300ms"), 300);
  EXPECT_EQ(parse_duration_ms("1500us"), 1);
  EXPECT_EQ(parse_duration_ms("1500\xC2\xB5s"), 1);  // micro sign
  EXPECT_EQ(parse_duration_ms("1500\xCE\xBCs"), 1);  // Greek mu
  EXPECT_EQ(parse_duration_ms("999999ns"), 0);         // truncated toward zero
  EXPECT_EQ(parse_duration_ms("-1h"), -3600000);
  EXPECT_EQ(parse_duration_ms("+1m1s"), 61000);
  EXPECT_EQ(parse_duration_ms("2562047h"), 2562047LL * 3600000);  // Go's largest hours
  for (const char* bad : {"", "-", "10", "1x", "h", "1h-", "1..5s", "1h 30m", " 1h", "1H",
                          "2562048h", "9223372036854775808ns"})
    EXPECT_FALSE(parse_duration_ms(bad)) << bad;
}

TEST(HttpIo, Rfc3339EdgeCases) {
  // Lower-case separators, offsets moving across midnight, fractions
  // truncated (not rounded) to milliseconds, the last millisecond of 9999.
  EXPECT_EQ(parse_timestamp("2024-05-01t12:30:00z"), 1714566600000);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:30:00.999999Z"), 1714566600999);
  EXPECT_EQ(parse_timestamp("2024-05-01T00:30:00+01:00"), 1714519800000);
  EXPECT_EQ(parse_timestamp("2024-05-01T23:30:00-01:00"), 1714609800000);
  EXPECT_EQ(parse_timestamp("2024-05-01T12:30:00-00:00"), 1714566600000);
  EXPECT_EQ(parse_timestamp("9999-12-31T23:59:59.999Z"), 253402300799999);
  EXPECT_EQ(parse_timestamp("1970-01-01T01:00:00+01:00"), 0);
  // A leap second is the next minute's first second.
  EXPECT_EQ(parse_timestamp("2016-12-31T23:59:60Z"), 1483228800000);
  // Only the documented shape: absl::ParseTime alone would take these.
  for (const char* bad : {"2024-5-01T12:30:00Z", "2024-05-01T1:30:00Z", " 2024-05-01T12:30:00Z",
                          "2024-05-01T12:30:00Z ", "2024-05-01T12:30:00+02",
                          "2024-05-01T12:30:00+0200", "12024-05-01T12:30:00Z",
                          "+2024-05-01T12:30:00Z", "2024-05-01T12:30:00+02:00:30",
                          "2024-05-01X12:30:00Z", "2024-05-01T12:30:00.5.5Z"})
    EXPECT_FALSE(parse_timestamp(bad)) << bad;
  // Field ranges and the calendar; before 1970 once the offset is applied.
  for (const char* bad : {"2023-02-29", "2024-00-10", "2024-05-00", "2024-05-01T23:60:00Z",
                          "2024-05-01T12:30:00+24:00", "2024-05-01T12:30:00+01:60",
                          "1970-01-01T00:30:00+01:00", "0000-01-01"})
    EXPECT_FALSE(parse_timestamp(bad)) << bad;
}

TEST(HttpIo, FormatsTimestampsAsUtc) {
  EXPECT_EQ(format_timestamp(0), "1970-01-01T00:00:00.000Z");
  EXPECT_EQ(format_timestamp(1714566600250), "2024-05-01T12:30:00.250Z");
  for (std::int64_t ms : {0LL, 951782400123LL, 1714566600250LL, 4070908799999LL})
    EXPECT_EQ(parse_timestamp(format_timestamp(ms)), ms);
}

TEST(HttpIo, PercentDecoding) {
  EXPECT_EQ(percent_decode("a%20b"), "a b");
  EXPECT_EQ(percent_decode("a%2Fb%2f"), "a/b/");
  EXPECT_EQ(percent_decode("a+b"), "a+b");
  EXPECT_EQ(percent_decode("%C3%A9"), "\xC3\xA9");
  EXPECT_FALSE(percent_decode("%"));
  EXPECT_FALSE(percent_decode("%4"));
  EXPECT_FALSE(percent_decode("%zz"));
}

TEST(HttpIo, IdProblems) {
  EXPECT_FALSE(id_problem("ok-id", 256));
  EXPECT_EQ(id_problem("", 256), "is empty");
  EXPECT_EQ(id_problem("a/b", 256), "contains '/' or a control character");
  EXPECT_EQ(id_problem(std::string("a\0b", 3), 256), "contains '/' or a control character");
  EXPECT_EQ(id_problem(std::string(257, 'x'), 256), "is longer than 256 bytes");
}

TEST(HttpIo, FeedbackDefaultsAndSessions) {
  input_limits limits;
  input_error err;
  auto body = nlohmann::json::parse(
    R"([{"FeedbackType":"star","UserId":"u","ItemId":"i"},
        {"FeedbackType":"rating","UserId":"u","ItemId":"j","Value":3,"Timestamp":"2024-05-01"}])");
  auto events = parse_feedback(body, 42, limits, true, err);
  ASSERT_TRUE(events) << err.message;
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].type, rtrec::engine::event_type::like);
  EXPECT_EQ((*events)[0].timestamp, 42);  // no Timestamp: now
  EXPECT_EQ((*events)[1].value, 3.0);
  EXPECT_EQ((*events)[1].timestamp, 1714521600000);
  auto session = nlohmann::json::parse(R"([{"FeedbackType":"like","ItemId":"i"}])");
  EXPECT_FALSE(parse_feedback(session, 0, limits, true, err));
  EXPECT_EQ(err.message, "[0].UserId: missing (a string is required)");
  EXPECT_TRUE(parse_feedback(session, 0, limits, false, err));
}

TEST(HttpIo, DeepNestingIsRefusedBeforeParsing) {
  input_limits limits;
  input_error err;
  std::string deep(100000, '[');
  EXPECT_FALSE(parse_json(deep, limits, err));
  EXPECT_EQ(err.message, "body: JSON nested deeper than 32 levels");
  // Brackets inside strings do not count.
  EXPECT_TRUE(parse_json(R"(["[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[["])", limits, err));
}

// A number beyond double's range is refused like malformed JSON: nlohmann
// reports it as out_of_range, which once escaped parse_json() and ended the
// server (std::terminate on the I/O thread).
TEST(HttpIo, NumberOverflowIsRefusedNotThrown) {
  input_limits limits;
  input_error err;
  EXPECT_FALSE(parse_json(R"([{"FeedbackType":"rating","Value":1e400}])", limits, err));
  EXPECT_EQ(err.status, 400);
  EXPECT_EQ(err.message.rfind("body: malformed JSON: ", 0), 0u) << err.message;
  EXPECT_NE(err.message.find("number overflow"), std::string::npos) << err.message;
  EXPECT_FALSE(parse_json("-1e999", limits, err));
  EXPECT_TRUE(parse_json("[1e308, -1e308, 18446744073709551616]", limits, err)) << err.message;
}

TEST(HttpIo, NestingLimitIsExact) {
  input_limits limits;
  limits.max_depth = 4;
  input_error err;
  auto arrays = [](int n) { return std::string(n, '[') + std::string(n, ']'); };
  auto objects = [](int n) {
    std::string s;
    for (int k = 0; k < n; ++k)
      s += R"({"a":)";
    s += "1";
    return s + std::string(n, '}');
  };
  EXPECT_TRUE(parse_json(arrays(4), limits, err)) << err.message;
  EXPECT_TRUE(parse_json(objects(4), limits, err)) << err.message;
  EXPECT_TRUE(parse_json(R"([{"a":[{"b":1}]},[[[2]]],{"c":[[3]]}])", limits, err)) << err.message;
  err = {};
  EXPECT_FALSE(parse_json(arrays(5), limits, err));
  EXPECT_EQ(err.message, "body: JSON nested deeper than 4 levels");
  err = {};
  EXPECT_FALSE(parse_json(objects(5), limits, err));
  EXPECT_EQ(err.message, "body: JSON nested deeper than 4 levels");
  err = {};
  EXPECT_FALSE(parse_json(R"([{"a":[{"b":[1]}]}])", limits, err));
  EXPECT_EQ(err.message, "body: JSON nested deeper than 4 levels");
  // Within the limit, a syntax error is reported as such.
  err = {};
  EXPECT_FALSE(parse_json("[[[1]]", limits, err));
  EXPECT_EQ(err.message.rfind("body: malformed JSON at byte ", 0), 0u) << err.message;
}

// The recommend answer's id array is written directly for plain ids: it
// must be byte for byte what nlohmann's dump (replace) writes, for plain ids
// and for ids with quotes, backslashes, control characters, valid and
// invalid UTF-8 (which take nlohmann's path), in lists of 0 to 12.
TEST(HttpIo, ItemIdArrayIsNlohmannsDump) {
  const std::uint64_t seed = 1207;
  std::mt19937_64 rng(seed);
  const std::vector<std::string> odd = {"\"", "\\", "\n", std::string(1, '\0'), "\x7f",
                                        "\xc3\xa9", "\xe2\x82\xac", "\xff", "\xc3", " ", "~"};
  std::size_t direct = 0;
  for (int round = 0; round < 3000; ++round) {
    std::vector<rtrec::engine::recommendation> recs(rng() % 13);
    const bool with_odd = rng() % 3 == 0;
    for (auto& r : recs) {
      const std::size_t n = rng() % 12;
      for (std::size_t k = 0; k < n; ++k)
        r.item += with_odd && rng() % 6 == 0 ? odd[rng() % odd.size()]
                                              : std::string(1, static_cast<char>(0x20 + rng() % 95));
    }
    nlohmann::json ids = nlohmann::json::array();
    for (const auto& r : recs)
      ids.push_back(r.item);
    const auto want = ids.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    ASSERT_EQ(item_id_array(recs), want) << "seed " << seed << " round " << round;
    direct += !with_odd;
  }
  EXPECT_GT(direct, 1000u);
  EXPECT_EQ(item_id_array({}), "[]");
}

}  // namespace
