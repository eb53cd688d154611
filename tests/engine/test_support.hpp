// Small helpers shared by the engine unit tests.
#pragma once

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

#include "engine/config.hpp"
#include "engine/event.hpp"
#include "engine/model_types.hpp"

namespace rtrec::engine::test_support {

inline event make_event(const std::string& user, const std::string& item, std::int64_t ts,
                        event_type type = event_type::view, double value = 0.0) {
  event e;
  e.user = user;
  e.item = item;
  e.type = type;
  e.value = value;
  e.timestamp = ts;
  return e;
}

/// `cfg` with the blend off (item-to-item alone): for tests of the
/// co-occurrence path itself, whose scores the blend's normalisation changes.
inline model_config without_blend(model_config cfg = {}) {
  cfg.seq_weight = 0.0;
  cfg.trend_weight = 0.0;
  return cfg;
}

inline std::vector<key_t> keys(const std::vector<scored>& v) {
  std::vector<key_t> out;
  for (const auto& s : v)
    out.push_back(s.key);
  return out;
}

inline std::vector<key_t> keys_of(std::initializer_list<const char*> ids) {
  std::vector<key_t> out;
  for (const char* id : ids)
    out.push_back(hash_id(id));
  return out;
}

inline std::vector<std::string> names(const std::vector<recommendation>& v) {
  std::vector<std::string> out;
  for (const auto& r : v)
    out.push_back(r.item);
  return out;
}

}  // namespace rtrec::engine::test_support
