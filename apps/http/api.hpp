// The HTTP API's routes and handlers, independent of the HTTP library: a
// request comes in as plain data, its response goes out through a callback
// (exactly once, from whichever thread finished the work). Queries and
// feedback run asynchronously on the engine; item, user and metrics calls
// that block run on the `blocking` executor, never on an I/O thread.
//
//   POST|PUT /api/feedback            -> {"RowAffected": n}   (api_feedback.cpp:
//   GET  /api/feedback[/{type}]?cursor=&n=, GET|DELETE /api/feedback[/{type}]/{user}/{item},
//   GET  /api/user/{id}/feedback[/{type}], GET /api/item/{id}/feedback[/{type}])
//   GET  /api/recommend/{user}[/{category}]?n=&offset=&category=
//        &write-back-type=&write-back-delay=
//                                      -> ["id", ...]  (X-API-Version: 2:
//                                         [{"Id","Score"}]); the write-back
//                                         in api_write_back.cpp
//   POST /api/session/recommend[/{category}]?n=&offset=&category=  -> [{"Id","Score"}]
//   GET  /api/item/{id}/neighbors[/{category}]?n=&offset=
//   GET  /api/popular[/{category}]?n=&offset=,  GET /api/latest[/{category}]
//   GET  /api/non-personalized/{popular|latest}?n=&offset=&category=
//   GET  /api/item-to-item/neighbors/{item}?n=&offset=&category=
//   GET  /api/user/{user}/neighbors?n=&offset=, /api/user-to-user/neighbors/{user}
//                                      -> [{"Id","Score"}] similar users (api_neighbors.cpp)
//   POST /api/item, POST /api/items, GET /api/items?cursor=&n=,
//   GET|PATCH|DELETE /api/item/{id}, PUT|DELETE /api/item/{id}/category/{c}
//     (the item handlers are in api_items.cpp)
//   POST /api/user, POST /api/users, GET /api/users?cursor=&n=,
//   GET|PATCH|DELETE /api/user/{id}   (api_users.cpp)
//   GET  /metrics, /api/health/live, /api/health/ready
//   GET  /dashboard[/...], /api/dashboard/stats    (see dashboard.hpp)
//
// The routes are one table (api::routes_ in api.cpp): a new route is a row
// there and a handler here.
//
// Errors are JSON {"error": message, "status": code}; 4xx name the field.
#pragma once

#include <atomic>
#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtrec/rtrec.hpp"
#include "apps/http/json_io.hpp"
#include "apps/http/metrics.hpp"
#include "apps/http/write_back.hpp"

