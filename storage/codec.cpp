// The event-batch, item-metadata, user-upsert and feedback-delete log
// payloads, each declared once as a
// field list that encoding and decoding both run, and CRC-32.
#include "storage/codec.hpp"

#include <zlib.h>

#include <algorithm>

namespace rtrec::storage {
namespace {

/// Longest id or category a decoder accepts.
constexpr std::size_t max_field = std::size_t{1} << 20;
/// Fewest bytes one event takes: three string lengths, type, value, time.
constexpr std::size_t min_event_bytes = 3 * 4 + 1 + 8 + 8;
/// Fewest bytes one category takes: its length.
constexpr std::size_t min_category_bytes = 4;
/// The u8 that opens the event batch's version 2 extension.
constexpr std::uint8_t events_feedback_version = 2;
/// The u8 that opens item metadata's version 2 extension.
constexpr std::uint8_t item_meta_extras_version = 2;

template <class A, class Event>
void event_fields(A& a, Event& e) {
  a.str(e.user, max_field);
  a.str(e.item, max_field);
  a.enumeration(e.type, engine::event_type_count, "event type");
  a.value(e.value);
  a.value(e.timestamp);
  a.str(e.id, max_field);
}

/// Whether an event has a field of the events payload's version 2.
bool has_feedback_fields(const engine::event& e) noexcept {
  return e.overwrite || !e.comment.empty() || !e.timestamp_text.empty();
}

template <class A, class Events>
void events_fields(A& a, Events& events) {
  a.sequence(events, min_event_bytes, "event", [&](auto& e) { event_fields(a, e); });
  // Version 2 appends, per event, the fields only the feedback history
  // reads, and only when an event has one; a version 1 payload ends here.
  bool extended = false;
  if constexpr (A::loading)
    extended = !a.done();
  else
    extended = std::any_of(events.begin(), events.end(), has_feedback_fields);
  if (!extended)
    return;
  std::uint8_t version = events_feedback_version;
  a.value(version);
  if (version != events_feedback_version)
    throw corrupt("event batch extension version " + std::to_string(version) + " is unknown");
  for (auto& e : events) {
    a.flag(e.overwrite, "overwrite flag");
    a.str(e.timestamp_text, max_field);
    a.str(e.comment, max_field);
  }
}

template <class A, class Meta>
void item_meta_fields(A& a, Meta& m) {
  a.str(m.id, max_field);
  a.sequence(m.categories, min_category_bytes, "category",
             [&](auto& c) { a.str(c, max_field); });
  a.flag(m.hidden, "hidden flag");
  a.value(m.timestamp);
  // Version 2 appends the fields only some items have, only when one is set
  // (item_meta::has_extras()); a version 1 payload ends here.
  bool extended = false;
  if constexpr (A::loading)
    extended = !a.done();
  else
    extended = m.has_extras();
  if (!extended)
    return;
  std::uint8_t version = item_meta_extras_version;
  a.value(version);
  if (version != item_meta_extras_version)
    throw corrupt("item metadata extension version " + std::to_string(version) + " is unknown");
  a.str(m.timestamp_text, max_field);
  a.str(m.labels, max_field);
  a.str(m.comment, max_field);
}

template <class A, class User, class Patch>
void user_upsert_fields(A& a, User& user, Patch& p) {
  a.str(user, max_field);
  a.flag(p.must_exist, "must-exist flag");
  a.flag(p.set_labels, "labels flag");
  a.str(p.labels, max_field);
  a.flag(p.set_comment, "comment flag");
  a.str(p.comment, max_field);
  a.flag(p.set_subscribe, "subscribe flag");
  a.sequence(p.subscribe, min_category_bytes, "subscription",
             [&](auto& c) { a.str(c, max_field); });
}

template <class A, class Delete>
void feedback_delete_fields(A& a, Delete& d) {
  a.str(d.user, max_field);
  a.str(d.item, max_field);
  a.flag(d.any_type, "any-type flag");
  a.enumeration(d.type, engine::event_type_count, "feedback type");
}

}  // namespace

void encode_feedback_delete(const engine::feedback_delete& d, std::string& out) {
  writer w{out};
  feedback_delete_fields(w, d);
}

engine::feedback_delete decode_feedback_delete(std::string_view in) {
  reader r{in};
  engine::feedback_delete d;
  feedback_delete_fields(r, d);
  if (!r.done())
    throw corrupt(std::to_string(r.left()) + " bytes left after the feedback deletion");
  return d;
}

void encode_user_upsert(const std::string& user, const engine::user_patch& p, std::string& out) {
  writer w{out};
  user_upsert_fields(w, user, p);
}

engine::user_patch decode_user_upsert(std::string_view in, std::string& user) {
  reader r{in};
  engine::user_patch p;
  user_upsert_fields(r, user, p);
  if (!r.done())
    throw corrupt(std::to_string(r.left()) + " bytes left after the user upsert");
  return p;
}

void encode_events(const std::vector<engine::event>& events, std::string& out) {
  writer w{out};
  events_fields(w, events);
}

std::vector<engine::event> decode_events(std::string_view in) {
  reader r{in};
  std::vector<engine::event> out;
  events_fields(r, out);
  if (!r.done())
    throw corrupt(std::to_string(r.left()) + " bytes left after the last event");
  return out;
}

void encode_item_meta(const engine::item_meta& m, std::string& out) {
  writer w{out};
  item_meta_fields(w, m);
}

engine::item_meta decode_item_meta(std::string_view in) {
  reader r{in};
  engine::item_meta m;
  item_meta_fields(r, m);
  if (!r.done())
    throw corrupt(std::to_string(r.left()) + " bytes left after the item metadata");
  return m;
}

std::uint32_t crc32(std::string_view bytes) noexcept {
  return static_cast<std::uint32_t>(
    ::crc32_z(0, reinterpret_cast<const Bytef*>(bytes.data()), bytes.size()));
}

}  // namespace rtrec::storage
