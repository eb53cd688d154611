// Unit tests of apps/http/body_reader: lines split across pieces however the
// body is cut (CRLF, a last line without a line end, a line over the limit),
// and the "file" part of a multipart/form-data body as curl -F and Gorse's
// dashboard send it, fed in seeded random pieces.
#include <gtest/gtest.h>

#include <random>
#include <string>
#include <vector>

#include "apps/http/body_reader.hpp"

namespace {

using namespace rtrec::http;

struct line {
  std::uint64_t number;
  std::string text;
  bool too_long;
  bool operator==(const line& o) const {
    return number == o.number && text == o.text && too_long == o.too_long;
  }
};

std::vector<line> split(const std::string& body, std::size_t max_line,
                        const std::vector<std::size_t>& cuts) {
  line_splitter s{max_line};
  std::vector<line> out;
  auto f = [&](std::uint64_t n, std::string_view t, bool too_long) {
    out.push_back({n, std::string{t}, too_long});
  };
  std::size_t pos = 0;
  for (auto c : cuts) {
    s.feed(std::string_view{body}.substr(pos, c - pos), f);
    pos = c;
  }
  s.feed(std::string_view{body}.substr(pos), f);
  s.finish(f);
  return out;
}

TEST(BodyReader, LinesSplitAnywhere) {
  const std::string body = "{\"a\":1}\r\n\n{\"b\":2}\nlast";
  const std::vector<line> want{{1, "{\"a\":1}", false}, {2, "", false}, {3, "{\"b\":2}", false},
                               {4, "last", false}};
  for (std::size_t cut = 0; cut <= body.size(); ++cut)
    EXPECT_EQ(split(body, 100, {cut}), want) << "cut at " << cut;
  EXPECT_EQ(split(body, 100, {1, 2, 3, 8, 9, 10, 11}), want);
  EXPECT_EQ(split("x\n", 100, {}), (std::vector<line>{{1, "x", false}}));
}

TEST(BodyReader, TooLongLinesAreFlaggedAndTheNextOnesRead) {
  const std::string body = std::string(50, 'x') + "\nok\n" + std::string(11, 'y') + "\r\n" +
                           std::string(10, 'z') + "\r\n";
  const std::vector<line> want{{1, "", true}, {2, "ok", false}, {3, "", true},
                               {4, std::string(10, 'z'), false}};
  EXPECT_EQ(split(body, 10, {}), want);
  EXPECT_EQ(split(body, 10, {5, 20, 51, 60}), want);
}

std::string multipart(const std::string& boundary, const std::string& content) {
  return "--" + boundary + "\r\nContent-Disposition: form-data; name=\"comment\"\r\n\r\n" +
         "not this one\r\n--" + boundary +
         "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"feedback.jsonl\"\r\n"
         "Content-Type: application/octet-stream\r\n\r\n" +
         content + "\r\n--" + boundary + "--\r\n";
}

std::string read_part(multipart_reader& r, const std::string& body, std::mt19937_64& rng,
                      std::string& error) {
  std::string out;
  std::size_t pos = 0;
  while (pos < body.size() && error.empty()) {
    const auto n = std::min<std::size_t>(body.size() - pos, 1 + rng() % 13);
    error = r.feed(std::string_view{body}.substr(pos, n),
                   [&](std::string_view s) { out.append(s); });
    pos += n;
  }
  if (error.empty())
    error = r.finish();
  return out;
}

TEST(BodyReader, MultipartFilePartInRandomPieces) {
  const std::uint64_t seed = 777;
  SCOPED_TRACE("seed " + std::to_string(seed));
  std::mt19937_64 rng{seed};
  // The content itself holds CRLFs and a look-alike of the boundary.
  const std::string content =
    "{\"FeedbackType\":\"like\",\"UserId\":\"u\",\"ItemId\":\"i\"}\r\n--Xy\r\n{\"x\":1}\n";
  const auto body = multipart("XyZ123", content);
  for (int round = 0; round < 50; ++round) {
    multipart_reader r{"XyZ123", "file"};
    std::string error;
    EXPECT_EQ(read_part(r, body, rng, error), content);
    EXPECT_EQ(error, "");
  }
}

TEST(BodyReader, MultipartProblemsAreNamed) {
  std::mt19937_64 rng{1};
  std::string error;
  multipart_reader none{"B", "file"};
  read_part(none, "--B\r\nContent-Disposition: form-data; name=\"x\"\r\n\r\nv\r\n--B--\r\n", rng,
            error);
  EXPECT_NE(error.find("no part named \"file\""), std::string::npos) << error;
  error.clear();
  multipart_reader cut{"B", "file"};
  const auto whole = multipart("B", "data");
  read_part(cut, whole.substr(0, whole.size() - 12), rng, error);
  EXPECT_NE(error.find("cut short"), std::string::npos) << error;
  error.clear();
  multipart_reader bad{"B", "file"};
  read_part(bad, "--B junk", rng, error);
  EXPECT_NE(error.find("CRLF"), std::string::npos) << error;
}

TEST(BodyReader, BoundaryFromContentType) {
  EXPECT_EQ(multipart_reader::boundary_of("multipart/form-data; boundary=abc"), "abc");
  EXPECT_EQ(multipart_reader::boundary_of("Multipart/Form-Data;charset=x; BOUNDARY=\"a b\""),
            "a b");
  EXPECT_EQ(multipart_reader::boundary_of("multipart/form-data"), std::nullopt);
  EXPECT_EQ(multipart_reader::boundary_of("application/jsonl"), std::nullopt);
  EXPECT_EQ(multipart_reader::boundary_of("multipart/form-data; boundary="), std::nullopt);
}

}  // namespace
