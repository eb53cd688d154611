#include "apps/http/api.hpp"
#include "apps/http/api_call.hpp"

#include "apps/http/dashboard.hpp"
#include "apps/http/feedback_body.hpp"

#include <absl/strings/match.h>
#include <absl/strings/str_split.h>
#include <fmt/format.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <charconv>

namespace rtrec::http {

using nlohmann::json;

namespace {

std::string sha256(std::string_view s) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(s.data(), s.size(), md, &len, EVP_sha256(), nullptr);
  return std::string(reinterpret_cast<const char*>(md), len);
}


// Splits "/a/b%2Fc/" into decoded segments {"a", "b/c"}; nullopt for a bad
// escape. Empty segments (double or trailing slashes) are dropped.
std::optional<std::vector<std::string>> split_path(std::string_view path) {
  std::vector<std::string> out;
  for (absl::string_view s : absl::StrSplit(absl::string_view{path.data(), path.size()}, '/',
                                            absl::SkipEmpty())) {
    auto seg = percent_decode({s.data(), s.size()});
    if (!seg)
      return std::nullopt;
    out.push_back(std::move(*seg));
  }
  return out;
}

json scored_list(const std::vector<engine::recommendation>& items) {
  json out = json::array();
  for (const auto& r : items)
    out.push_back({{"Id", r.item}, {"Score", r.score}});
  return out;
}

// Per item shard its coverage (null: not heard of yet).
json item_coverage_json(const cluster_status& st) {
  json out = json::array();
  for (const auto& applied : st.item_coverage)
    out.push_back(applied.empty() ? json(nullptr) : json(applied));
  return out;
}

// The chosen cluster map (null: none known yet); a shard without a primary
// has Primary null.
json cluster_map_json(const engine::cluster_map& m) {
  if (m.epoch == 0)
    return nullptr;
  auto shards = [](const std::vector<engine::shard_replicas>& v) {
    json out = json::array();
    for (const auto& s : v)
      out.push_back({{"Replicas", s.replicas},
                     {"Primary", s.primary == engine::no_node ? json(nullptr) : json(s.primary)},
                     {"InSync", s.in_sync}});
    return out;
  };
  json down = json::array();
  for (std::size_t n = 0; n < m.down.size(); ++n)
    if (m.down[n] != 0)
      down.push_back(n);
  return {{"Epoch", m.epoch},
          {"Parent", m.parent},
          {"Down", std::move(down)},
          {"ProfileShards", shards(m.profiles)},
          {"ItemShards", shards(m.items)}};
}

bool is_json_type(const std::string& ct) {
  if (ct.empty())
    return true;  // clients that send no type get JSON semantics
  absl::string_view base = ct;
  base = base.substr(0, base.find(';'));
  base = base.substr(0, base.find_last_not_of(' ') + 1);  // npos + 1 == 0: all spaces
  return absl::EqualsIgnoreCase(base, "application/json");
}

}  // namespace

api::api(service& eng, api_options o, metrics& m, executor blocking)
  : engine_(eng), opts_(std::move(o)), metrics_(m), blocking_(std::move(blocking)) {
  if (opts_.api_key)
    key_digest_ = sha256(*opts_.api_key);
  write_backs_ = std::make_unique<write_back_queue>(eng, opts_.write_back, m);
}

response api::error(int status, const std::string& message) {
  response r;
  r.status = status;
  r.body = json{{"error", message}, {"status", status}}.dump(-1, ' ', false,
                                                            json::error_handler_t::replace);
  return r;
}

bool api::authorized(const request& req) const {
  if (!opts_.api_key)
    return true;
  if (!req.api_key)
    return false;
  // Equal-length digests compared in constant time: neither the key's
  // length nor its prefix leaks through timing.
  auto digest = sha256(*req.api_key);
  return digest.size() == key_digest_.size() &&
         CRYPTO_memcmp(digest.data(), key_digest_.data(), digest.size()) == 0;
}

response api::engine_error(const rtrec::error& err) {
  const auto text = err.to_string();
  {
    switch (err.code) {
      case error_code::invalid_request: return error(400, text);
      case error_code::not_found: return error(404, text);
      case error_code::overloaded:
      case error_code::shard_unavailable:
      case error_code::shutting_down: {
        auto r = error(503, text);
        r.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
        return r;
      }
      default: break;
    }
  }
  spdlog::error("http: engine call failed: {}", text);
  return error(500, text);
}

