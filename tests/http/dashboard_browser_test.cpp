// The dashboard in a real browser: `rtrec serve` (and `rtrec node`) on a free
// loopback port, events fed through the API, then headless Chromium loads
// /dashboard, a user page and an item page and the tests read the rendered
// DOM: the figures match what was sent, the user page lists exactly what
// /api/recommend returns (with the "why" the neighbors API implies), the
// item page the neighbors /api/item/{id}/neighbors returns. Chromium is a
// requirement (scripts/setup.sh installs it): without it these tests fail.
//
// RTREC_DASHBOARD_SCREENSHOTS=DIR keeps the screenshots in DIR (the README's
// docs/dashboard-*.png are made that way); else they go to a temporary dir.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "tests/http/browser.hpp"
#include "tests/http/http_client.hpp"
#include "tests/http/node_process.hpp"
#include "tests/http/serve_process.hpp"

namespace {

namespace fs = std::filesystem;
using nlohmann::json;
using rtrec::testing::attr_of;
using rtrec::testing::attrs_in;
using rtrec::testing::browser;
using rtrec::testing::http_client;
using rtrec::testing::page_state;
using rtrec::testing::serve_process;
using rtrec::testing::text_of;

const std::string key = "dash-key-42";
const char* const no_chromium =
  "chromium is not installed (the dashboard tests drive a real browser): run scripts/setup.sh, "
  "which installs Debian's chromium package";

// 5 users, 5 items, 13 events.
const char* const events = R"([
  {"FeedbackType":"like","UserId":"bob","ItemId":"dune"},
  {"FeedbackType":"like","UserId":"bob","ItemId":"hyperion"},
  {"FeedbackType":"like","UserId":"bob","ItemId":"foundation"},
  {"FeedbackType":"like","UserId":"carol","ItemId":"dune"},
  {"FeedbackType":"like","UserId":"carol","ItemId":"hyperion"},
  {"FeedbackType":"like","UserId":"carol","ItemId":"emma"},
  {"FeedbackType":"like","UserId":"dave","ItemId":"foundation"},
  {"FeedbackType":"like","UserId":"dave","ItemId":"neuromancer"},
  {"FeedbackType":"like","UserId":"dave","ItemId":"dune"},
  {"FeedbackType":"like","UserId":"erin","ItemId":"emma"},
  {"FeedbackType":"like","UserId":"erin","ItemId":"neuromancer"},
  {"FeedbackType":"like","UserId":"alice","ItemId":"dune"},
  {"FeedbackType":"like","UserId":"alice","ItemId":"neuromancer"}])";
constexpr int sent_users = 5, sent_items = 5, sent_events = 13;

std::vector<std::string> ids_of(const json& list, const char* field = "Id") {
  std::vector<std::string> out;
  for (const auto& x : list)
    out.push_back(x.is_string() ? x.get<std::string>() : x.at(field).get<std::string>());
  return out;
}

class dashboard_browser : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_TRUE(chrome.available()) << no_chromium;
    server = std::make_unique<serve_process>(key);
    api = std::make_unique<http_client>(server->port());
    auto fed = get_or_post("POST", "/api/feedback", events);
    ASSERT_EQ(fed.value("RowAffected", 0), sent_events) << fed.dump();
    ASSERT_TRUE(item_side_caught_up()) << "the item side never caught up: " << stats().dump();
  }

  void TearDown() override {
    if (HasFailure() && server)
      std::cerr << "-------- rtrec serve log --------\n" << server->log() << '\n';
  }

  json get_or_post(const std::string& method, const std::string& target,
                   const std::string& body = {}) {
    auto r = api->request(method, target, body,
                          {{"Content-Type", "application/json"}, {"X-API-Key", key}});
    EXPECT_EQ(r.status, 200) << method << ' ' << target << ": " << r.body;
    return r.status == 200 ? json::parse(r.body) : json{};
  }
  json get(const std::string& target) { return get_or_post("GET", target); }
  json stats() { return get("/api/dashboard/stats"); }

  // The explicit readiness answer: every event applied, every item known,
  // no item-side batch in flight (the profile shards' queues are empty).
  bool item_side_caught_up() {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
    while (std::chrono::steady_clock::now() < deadline) {
      const auto s = stats();
      bool idle = s.value("EventsApplied", 0) == sent_events && s.value("Items", 0) == sent_items;
      for (const auto& p : s["Shards"]["Profile"])
        idle = idle && p.value("QueueDepth", 1) == 0;
      if (idle)
        return true;
    }
    return false;
  }

  std::string url(const std::string& page, bool with_key = true) const {
    return "http://127.0.0.1:" + std::to_string(server->port()) + page +
           (with_key ? "#key=" + key : "");
  }

  // The page's DOM once it reached state `want` (else a failure naming it).
  std::string load(const std::string& page, const std::string& want = "ready") {
    auto dom = chrome.dump_dom(url(page));
    EXPECT_EQ(page_state(dom), want) << page << "\n" << chrome.last_error() << "\nDOM:\n" << dom;
    return dom;
  }

  browser chrome;
  std::unique_ptr<serve_process> server;
  std::unique_ptr<http_client> api;
};

