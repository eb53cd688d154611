// Tests of the feedback body parser (apps/http/feedback_body, simdjson):
// on random bodies, valid and broken in every way the DOM path tells apart,
// it answers exactly what parse_json() + parse_feedback() answer: the same
// events field by field, or the same error message and status, and the
// shape the invalid-events counter reads.
#include <gtest/gtest.h>

#include <cstdint>
#include <random>
#include <string>
#include <vector>

#include "apps/http/feedback_body.hpp"
#include "apps/http/json_io.hpp"

namespace {

using namespace rtrec::http;
using rtrec::engine::event;

// The reference: the DOM parse, then the DOM feedback parse.
struct reference_answer {
  std::optional<std::vector<event>> events;
  input_error err;
  feedback_body_shape shape;
};

reference_answer reference(const std::string& body, std::int64_t now, const input_limits& limits,
                           bool require_user) {
  reference_answer r;
  auto doc = parse_json(body, limits, r.err);
  if (!doc)
    return r;
  r.shape = {true, doc->is_array(), doc->is_array() ? doc->size() : 0};
  r.events = parse_feedback(*doc, now, limits, require_user, r.err);
  return r;
}

void expect_same_events(const std::vector<event>& a, const std::vector<event>& b) {
  ASSERT_EQ(a.size(), b.size());
  for (std::size_t k = 0; k < a.size(); ++k) {
    SCOPED_TRACE("event " + std::to_string(k));
    EXPECT_EQ(a[k].user, b[k].user);
    EXPECT_EQ(a[k].item, b[k].item);
    EXPECT_EQ(a[k].type, b[k].type);
    EXPECT_EQ(a[k].value, b[k].value);
    EXPECT_EQ(a[k].timestamp, b[k].timestamp);
    EXPECT_EQ(a[k].id, b[k].id);
    EXPECT_EQ(a[k].comment, b[k].comment);
    EXPECT_EQ(a[k].timestamp_text, b[k].timestamp_text);
    EXPECT_EQ(a[k].overwrite, b[k].overwrite);
  }
}

void expect_same_answer(const std::string& body, std::int64_t now, const input_limits& limits,
                        bool require_user) {
  SCOPED_TRACE("body: " + body.substr(0, 400));
  const auto want = reference(body, now, limits, require_user);
  input_error err;
  feedback_body_shape shape;
  const auto got = parse_feedback_body(body, now, limits, require_user, err, &shape);
  ASSERT_EQ(got.has_value(), want.events.has_value()) << "parse_feedback_body: " << err.message
                                                      << "\nDOM: " << want.err.message;
  if (got) {
    expect_same_events(*got, *want.events);
    return;
  }
  // Only a body simdjson refused takes the exact path.
  if (!shape.json) {
    EXPECT_TRUE(shape.exact);
  }
  EXPECT_EQ(err.message, want.err.message);
  EXPECT_EQ(err.status, want.err.status);
  EXPECT_EQ(shape.json, want.shape.json);
  EXPECT_EQ(shape.array, want.shape.array);
  EXPECT_EQ(shape.elements, want.shape.elements);
}

// Random JSON of every kind, `depth` levels at most.
std::string random_json(std::mt19937_64& rng, int depth) {
  switch (rng() % (depth > 0 ? 13 : 11)) {
    // What simdjson takes differently: integers beyond 64 bits (nlohmann:
    // a double), a lone surrogate (nlohmann: malformed), -0, a valid pair.
    case 7: return "100000000000000000000000";
    case 8: return R"("\ud800")";
    case 9: return "-0";
    case 10: return R"("\ud83d\ude00")";
    case 0: return "null";
    case 1: return rng() % 2 ? "true" : "false";
    case 2: return std::to_string(static_cast<std::int64_t>(rng() % 2000) - 1000);
    case 3: return "1.5e3";
    case 4: return "18446744073709551615";
    case 5: return R"("x/y")";
    case 6: return R"("text \"q\" \u00e9")";
    case 11: {
      std::string s = "[";
      for (int n = static_cast<int>(rng() % 3); n > 0; --n)
        s += random_json(rng, depth - 1) + (n > 1 ? "," : "");
      return s + "]";
    }
    default: {
      std::string s = "{";
      for (int n = static_cast<int>(rng() % 3); n > 0; --n)
        s += "\"k" + std::to_string(n) + "\":" + random_json(rng, depth - 1) + (n > 1 ? "," : "");
      return s + "}";
    }
  }
}

