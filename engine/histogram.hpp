// A log-linear histogram of non-negative integer values (latencies in
// nanoseconds, sizes): 16 sub-buckets per power of two, so any percentile is
// reported within 6.25% of the true value, in fixed memory (~8 KiB).
#pragma once

#include <array>
#include <cstdint>

namespace rtrec::engine {

class histogram {
 public:
  static constexpr int sub_bits = 4;
  static constexpr int buckets = (64 - sub_bits + 1) << sub_bits;

  void record(std::uint64_t v) noexcept {
    ++counts_[index(v)];
    ++count_;
    if (v > max_)
      max_ = v;
    sum_ += v;
  }
  void merge(const histogram& o) noexcept {
    for (int i = 0; i < buckets; ++i)
      counts_[i] += o.counts_[i];
    count_ += o.count_;
    sum_ += o.sum_;
    if (o.max_ > max_)
      max_ = o.max_;
  }
  void reset() noexcept { *this = histogram{}; }

  /// Returns the value at quantile q in [0, 1] (upper bound of its bucket,
  /// capped by the maximum seen); 0 when empty.
  std::uint64_t percentile(double q) const noexcept {
    if (count_ == 0)
      return 0;
    auto rank = static_cast<std::uint64_t>(q * static_cast<double>(count_));
    if (rank >= count_)
      rank = count_ - 1;
    std::uint64_t seen = 0;
    for (int i = 0; i < buckets; ++i) {
      seen += counts_[i];
      if (seen > rank) {
        auto hi = upper(i);
        return hi < max_ ? hi : max_;
      }
    }
    return max_;
  }
  std::uint64_t count() const noexcept { return count_; }
  std::uint64_t max() const noexcept { return max_; }
  double mean() const noexcept {
    return count_ == 0 ? 0.0 : static_cast<double>(sum_) / static_cast<double>(count_);
  }

 private:
  static int index(std::uint64_t v) noexcept {
    if (v < (1u << sub_bits))
      return static_cast<int>(v);
    const int msb = 63 - __builtin_clzll(v);
    const int shift = msb - sub_bits;
    const auto sub = static_cast<int>((v >> shift) & ((1u << sub_bits) - 1));
    return ((shift + 1) << sub_bits) + sub;
  }
  static std::uint64_t upper(int i) noexcept {
    if (i < (1 << sub_bits))
      return static_cast<std::uint64_t>(i);
    const int shift = (i >> sub_bits) - 1;
    const std::uint64_t sub = static_cast<std::uint64_t>(i & ((1 << sub_bits) - 1));
    const std::uint64_t base = ((1ull << sub_bits) | sub) << shift;
    return base + ((1ull << shift) - 1);
  }

  std::array<std::uint64_t, buckets> counts_{};
  std::uint64_t count_ = 0;
  std::uint64_t max_ = 0;
  std::uint64_t sum_ = 0;
};

}  // namespace rtrec::engine
