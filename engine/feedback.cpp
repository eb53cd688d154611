#include "engine/feedback.hpp"

#include <algorithm>

namespace rtrec::engine {

std::size_t feedback_log::find(key_t item, event_type type) const noexcept {
  // Newest first: a repeated (type, item) is most often a recent one.
  for (std::size_t k = entries_.size(); k > head_; --k) {
    const auto& x = entries_[k - 1];
    if (x.item == item && x.type == type)
      return k - 1 - head_;
  }
  return npos;
}

bool feedback_log::has_item(key_t item) const noexcept {
  return std::any_of(entries_.begin() + static_cast<std::ptrdiff_t>(head_), entries_.end(),
                     [item](const feedback_entry& x) { return x.item == item; });
}

std::size_t feedback_log::after(std::uint32_t seq) const noexcept {
  auto it = std::upper_bound(entries_.begin() + static_cast<std::ptrdiff_t>(head_),
                             entries_.end(), seq,
                             [](std::uint32_t s, const feedback_entry& x) { return s < x.seq; });
  return static_cast<std::size_t>(it - entries_.begin()) - head_;
}

void feedback_log::append(key_t item, std::int64_t timestamp, event_type type, float value,
                          bool has_text) {
  if (seq_ == std::numeric_limits<std::uint32_t>::max()) {
    compact();
    seq_ = 0;
    for (auto k = head_; k < entries_.size(); ++k)
      entries_[k].seq = ++seq_;
  }
  entries_.push_back({item, timestamp, ++seq_, value, type, has_text});
}

void feedback_log::remove(std::size_t k) {
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(head_ + k));
  compact();
}

void feedback_log::assign(std::vector<feedback_entry> entries, std::uint32_t last_seq) {
  entries_ = std::move(entries);
  head_ = 0;
  seq_ = last_seq;
}

void feedback_log::compact() {
  if (head_ == entries_.size()) {
    entries_.clear();
    head_ = 0;
  } else if (head_ > 0 && head_ * 4 >= entries_.size()) {
    // Dropped records are at most a quarter of the vector: each live record
    // is moved about three times per retention's worth of appends.
    entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(head_));
    head_ = 0;
  }
}

}  // namespace rtrec::engine