// A value for one of the kept fields: what a client sends (`clean`: only
// valid values, null included), or also the wrong kind, an invalid id or
// time, or a nested value.
std::string random_field_value(std::mt19937_64& rng, const std::string& field, bool clean) {
  const auto r = rng() % 20;
  if (r == 0 && !clean)
    return random_json(rng, 3);
  if (r == 1)
    return "null";
  if (field == "FeedbackType") {
    const char* types[] = {"view", "click", "like", "purchase", "dislike", "star", "rating", "Nope", ""};
    return std::string{"\""} + types[rng() % (clean ? 6 : 9)] + "\"";
  }
  if (field == "Value") {
    const char* values[] = {"3", "4.5", "0", "1e-3", "-1", "11", "1e400", "\"5\"", "true"};
    return values[rng() % (clean ? 4 : 9)];
  }
  if (field == "Timestamp") {
    const char* times[] = {"\"2024-05-01T12:30:00Z\"", "\"2024-05-01\"", "\"0001-01-01T00:00:00Z\"",
                           "\"\"", "1714566600", "1714566600.5",
                           "\"2024-05-01T12:30:00.123+02:00\"", "\"yesterday\"", "-3", "1e300",
                           "\"2024-05-01T12:30:00.123456789+02:00\""};
    return times[rng() % (clean ? 7 : 11)];
  }
  if (field == "Comment") {
    const char* comments[] = {"\"nice\"", "\"\"", "\"\\u00e9t\\u00e9\"", "5",
                              "\"a longer comment than the limit\""};
    return comments[rng() % (clean ? 3 : 5)];
  }
  // ids: UserId, ItemId, EventId
  const char* ids[] = {"\"u1\"", "\"i42\"", "\"ok\"", "\"\"", "\"a/b\"", "\"\\u0001\"",
                       "\"x-very-long-id-beyond-the-limit\"", "7"};
  return ids[rng() % (clean ? 3 : 8)];
}

std::string random_feedback(std::mt19937_64& rng, bool clean) {
  static const char* fields[] = {"FeedbackType", "UserId", "ItemId",  "EventId",
                                 "Timestamp",    "Comment", "Value",  "Labels", "Updated"};
  std::string s = "{";
  bool first = true;
  auto add = [&](const std::string& name, const std::string& value) {
    s += (first ? "\"" : ",\"") + name + "\":" + value;
    first = false;
  };
  // Mostly a complete, valid feedback; then random fields, duplicates
  // included.
  if (clean || rng() % 3 != 0) {
    add("FeedbackType", "\"like\"");
    add("UserId", "\"u" + std::to_string(rng() % 50) + "\"");
    add("ItemId", "\"i" + std::to_string(rng() % 50) + "\"");
  }
  for (int n = static_cast<int>(rng() % 4); n > 0; --n) {
    const std::string name = fields[rng() % 9];
    add(name, name == "Labels" || name == "Updated" ? random_json(rng, 3)
                                                    : random_field_value(rng, name, clean));
  }
  return s + "}";
}

std::string random_body(std::mt19937_64& rng) {
  const auto shape = rng() % 20;
  if (shape == 0)
    return random_json(rng, 4);  // not an array, mostly
  std::string s = "[";
  // Half the bodies hold only valid feedback (which must give equal
  // events); the others break in every way.
  const bool clean = rng() % 2 == 0;
  const int n = static_cast<int>(rng() % 8);
  for (int k = 0; k < n; ++k) {
    s += k > 0 ? "," : "";
    s += !clean && rng() % 15 == 0 ? random_json(rng, 2) : random_feedback(rng, clean);
  }
  s += "]";
  switch (clean ? 3 : rng() % 15) {
    case 0: return s.substr(0, rng() % (s.size() + 1));   // truncated
    case 1: return s + " x";                              // trailing junk
    case 2: return s.insert(rng() % s.size(), "\"");      // a stray quote
    case 3: return "  " + s + "\n";                       // whitespace is fine
    case 4: return "\xEF\xBB\xBF" + s;                    // a UTF-8 byte order mark
    case 5: return s.insert(rng() % s.size(), "\xff");    // invalid UTF-8
    case 6: return s.insert(rng() % s.size(), "\x01");    // a control character
    default: return s;
  }
}

TEST(FeedbackBody, AnswersAsTheDomParserOnRandomBodies) {
  for (std::uint64_t seed = 1; seed <= 200; ++seed) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    std::mt19937_64 rng(seed);
    for (int round = 0; round < 20; ++round) {
      input_limits limits;
      // Small limits often, so both the array and the nesting limit are hit.
      if (rng() % 2 == 0) {
        limits.max_array = rng() % 6;
        limits.max_depth = 1 + rng() % 4;
        limits.ids.max_id_length = 8;
        limits.max_comment_bytes = 10;
        limits.max_timestamp_bytes = 1 + rng() % 40;
      }
      expect_same_answer(random_body(rng), 1'700'000'000'000, limits, rng() % 4 != 0);
      if (HasFailure())
        return;
    }
  }
}