namespace rtrec::http {

/// A request, as the server read it.
struct request {
  std::string method;  ///< "GET", "POST", ...
  std::string target;  ///< path and query, as sent
  std::string body;
  std::optional<std::string> api_key;  ///< X-API-Key, when sent
  std::string content_type;
  std::string content_encoding;
  std::string api_version;  ///< X-API-Version
  std::chrono::steady_clock::time_point received = std::chrono::steady_clock::now();
};

/// A request body handed over piece by piece (bulk import): the server
/// passes each piece to write() and reads the next one only once the sink
/// called `more` (so a slow import holds the client back, and memory stays
/// bounded). The sink answers through the request's responder, once.
class body_sink {
 public:
  virtual ~body_sink() = default;
  /// The next piece (valid during the call only). Call `more` once, from any
  /// thread, when ready for the next piece; never calling it stops reading
  /// (the sink must then answer, and the server closes the connection).
  virtual void write(std::string_view piece, std::function<void()> more) = 0;
  /// The body ended: `error` is empty, or why it could not be read whole.
  virtual void end(std::string error) = 0;
};

/// A response body produced piece by piece (bulk export), sent chunked.
class body_source {
 public:
  /// Receives the next piece; `last` ends the body. `failed`: the source
  /// cannot go on; the server then cuts the body off (no final chunk) and
  /// closes, so the client sees it incomplete.
  using next_fn = std::function<void(std::string piece, bool last, bool failed)>;
  virtual ~body_source() = default;
  /// Produces the next piece through `done`, once, from any thread.
  virtual void next(next_fn done) = 0;
};

struct response {
  int status = 200;
  std::string body;
  std::string content_type = "application/json";
  std::vector<std::pair<std::string, std::string>> headers;
  /// When set, the body comes from it (chunked) instead of `body`.
  std::shared_ptr<body_source> stream;
};

using responder = std::function<void(response)>;
/// Runs a task on some thread that may block.
using executor = std::function<void(std::function<void()>)>;

struct api_options {
  /// When set, every request must carry this X-API-Key.
  std::optional<std::string> api_key;
  input_limits limits;
  /// Queries waiting on the engine before new ones get 503.
  std::size_t max_queries_in_flight = 4096;
  /// Seconds a client should wait after a 503 (Retry-After).
  int retry_after_s = 1;
  /// Delayed write-backs of recommend (write_back.hpp).
  write_back_options write_back;
};

/// A recommend request's write-back-type and write-back-delay.
struct write_back_request {
  engine::event_type type = engine::event_type::view;
  std::int64_t delay_ms = 0;
};

class api {
 public:
  /// `eng`, `m` and `blocking` must outlive the api.
  api(service& eng, api_options o, metrics& m, executor blocking);

  /// Handles `req` and calls `reply` exactly once.
  void handle(request req, responder reply);

  /// True when the server should hand this request's body over piece by
  /// piece (handle_stream) instead of reading it whole: POST /api/bulk/...
  static bool wants_stream(std::string_view method, std::string_view target);
  /// Handles a request whose body is still to come (req.body empty): returns
  /// the sink to pour it into, or nullptr when `reply` was already called
  /// (refused: auth, route, headers); the body must then not be read.
  std::shared_ptr<body_sink> handle_stream(request req, responder reply);

  /// While draining, readiness answers 503 (the server is shutting down).
  void set_draining(bool draining) noexcept { draining_ = draining; }

  /// Returns a JSON error response.
  static response error(int status, const std::string& message);

  /// The delayed write-backs (tests move the clock, then run_due()).
  write_back_queue& write_backs() noexcept { return *write_backs_; }
  /// Stops the work the api does on its own (the write-back thread).
  void stop_background() { write_backs_->stop(); }

 private:
  struct call;
  using call_ptr = std::shared_ptr<call>;
  /// What a route's path pattern captured; empty where it has no such part.
  struct path_args {
    std::string id;        ///< the `{user}` or `{item}` segment, checked by id_problem()
    std::string item;      ///< an `{item}` after a `{user}`, checked by id_problem()
    std::string category;  ///< the `{category}` segment, as sent
    std::string name;      ///< the `{name}` segment (a v0.5 recommender's name)
    std::string type;      ///< the `{type}` segment (a feedback type), as sent
  };
  /// A route's handler: answers `c` (now or later) exactly once.
  using handler = void (api::*)(const call_ptr& c, path_args a);
  struct route_row;
  static const route_row routes_[];  // the route table, in api.cpp

  void dispatch(const call_ptr& c);
  std::optional<path_args> path_params(const call_ptr& c, std::string_view pattern);
  void wrong_method(const call_ptr& c, std::string_view pattern);

