// The dashboard served at /dashboard: its static pages (apps/http/dashboard/,
// compiled into the binary) and the JSON figures its overview polls.
//
//   GET /dashboard, /dashboard/user/{id}, /dashboard/item/{id}  -> index.html
//   GET /dashboard/{file}                 -> that file (app.js, style.css)
//   GET /api/dashboard/stats              -> dashboard_stats() as JSON
//
// The pages hold no data: they are answered without the API key, and their
// script fetches every figure from the API with the X-API-Key header (the
// key the user gives in the URL fragment, #key=..., or in the page's form),
// so the data is under exactly the API's key rule.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "rtrec/rtrec.hpp"
#include "apps/http/api.hpp"
#include "apps/http/metrics.hpp"

namespace rtrec::http {

/// True for a GET of a dashboard page or file (path /dashboard or
/// /dashboard/...): static content the API key does not guard.
bool is_dashboard_page(std::string_view method, std::string_view target);

/// Answers a dashboard page: `path` is the request's decoded path segments
/// ("dashboard" first). index.html for the overview and the user and item
/// pages (the script reads the id from the location), the embedded file of
/// that name for /dashboard/{file}, else 404 with an HTML message.
response dashboard_page(const std::vector<std::string>& path);

/// The overview's figures: users, items, event counters, item-side lag,
/// request counts and latency quantiles of the main routes, per-shard load.
/// `stats` may be null (engine unavailable): only the HTTP figures then.
nlohmann::json dashboard_stats(const service_stats* stats, const metrics& m,
                               std::size_t events_in_flight);

}  // namespace rtrec::http
