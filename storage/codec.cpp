#include "storage/codec.hpp"

#include <boost/crc.hpp>

namespace rtrec::storage {

void encode_events(const std::vector<engine::event>& events, std::string& out) {
  writer w{out};
  w.put(static_cast<std::uint32_t>(events.size()));
  for (const auto& e : events) {
    w.put_str(e.user);
    w.put_str(e.item);
    w.put(static_cast<std::uint8_t>(e.type));
    w.put(e.value);
    w.put(e.timestamp);
    w.put_str(e.id);
  }
}

std::vector<engine::event> decode_events(std::string_view in) {
  reader r{in};
  auto n = r.get<std::uint32_t>();
  // Every event takes at least 29 bytes: a count beyond that is corrupt.
  if (n > in.size() / 29 + 1)
    throw corrupt("event count " + std::to_string(n) + " does not fit in " +
                  std::to_string(in.size()) + " bytes");
  std::vector<engine::event> out(n);
  for (auto& e : out) {
    e.user = r.get_str(1u << 20);
    e.item = r.get_str(1u << 20);
    auto t = r.get<std::uint8_t>();
    if (t >= engine::event_type_count)
      throw corrupt("event type " + std::to_string(t) + " is unknown");
    e.type = static_cast<engine::event_type>(t);
    e.value = r.get<double>();
    e.timestamp = r.get<std::int64_t>();
    e.id = r.get_str(1u << 20);
  }
  if (!r.done())
    throw corrupt(std::to_string(r.left()) + " bytes left after the last event");
  return out;
}

void encode_item_meta(const engine::item_meta& m, std::string& out) {
  writer w{out};
  w.put_str(m.id);
  w.put(static_cast<std::uint32_t>(m.categories.size()));
  for (const auto& c : m.categories)
    w.put_str(c);
  w.put(static_cast<std::uint8_t>(m.hidden ? 1 : 0));
  w.put(m.timestamp);
}

engine::item_meta decode_item_meta(std::string_view in) {
  reader r{in};
  engine::item_meta m;
  m.id = r.get_str(1u << 20);
  auto n = r.get<std::uint32_t>();
  if (n > in.size() / 4)
    throw corrupt("category count " + std::to_string(n) + " does not fit");
  for (std::uint32_t k = 0; k < n; ++k)
    m.categories.push_back(r.get_str(1u << 20));
  auto hidden = r.get<std::uint8_t>();
  if (hidden > 1)
    throw corrupt("hidden flag " + std::to_string(hidden) + " is not 0 or 1");
  m.hidden = hidden == 1;
  m.timestamp = r.get<std::int64_t>();
  if (!r.done())
    throw corrupt(std::to_string(r.left()) + " bytes left after the item metadata");
  return m;
}

std::uint32_t crc32(std::string_view bytes) noexcept {
  boost::crc_32_type crc;
  crc.process_bytes(bytes.data(), bytes.size());
  return crc.checksum();
}

}  // namespace rtrec::storage
