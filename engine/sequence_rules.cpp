#include "engine/sequence_rules.hpp"

#include <algorithm>

namespace rtrec::engine {

sequence_rules::sequence_rules(std::size_t rules_max)
  : rules_max_(std::max<std::size_t>(1, rules_max)) {
}

void sequence_rules::rescale(double factor) {
  for (auto& [k, r] : rows_) {
    r.targets.scale(factor);
    r.total *= factor;
  }
}

std::size_t sequence_rules::entries() const {
  std::size_t n = 0;
  for (const auto& [k, r] : rows_)
    n += r.targets.size();
  return n;
}

std::size_t sequence_rules::heap_bytes() const {
  std::size_t bytes = rows_.capacity() * (sizeof(key_t) + sizeof(rule_row) + 1);
  for (const auto& [k, r] : rows_)
    bytes += r.targets.heap_bytes();
  return bytes;
}

}  // namespace rtrec::engine
