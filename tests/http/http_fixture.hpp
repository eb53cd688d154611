// The in-process fixture of the HTTP end-to-end tests: a small embedded
// engine with the real server in front of it on a free loopback port (port
// 0), and helpers to talk to it with the real client.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <memory>
#include <string>
#include <vector>

#include "rtrec/rtrec.hpp"
#include "apps/http/server.hpp"
#include "tests/http/http_client.hpp"

namespace rtrec::testing {

class http_fixture : public ::testing::Test {
 protected:
  static service_options small_engine() {
    service_options eo;
    eo.worker_threads = 2;
    eo.call_timeout = std::chrono::seconds(10);
    return eo;
  }

  void start(http::api_options ao = {}, http::server_options so = {},
             service_options eo = small_engine(), wall_clock clock = {}) {
    so.address = "127.0.0.1";
    so.port = 0;
    eng_ = std::make_unique<service>(eo, std::move(clock));
    srv_ = std::make_unique<http::server>(*eng_, so, ao);
  }

  void TearDown() override {
    srv_.reset();
    eng_.reset();
  }

  http_client client() { return http_client{srv_->port()}; }

  /// One request on a fresh connection.
  http_reply call(const std::string& method, const std::string& target,
                  const std::string& body = {},
                  const std::vector<std::pair<std::string, std::string>>& headers = {
                    {"Content-Type", "application/json"}}) {
    return client().request(method, target, body, headers);
  }

  static nlohmann::json parse(const http_reply& r) {
    return nlohmann::json::parse(r.body, nullptr, false);
  }

  static std::string fb(const std::string& type, const std::string& user,
                        const std::string& item) {
    return nlohmann::json{{"FeedbackType", type}, {"UserId", user}, {"ItemId", item}}.dump();
  }

  /// Every object of a cursor listing (`path` answers {"Cursor", field:
  /// [...]}), read in pages of n; each page is checked (200, at most n).
  /// Counts the pages into `pages` when given.
  std::vector<nlohmann::json> every_page(const std::string& path, const char* field,
                                         std::size_t n, int* pages = nullptr) {
    std::vector<nlohmann::json> out;
    std::string cursor;
    const char sep = path.find('?') == std::string::npos ? '?' : '&';
    for (int k = 0; k < 10000; ++k) {
      auto r = call("GET", path + sep + "n=" + std::to_string(n) + "&cursor=" + cursor);
      EXPECT_EQ(r.status, 200) << r.body;
      auto body = parse(r);
      EXPECT_LE(body[field].size(), n);
      for (auto& x : body[field])
        out.push_back(std::move(x));
      if (pages != nullptr)
        ++*pages;
      cursor = body["Cursor"].get<std::string>();
      if (cursor.empty())
        break;
    }
    return out;
  }

  std::uint64_t applied() {
    auto s = eng_->stats();
    EXPECT_TRUE(s);
    return s ? s->events_applied : 0;
  }

  std::unique_ptr<service> eng_;
  std::unique_ptr<http::server> srv_;
};

}  // namespace rtrec::testing
