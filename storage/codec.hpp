// Little-endian binary encoding of the records rtrec writes to disk (log
// payloads, snapshot and manifest bodies): fixed-width integers, doubles and
// length-prefixed strings, plus the event and item-metadata layouts.
//
// The reader never trusts its input: every get_* checks the bytes left and
// throws storage::corrupt (never reads out of bounds), so a flipped or
// truncated record is reported, not undefined behaviour.
#pragma once

#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/event.hpp"
#include "engine/item_model.hpp"

namespace rtrec::storage {

/// Thrown by a reader when the bytes do not form a valid value.
struct corrupt : std::runtime_error {
  using std::runtime_error::runtime_error;
};

/// Appends values to a byte string.
class writer {
 public:
  explicit writer(std::string& out) : out_(out) {}
  template <class T>
  void put(T x) {
    static_assert(std::is_trivially_copyable_v<T>);
    char buf[sizeof(T)];
    std::memcpy(buf, &x, sizeof(T));
    out_.append(buf, sizeof(T));
  }
  void put_str(std::string_view s) {
    put(static_cast<std::uint32_t>(s.size()));
    out_.append(s.data(), s.size());
  }
  std::string& bytes() noexcept { return out_; }

 private:
  std::string& out_;
};

/// Reads values from a byte range; throws corrupt on any shortfall.
class reader {
 public:
  explicit reader(std::string_view in) : in_(in) {}
  template <class T>
  T get() {
    static_assert(std::is_trivially_copyable_v<T>);
    need(sizeof(T));
    T x;
    std::memcpy(&x, in_.data() + pos_, sizeof(T));
    pos_ += sizeof(T);
    return x;
  }
  std::string get_str(std::size_t max_len = 1u << 30) {
    auto n = get<std::uint32_t>();
    if (n > max_len)
      throw corrupt("string of " + std::to_string(n) + " bytes exceeds the limit of " +
                    std::to_string(max_len));
    need(n);
    std::string s{in_.substr(pos_, n)};
    pos_ += n;
    return s;
  }
  std::string_view get_bytes(std::size_t n) {
    need(n);
    auto v = in_.substr(pos_, n);
    pos_ += n;
    return v;
  }
  std::size_t left() const noexcept { return in_.size() - pos_; }
  bool done() const noexcept { return pos_ == in_.size(); }

 private:
  void need(std::size_t n) const {
    if (in_.size() - pos_ < n)
      throw corrupt("truncated: needs " + std::to_string(n) + " more bytes, " +
                    std::to_string(in_.size() - pos_) + " left");
  }
  std::string_view in_;
  std::size_t pos_ = 0;
};

/// Appends `events` (count, then user, item, type, value, timestamp, id).
void encode_events(const std::vector<engine::event>& events, std::string& out);
/// Decodes what encode_events wrote (the whole input). Throws corrupt.
std::vector<engine::event> decode_events(std::string_view in);

/// Appends an item's metadata.
void encode_item_meta(const engine::item_meta& m, std::string& out);
/// Decodes what encode_item_meta wrote (the whole input). Throws corrupt.
engine::item_meta decode_item_meta(std::string_view in);

/// CRC-32 (IEEE 802.3, Boost.CRC) of `bytes`.
std::uint32_t crc32(std::string_view bytes) noexcept;

}  // namespace rtrec::storage
