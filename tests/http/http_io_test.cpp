// Unit tests of the API's wire formats (apps/http/json_io): timestamps,
// percent-decoding, ids and the feedback parser's field-level errors.
#include <gtest/gtest.h>

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

}  // namespace
