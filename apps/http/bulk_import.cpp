// The bulk importer (see bulk_import.hpp): JSON lines parsed one by one,
// written in batches through the service.
#include "apps/http/bulk_import.hpp"

#include <absl/strings/ascii.h>
#include <fmt/format.h>

#include <algorithm>
#include <future>

#include "apps/http/shapes.hpp"

namespace rtrec::http {

using nlohmann::json;

namespace {

// Users are written by this many threads at once (put_user waits for its
// log record: several in flight share one group commit). A user's lines all
// go to one thread, in order.
constexpr std::size_t user_writers = 8;

// "line 7.UserId: ..." (json_io's "<where>.<field>") -> "line 7: UserId: ...".
std::string with_line(const std::string& where, std::string message) {
  if (message.compare(0, where.size() + 1, where + ".") == 0)
    message.replace(where.size(), 1, ": ");
  return message;
}

}  // namespace

std::optional<bulk_kind> parse_bulk_kind(std::string_view name) {
  if (name == "users")
    return bulk_kind::users;
  if (name == "items")
    return bulk_kind::items;
  if (name == "feedback")
    return bulk_kind::feedback;
  return std::nullopt;
}

const char* to_string(bulk_kind k) noexcept {
  switch (k) {
    case bulk_kind::users: return "users";
    case bulk_kind::items: return "items";
    case bulk_kind::feedback: return "feedback";
  }
  return "?";
}

json bulk_report::to_json() const {
  return json{{"RowAffected", imported}, {"Lines", lines},   {"Duplicates", duplicates},
              {"Errors", errors},        {"FirstErrors", first_errors}};
}

bulk_importer::bulk_importer(service& eng, bulk_kind kind, input_limits limits,
                             std::size_t batch)
  : eng_(eng), kind_(kind), limits_(limits), batch_(std::max<std::size_t>(1, batch)) {}

void bulk_importer::error(std::uint64_t number, std::string why) {
  ++report_.errors;
  if (report_.first_errors.size() < bulk_report::max_listed)
    report_.first_errors.push_back(std::move(why));
  (void)number;
}

void bulk_importer::refuse(std::uint64_t number, const std::string& why) {
  report_.lines = std::max(report_.lines, number);
  error(number, fmt::format("line {}: {}", number, why));
}

void bulk_importer::line(std::uint64_t number, std::string_view text) {
  report_.lines = std::max(report_.lines, number);
  if (stopped_ || absl::StripAsciiWhitespace(absl::string_view{text.data(), text.size()}).empty())
    return;
  const auto where = fmt::format("line {}", number);
  input_error err;
  auto x = parse_json(text, limits_, err);
  if (!x) {
    auto message = err.message;
    if (message.compare(0, 6, "body: ") == 0)
      message = message.substr(6);
    return error(number, where + ": " + message);
  }
  bool parsed = false;
  switch (kind_) {
    case bulk_kind::users:
      users_.emplace_back();
      parsed = parse_user(*x, where, true, limits_, users_.back().first, users_.back().second, err);
      if (!parsed)
        users_.pop_back();
      break;
    case bulk_kind::items:
      if (auto meta = parse_item(*x, eng_.now_ms(), limits_, where, err); (parsed = meta.has_value()))
        items_.push_back(std::move(*meta));
      break;
    case bulk_kind::feedback:
      if (auto e = parse_feedback_object(*x, where, eng_.now_ms(), limits_, true, err);
          (parsed = e.has_value()))
        events_.push_back(std::move(*e));
      break;
  }
  if (!parsed)
    return error(number, with_line(where, err.message));
  numbers_.push_back(number);
  if (numbers_.size() >= batch_)
    flush();
}

bulk_report bulk_importer::finish() {
  flush();
  return report_;
}

void bulk_importer::flush() {
  if (numbers_.empty())
    return;
  if (!stopped_) {
    switch (kind_) {
      case bulk_kind::users: flush_users(); break;
      case bulk_kind::items: flush_items(); break;
      case bulk_kind::feedback: flush_feedback(); break;
    }
  }
  numbers_.clear();
  users_.clear();
  items_.clear();
  events_.clear();
}

void bulk_importer::flush_users() {
  std::vector<std::vector<std::size_t>> groups(user_writers);
  for (std::size_t k = 0; k < users_.size(); ++k)
    groups[engine::hash_id(users_[k].first) % user_writers].push_back(k);
  std::vector<std::optional<rtrec::error>> failed(users_.size());
  std::vector<std::future<void>> writers;
  for (const auto& g : groups)
    if (!g.empty())
      writers.push_back(std::async(std::launch::async, [this, &g, &failed] {
        for (const auto k : g)
          if (auto r = eng_.put_user(users_[k].first, users_[k].second); !r)
            failed[k] = r.error();
      }));
  for (auto& w : writers)
    w.get();
  for (std::size_t k = 0; k < users_.size(); ++k) {
    if (!failed[k]) {
      ++report_.imported;
    } else if (failed[k]->code == error_code::invalid_request) {
      error(numbers_[k], fmt::format("line {}: {}", numbers_[k], failed[k]->to_string()));
    } else if (!stopped_) {
      stopped_ = failed[k];
    }
  }
}

void bulk_importer::flush_items() {
  for (std::size_t k = 0; k < items_.size() && !stopped_; ++k) {
    auto r = eng_.set_item(items_[k]);
    if (!r)
      stopped_ = r.error();
    else if (!*r)
      error(numbers_[k], fmt::format("line {}: ItemId: {} collides with another item's key",
                                     numbers_[k], items_[k].id.substr(0, 64)));
    else
      ++report_.imported;
  }
}

void bulk_importer::flush_feedback() {
  auto r = eng_.ingest(events_);
  if (!r) {
    stopped_ = r.error();
    return;
  }
  report_.imported += r->accepted;
  report_.duplicates += r->duplicates;
  for (const auto& x : r->rejected)
    error(numbers_[x.index],
          fmt::format("line {}: {}", numbers_[x.index], engine::to_string(x.reason)));
  for (const auto& x : r->failed)
    error(numbers_[x.index], fmt::format("line {}: not applied ({}); import it again",
                                         numbers_[x.index], to_string(x.why)));
}

}  // namespace rtrec::http
