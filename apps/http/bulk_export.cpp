// One page of a bulk export (see bulk_export.hpp).
#include "apps/http/bulk_export.hpp"

#include <nlohmann/json.hpp>

#include "apps/http/shapes.hpp"

namespace rtrec::http {

namespace {

using nlohmann::json;

template <class Range, class Shape>
void append(const Range& objects, Shape shape, std::string& lines, std::size_t& count) {
  for (const auto& x : objects)
    lines.append(shape(x).dump(-1, ' ', false, json::error_handler_t::replace)) += '\n';
  count += objects.size();
}

}  // namespace

std::string bulk_export_page(service& eng, bulk_kind kind, std::string& cursor, std::uint32_t n,
                             std::string& lines, std::size_t& count) {
  switch (kind) {
    case bulk_kind::users: {
      auto r = eng.list_users(cursor, n);
      if (!r)
        return r.error().to_string();
      append(r->users, user_json, lines, count);
      cursor = r->cursor;
      return {};
    }
    case bulk_kind::items: {
      auto r = eng.items(cursor, n);
      if (!r)
        return r.error().to_string();
      append(r->items, item_json, lines, count);
      cursor = r->cursor;
      return {};
    }
    case bulk_kind::feedback: {
      auto r = eng.list_feedback(cursor, n);
      if (!r)
        return r.error().to_string();
      append(r->feedback, feedback_json, lines, count);
      cursor = r->cursor;
      return {};
    }
  }
  return "unknown bulk kind";
}

}  // namespace rtrec::http