void api::handle(request req, responder reply) {
  auto c = std::make_shared<call>();
  c->req = std::move(req);
  c->reply = std::move(reply);
  start(c);
}

bool api::wants_stream(std::string_view method, std::string_view target) {
  return method == "POST" && absl::StartsWith(absl::string_view{target.data(), target.size()},
                                              "/api/bulk/");
}

std::shared_ptr<body_sink> api::handle_stream(request req, responder reply) {
  auto c = std::make_shared<call>();
  c->req = std::move(req);
  c->reply = std::move(reply);
  c->streaming = true;
  start(c);
  return c->done ? nullptr : std::move(c->sink);
}

// Checks the key, parses the target and dispatches `c` to its route.
void api::start(const call_ptr& c) {
  c->m = &metrics_;
  metrics_.requests_in_flight.fetch_add(1, std::memory_order_relaxed);
  // The dashboard's pages carry no data; the figures they show come from
  // the routes below, under the key.
  if (!is_dashboard_page(c->req.method, c->req.target) && !authorized(c->req)) {
    metrics_.auth_failures.Increment();
    auto r = error(401, "missing or wrong API key: send it in the X-API-Key header");
    r.headers.emplace_back("WWW-Authenticate", "ApiKey");
    return c->finish(std::move(r));
  }
  const auto& target = c->req.target;
  const auto qpos = target.find('?');
  auto path = split_path(std::string_view{target}.substr(0, qpos));
  if (!path)
    return c->finish(error(400, "path: malformed %-escape"));
  c->path = std::move(*path);
  if (qpos != std::string::npos) {
    std::string_view q{target};
    q.remove_prefix(qpos + 1);
    while (!q.empty()) {
      auto amp = q.find('&');
      auto part = q.substr(0, amp);
      auto eq = part.find('=');
      std::string k{part.substr(0, eq)};
      std::string v{eq == std::string_view::npos ? std::string_view{} : part.substr(eq + 1)};
      std::replace(v.begin(), v.end(), '+', ' ');
      auto dk = percent_decode(k);
      auto dv = percent_decode(v);
      if (!dk || !dv)
        return c->finish(error(400, "query: malformed %-escape"));
      c->query.emplace_back(std::move(*dk), std::move(*dv));
      if (amp == std::string_view::npos)
        break;
      q.remove_prefix(amp + 1);
    }
  }
  dispatch(c);
}

namespace {

// Cuts the next segment off the front of the route pattern `rest` ("" when
// none is left).
std::string_view next_segment(std::string_view& rest) {
  const auto begin = rest.find_first_not_of('/');
  rest.remove_prefix(begin == std::string_view::npos ? rest.size() : begin);
  const auto seg = rest.substr(0, rest.find('/'));
  rest.remove_prefix(seg.size());
  return seg;
}

bool is_param(std::string_view segment) {
  return !segment.empty() && segment.front() == '{';
}

// True when the decoded `path` has the shape of `pattern`: as many segments,
// a literal equal to its segment, a `{param}` matching any.
bool matches(std::string_view pattern, const std::vector<std::string>& path) {
  for (const auto& p : path) {
    const auto seg = next_segment(pattern);
    if (seg.empty() || (!is_param(seg) && seg != p))
      return false;
  }
  return next_segment(pattern).empty();
}

}  // namespace

// A row of the route table.
struct api::route_row {
  std::string_view method;   ///< compared exactly ("GET", not "get")
  std::string_view pattern;  ///< see routes_
  route counted_as;          ///< the request metrics' label
  handler run;
};

