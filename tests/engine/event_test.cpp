// Tests of the event contract: the stable id hash, event type names (parsing
// with synonyms and any case, printing, round trip), reject reason names, and
// validate(): one test per reject_reason class it can produce, plus the
// boundaries of each limit.
#include "engine/event.hpp"

#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <set>
#include <string>

namespace rtrec::engine {
namespace {

event valid_event() {
  event e;
  e.user = "u1";
  e.item = "i1";
  e.type = event_type::view;
  e.value = 0.0;
  e.timestamp = 1'700'000'000'000;
  return e;
}

// -- hash_id ------------------------------------------------------------------

// The key is part of the wire and storage contract (shard_of depends on it),
// so it is pinned: XXH3-64 with seed 0. The value of "" is the published XXH3
// test vector; the others pin the function on non-empty input.
TEST(EventHashId, IsPinnedXxh3) {
  EXPECT_EQ(hash_id(""), 0x2d06800538d394c2ULL);
  EXPECT_EQ(hash_id("a"), 0xe6c632b61e964e1fULL);
  EXPECT_EQ(hash_id("user-42"), 0x50fe4b21cf7b09cdULL);
  EXPECT_EQ(hash_id("item:abc"), 0x1e16c1cd194ce9d9ULL);
}

TEST(EventHashId, IsStableAndNeverZero) {
  const std::uint64_t seed = 20240501;
  std::mt19937_64 rng{seed};
  std::set<key_t> keys;
  std::set<std::string> ids;
  for (int n = 0; n < 10'000; ++n) {
    std::string s(1 + rng() % 40, ' ');
    for (auto& c : s)
      c = static_cast<char>(0x20 + rng() % 95);
    const key_t k = hash_id(s);
    ASSERT_NE(k, 0u) << "seed=" << seed << " id=" << s;
    ASSERT_EQ(k, hash_id(std::string(s))) << "seed=" << seed << " id=" << s;
    keys.insert(k);
    ids.insert(s);
  }
  // Distinct strings get distinct keys (no 64-bit collision expected).
  EXPECT_EQ(keys.size(), ids.size()) << "seed=" << seed;
  EXPECT_GT(ids.size(), 9'000u) << "seed=" << seed;
}

TEST(EventHashId, DistinguishesSimilarIds) {
  EXPECT_NE(hash_id("u1"), hash_id("u2"));
  EXPECT_NE(hash_id("u1"), hash_id("U1"));
  EXPECT_NE(hash_id("u1"), hash_id("u1 "));
  EXPECT_NE(hash_id("ab"), hash_id("ba"));
}

// -- event types --------------------------------------------------------------

TEST(EventType, ToStringNamesEveryType) {
  EXPECT_STREQ(to_string(event_type::view), "view");
  EXPECT_STREQ(to_string(event_type::click), "click");
  EXPECT_STREQ(to_string(event_type::like), "like");
  EXPECT_STREQ(to_string(event_type::rating), "rating");
  EXPECT_STREQ(to_string(event_type::purchase), "purchase");
  EXPECT_STREQ(to_string(event_type::dislike), "dislike");
}

TEST(EventType, ToStringParseRoundTrip) {
  for (std::size_t t = 0; t < event_type_count; ++t) {
    const auto type = static_cast<event_type>(t);
    auto parsed = parse_event_type(to_string(type));
    ASSERT_TRUE(parsed.has_value()) << "type " << t;
    EXPECT_EQ(*parsed, type) << "type " << t;
  }
}

TEST(EventType, ParseIsCaseInsensitive) {
  EXPECT_EQ(parse_event_type("VIEW"), event_type::view);
  EXPECT_EQ(parse_event_type("Click"), event_type::click);
  EXPECT_EQ(parse_event_type("lIkE"), event_type::like);
  EXPECT_EQ(parse_event_type("RATING"), event_type::rating);
  EXPECT_EQ(parse_event_type("PurChase"), event_type::purchase);
  EXPECT_EQ(parse_event_type("DISLIKE"), event_type::dislike);
}

TEST(EventType, ParseAcceptsSynonyms) {
  EXPECT_EQ(parse_event_type("read"), event_type::view);
  EXPECT_EQ(parse_event_type("star"), event_type::like);
  EXPECT_EQ(parse_event_type("cart"), event_type::purchase);
  EXPECT_EQ(parse_event_type("buy"), event_type::purchase);
  EXPECT_EQ(parse_event_type("READ"), event_type::view);
  EXPECT_EQ(parse_event_type("Star"), event_type::like);
  EXPECT_EQ(parse_event_type("CART"), event_type::purchase);
  EXPECT_EQ(parse_event_type("Buy"), event_type::purchase);
}

TEST(EventType, ParseRejectsUnknownNames) {
  EXPECT_FALSE(parse_event_type("").has_value());
  EXPECT_FALSE(parse_event_type("unknown").has_value());
  EXPECT_FALSE(parse_event_type("views").has_value());
  EXPECT_FALSE(parse_event_type(" view").has_value());
  EXPECT_FALSE(parse_event_type("view ").has_value());
  EXPECT_FALSE(parse_event_type("vie").has_value());
  EXPECT_FALSE(parse_event_type(std::string("view\0", 5)).has_value());
  // Only ASCII letters fold (bytes above 0x7f are not letters), and a name
  // longer than every type's is refused whatever it starts with.
  EXPECT_FALSE(parse_event_type("vi\x85w").has_value());  // 0x85 = 'e' + 0x20
  EXPECT_FALSE(parse_event_type("\xd6iew").has_value());
  EXPECT_FALSE(parse_event_type("purchases").has_value());
  EXPECT_FALSE(parse_event_type("purchase-it").has_value());
}

TEST(RejectReason, ToStringNamesEveryReason) {
  const char* expected[reject_reason_count] = {
      "none",       "empty_user", "empty_item", "id_too_long",  "bad_id_char",
      "bad_value",  "bad_timestamp", "bad_type", "id_collision", "text_too_long"};
  std::set<std::string> names;
  for (std::size_t r = 0; r < reject_reason_count; ++r) {
    EXPECT_STREQ(to_string(static_cast<reject_reason>(r)), expected[r]) << "reason " << r;
    names.insert(to_string(static_cast<reject_reason>(r)));
  }
  EXPECT_EQ(names.size(), reject_reason_count);
}

// -- validate -----------------------------------------------------------------

TEST(EventValidate, ValidEventPasses) {
  EXPECT_EQ(validate(valid_event()), reject_reason::none);
  for (std::size_t t = 0; t < event_type_count; ++t) {
    auto e = valid_event();
    e.type = static_cast<event_type>(t);
    e.value = 5.0;
    EXPECT_EQ(validate(e), reject_reason::none) << "type " << t;
  }
  auto e = valid_event();
  e.id = "evt-1";
  EXPECT_EQ(validate(e), reject_reason::none);
  e.user = "user with spaces and ünïcödé";
  e.item = "item:with|punctuation\\and~more";
  EXPECT_EQ(validate(e), reject_reason::none);
}

TEST(EventValidate, EmptyUser) {
  auto e = valid_event();
  e.user.clear();
  EXPECT_EQ(validate(e), reject_reason::empty_user);
  e.item.clear();  // the first problem found is reported
  EXPECT_EQ(validate(e), reject_reason::empty_user);
}

TEST(EventValidate, EmptyItem) {
  auto e = valid_event();
  e.item.clear();
  EXPECT_EQ(validate(e), reject_reason::empty_item);
}

TEST(EventValidate, IdTooLong) {
  validation_limits limits;
  limits.max_id_length = 8;
  auto e = valid_event();
  e.user = std::string(8, 'u');
  e.item = std::string(8, 'i');
  e.id = std::string(8, 'e');
  EXPECT_EQ(validate(e, limits), reject_reason::none);

  auto long_user = e;
  long_user.user.push_back('u');
  EXPECT_EQ(validate(long_user, limits), reject_reason::id_too_long);
  auto long_item = e;
  long_item.item.push_back('i');
  EXPECT_EQ(validate(long_item, limits), reject_reason::id_too_long);
  auto long_event_id = e;
  long_event_id.id.push_back('e');
  EXPECT_EQ(validate(long_event_id, limits), reject_reason::id_too_long);

  // Default limit: 256 bytes.
  auto d = valid_event();
  d.user = std::string(256, 'u');
  EXPECT_EQ(validate(d), reject_reason::none);
  d.user.push_back('u');
  EXPECT_EQ(validate(d), reject_reason::id_too_long);
}

TEST(EventValidate, ControlCharacterInId) {
  for (int c = 0; c < 0x20; ++c) {
    auto e = valid_event();
    e.user = std::string("u") + static_cast<char>(c) + "x";
    EXPECT_EQ(validate(e), reject_reason::bad_id_char) << "user char " << c;
    auto f = valid_event();
    f.item = std::string(1, static_cast<char>(c));
    EXPECT_EQ(validate(f), reject_reason::bad_id_char) << "item char " << c;
  }
}

TEST(EventValidate, SlashInId) {
  auto e = valid_event();
  e.user = "a/b";
  EXPECT_EQ(validate(e), reject_reason::bad_id_char);
  auto f = valid_event();
  f.item = "/";
  EXPECT_EQ(validate(f), reject_reason::bad_id_char);
}

TEST(EventValidate, DelInId) {
  auto e = valid_event();
  e.user = std::string("u") + '\x7f';
  EXPECT_EQ(validate(e), reject_reason::bad_id_char);
  auto f = valid_event();
  f.item = std::string("\x7fi");
  EXPECT_EQ(validate(f), reject_reason::bad_id_char);
}

TEST(EventValidate, ValidateIdDirectly) {
  EXPECT_EQ(validate_id("abc", 3), reject_reason::none);
  EXPECT_EQ(validate_id("abcd", 3), reject_reason::id_too_long);
  EXPECT_EQ(validate_id("a/c", 3), reject_reason::bad_id_char);
  EXPECT_EQ(validate_id("a\tc", 3), reject_reason::bad_id_char);
  EXPECT_EQ(validate_id("a\x7f", 3), reject_reason::bad_id_char);
  EXPECT_EQ(validate_id(" ~", 3), reject_reason::none);  // 0x20 and 0x7e are fine
  EXPECT_EQ(validate_id("\x80\xff", 3), reject_reason::none);  // UTF-8 bytes
}

// validate_id() checks eight bytes at a time: every length from 0 to 40,
// every position of one bad byte, bytes on both sides of each boundary of
// the rule (0x1f/0x20, 0x7e/0x7f/0x80, '.'/'/'/'0'), and random ids around
// them, against the rule byte by byte.
TEST(EventValidate, ValidateIdMatchesTheRuleAtEveryLengthAndPosition) {
  auto rule = [](std::string_view id) {
    for (char c : id) {
      const auto u = static_cast<unsigned char>(c);
      if (u < 0x20 || u == 0x7f || u == '/')
        return reject_reason::bad_id_char;
    }
    return reject_reason::none;
  };
  const unsigned char probes[] = {0x00, 0x01, 0x1f, 0x20, 0x21, 0x2e, 0x2f, 0x30,
                                  0x7e, 0x7f, 0x80, 0x9f, 0xa0, 0xaf, 0xff};
  const std::uint64_t seed = 20261207;
  std::mt19937_64 rng(seed);
  std::size_t bad_seen = 0;
  for (std::size_t n = 0; n <= 40; ++n) {
    for (int round = 0; round < 20; ++round) {
      std::string id(n, 'a');
      for (auto& c : id)  // printable ASCII and UTF-8 bytes, never a bad one
        do
          c = static_cast<char>(rng() % 256);
        while (rule(std::string_view(&c, 1)) != reject_reason::none);
      ASSERT_EQ(validate_id(id, 64), reject_reason::none) << "seed " << seed << " id of " << n;
      for (std::size_t at = 0; at < n; ++at)
        for (unsigned char b : probes) {
          std::string x = id;
          x[at] = static_cast<char>(b);
          const auto want = rule(x);
          bad_seen += want != reject_reason::none;
          ASSERT_EQ(validate_id(x, 64), want)
            << "seed " << seed << " length " << n << " byte " << int(b) << " at " << at;
        }
    }
  }
  EXPECT_GT(bad_seen, 10000u);
}

TEST(EventValidate, NanOrInfiniteValue) {
  const double bad[] = {std::numeric_limits<double>::quiet_NaN(),
                        std::numeric_limits<double>::infinity(),
                        -std::numeric_limits<double>::infinity()};
  for (double v : bad) {
    for (std::size_t t = 0; t < event_type_count; ++t) {
      auto e = valid_event();
      e.type = static_cast<event_type>(t);
      e.value = v;
      EXPECT_EQ(validate(e), reject_reason::bad_value) << "value " << v << " type " << t;
    }
  }
}

TEST(EventValidate, RatingOutOfRange) {
  auto e = valid_event();
  e.type = event_type::rating;
  e.value = 0.0;
  EXPECT_EQ(validate(e), reject_reason::none);
  e.value = 10.0;
  EXPECT_EQ(validate(e), reject_reason::none);
  e.value = -0.5;
  EXPECT_EQ(validate(e), reject_reason::bad_value);
  e.value = 10.5;
  EXPECT_EQ(validate(e), reject_reason::bad_value);

  validation_limits limits;
  limits.min_rating = 1.0;
  limits.max_rating = 5.0;
  e.value = 0.5;
  EXPECT_EQ(validate(e, limits), reject_reason::bad_value);
  e.value = 5.5;
  EXPECT_EQ(validate(e, limits), reject_reason::bad_value);
  e.value = 3.0;
  EXPECT_EQ(validate(e, limits), reject_reason::none);

  // The range applies to ratings only; other types ignore a finite value.
  auto v = valid_event();
  v.type = event_type::view;
  v.value = 1e9;
  EXPECT_EQ(validate(v), reject_reason::none);
}

TEST(EventValidate, NegativeTimestamp) {
  auto e = valid_event();
  e.timestamp = -1;
  EXPECT_EQ(validate(e), reject_reason::bad_timestamp);
  e.timestamp = std::numeric_limits<std::int64_t>::min();
  EXPECT_EQ(validate(e), reject_reason::bad_timestamp);
  e.timestamp = 0;
  EXPECT_EQ(validate(e), reject_reason::none);
}

TEST(EventValidate, CommentAndTimestampTextAreBounded) {
  auto e = valid_event();
  validation_limits limits;
  e.comment.assign(limits.max_comment_length, 'c');
  e.timestamp_text.assign(limits.max_timestamp_text, '1');
  EXPECT_EQ(validate(e, limits), reject_reason::none);
  e.comment.push_back('c');
  EXPECT_EQ(validate(e, limits), reject_reason::text_too_long);
  e.comment.pop_back();
  e.timestamp_text.push_back('1');
  EXPECT_EQ(validate(e, limits), reject_reason::text_too_long);
}

TEST(EventValidate, TimestampAfterYear9999) {
  // 10000-01-01T00:00:00.000Z is the first millisecond after year 9999.
  constexpr std::int64_t year_10000 = 253402300800000LL;
  auto e = valid_event();
  e.timestamp = year_10000;
  EXPECT_EQ(validate(e), reject_reason::bad_timestamp);
  e.timestamp = std::numeric_limits<std::int64_t>::max();
  EXPECT_EQ(validate(e), reject_reason::bad_timestamp);
  e.timestamp = year_10000 - 1000;  // 9999-12-31T23:59:59.000Z
  EXPECT_EQ(validate(e), reject_reason::none);
}

// The contract rejects timestamps "after year 9999": the last millisecond of
// year 9999 (23:59:59.999) is still in that year and must be accepted.
TEST(EventValidate, LastMillisecondOfYear9999IsValid) {
  constexpr std::int64_t year_10000 = 253402300800000LL;
  auto e = valid_event();
  e.timestamp = year_10000 - 1;  // 9999-12-31T23:59:59.999Z
  EXPECT_EQ(validate(e), reject_reason::none)
      << "9999-12-31T23:59:59.999Z is in year 9999 but was rejected";
  e.timestamp = year_10000 - 500;  // 9999-12-31T23:59:59.500Z
  EXPECT_EQ(validate(e), reject_reason::none);
}

TEST(EventValidate, BadTypeCast) {
  auto e = valid_event();
  e.type = static_cast<event_type>(99);
  EXPECT_EQ(validate(e), reject_reason::bad_type);
  e.type = static_cast<event_type>(event_type_count);
  EXPECT_EQ(validate(e), reject_reason::bad_type);
  EXPECT_STREQ(to_string(static_cast<event_type>(99)), "unknown");
}

}  // namespace
}  // namespace rtrec::engine