TEST(FeedbackBody, ParsesGorseFeedback) {
  input_limits limits;
  input_error err;
  auto events = parse_feedback_body(
    R"([{"FeedbackType":"rating","UserId":"u","ItemId":"i","Value":4,"Labels":{"a":[1,{"b":2}]},
         "Timestamp":"2024-05-01T12:30:00Z","Comment":"ok","EventId":"e1"},
        {"FeedbackType":"view","UserId":"u","ItemId":"j"}])",
    42, limits, true, err);
  ASSERT_TRUE(events) << err.message;
  ASSERT_EQ(events->size(), 2u);
  EXPECT_EQ((*events)[0].type, rtrec::engine::event_type::rating);
  EXPECT_EQ((*events)[0].value, 4.0);
  EXPECT_EQ((*events)[0].timestamp, 1714566600000);
  EXPECT_EQ((*events)[0].timestamp_text, "2024-05-01T12:30:00Z");
  EXPECT_EQ((*events)[0].comment, "ok");
  EXPECT_EQ((*events)[0].id, "e1");
  EXPECT_EQ((*events)[1].item, "j");
  EXPECT_EQ((*events)[1].timestamp, 42);
}

// Valid bodies take simdjson's path; what only nlohmann takes (an integer
// beyond 64 bits, here in an ignored field) takes the exact path and is
// accepted all the same.
TEST(FeedbackBody, FastPathForValidBodiesExactPathForTheRest) {
  input_limits limits;
  input_error err;
  feedback_body_shape shape;
  auto events = parse_feedback_body(R"([{"FeedbackType":"like","UserId":"u","ItemId":"i",
                                        "Labels":[1,{"a":null}]}])",
                                    0, limits, true, err, &shape);
  ASSERT_TRUE(events) << err.message;
  EXPECT_FALSE(shape.exact);
  events = parse_feedback_body(R"([{"FeedbackType":"like","UserId":"u","ItemId":"i",
                                   "Labels":100000000000000000000000}])",
                               0, limits, true, err, &shape);
  ASSERT_TRUE(events) << err.message;
  EXPECT_EQ(events->size(), 1u);
  EXPECT_TRUE(shape.exact);
  // An element error is found on the fast path, with the same message.
  EXPECT_FALSE(parse_feedback_body(R"([{"FeedbackType":"like","UserId":"u","ItemId":"a/b"}])", 0,
                                   limits, true, err, &shape));
  EXPECT_FALSE(shape.exact);
  EXPECT_EQ(err.message, "[0].ItemId: contains '/' or a control character");
}

// A body beyond the per-thread parser's size (256 KiB) is parsed by a
// parser of its own, with the same answer; the reused parser still serves
// small bodies after it.
TEST(FeedbackBody, LargeBodiesAsSmallOnes) {
  input_limits limits;
  std::string body = "[";
  for (int k = 0; k < 6000; ++k)
    body += (k > 0 ? "," : "") + std::string{R"({"FeedbackType":"view","UserId":"u)"} +
            std::to_string(k) + R"(","ItemId":"i)" + std::to_string(k % 97) + "\"}";
  body += "]";
  ASSERT_GT(body.size(), std::size_t{256} << 10);
  expect_same_answer(body, 0, limits, true);
  input_error err;
  auto events = parse_feedback_body(body, 0, limits, true, err);
  ASSERT_TRUE(events) << err.message;
  EXPECT_EQ(events->size(), 6000u);
  EXPECT_EQ(events->back().user, "u5999");
  expect_same_answer(R"([{"FeedbackType":"like","UserId":"a","ItemId":"b"}])", 0, limits, true);
}

TEST(FeedbackBody, ErrorsInTheDomParsersOrder) {
  input_limits limits;
  limits.max_array = 2;
  limits.max_depth = 3;
  input_error err;
  feedback_body_shape shape;
  // A field error before a syntax error: the syntax error is the answer.
  EXPECT_FALSE(parse_feedback_body(R"([{"FeedbackType":1},)", 0, limits, true, err, &shape));
  EXPECT_EQ(err.message.rfind("body: malformed JSON at byte ", 0), 0u) << err.message;
  EXPECT_FALSE(shape.json);
  // A field error before too many elements: 413.
  EXPECT_FALSE(parse_feedback_body(R"([{"FeedbackType":1},{},{}])", 0, limits, true, err, &shape));
  EXPECT_EQ(err.status, 413);
  EXPECT_EQ(err.message, "body: at most 2 feedback per request, got 3");
  EXPECT_TRUE(shape.json);
  EXPECT_EQ(shape.elements, 3u);
  // Too deep, wherever it is.
  EXPECT_FALSE(parse_feedback_body(R"([{"Labels":[[1]]}])", 0, limits, true, err, &shape));
  EXPECT_EQ(err.message, "body: JSON nested deeper than 3 levels");
  // The first invalid element.
  EXPECT_FALSE(parse_feedback_body(
    R"([{"FeedbackType":"like","UserId":"u","ItemId":"i"},{"FeedbackType":"like","UserId":"u"}])",
    0, limits, true, err, &shape));
  EXPECT_EQ(err.message, "[1].ItemId: missing (a string is required)");
  EXPECT_EQ(err.status, 400);
  EXPECT_FALSE(parse_feedback_body(R"({"FeedbackType":"like"})", 0, limits, true, err, &shape));
  EXPECT_EQ(err.message, "body: expected a JSON array of feedback objects, got an object");
  EXPECT_TRUE(shape.json);
  EXPECT_FALSE(shape.array);
}

}  // namespace
