// What the api*.cpp files share, private to the API: one request in
// flight (api::call: its parsed path and query, its reply exactly once, its
// query-parameter readers) and the JSON body writer. Not for other files.
#pragma once

#include <fmt/format.h>
#include <nlohmann/json.hpp>

#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "apps/http/api.hpp"

namespace rtrec::http {

/// A 200 response with `body` as its JSON.
inline response ok(const nlohmann::json& body) {
  response r;
  r.body = body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
  return r;
}

/// One request in flight: answered exactly once through finish().
struct api::call {
  request req;
  responder reply;
  metrics* m = nullptr;
  route r = route::other;
  std::vector<std::string> path;
  std::vector<std::pair<std::string, std::string>> query;
  bool done = false;
  /// The body is still to come (api::handle_stream): a handler that reads it
  /// sets `sink` and answers later.
  bool streaming = false;
  std::shared_ptr<body_sink> sink;

  void finish(response res) {
    if (done)
      return;
    done = true;
    m->record(r, res.status, std::chrono::steady_clock::now() - req.received);
    reply(std::move(res));
    // Drop what the responder holds (the connection) before the server may
    // see this request as finished and tear its I/O down.
    reply = nullptr;
    m->requests_in_flight.fetch_sub(1, std::memory_order_release);
  }

  const std::string* param(std::string_view name) const {
    for (const auto& [k, v] : query)
      if (k == name)
        return &v;
    return nullptr;
  }

  // The listing cursor: "cursor", as Gorse reads it, or "Cursor", as Gorse's
  // JavaScript client (gorsejs) sends it; "" when neither is there.
  std::string cursor() const {
    for (const char* name : {"cursor", "Cursor"})
      if (const auto* v = param(name))
        return *v;
    return {};
  }

  // Reads an integer query parameter in [0, max]; on a bad value answers 400.
  std::optional<std::size_t> count(std::string_view name, std::size_t fallback, std::size_t max) {
    const auto* v = param(name);
    if (v == nullptr || v->empty())
      return fallback;
    std::size_t x = 0;
    auto [end, ec] = std::from_chars(v->data(), v->data() + v->size(), x);
    if (ec != std::errc{} || end != v->data() + v->size() || x > max) {
      finish(api::error(400, fmt::format("query parameter {}: expected an integer from 0 to {}, "
                                         "got \"{}\"",
                                         name, max, v->substr(0, 32))));
      return std::nullopt;
    }
    return x;
  }

  // Reads ?n= (default 10), ?offset= (default 0) and the category (the
  // path's when given, else ?category=) as recommend options; on a bad value
  // answers 400.
  std::optional<engine::recommend_options> paging(std::string path_category = {}) {
    auto n = count("n", 10, max_results);
    if (!n)
      return std::nullopt;
    auto offset = count("offset", 0, max_results);
    if (!offset)
      return std::nullopt;
    engine::recommend_options o;
    o.n = *n;
    o.offset = *offset;
    o.filter.category = std::move(path_category);
    if (const auto* cat = param("category"); cat != nullptr && o.filter.category.empty())
      o.filter.category = *cat;
    return o;
  }
};

}  // namespace rtrec::http