// Every route. A pattern's segments are literals or parameters: `{category}`,
// `{type}` and `{path}` capture any text, any other `{param}` an id that must
// pass id_problem() (else 400 "path: param id ..."); `{name}` goes to
// path_args::name, `{type}` to path_args::type, `{user}` to path_args::id,
// `{item}` to path_args::id, or to path_args::item after a `{user}`. A path
// takes the first pattern it matches (no match: 404); a method none of that
// pattern's rows has gets 405 with their methods, in table order, as Allow.
const api::route_row api::routes_[] = {
  {"POST", "/api/feedback", route::feedback, &api::feedback_post},
  {"PUT", "/api/feedback", route::feedback, &api::feedback_put},
  {"GET", "/api/feedback", route::feedback_read, &api::feedback_list},
  {"GET", "/api/feedback/{type}", route::feedback_read, &api::feedback_list},
  {"GET", "/api/feedback/{user}/{item}", route::feedback_read, &api::feedback_read},
  {"DELETE", "/api/feedback/{user}/{item}", route::feedback_delete, &api::feedback_delete},
  {"GET", "/api/feedback/{type}/{user}/{item}", route::feedback_read, &api::feedback_read},
  {"DELETE", "/api/feedback/{type}/{user}/{item}", route::feedback_delete,
   &api::feedback_delete},
  {"GET", "/api/user/{user}/feedback", route::feedback_read, &api::user_feedback},
  {"GET", "/api/user/{user}/feedback/{type}", route::feedback_read, &api::user_feedback},
  {"GET", "/api/item/{item}/feedback", route::feedback_read, &api::item_feedback},
  {"GET", "/api/item/{item}/feedback/{type}", route::feedback_read, &api::item_feedback},
  {"GET", "/api/recommend/{user}", route::recommend, &api::recommend},
  {"GET", "/api/recommend/{user}/{category}", route::recommend, &api::recommend},
  {"POST", "/api/session/recommend", route::session, &api::session},
  {"POST", "/api/session/recommend/{category}", route::session, &api::session},
  {"GET", "/api/item/{item}/neighbors", route::neighbors, &api::listing},
  {"GET", "/api/item/{item}/neighbors/{category}", route::neighbors, &api::listing},
  {"GET", "/api/popular", route::popular, &api::listing},
  {"GET", "/api/popular/{category}", route::popular, &api::listing},
  {"GET", "/api/latest", route::latest, &api::listing},
  {"GET", "/api/latest/{category}", route::latest, &api::listing},
  {"GET", "/api/non-personalized/{name}", route::popular, &api::non_personalized},
  {"GET", "/api/item-to-item/{name}/{item}", route::neighbors, &api::item_to_item},
  {"GET", "/api/user-to-user/{name}/{user}", route::user_neighbors, &api::user_to_user},
  {"GET", "/api/user/{user}/neighbors", route::user_neighbors, &api::user_neighbors},
  {"POST", "/api/item", route::item_write, &api::item_post},
  {"POST", "/api/items", route::item_write, &api::items_post},
  {"GET", "/api/items", route::item_read, &api::items_list},
  {"GET", "/api/item/{item}", route::item_read, &api::item_read},
  {"PATCH", "/api/item/{item}", route::item_write, &api::item_patch},
  {"DELETE", "/api/item/{item}", route::item_delete, &api::item_delete},
  {"PUT", "/api/item/{item}/category/{category}", route::item_write, &api::item_category},
  {"DELETE", "/api/item/{item}/category/{category}", route::item_write, &api::item_category},
  {"POST", "/api/user", route::user_write, &api::user_post},
  {"POST", "/api/users", route::user_write, &api::users_post},
  {"GET", "/api/users", route::user_read, &api::users_list},
  {"GET", "/api/user/{user}", route::user_read, &api::user_read},
  {"PATCH", "/api/user/{user}", route::user_write, &api::user_patch},
  {"DELETE", "/api/user/{user}", route::user_delete, &api::user_delete},
  {"GET", "/metrics", route::metrics, &api::metrics_text},
  {"GET", "/api/cluster", route::cluster, &api::cluster},
  {"GET", "/api/health/live", route::health, &api::live},
  {"GET", "/api/health/ready", route::health, &api::ready},
  {"GET", "/dashboard", route::dashboard, &api::dashboard_page},
  {"GET", "/dashboard/{path}", route::dashboard, &api::dashboard_page},
  {"GET", "/dashboard/user/{path}", route::dashboard, &api::dashboard_page},
  {"GET", "/dashboard/item/{path}", route::dashboard, &api::dashboard_page},
  {"GET", "/api/dashboard/stats", route::dashboard, &api::dashboard_stats},
  {"GET", "/api/bulk/{name}", route::bulk, &api::bulk_export},
  {"POST", "/api/bulk/{name}", route::bulk, &api::bulk_import},
};

