// The feedback routes of the HTTP API, in Gorse v0.5's shapes:
//
//   POST   /api/feedback          [feedback, ...] -> {"RowAffected": n}: a feedback
//                                 whose (type, user, item) has a record keeps it
//   PUT    /api/feedback          the same, replacing such records
//   GET    /api/feedback[/{type}]?cursor=&n=  -> {"Cursor": "...", "Feedback": [...]}
//   GET    /api/feedback/{user}/{item}         -> [feedback, ...]
//   GET    /api/feedback/{type}/{user}/{item}  -> feedback (404 when none)
//   DELETE /api/feedback[/{type}]/{user}/{item} -> {"RowAffected": n}
//   GET    /api/user/{id}/feedback[/{type}]    -> [feedback, ...]
//   GET    /api/item/{id}/feedback[/{type}]?n= -> [feedback, ...] (n: at most
//                                                  this many, default 10,000)
//
// A feedback reads {"FeedbackType","UserId","ItemId","Value","Timestamp","Comment"};
// Timestamp is the text written when it was a string, else the time as
// RFC 3339 in UTC. The user's and item's feedback leave out records whose
// time is in the future, as Gorse does. Records live in the users' feedback
// histories (engine/feedback.hpp), bounded by --feedback-retention.
#include <fmt/format.h>

#include "apps/http/api.hpp"
#include "apps/http/api_call.hpp"
#include "apps/http/shapes.hpp"

#include <algorithm>

namespace rtrec::http {

using nlohmann::json;

namespace {

json feedback_array(const std::vector<engine::feedback_record>& records) {
  json out = json::array();
  for (const auto& r : records)
    out.push_back(feedback_json(r));
  return out;
}

/// The answer to an ingest: RowAffected, and Duplicates and Rejected (by
/// index, invalid and undelivered events in one list) when there are some.
json ingest_answer(const ingest_result& r) {
  json out{{"RowAffected", r.accepted}};
  if (r.duplicates > 0)
    out["Duplicates"] = r.duplicates;
  if (r.rejected.empty() && r.failed.empty())
    return out;
  std::vector<std::pair<std::uint32_t, const char*>> all;
  for (const auto& x : r.rejected)
    all.emplace_back(x.index, engine::to_string(x.reason));
  for (const auto& x : r.failed)
    all.emplace_back(x.index, to_string(x.why));
  std::sort(all.begin(), all.end());
  json rejected = json::array();
  for (const auto& [index, reason] : all)
    rejected.push_back({{"Index", index}, {"Reason", reason}});
  out["Rejected"] = std::move(rejected);
  return out;
}

}  // namespace

void api::feedback_post(const call_ptr& c, path_args) {
  feedback_write(c, false);
}

void api::feedback_put(const call_ptr& c, path_args) {
  feedback_write(c, true);
}

void api::feedback_write(const call_ptr& c, bool overwrite) {
  auto events = feedback_body(c, engine_.now_ms(), true, true);
  if (!events)
    return;
  if (events->empty())
    return c->finish(ok(json{{"RowAffected", 0}}));
  for (auto& e : *events)
    e.overwrite = overwrite;
  const auto n = events->size();
  engine_.try_ingest_async(std::move(*events), [this, c, n](rtrec::result<ingest_result> r) {
    if (!r) {
      if (r.error().code == error_code::overloaded)
        metrics_.events_overloaded.Increment(static_cast<double>(n));
      return c->finish(engine_error(r.error()));
    }
    metrics_.events_accepted.Increment(static_cast<double>(r->accepted));
    if (r->accepted == 0 && r->rejected.empty() && !r->failed.empty()) {
      // Nothing applied because the log or a shard failed: the whole request
      // can be retried as is.
      auto e = error(503, std::string{"no event was applied: "} + to_string(r->failed.front().why) +
                            "; retry the request shortly");
      e.headers.emplace_back("Retry-After", std::to_string(opts_.retry_after_s));
      return c->finish(std::move(e));
    }
    c->finish(ok(ingest_answer(*r)));
  });
}

bool api::type_filter(const call_ptr& c, const std::string& type, engine::feedback_filter& f) {
  if (type.empty())
    return true;
  const auto t = engine::parse_event_type(type);
  if (!t) {
    c->finish(error(400, fmt::format("path: feedback type \"{}\" is unknown (expected view, "
                                     "click, like, rating, purchase or dislike)",
                                     type.substr(0, 64))));
    return false;
  }
  f.any_type = false;
  f.type = *t;
  return true;
}

void api::feedback_list(const call_ptr& c, path_args a) {
  engine::feedback_filter filter;
  if (!type_filter(c, a.type, filter))
    return;
  auto n = c->count("n", 100, max_results);
  if (!n)
    return;
  if (*n == 0)
    return c->finish(error(400, "query parameter n: must be at least 1"));
  blocking_([this, c, n = *n, filter = std::move(filter),
             cursor = c->cursor()] {
    auto r = engine_.list_feedback(cursor, n, filter);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(json{{"Cursor", r->cursor}, {"Feedback", feedback_array(r->feedback)}}));
  });
}

void api::feedback_read(const call_ptr& c, path_args a) {
  engine::feedback_filter filter;
  if (!type_filter(c, a.type, filter))
    return;
  filter.item = a.item;
  blocking_([this, c, a = std::move(a), filter = std::move(filter)] {
    auto r = engine_.user_feedback(a.id, filter);
    if (!r)
      return c->finish(engine_error(r.error()));
    if (a.type.empty())
      return c->finish(ok(feedback_array(*r)));
    if (r->empty())
      return c->finish(error(404, fmt::format("no {} feedback of user {} on item {}",
                                              engine::to_string(filter.type), a.id, a.item)));
    c->finish(ok(feedback_json(r->front())));
  });
}

void api::feedback_delete(const call_ptr& c, path_args a) {
  engine::feedback_filter filter;
  if (!type_filter(c, a.type, filter))
    return;
  engine::feedback_delete d{std::move(a.id), std::move(a.item), filter.any_type, filter.type};
  blocking_([this, c, d = std::move(d)] {
    auto r = engine_.delete_feedback(d);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(json{{"RowAffected", *r}}));
  });
}

void api::user_feedback(const call_ptr& c, path_args a) {
  engine::feedback_filter filter;
  if (!type_filter(c, a.type, filter))
    return;
  filter.until_ms = engine_.now_ms();
  blocking_([this, c, id = std::move(a.id), filter = std::move(filter)] {
    auto r = engine_.user_feedback(id, filter);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(feedback_array(*r)));
  });
}

void api::item_feedback(const call_ptr& c, path_args a) {
  engine::feedback_filter filter;
  if (!type_filter(c, a.type, filter))
    return;
  auto n = c->count("n", max_results, max_results);
  if (!n)
    return;
  if (*n == 0)
    return c->finish(error(400, "query parameter n: must be at least 1"));
  filter.until_ms = engine_.now_ms();
  blocking_([this, c, n = *n, id = std::move(a.id), filter = std::move(filter)] {
    auto r = engine_.item_feedback(id, filter, n);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(feedback_array(*r)));
  });
}

}  // namespace rtrec::http