  // The handlers of routes_.
  // feedback: api_feedback.cpp
  void feedback_post(const call_ptr& c, path_args);
  void feedback_put(const call_ptr& c, path_args);
  void feedback_list(const call_ptr& c, path_args a);
  void feedback_read(const call_ptr& c, path_args a);
  void feedback_delete(const call_ptr& c, path_args a);
  void user_feedback(const call_ptr& c, path_args a);
  void item_feedback(const call_ptr& c, path_args a);
  void recommend(const call_ptr& c, path_args a);
  void session(const call_ptr& c, path_args a);
  void listing(const call_ptr& c, path_args a);
  void non_personalized(const call_ptr& c, path_args a);
  void item_to_item(const call_ptr& c, path_args a);
  // user neighbors: api_neighbors.cpp
  void user_to_user(const call_ptr& c, path_args a);
  void user_neighbors(const call_ptr& c, path_args a);
  void item_post(const call_ptr& c, path_args);
  void items_post(const call_ptr& c, path_args);
  void items_list(const call_ptr& c, path_args);
  void item_read(const call_ptr& c, path_args a);
  void item_patch(const call_ptr& c, path_args a);
  void item_delete(const call_ptr& c, path_args a);
  void item_category(const call_ptr& c, path_args a);
  // users: api_users.cpp
  void user_post(const call_ptr& c, path_args);
  void users_post(const call_ptr& c, path_args);
  void users_list(const call_ptr& c, path_args);
  void user_read(const call_ptr& c, path_args a);
  void user_patch(const call_ptr& c, path_args a);
  void user_delete(const call_ptr& c, path_args a);
  void metrics_text(const call_ptr& c, path_args);
  void cluster(const call_ptr& c, path_args);
  void dashboard_page(const call_ptr& c, path_args);
  void dashboard_stats(const call_ptr& c, path_args);
  // bulk import and export: api_bulk.cpp
  void bulk_export(const call_ptr& c, path_args a);
  void bulk_import(const call_ptr& c, path_args a);
  void live(const call_ptr& c, path_args);
  void ready(const call_ptr& c, path_args);

  /// Ingests a feedback array; overwrite: Gorse's PUT (replace existing
  /// records in the history), else POST (keep them).
  void feedback_write(const call_ptr& c, bool overwrite);
  /// Reads the `{type}` segment into filter `f` (nothing when empty); on an
  /// unknown type answers 400 and returns false.
  bool type_filter(const call_ptr& c, const std::string& type, engine::feedback_filter& f);
  void item_write(const call_ptr& c, bool many);
  void user_write(const call_ptr& c, bool many);
  std::optional<std::vector<engine::item_meta>> parse_items(const call_ptr& c,
                                                            const nlohmann::json& body,
                                                            bool many);
  /// Applies `change` to item `id` and answers {"RowAffected": 1} (404 for
  /// an unknown item).
  void update(const call_ptr& c, std::string id, engine::item_patch change);
  // write-back on recommend: api_write_back.cpp
  bool write_back_params(const call_ptr& c, std::optional<write_back_request>& out);
  void write_back(const call_ptr& c, const std::string& user,
                  std::vector<engine::recommendation> recs, write_back_request wb, bool v2);
  void write_back_now(const call_ptr& c, std::vector<engine::event> events,
                      std::vector<engine::recommendation> recs, bool v2);
  static response recommendations(const std::vector<engine::recommendation>& recs, bool v2);
  bool authorized(const request& req) const;
  void start(const call_ptr& c);
  bool begin_query(const call_ptr& c);
  response engine_error(const rtrec::error& err);
  /// False (answered 415) unless the request's Content-Type is JSON and
  /// its body is not encoded.
  bool json_headers(const call_ptr& c);
  /// The body parsed as JSON, or nullopt (answered) when it is not.
  std::optional<nlohmann::json> json_body(const call_ptr& c);
  /// The body as a feedback array (parse_feedback_body()), or nullopt
  /// (answered; with `count_invalid`, its events counted as invalid).
  std::optional<std::vector<engine::event>> feedback_body(const call_ptr& c, std::int64_t now_ms,
                                                          bool require_user, bool count_invalid);

  service& engine_;
  api_options opts_;
  metrics& metrics_;
  executor blocking_;
  std::atomic<bool> draining_{false};
  std::string key_digest_;  // SHA-256 of the configured key
  std::unique_ptr<write_back_queue> write_backs_;
};

}  // namespace rtrec::http