void api::dispatch(const call_ptr& c) {
  const route_row* path_hit = nullptr;  // the first row whose pattern matches
  const route_row* hit = nullptr;       // the row of that pattern and this method
  bool one_label = true;                // that pattern's rows all count as one route
  for (const auto& row : routes_) {
    if (path_hit == nullptr ? !matches(row.pattern, c->path) : row.pattern != path_hit->pattern)
      continue;
    if (path_hit == nullptr)
      path_hit = &row;
    one_label = one_label && row.counted_as == path_hit->counted_as;
    if (hit == nullptr && row.method == c->req.method)
      hit = &row;
  }
  if (path_hit == nullptr)
    return c->finish(error(404, "no such endpoint: " + c->req.target.substr(0, 200)));
  // A pattern of one route counts all its answers under that route and
  // checks the method before the id; a pattern several routes share
  // (/api/item/{item}, /api/user/{user}) checks the id first and counts its
  // 400 and 405 answers as route::other.
  const bool id_first = !one_label;
  std::optional<path_args> args;
  if (id_first && !(args = path_params(c, path_hit->pattern)))
    return;
  if (!id_first)
    c->r = path_hit->counted_as;
  if (hit == nullptr)
    return wrong_method(c, path_hit->pattern);
  if (!id_first && !(args = path_params(c, path_hit->pattern)))
    return;
  c->r = hit->counted_as;
  (this->*hit->run)(c, std::move(*args));
}

// Reads the parameters of `pattern` (which c->path matches); on a bad id
// answers 400 and returns nullopt.
std::optional<api::path_args> api::path_params(const call_ptr& c, std::string_view pattern) {
  path_args out;
  for (const auto& p : c->path) {
    const auto seg = next_segment(pattern);
    if (!is_param(seg))
      continue;
    const auto name = seg.substr(1, seg.size() - 2);
    if (name == "category" || name == "path" || name == "type") {
      if (name != "path")
        (name == "category" ? out.category : out.type) = p;
      continue;
    }
    if (auto problem = id_problem(p, opts_.limits.ids.max_id_length)) {
      c->finish(error(400, fmt::format("path: {} id {}", name, *problem)));
      return std::nullopt;
    }
    const bool second_id = name == "item" && !out.id.empty();
    (name == "name" ? out.name : second_id ? out.item : out.id) = p;
  }
  return out;
}

// Answers 405 with the methods `pattern` has in the route table.
void api::wrong_method(const call_ptr& c, std::string_view pattern) {
  std::string allow;
  for (const auto& row : routes_)
    if (row.pattern == pattern)
      allow.append(allow.empty() ? "" : ", ").append(row.method);
  auto r = error(405, fmt::format("method {} is not allowed here; allowed: {}", c->req.method,
                                  allow));
  r.headers.emplace_back("Allow", std::move(allow));
  c->finish(std::move(r));
}

bool api::json_headers(const call_ptr& c) {
  if (!c->req.content_encoding.empty() && c->req.content_encoding != "identity") {
    c->finish(error(415, fmt::format("Content-Encoding {} is not supported; send the body "
                                     "uncompressed",
                                     c->req.content_encoding.substr(0, 64))));
    return false;
  }
  if (!is_json_type(c->req.content_type)) {
    c->finish(error(415, fmt::format("Content-Type {} is not supported; send application/json "
                                     "(curl: -H 'Content-Type: application/json')",
                                     c->req.content_type.substr(0, 64))));
    return false;
  }
  return true;
}

std::optional<json> api::json_body(const call_ptr& c) {
  if (!json_headers(c))
    return std::nullopt;
  input_error err;
  auto body = parse_json(c->req.body, opts_.limits, err);
  if (!body)
    c->finish(error(err.status, err.message));
  return body;
}

