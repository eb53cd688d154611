// The dashboard: serves the embedded static files with their content types
// and builds the JSON figures of the overview from the service's stats and
// the HTTP metrics (the same sources /metrics reads).
#include "apps/http/dashboard.hpp"

#include <cstdint>

#include "apps/http/embedded_files.hpp"

namespace rtrec::http {

using nlohmann::json;

namespace {

std::string_view content_type_of(std::string_view name) {
  auto ends = [name](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html"))
    return "text/html; charset=utf-8";
  if (ends(".js"))
    return "text/javascript; charset=utf-8";
  if (ends(".css"))
    return "text/css; charset=utf-8";
  if (ends(".svg"))
    return "image/svg+xml";
  return "application/octet-stream";
}

const embedded_file* find_file(std::string_view name) {
  for (std::size_t k = 0; k < embedded_file_count; ++k)
    if (embedded_files[k].path == name)
      return &embedded_files[k];
  return nullptr;
}

response file_response(const embedded_file& f) {
  response r;
  r.body = std::string{f.content};
  r.content_type = std::string{content_type_of(f.path)};
  // Everything from this server, nothing inline: no CDN, no injected script.
  r.headers.emplace_back("Content-Security-Policy",
                         "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'");
  r.headers.emplace_back("X-Content-Type-Options", "nosniff");
  r.headers.emplace_back("Cache-Control", "no-cache");
  return r;
}

response not_found_page(const std::string& what) {
  response r;
  r.status = 404;
  r.content_type = "text/html; charset=utf-8";
  std::string safe;
  for (char ch : what.substr(0, 200))
    safe += (ch == '<' || ch == '>' || ch == '&' || ch == '"') ? '?' : ch;
  r.body = "<!doctype html><title>rtrec dashboard</title><p>No dashboard page " + safe +
           ". Start at <a href=\"/dashboard\">/dashboard</a>.</p>\n";
  return r;
}

}  // namespace

bool is_dashboard_page(std::string_view method, std::string_view target) {
  if (method != "GET")
    return false;
  const auto path = target.substr(0, target.find('?'));
  constexpr std::string_view root = "/dashboard";
  return path.substr(0, root.size()) == root &&
         (path.size() == root.size() || path[root.size()] == '/');
}

response dashboard_page(const std::vector<std::string>& path) {
  const bool page = path.size() == 1 ||
                    (path.size() == 3 && (path[1] == "user" || path[1] == "item"));
  const std::string name = page ? "index.html" : path.size() == 2 ? path[1] : std::string{};
  if (const auto* f = find_file(name); f != nullptr && !name.empty())
    return file_response(*f);
  std::string shown;
  for (const auto& p : path)
    shown += "/" + p;
  return not_found_page(shown);
}

namespace {

// A counter's value (a double in prometheus-cpp) as the integer it is.
std::uint64_t count(double v) {
  return v > 0 ? static_cast<std::uint64_t>(v + 0.5) : 0;
}

json latency_json(const metrics::latency_summary& l) {
  return json{{"Count", count(l.count)}, {"P50", l.p50_s}, {"P95", l.p95_s}, {"P99", l.p99_s}};
}

json shards_json(const service_stats& s) {
  json profile = json::array();
  for (const auto& p : s.profile_shards)
    profile.push_back({{"Shard", p.shard},
                       {"Users", p.users},
                       {"EventsApplied", p.events_applied},
                       {"QueueDepth", p.deltas_in_flight},
                       {"MemoryBytes", p.memory_bytes}});
  json items = json::array();
  for (const auto& i : s.item_shards)
    items.push_back({{"Shard", i.shard},
                     {"Items", i.model.items},
                     {"RowEntries", i.model.row_entries},
                     {"Batches", i.batches},
                     {"LagP99Seconds", static_cast<double>(i.lag_p99_ns) / 1e9},
                     {"MemoryBytes", i.model.memory_bytes}});
  return json{{"Profile", std::move(profile)}, {"Item", std::move(items)}};
}

}  // namespace

json dashboard_stats(const service_stats* stats, const metrics& m, std::size_t events_in_flight) {
  json out{{"EngineAvailable", stats != nullptr},
           {"FeedbackAccepted", count(m.events_accepted.Value())},
           {"FeedbackInvalid", count(m.events_invalid.Value())},
           {"EventsInFlight", events_in_flight},
           {"Connections", m.connections.load()},
           {"Requests", {{"Feedback", count(m.requests(route::feedback))},
                         {"Recommend", count(m.requests(route::recommend))},
                         {"Session", count(m.requests(route::session))}}},
           {"Latency", {{"Feedback", latency_json(m.latency(route::feedback))},
                        {"Recommend", latency_json(m.latency(route::recommend))}}}};
  if (stats == nullptr)
    return out;
  std::uint64_t received = 0, accepted = 0;
  for (const auto& i : stats->ingestors) {
    received += i.received;
    accepted += i.accepted;
  }
  out["Users"] = stats->users;
  out["Items"] = stats->items;
  out["EventsApplied"] = stats->events_applied;
  out["EventsReceived"] = received;
  out["EventsAccepted"] = accepted;
  out["ItemLagP99Seconds"] = static_cast<double>(stats->item_lag_p99_ns) / 1e9;
  out["UnreachableShards"] = stats->unreachable_shards;
  out["Shards"] = shards_json(*stats);
  return out;
}

}  // namespace rtrec::http