TEST_F(dashboard_browser, OverviewShowsTheFiguresSent) {
  const auto recommended = get("/api/recommend/alice?n=10");  // the only recommend call
  ASSERT_FALSE(recommended.empty());
  const auto popular = ids_of(get("/api/popular?n=10"));
  const auto latest = ids_of(get("/api/latest?n=10"));
  const auto dom = load("/dashboard");
  EXPECT_EQ(attr_of(dom, "stat-users", "data-value"), std::to_string(sent_users)) << dom;
  EXPECT_EQ(attr_of(dom, "stat-items", "data-value"), std::to_string(sent_items)) << dom;
  EXPECT_EQ(attr_of(dom, "stat-events", "data-value"), std::to_string(sent_events)) << dom;
  EXPECT_EQ(attr_of(dom, "stat-feedback", "data-value"), std::to_string(sent_events)) << dom;
  EXPECT_EQ(attr_of(dom, "stat-recommends", "data-value"), "1") << dom;
  EXPECT_EQ(text_of(dom, "stat-users"), std::to_string(sent_users));
  // Rates are there once two polls have been made (the page polls every 2 s
  // of its 5 s): nothing new came in meanwhile.
  EXPECT_EQ(attr_of(dom, "stat-events-rate", "data-value"), "0") << dom;
  EXPECT_FALSE(popular.empty());
  EXPECT_EQ(attrs_in(dom, "popular", "</ol>"), popular) << dom;
  EXPECT_EQ(attrs_in(dom, "latest", "</ol>"), latest) << dom;
  // One row per profile shard; their users add up to the users sent.
  const auto s = stats();
  const auto shard_rows = attrs_in(dom, "profile-shards", "</table>", "data-shard");
  EXPECT_EQ(shard_rows.size(), s["Shards"]["Profile"].size()) << dom;
  EXPECT_EQ(attr_of(dom, "cluster", "data-enabled"), "false") << dom;
}

TEST_F(dashboard_browser, UserPageListsTheApiRecommendationsAndWhy) {
  const auto recs = ids_of(get("/api/recommend/alice?n=10"));
  ASSERT_FALSE(recs.empty());
  const auto recent = ids_of(get("/api/user/alice")["Recent"], "ItemId");
  // "Why": the recent items whose neighbors include the recommendation.
  std::vector<std::string> why(recs.size());
  std::set<std::string> seen;
  for (const auto& r : recent) {
    if (!seen.insert(r).second)
      continue;
    const auto neighbors = ids_of(get("/api/item/" + r + "/neighbors?n=100"));
    for (std::size_t k = 0; k < recs.size(); ++k)
      if (std::find(neighbors.begin(), neighbors.end(), recs[k]) != neighbors.end())
        why[k] += (why[k].empty() ? "" : " ") + r;
  }
  const auto dom = load("/dashboard/user/alice");
  EXPECT_EQ(text_of(dom, "user-id"), "alice");
  EXPECT_EQ(attrs_in(dom, "recommendations", "</ol>"), recs) << dom;
  EXPECT_EQ(attrs_in(dom, "recommendations", "</ol>", "data-from"), why) << dom;
  EXPECT_EQ(attrs_in(dom, "recent", "</table>"), recent) << dom;
  // alice liked dune and neuromancer: what she is recommended comes from them.
  EXPECT_NE(why.front(), "") << dom;
}

TEST_F(dashboard_browser, ItemPageListsTheApiNeighbors) {
  const auto neighbors = ids_of(get("/api/item/dune/neighbors?n=20"));
  ASSERT_FALSE(neighbors.empty());
  const auto popular = ids_of(get("/api/popular?n=100"));
  const auto rank = std::find(popular.begin(), popular.end(), "dune") - popular.begin() + 1;
  const auto dom = load("/dashboard/item/dune");
  EXPECT_EQ(text_of(dom, "item-id"), "dune");
  EXPECT_EQ(attrs_in(dom, "neighbors", "</ol>"), neighbors) << dom;
  EXPECT_EQ(attr_of(dom, "popularity", "data-rank"), std::to_string(rank)) << dom;
  EXPECT_EQ(rank, 1) << "dune was liked most";
}

TEST_F(dashboard_browser, UnknownIdsAndAMissingKeyGetAMessage) {
  auto dom = load("/dashboard/user/nobody", "not-found");
  EXPECT_NE(text_of(dom, "message").find("Unknown user \"nobody\""), std::string::npos) << dom;
  dom = load("/dashboard/item/no%20such%20item", "not-found");
  EXPECT_NE(text_of(dom, "message").find("Unknown item \"no such item\""), std::string::npos)
    << dom;
  // An id the API refuses: its reason, in the page.
  dom = load("/dashboard/user/a%2Fb", "not-found");
  EXPECT_NE(text_of(dom, "message").find("Cannot show user \"a/b\": path: user id contains '/'"),
            std::string::npos)
    << dom;
  // Without the key the page asks for it (the API answered 401).
  dom = chrome.dump_dom(url("/dashboard", false));
  EXPECT_EQ(page_state(dom), "need-key") << chrome.last_error() << dom;
  EXPECT_NE(text_of(dom, "message").find("requires an API key"), std::string::npos) << dom;
  // A wrong key is refused the same way.
  dom = chrome.dump_dom(url("/dashboard/user/alice", false) + "#key=wrong");
  EXPECT_EQ(page_state(dom), "need-key") << chrome.last_error() << dom;
}