std::optional<std::vector<engine::event>> api::feedback_body(const call_ptr& c,
                                                             std::int64_t now_ms,
                                                             bool require_user,
                                                             bool count_invalid) {
  if (!json_headers(c))
    return std::nullopt;
  input_error err;
  feedback_body_shape shape;
  auto events = parse_feedback_body(c->req.body, now_ms, opts_.limits, require_user, err, &shape);
  if (!events) {
    // A body that is JSON but not valid feedback counts its events (at
    // least one) as invalid; one that is not JSON at all counts none.
    if (count_invalid && shape.json)
      metrics_.events_invalid.Increment(
        static_cast<double>(shape.array ? std::max<std::size_t>(1, shape.elements) : 1));
    c->finish(error(err.status, err.message));
  }
  return events;
}

bool api::begin_query(const call_ptr& c) {
  if (metrics_.queries_in_flight.fetch_add(1, std::memory_order_relaxed) >=
      static_cast<std::int64_t>(opts_.max_queries_in_flight)) {
    metrics_.queries_in_flight.fetch_sub(1, std::memory_order_relaxed);
    auto r = error(503, "too many queries in flight; retry shortly");
    r.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
    c->finish(std::move(r));
    return false;
  }
  return true;
}

void api::recommend(const call_ptr& c, path_args a) {
  auto page = c->paging(std::move(a.category));
  if (!page)
    return;
  std::optional<write_back_request> wb;
  if (!write_back_params(c, wb))
    return;
  if (!begin_query(c))
    return;
  const bool v2 = c->req.api_version == "2";
  auto user = a.id;
  engine_.recommend_async(
    std::move(a.id), *page,
    [this, c, v2, wb, user = std::move(user)](rtrec::result<std::vector<engine::recommendation>> r) {
      metrics_.queries_in_flight.fetch_sub(1, std::memory_order_relaxed);
      if (!r)
        return c->finish(engine_error(r.error()));
      if (wb)
        return write_back(c, user, std::move(*r), *wb, v2);
      c->finish(recommendations(*r, v2));
    });
}

response api::recommendations(const std::vector<engine::recommendation>& recs, bool v2) {
  if (v2)
    return ok(scored_list(recs));
  response r;
  r.body = item_id_array(recs);
  return r;
}

void api::session(const call_ptr& c, path_args a) {
  auto page = c->paging(std::move(a.category));
  if (!page)
    return;
  // A session's order is its timestamps' (Gorse sorts a session's feedback
  // by time); one without a timestamp counts as the oldest (Gorse's zero
  // time), and equal times keep the order sent.
  auto events = feedback_body(c, 0, false, false);
  if (!events)
    return;
  std::stable_sort(events->begin(), events->end(),
                   [](const auto& a, const auto& b) { return a.timestamp < b.timestamp; });
  if (!begin_query(c))
    return;
  engine_.session_async(std::move(*events), *page,
                        [this, c](rtrec::result<std::vector<engine::recommendation>> r) {
                          metrics_.queries_in_flight.fetch_sub(1, std::memory_order_relaxed);
                          if (!r)
                            return c->finish(engine_error(r.error()));
                          c->finish(ok(scored_list(*r)));
                        });
}

void api::listing(const call_ptr& c, path_args a) {
  auto page = c->paging(std::move(a.category));
  if (!page)
    return;
  if (page->n + page->offset > max_results)
    return c->finish(error(400, fmt::format("query parameters: n + offset must be at most {}",
                                            max_results)));
  if (!begin_query(c))
    return;
  const std::size_t skip = page->offset;
  auto done = [this, c, skip](rtrec::result<std::vector<engine::recommendation>> r) {
    metrics_.queries_in_flight.fetch_sub(1, std::memory_order_relaxed);
    if (!r)
      return c->finish(engine_error(r.error()));
    r->erase(r->begin(), r->begin() + static_cast<std::ptrdiff_t>(std::min(skip, r->size())));
    c->finish(ok(scored_list(*r)));
  };
  const std::size_t want = page->n + page->offset;
  auto& cat = page->filter.category;
  switch (c->r) {
    case route::neighbors:
      return engine_.similar_async(std::move(a.id), want, std::move(cat), std::move(done));
    case route::popular:
      return engine_.popular_async(want, std::move(cat), std::move(done));
    default: return engine_.latest_async(want, std::move(cat), std::move(done));
  }
}

