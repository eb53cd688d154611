#include "engine/dedup_window.hpp"

#include <limits>

namespace rtrec::engine {

dedup_window::dedup_window(std::size_t max_ids, std::int64_t max_age_ms)
  : max_ids_(max_ids), max_age_ms_(max_age_ms) {}

dedup_window::dedup_window(const dedup_window& other)
  : max_ids_(other.max_ids_), max_age_ms_(other.max_age_ms_), order_(other.order_) {
  rebuild_index();
}

dedup_window& dedup_window::operator=(const dedup_window& other) {
  if (this != &other) {
    dedup_window copy{other};
    *this = std::move(copy);
  }
  return *this;
}

void dedup_window::rebuild_index() {
  index_.clear();
  index_.reserve(order_.size());
  for (const auto& e : order_)
    index_.insert(std::string_view{e.id});
}

bool dedup_window::contains(std::string_view id) const {
  return !id.empty() && index_.contains(id);
}

void dedup_window::insert(std::string_view id, std::int64_t now_ms) {
  if (max_ids_ == 0 || id.empty() || index_.contains(id))
    return;
  if (max_age_ms_ > 0) {
    // Forget ids remembered before now_ms - max_age_ms (without overflow).
    constexpr auto lowest = std::numeric_limits<std::int64_t>::min();
    const std::int64_t cutoff = now_ms < lowest + max_age_ms_ ? lowest : now_ms - max_age_ms_;
    while (!order_.empty() && order_.front().time < cutoff) {
      index_.erase(std::string_view{order_.front().id});
      order_.pop_front();
    }
  }
  order_.push_back({std::string{id}, now_ms});
  index_.insert(std::string_view{order_.back().id});
  while (order_.size() > max_ids_) {
    index_.erase(std::string_view{order_.front().id});
    order_.pop_front();
  }
}

std::size_t dedup_window::memory_bytes() const noexcept {
  std::size_t total = order_.size() * sizeof(entry)
                      + index_.capacity() * (sizeof(std::string_view) + 1);
  for (const auto& e : order_)
    total += e.id.capacity() > 15 ? e.id.capacity() + 1 : 0;
  return total;
}

}  // namespace rtrec::engine
