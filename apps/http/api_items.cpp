// The item handlers of the API (Gorse's item endpoints): write one item or a
// batch, read, list by cursor, patch, delete, and add or remove one category.
// Item calls block on the engine, so each runs on the `blocking` executor.
//
//   POST /api/item, POST /api/items           -> {"RowAffected": n}
//   GET  /api/items?cursor=&n=                -> {"Cursor": "...", "Items": [item, ...]}
//   GET|PATCH|DELETE /api/item/{id}           -> item | {"RowAffected": n}
//   PUT|DELETE /api/item/{id}/category/{cat}  -> {"RowAffected": 1}
//
// An item is {"ItemId", "IsHidden", "Categories", "Timestamp", "Labels",
// "Comment"}: Timestamp as the client wrote it (else the creation time in
// RFC 3339), Labels the JSON given (null when none), Comment "" when none.
#include "apps/http/api.hpp"
#include "apps/http/api_call.hpp"
#include "apps/http/shapes.hpp"

#include <fmt/format.h>

#include <algorithm>

namespace rtrec::http {

using nlohmann::json;


void api::item_post(const call_ptr& c, path_args) {
  item_write(c, false);
}

void api::items_post(const call_ptr& c, path_args) {
  item_write(c, true);
}

// Parses one item or an array of them; on the first problem answers 4xx.
std::optional<std::vector<engine::item_meta>> api::parse_items(const call_ptr& c,
                                                               const json& body, bool many) {
  std::vector<engine::item_meta> items;
  input_error err;
  const auto now = engine_.now_ms();  // the service's clock (injected in tests)
  if (!many) {
    auto meta = parse_item(body, now, opts_.limits, "body", err);
    if (!meta) {
      c->finish(error(err.status, err.message));
      return std::nullopt;
    }
    items.push_back(std::move(*meta));
    return items;
  }
  if (!body.is_array()) {
    c->finish(error(400, "body: expected a JSON array of item objects"));
    return std::nullopt;
  }
  if (body.size() > opts_.limits.max_array) {
    c->finish(error(413, fmt::format("body: at most {} items per request",
                                     opts_.limits.max_array)));
    return std::nullopt;
  }
  for (std::size_t k = 0; k < body.size(); ++k) {
    auto meta = parse_item(body[k], now, opts_.limits, fmt::format("[{}]", k), err);
    if (!meta) {
      c->finish(error(err.status, err.message));
      return std::nullopt;
    }
    items.push_back(std::move(*meta));
  }
  return items;
}

void api::item_write(const call_ptr& c, bool many) {
  auto body = json_body(c);
  if (!body)
    return;
  auto items = parse_items(c, *body, many);
  if (!items)
    return;
  blocking_([this, c, items = std::move(*items)] {
    std::size_t written = 0;
    for (const auto& meta : items) {
      auto r = engine_.set_item(meta);
      if (!r)
        return c->finish(engine_error(r.error()));
      if (!*r)
        return c->finish(error(409, fmt::format("item {}: its id collides with another item's "
                                                "internal key; {} earlier items were written",
                                                meta.id, written)));
      ++written;
    }
    c->finish(ok(json{{"RowAffected", written}}));
  });
}

void api::items_list(const call_ptr& c, path_args) {
  auto n = c->count("n", 10, max_results);
  if (!n)
    return;
  blocking_([this, c, n = std::max<std::size_t>(*n, 1),
             cursor = c->cursor()] {
    auto r = engine_.items(cursor, static_cast<std::uint32_t>(n));
    if (!r)
      return c->finish(engine_error(r.error()));
    json items = json::array();
    for (const auto& m : r->items)
      items.push_back(item_json(m));
    c->finish(ok(json{{"Cursor", r->cursor}, {"Items", std::move(items)}}));
  });
}

void api::item_read(const call_ptr& c, path_args a) {
  blocking_([this, c, id = std::move(a.id)] {
    auto r = engine_.item(id);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(item_json(*r)));
  });
}

void api::item_patch(const call_ptr& c, path_args a) {
  auto body = json_body(c);
  if (!body)
    return;
  input_error err;
  auto patch = parse_item_patch(*body, opts_.limits, err);
  if (!patch)
    return c->finish(error(err.status, err.message));
  engine::item_patch change;
  change.set_hidden = patch->hidden.has_value();
  change.hidden = patch->hidden.value_or(false);
  change.set_categories = patch->categories.has_value();
  change.categories = patch->categories.value_or(std::vector<std::string>{});
  change.set_timestamp = patch->timestamp.has_value();
  change.timestamp = patch->timestamp.value_or(0);
  change.timestamp_text = std::move(patch->timestamp_text);
  change.set_labels = patch->labels.has_value();
  change.labels = patch->labels.value_or(std::string{});
  change.set_comment = patch->comment.has_value();
  change.comment = patch->comment.value_or(std::string{});
  update(c, std::move(a.id), std::move(change));
}

void api::update(const call_ptr& c, std::string id, engine::item_patch change) {
  blocking_([this, c, id = std::move(id), change = std::move(change)] {
    auto r = engine_.update_item(id, change);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(json{{"RowAffected", 1}}));
  });
}

void api::item_delete(const call_ptr& c, path_args a) {
  blocking_([this, c, id = std::move(a.id)] {
    auto r = engine_.remove_item(id);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(json{{"RowAffected", *r ? 1 : 0}}));
  });
}

void api::item_category(const call_ptr& c, path_args a) {
  if (auto problem = id_problem(a.category, opts_.limits.ids.max_id_length))
    return c->finish(error(400, "path: category " + *problem));
  engine::item_patch change;
  if (c->req.method == "DELETE") {
    change.remove_category = std::move(a.category);
    return update(c, std::move(a.id), std::move(change));
  }
  // Adding: refused when the item has max_categories others already.
  blocking_([this, c, id = std::move(a.id), category = std::move(a.category)]() mutable {
    auto now = engine_.item(id);
    if (!now)
      return c->finish(engine_error(now.error()));
    const auto& cats = now->categories;
    if (std::find(cats.begin(), cats.end(), category) == cats.end() &&
        cats.size() >= opts_.limits.max_categories)
      return c->finish(error(400, fmt::format("path: category: item {} has {} categories, the "
                                              "most an item may have",
                                              id, cats.size())));
    engine::item_patch change;
    change.add_category = std::move(category);
    auto r = engine_.update_item(id, change);
    if (!r)
      return c->finish(engine_error(r.error()));
    c->finish(ok(json{{"RowAffected", 1}}));
  });
}

}  // namespace rtrec::http