// Gorse v0.5's name for /api/popular and /api/latest.
void api::non_personalized(const call_ptr& c, path_args a) {
  if (a.name == "latest")
    c->r = route::latest;
  else if (a.name != "popular")
    return c->finish(error(404, fmt::format("non-personalized recommender \"{}\" does not "
                                            "exist; rtrec has \"popular\" and \"latest\"",
                                            a.name.substr(0, 64))));
  if (c->param("user-id") != nullptr)
    return c->finish(error(400, "query parameter user-id: not supported (rtrec does not remove "
                                "a user's read items from non-personalized lists); leave it out"));
  listing(c, std::move(a));
}

// Gorse v0.5's name for /api/item/{item}/neighbors: the one item-to-item
// recommender rtrec has is "neighbors" (Gorse's default name).
void api::item_to_item(const call_ptr& c, path_args a) {
  if (a.name != "neighbors")
    return c->finish(error(404, fmt::format("item-to-item recommender \"{}\" does not exist; "
                                            "rtrec has \"neighbors\"",
                                            a.name.substr(0, 64))));
  listing(c, std::move(a));
}

void api::metrics_text(const call_ptr& c, path_args) {
  blocking_([this, c] {
    auto s = engine_.stats();
    if (!s)
      spdlog::warn("http: /metrics without engine gauges: {}", s.error().to_string());
    response r;
    r.content_type = "text/plain; version=0.0.4; charset=utf-8";
    const auto d = engine_.durability();
    const auto cl = engine_.cluster();
    r.body = metrics_.render(s ? &*s : nullptr, engine_.in_flight_events(), &d, &cl);
    c->finish(std::move(r));
  });
}

void api::cluster(const call_ptr& c, path_args) {
  const auto st = engine_.cluster();
  if (!st.enabled)
    return c->finish(ok(json{{"Enabled", false}}));
  json nodes = json::array();
  for (std::size_t n = 0; n < st.nodes.size(); ++n) {
    const auto& x = st.nodes[n];
    nodes.push_back({{"Index", n},
                     {"Address", x.address.to_string()},
                     {"Self", x.self},
                     {"Up", x.up},
                     {"Connects", x.connects},
                     {"Failures", x.failures},
                     {"LastError", x.last_error},
                     {"ProfileShards", st.map.profiles_of(static_cast<std::uint32_t>(n))},
                     {"ItemShards", st.map.items_of(static_cast<std::uint32_t>(n))}});
  }
  c->finish(ok(json{{"Enabled", true},
                    {"Self", st.self},
                    {"Tls", st.tls},
                    {"Complete", st.complete()},
                    {"Nodes", std::move(nodes)},
                    {"ProfileShardOwner", st.map.profile_owner},
                    {"ItemShardOwner", st.map.item_owner},
                    {"Durable", st.durable},
                    {"ItemCoverage", item_coverage_json(st)},
                    {"Map", cluster_map_json(st.replicas)}}));
}

void api::dashboard_page(const call_ptr& c, path_args) {
  c->finish(http::dashboard_page(c->path));
}

void api::dashboard_stats(const call_ptr& c, path_args) {
  blocking_([this, c] {
    auto s = engine_.stats();
    if (!s)
      spdlog::warn("http: dashboard stats without engine figures: {}", s.error().to_string());
    c->finish(ok(http::dashboard_stats(s ? &*s : nullptr, metrics_, engine_.in_flight_events())));
  });
}

void api::live(const call_ptr& c, path_args) {
  c->finish(ok(json{{"status", "live"}}));
}

void api::ready(const call_ptr& c, path_args) {
  if (draining_) {
    auto r = error(503, "shutting down");
    r.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
    return c->finish(std::move(r));
  }
  blocking_([this, c] {
    auto s = engine_.stats();
    if (!s) {
      auto r = engine_error(s.error());
      r.status = 503;
      return c->finish(std::move(r));
    }
    if (engine_.durability().wal.failed) {
      auto r = error(503, "the write-ahead log refuses writes after a disk error; fix the disk "
                          "and restart rtrec");
      return c->finish(std::move(r));
    }
    c->finish(ok(json{{"status", "ready"}, {"users", s->users}, {"items", s->items}}));
  });
}

}  // namespace rtrec::http
