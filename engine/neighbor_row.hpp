// One row of an item shard's co-occurrence table: the neighbors of one item
// (as indices of the shard's scoring records) and their weights, in two
// packed parallel arrays in no particular order.
//
// Rows are small (an item_model keeps at most 1.5 * neighbors_max + 1
// entries) and a query reads ~25 of them whole, so they are laid out for
// reading: 12 bytes per entry, contiguous, where a hash map spends ~16 bytes
// per slot at a load of 40-60% plus its control bytes, and needs them to
// find its first slot. A lookup is a linear scan of the indices (4 bytes
// each, 8 compared per step), as fast as a hash probe at this size.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <vector>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace rtrec::engine {

class neighbor_row {
 public:
  std::size_t size() const noexcept { return index_.size(); }
  bool empty() const noexcept { return index_.empty(); }

  /// Returns the position of neighbor `x`, or size() when absent.
  std::size_t find(std::uint32_t x) const noexcept {
    const std::uint32_t* k = index_.data();
    const std::size_t n = index_.size();
    std::size_t i = 0;
#if defined(__SSE2__)
    const __m128i needle = _mm_set1_epi32(static_cast<int>(x));
    for (; i + 8 <= n; i += 8) {
      const __m128i a = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i));
      const __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(k + i + 4));
      const int m = _mm_movemask_epi8(_mm_packs_epi32(_mm_cmpeq_epi32(a, needle),
                                                      _mm_cmpeq_epi32(b, needle)));
      if (m != 0)
        return i + static_cast<std::size_t>(__builtin_ctz(static_cast<unsigned>(m))) / 2;
    }
#endif
    for (; i < n; ++i)
      if (k[i] == x)
        return i;
    return n;
  }

  /// Adds `inc` to neighbor x's weight, inserting x with weight 0.0 first
  /// if absent; `max_entries` caps the capacity reserved when the arrays
  /// grow (the most entries the row will ever hold at once).
  void add(std::uint32_t x, double inc, std::size_t max_entries) {
    const std::size_t at = find(x);
    if (at < size()) {
      weight_[at] += inc;
      return;
    }
    if (index_.size() == index_.capacity()) {
      std::size_t cap = index_.capacity() < 4 ? 4 : 2 * index_.capacity();
      if (cap > max_entries && max_entries > index_.size())
        cap = max_entries;
      reserve(cap);
    }
    index_.push_back(x);
    weight_.push_back(0.0 + inc);
  }

  /// Appends neighbor x (which must be absent) with weight w.
  void push_back(std::uint32_t x, double w) {
    index_.push_back(x);
    weight_.push_back(w);
  }

  /// Keeps the `keep` strongest entries (weight descending, ties: smaller
  /// key_of(neighbor)), dropping the rest; nothing when size() <= keep.
  template <class KeyOf>
  void prune_to(std::size_t keep, KeyOf key_of) {
    if (size() <= keep)
      return;
    struct entry {
      std::uint64_t key;
      double w;
      std::size_t at;
    };
    std::vector<entry> all;
    all.reserve(size());
    for (std::size_t at = 0; at < size(); ++at)
      all.push_back({key_of(index_[at]), weight_[at], at});
    auto cut = all.begin() + static_cast<std::ptrdiff_t>(keep);
    std::nth_element(all.begin(), cut, all.end(), [](const entry& a, const entry& b) {
      return a.w > b.w || (a.w == b.w && a.key < b.key);
    });
    std::vector<std::size_t> kept;
    kept.reserve(keep);
    for (auto it = all.begin(); it != cut; ++it)
      kept.push_back(it->at);
    this->keep(kept);
  }

  /// Keeps only the entries at `positions` (each < size(), no repeats), in
  /// that order.
  void keep(const std::vector<std::size_t>& positions) {
    std::vector<std::uint32_t> index;
    std::vector<double> weight;
    index.reserve(index_.capacity());
    weight.reserve(weight_.capacity());
    for (const std::size_t p : positions) {
      index.push_back(index_[p]);
      weight.push_back(weight_[p]);
    }
    index_.swap(index);
    weight_.swap(weight);
  }

  void reserve(std::size_t n) {
    index_.reserve(n);
    weight_.reserve(n);
  }

  std::uint32_t neighbor(std::size_t at) const noexcept { return index_[at]; }
  double weight(std::size_t at) const noexcept { return weight_[at]; }
  /// The packed arrays (size() entries each).
  const std::uint32_t* neighbors() const noexcept { return index_.data(); }
  const double* weights() const noexcept { return weight_.data(); }
  /// Requests the cache lines of both arrays (a hint: never faults), so a
  /// query can pull the next row in while it scores this one.
  void prefetch() const noexcept {
    prefetch_lines(index_.data(), index_.size() * sizeof(std::uint32_t));
    prefetch_lines(weight_.data(), weight_.size() * sizeof(double));
  }
  /// Requests the cache lines of [p, p + bytes) (a hint: never faults).
  static void prefetch_lines(const void* p, std::size_t bytes) noexcept {
    const char* c = static_cast<const char*>(p);
    for (const char* end = c + bytes; c < end; c += 64)
      __builtin_prefetch(c);
  }
  /// Multiplies every weight by `factor`.
  void scale(double factor) noexcept {
    for (auto& w : weight_)
      w *= factor;
  }
  /// Heap bytes held (capacity, not size).
  std::size_t heap_bytes() const noexcept {
    return index_.capacity() * sizeof(std::uint32_t) + weight_.capacity() * sizeof(double);
  }

 private:
  std::vector<std::uint32_t> index_;
  std::vector<double> weight_;
};

}  // namespace rtrec::engine
