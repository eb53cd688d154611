// rtrec::service (include/rtrec/rtrec.hpp): the feedback history calls.
// A user's records live on its profile shard; a listing walks the profile
// shards in order, each in requests of at most feedback_scan_users slots,
// with a cursor "<shard>.<slot>.<seq>" (where the next request starts).
#include "actors/service_impl.hpp"

#include "actors/profile_shard.hpp"

#include <absl/strings/numbers.h>
#include <absl/strings/str_split.h>

#include <optional>

namespace rtrec {

namespace {

/// Where a feedback listing continues: after write number `seq` of the
/// user in slot `slot` of profile shard `shard`.
struct feedback_cursor {
  std::uint32_t shard = 0;
  std::uint64_t slot = 0;
  std::uint32_t seq = 0;

  std::string to_string() const {
    return std::to_string(shard) + "." + std::to_string(slot) + "." + std::to_string(seq);
  }
};

std::optional<feedback_cursor> parse_cursor(const std::string& s, std::uint32_t shards) {
  feedback_cursor c;
  if (s.empty())
    return c;
  std::vector<absl::string_view> parts = absl::StrSplit(s, '.');
  if (parts.size() != 3 || !absl::SimpleAtoi(parts[0], &c.shard)
      || !absl::SimpleAtoi(parts[1], &c.slot) || !absl::SimpleAtoi(parts[2], &c.seq)
      || c.shard >= shards)
    return std::nullopt;
  return c;
}

rtrec::error bad_id(const char* field, const std::string& id, std::size_t max_length) {
  const auto r = engine::validate_id(id, max_length);
  return {error_code::invalid_request,
          std::string{field} + ": " + (id.empty() ? "empty" : engine::to_string(r))};
}

bool valid_id(const std::string& id, std::size_t max_length) {
  return !id.empty() && engine::validate_id(id, max_length) == engine::reject_reason::none;
}

}  // namespace

result<feedback_listing> service::list_feedback(const std::string& cursor, std::size_t n,
                                                const engine::feedback_filter& filter) {
  const auto routes = impl_->router();
  const auto shards = routes.profile_count();
  auto at = parse_cursor(cursor, shards);
  if (!at)
    return rtrec::error{error_code::invalid_request,
                        "cursor \"" + cursor.substr(0, 64)
                          + "\" was not given by this server; start with an empty cursor"};
  if (n == 0 || n > max_results)
    return rtrec::error{error_code::invalid_request, "n must be between 1 and "
                                                       + std::to_string(max_results) + " (got "
                                                       + std::to_string(n) + ")"};
  feedback_listing out;
  while (at->shard < shards && out.feedback.size() < n) {
    const auto& shard = routes.profiles()[at->shard];
    if (!shard)
      return rtrec::error{error_code::shard_unavailable,
                          "list feedback: profile shard " + std::to_string(at->shard)
                            + " is on a node that is down; retry with the same cursor"};
    auto page = impl_->call<engine::feedback_page>(
      shard, feedback_atom::value, at->slot, at->seq,
      static_cast<std::uint32_t>(n - out.feedback.size()), filter);
    if (!page)
      return std::move(page.error());
    for (auto& r : page->records)
      out.feedback.push_back(std::move(r));
    if (page->done)
      *at = {at->shard + 1, 0, 0};
    else
      *at = {at->shard, page->next_slot, page->next_seq};
  }
  if (at->shard < shards)
    out.cursor = at->to_string();
  return out;
}

result<std::vector<engine::feedback_record>> service::user_feedback(
  const std::string& user, const engine::feedback_filter& filter) {
  const auto max_id = impl_->opts.topology.model.limits.max_id_length;
  if (!valid_id(user, max_id))
    return bad_id("UserId", user, max_id);
  auto owner = impl_->router().profile_of(user);
  if (!owner)
    return impl_->convert(owner.error());
  auto page = impl_->call<engine::feedback_page>(*owner, feedback_atom::value, user, filter);
  if (!page)
    return std::move(page.error());
  return std::move(page->records);
}

result<std::vector<engine::feedback_record>> service::item_feedback(
  const std::string& item, engine::feedback_filter filter, std::size_t max) {
  const auto max_id = impl_->opts.topology.model.limits.max_id_length;
  if (!valid_id(item, max_id))
    return bad_id("ItemId", item, max_id);
  filter.item = item;
  std::vector<engine::feedback_record> out;
  std::string cursor;
  do {
    auto page = list_feedback(cursor, max - out.size(), filter);
    if (!page)
      return std::move(page.error());
    for (auto& r : page->feedback)
      out.push_back(std::move(r));
    cursor = std::move(page->cursor);
  } while (!cursor.empty() && out.size() < max);
  return out;
}

result<std::uint64_t> service::delete_feedback(const engine::feedback_delete& d) {
  const auto max_id = impl_->opts.topology.model.limits.max_id_length;
  if (!valid_id(d.user, max_id))
    return bad_id("UserId", d.user, max_id);
  if (!valid_id(d.item, max_id))
    return bad_id("ItemId", d.item, max_id);
  auto owner = impl_->router().profile_of(d.user);
  if (!owner)
    return impl_->convert(owner.error());
  return impl_->call<std::uint64_t>(*owner, feedback_atom::value, d);
}

}  // namespace rtrec