// PNG screenshots of the three pages (the README's docs/dashboard-*.png).
TEST_F(dashboard_browser, ScreenshotsOfEachPage) {
  const char* keep = std::getenv("RTREC_DASHBOARD_SCREENSHOTS");
  const fs::path dir = keep != nullptr && *keep != '\0' ? fs::path{keep} : chrome.dir();
  fs::create_directories(dir);
  get("/api/recommend/alice?n=10");  // a recommend request for the figures
  for (const auto& [page, name] : std::vector<std::pair<std::string, std::string>>{
         {"/dashboard", "dashboard-overview.png"},
         {"/dashboard/user/alice", "dashboard-user.png"},
         {"/dashboard/item/dune", "dashboard-item.png"}}) {
    const auto png = dir / name;
    ASSERT_TRUE(chrome.screenshot(url(page), png)) << page << ": " << chrome.last_error();
    std::ifstream in{png, std::ios::binary};
    std::string magic(8, '\0');
    in.read(magic.data(), 8);
    EXPECT_EQ(magic, "\x89PNG\r\n\x1a\n") << png;
    EXPECT_GT(fs::file_size(png), 10000u) << png << ": too small to show the page";
  }
}

// Without a browser: the pages are open (they hold no data), every figure
// needs the key, the files have their types, a bad page is a clear 404.
TEST(DashboardServe, PagesAreOpenTheDataNeedsTheKey) {
  serve_process p{key};
  http_client c{p.port()};
  const std::vector<std::pair<std::string, std::string>> none;
  auto page = c.request("GET", "/dashboard", {}, none);
  EXPECT_EQ(page.status, 200);
  EXPECT_EQ(page.header("content-type"), "text/html; charset=utf-8");
  EXPECT_NE(page.body.find("/dashboard/app.js"), std::string::npos) << page.body;
  EXPECT_NE(page.header("content-security-policy").find("default-src 'self'"), std::string::npos);
  EXPECT_EQ(c.request("GET", "/dashboard/user/anyone", {}, none).body, page.body);
  EXPECT_EQ(c.request("GET", "/dashboard/item/x%2Fy", {}, none).body, page.body);
  auto js = c.request("GET", "/dashboard/app.js", {}, none);
  EXPECT_EQ(js.status, 200);
  EXPECT_EQ(js.header("content-type"), "text/javascript; charset=utf-8");
  EXPECT_NE(js.body.find("X-API-Key"), std::string::npos);
  EXPECT_EQ(c.request("GET", "/dashboard/style.css", {}, none).header("content-type"),
            "text/css; charset=utf-8");
  auto missing = c.request("GET", "/dashboard/nope.js", {}, none);
  EXPECT_EQ(missing.status, 404);
  EXPECT_NE(missing.body.find("No dashboard page /dashboard/nope.js"), std::string::npos);
  EXPECT_EQ(c.request("POST", "/dashboard", "{}").status, 401);  // only GET is open
  EXPECT_EQ(c.request("GET", "/api/dashboard/stats", {}, none).status, 401);
  auto stats = c.request("GET", "/api/dashboard/stats", {}, {{"X-API-Key", key}});
  ASSERT_EQ(stats.status, 200) << stats.body;
  EXPECT_EQ(json::parse(stats.body).value("Users", -1), 0) << stats.body;
  EXPECT_EQ(p.terminate(), 0);
}

// `rtrec node` serves the same dashboard; its cluster map shows the node.
TEST(DashboardNode, ClusterNodeServesTheDashboardAndItsMap) {
  browser chrome;
  ASSERT_TRUE(chrome.available()) << no_chromium;
  const auto peer = rtrec::free_loopback_nodes(1).front().to_string();
  rtrec::testing::node_process node{{"--nodes", peer, "--node", "0"}, "node 0"};
  http_client c{node.port()};
  EXPECT_EQ(c.request("GET", "/dashboard").status, 200);
  const auto dom = chrome.dump_dom("http://127.0.0.1:" + std::to_string(node.port()) + "/dashboard");
  ASSERT_EQ(page_state(dom), "ready") << chrome.last_error() << dom << node.log();
  EXPECT_EQ(attr_of(dom, "cluster", "data-enabled"), "true") << dom;
  EXPECT_EQ(attrs_in(dom, "nodes", "</table>", "data-up"), std::vector<std::string>{"true"}) << dom;
  EXPECT_NE(dom.find(peer), std::string::npos) << dom;
}

}  // namespace
