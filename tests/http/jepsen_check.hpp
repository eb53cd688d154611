// The Jepsen-style check shared by the crash tests (crash_test.cpp for
// `rtrec serve`, cluster_crash_test.cpp for a cluster): what a server holds
// for every user against what the client sent and what was acknowledged.
// Each user touches each item at most once and the server keeps every event
// of a user in its recent list, so GET /api/user/{id} lists every applied
// event.
#pragma once

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <cstdint>
#include <cstdlib>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "tests/http/http_client.hpp"

namespace rtrec::testing {

/// RTREC_SEED when set, else `fallback`.
inline std::uint64_t seed_from_env(std::uint64_t fallback) {
  if (const char* s = std::getenv("RTREC_SEED"))
    return std::strtoull(s, nullptr, 10);
  return fallback;
}

/// The sum of every shard's applied-events counter in the server's /metrics.
inline std::uint64_t applied_total(http_client& c) {
  auto m = c.request("GET", "/metrics");
  std::istringstream in{m.body};
  std::string line;
  std::uint64_t sum = 0;
  while (std::getline(in, line))
    if (line.rfind("rtrec_shard_events_applied_total{", 0) == 0)
      sum += std::stoull(line.substr(line.rfind(' ') + 1));
  return sum;
}

using user_items = std::map<std::string, std::set<std::string>>;

struct jepsen_counts {
  std::size_t lost = 0;        ///< acknowledged events missing from the server
  std::size_t unexpected = 0;  ///< events on the server the client never sent
  std::size_t duplicated = 0;  ///< applied counters minus distinct events present
  std::size_t present = 0;     ///< distinct events present
};

/// Reads every user of `users` through `c` and counts against `sent` and
/// `acked` (user -> items).
inline jepsen_counts jepsen_check(http_client& c, const std::vector<std::string>& users,
                                  const user_items& sent, const user_items& acked) {
  jepsen_counts out;
  static const std::set<std::string> none;
  auto of = [](const user_items& m, const std::string& u) -> const std::set<std::string>& {
    auto it = m.find(u);
    return it == m.end() ? none : it->second;
  };
  for (const auto& user : users) {
    auto r = c.request("GET", "/api/user/" + user);
    EXPECT_EQ(r.status, 200) << r.body.substr(0, 300);
    std::set<std::string> present;
    if (r.status == 200) {
      const auto body = nlohmann::json::parse(r.body);
      for (auto& x : body["Recent"])
        present.insert(x["ItemId"].get<std::string>());
    }
    out.present += present.size();
    for (const auto& i : of(acked, user))
      out.lost += present.count(i) == 0;
    for (const auto& i : present)
      out.unexpected += of(sent, user).count(i) == 0;
  }
  const auto applied = applied_total(c);
  out.duplicated = applied > out.present ? applied - out.present : 0;
  return out;
}

}  // namespace rtrec::testing
