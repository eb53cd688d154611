// Write-back on GET /api/recommend/{user} (Gorse's write-back-type and
// write-back-delay query parameters): the items answered are stored as
// feedback of that type for the user. Without a delay (or with one <= 0)
// they are ingested before the answer; with a delay they are handed to the
// write-back queue (write_back.hpp), durable before the answer. An empty
// write-back-type means no write-back (Gorse's Go client always sends both
// parameters, empty when unused).
#include "apps/http/api.hpp"
#include "apps/http/api_call.hpp"

#include <fmt/format.h>

namespace rtrec::http {

namespace {

// 9999-12-31T23:59:59.999Z, the latest event time (engine::validate).
constexpr std::int64_t max_event_ms = 253402300799999LL;

}  // namespace

bool api::write_back_params(const call_ptr& c, std::optional<write_back_request>& out) {
  const auto* type = c->param("write-back-type");
  const auto* delay = c->param("write-back-delay");
  write_back_request wb;
  if (delay != nullptr && !delay->empty()) {
    auto ms = parse_duration_ms(*delay);
    if (!ms) {
      c->finish(error(400, fmt::format("query parameter write-back-delay: \"{}\" is not a "
                                       "duration such as 10m, 1h30m or 0h0m0s",
                                       delay->substr(0, 64))));
      return false;
    }
    const auto at = engine_.now_ms() + *ms;
    if (at < 0 || at > max_event_ms) {
      c->finish(error(400, fmt::format("query parameter write-back-delay: {} puts the feedback "
                                       "outside the years 1970 to 9999",
                                       delay->substr(0, 64))));
      return false;
    }
    wb.delay_ms = *ms;
  }
  if (type == nullptr || type->empty())
    return true;  // a delay alone writes nothing back, as in Gorse
  auto t = engine::parse_event_type(*type);
  if (!t) {
    c->finish(error(400, fmt::format("query parameter write-back-type: unknown feedback type "
                                     "\"{}\" (expected view, click, like, rating, purchase, "
                                     "dislike or a synonym such as read or star)",
                                     type->substr(0, 64))));
    return false;
  }
  wb.type = *t;
  out = wb;
  return true;
}

void api::write_back(const call_ptr& c, const std::string& user,
                     std::vector<engine::recommendation> recs, write_back_request wb, bool v2) {
  if (recs.empty())
    return c->finish(recommendations(recs, v2));
  std::vector<std::string> items;
  for (const auto& r : recs)
    items.push_back(r.item);
  const auto at = engine_.now_ms() + wb.delay_ms;
  auto events = write_back_events(user, items, wb.type, std::max<std::int64_t>(at, 0));
  if (wb.delay_ms <= 0)
    return write_back_now(c, std::move(events), std::move(recs), v2);
  // The journal syncs a file: not on an engine or I/O thread.
  blocking_([this, c, at, events = std::move(events), recs = std::move(recs), v2]() mutable {
    if (auto why = write_backs_->schedule(at, std::move(events)); !why.empty()) {
      auto r = error(503, "write-back not stored: " + why);
      r.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
      return c->finish(std::move(r));
    }
    c->finish(recommendations(recs, v2));
  });
}

void api::write_back_now(const call_ptr& c, std::vector<engine::event> events,
                         std::vector<engine::recommendation> recs, bool v2) {
  engine_.try_ingest_async(
    std::move(events), [this, c, recs = std::move(recs), v2](rtrec::result<ingest_result> r) {
      if (!r)
        return c->finish(engine_error(r.error()));
      metrics_.write_back_applied.Increment(static_cast<double>(r->accepted - r->duplicates));
      metrics_.write_back_duplicates.Increment(static_cast<double>(r->duplicates));
      metrics_.write_back_rejected.Increment(static_cast<double>(r->rejected.size()));
      if (!r->failed.empty()) {
        auto e = error(503, fmt::format("write-back not stored: {} of its events could not be "
                                        "applied ({}); retry the request shortly",
                                        r->failed.size(), to_string(r->failed.front().why)));
        e.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
        return c->finish(std::move(e));
      }
      if (!r->rejected.empty())
        return c->finish(error(500, fmt::format("write-back not stored: item {} was refused ({})",
                                                recs[r->rejected.front().index].item,
                                                engine::to_string(r->rejected.front().reason))));
      c->finish(recommendations(recs, v2));
    });
}

}  // namespace rtrec::http
