// Golden bytes of every record and blob rtrec writes: the on-disk formats
// must never change by accident (a data directory written by an earlier
// build has to recover unchanged).
//
// A fixed, deterministic state (a reference model fed a fixed event
// sequence, item metadata, a removal, an erased user and a popular() query,
// without a feedback history; the same events with comments, timestamp
// texts, overwrites and feedback deletions into a history; a dedup window
// fed fixed ids) is saved, and so are fixed event and item
// metadata payloads, a log record, a log segment header, a data directory's
// IDENTITY file, a manifest file and the shard snapshot payloads' framing.
// Small payloads are compared as hex; engine blobs by size and XXH3
// (hash_id) of their bytes. The constants were computed by the build that introduced this
// test (Boost.Serialization archives for the engine blobs, the storage codec
// for the rest) and must keep passing after any refactor of the codecs.
//
// Hash tables are saved in their iteration order, which absl seeds per
// process: before hashing, the test reorders the records of each
// hash-table-backed part (the profile store's item name dictionary, the item
// model's items and rows) by key with its own parser of the format, written
// from the layouts documented in engine/serialization.cpp and independent of
// the code under test. Everything else is compared exactly as written.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <numeric>
#include <string>
#include <string_view>
#include <vector>

#include "engine/dedup_window.hpp"
#include "engine/event.hpp"
#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"
#include "engine/reference_model.hpp"
#include "storage/codec.hpp"
#include "storage/recovery.hpp"
#include "storage/snapshot.hpp"
#include "storage/wal.hpp"
#include "temp_dir.hpp"

namespace rtrec::storage {
namespace {

std::string hex(std::string_view bytes) {
  static const char digits[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : bytes) {
    out.push_back(digits[c >> 4]);
    out.push_back(digits[c & 15]);
  }
  return out;
}

/// The bytes of hex text (as hex() writes it).
std::string unhex(std::string_view text) {
  auto value = [](char c) { return c <= '9' ? c - '0' : c - 'a' + 10; };
  std::string out;
  for (std::size_t k = 0; k + 1 < text.size(); k += 2)
    out.push_back(static_cast<char>(value(text[k]) * 16 + value(text[k + 1])));
  return out;
}

/// "size:xxh3" of `bytes`, compared against the golden constants.
std::string digest(std::string_view bytes) {
  return std::to_string(bytes.size()) + ":" + hex([&] {
           const auto h = engine::hash_id(bytes);
           std::string s(sizeof h, '\0');
           std::memcpy(s.data(), &h, sizeof h);
           return s;
         }());
}

// -- a test-local parser of the engine blob layouts ----------------------------

/// Reads raw native values; fails the test (throws) on a short input.
class cursor {
 public:
  explicit cursor(std::string_view b) : b_(b) {}
  std::string take(std::size_t n) {
    if (b_.size() - pos_ < n)
      throw std::runtime_error("golden parser: blob shorter than its layout");
    std::string s{b_.substr(pos_, n)};
    pos_ += n;
    return s;
  }
  std::uint64_t u64() {
    std::uint64_t x;
    std::memcpy(&x, take(8).data(), 8);
    return x;
  }
  /// A column: u64 count, then `width` bytes per element.
  std::vector<std::string> column(std::size_t width) {
    const auto n = u64();
    std::vector<std::string> v;
    for (std::uint64_t k = 0; k < n; ++k)
      v.push_back(take(width));
    return v;
  }
  /// A string column: a column of u64 lengths, then a column of their bytes.
  std::vector<std::string> strings() {
    const auto lengths = column(8);
    const auto total = u64();
    const auto bytes = take(static_cast<std::size_t>(total));
    std::vector<std::string> v;
    std::size_t at = 0;
    for (const auto& l : lengths) {
      std::uint64_t n;
      std::memcpy(&n, l.data(), 8);
      v.push_back(bytes.substr(at, static_cast<std::size_t>(n)));
      at += static_cast<std::size_t>(n);
    }
    return v;
  }
  std::string rest() { return take(b_.size() - pos_); }

 private:
  std::string_view b_;
  std::size_t pos_ = 0;
};

void put_u64(std::string& out, std::uint64_t x) {
  out.append(reinterpret_cast<const char*>(&x), 8);
}
void put_column(std::string& out, const std::vector<std::string>& v) {
  put_u64(out, v.size());
  for (const auto& e : v)
    out += e;
}
void put_strings(std::string& out, const std::vector<std::string>& v) {
  put_u64(out, v.size());
  std::uint64_t total = 0;
  for (const auto& s : v) {
    put_u64(out, s.size());
    total += s.size();
  }
  put_u64(out, total);
  for (const auto& s : v)
    out += s;
}

/// Order in which to visit records sorted by their key bytes (read as u64).
std::vector<std::size_t> by_key(const std::vector<std::string>& keys) {
  std::vector<std::size_t> order(keys.size());
  std::iota(order.begin(), order.end(), 0);
  auto key = [&](std::size_t k) {
    std::uint64_t x;
    std::memcpy(&x, keys[k].data(), 8);
    return x;
  };
  std::sort(order.begin(), order.end(), [&](auto a, auto b) { return key(a) < key(b); });
  return order;
}
template <class T>
std::vector<T> permuted(const std::vector<T>& v, const std::vector<std::size_t>& order) {
  std::vector<T> out;
  for (auto k : order)
    out.push_back(v[k]);
  return out;
}

/// profile_store blob with its item name dictionary sorted by key.
std::string canonical_profile_store(std::string_view blob) {
  cursor c{blob};
  std::string out = c.take(4 + 4 + 4 + 8);  // tag, version, slots, events_applied
  put_column(out, c.column(4));             // free slots
  const auto keys = c.column(8);
  const auto names = c.strings();
  const auto order = by_key(keys);
  put_column(out, permuted(keys, order));
  put_strings(out, permuted(names, order));
  return out + c.rest();  // the slot blocks are in slot order
}

/// item_model blob (at most one block of items and of rows) with its items
/// and rows sorted by key.
std::string canonical_item_model(std::string_view blob) {
  cursor c{blob};
  // tag, version, shard, shards, 2 decays, latest_ts, 4 counters
  std::string out = c.take(4 * 4 + 2 * (8 + 8 + 8 + 1) + 8 + 4 * 8);
  const auto n_items = c.u64();
  put_u64(out, n_items);
  if (n_items > 0) {
    const auto keys = c.column(8);
    const auto ids = c.strings();
    const auto cat_n = c.column(8);
    const auto categories = c.strings();
    std::vector<std::vector<std::string>> cats;  // per item
    std::size_t at = 0;
    for (const auto& n : cat_n) {
      std::uint64_t x;
      std::memcpy(&x, n.data(), 8);
      cats.emplace_back(categories.begin() + static_cast<std::ptrdiff_t>(at),
                        categories.begin() + static_cast<std::ptrdiff_t>(at + x));
      at += static_cast<std::size_t>(x);
    }
    std::vector<std::vector<std::string>> values;
    for (std::size_t width : {8, 8, 8, 8, 8, 1})  // norm popularity events last created flags
      values.push_back(c.column(width));
    const auto order = by_key(keys);
    put_column(out, permuted(keys, order));
    put_strings(out, permuted(ids, order));
    put_column(out, permuted(cat_n, order));
    std::vector<std::string> flat;
    for (auto k : order)
      flat.insert(flat.end(), cats[k].begin(), cats[k].end());
    put_strings(out, flat);
    for (const auto& v : values)
      put_column(out, permuted(v, order));
  }
  const auto n_rows = c.u64();
  put_u64(out, n_rows);
  if (n_rows > 0) {
    const auto keys = c.column(8);
    const auto sizes = c.column(8);
    const auto entry_keys = c.column(8);
    const auto entry_values = c.column(8);
    std::vector<std::size_t> first;
    std::size_t at = 0;
    for (const auto& s : sizes) {
      first.push_back(at);
      std::uint64_t x;
      std::memcpy(&x, s.data(), 8);
      at += static_cast<std::size_t>(x);
    }
    first.push_back(at);
    const auto order = by_key(keys);
    put_column(out, permuted(keys, order));
    put_column(out, permuted(sizes, order));
    std::vector<std::string> ek, ev;
    for (auto k : order)
      for (auto e = first[k]; e < first[k + 1]; ++e) {
        ek.push_back(entry_keys[e]);
        ev.push_back(entry_values[e]);
      }
    put_column(out, ek);
    put_column(out, ev);
  }
  return out + c.rest();  // creation index, popular cache, flags: ordered
}

// -- the fixed state -------------------------------------------------------------

engine::model_config golden_config() {
  engine::model_config cfg;
  cfg.recent_max = 5;
  cfg.pair_window = 3;
  cfg.seen_max = 12;
  cfg.neighbors_max = 4;
  cfg.cooc_half_life_s = 30.0;
  cfg.trend_half_life_s = 5.0;
  cfg.popular_cache = 6;
  cfg.popular_refresh_events = 10;
  // No feedback history: the profile store blob of the builds before it
  // (version 1). golden_history_model() has one.
  cfg.feedback_retention = 0;
  // The blend off (no longer the default): the version 1 item blob, which
  // canonical_item_model() sorts. Version 2 (the blend's rules and trend)
  // is checked by loading previous_item_model_v2.
  cfg.seq_weight = 0.0;
  cfg.trend_weight = 0.0;
  return cfg;
}

/// A fixed sequence: 9 users, 14 items, every event type, ratings, a
/// timestamp going backwards; deterministic arithmetic only.
std::vector<engine::event> golden_events() {
  std::vector<engine::event> out;
  std::int64_t now = 1'700'000'000'000;
  for (int k = 0; k < 160; ++k) {
    engine::event e;
    e.user = "user-" + std::to_string((k * 7) % 9);
    e.item = "item-" + std::to_string((k * k + 3 * k) % 14);
    e.type = static_cast<engine::event_type>((k * 5) % engine::event_type_count);
    if (e.type == engine::event_type::rating)
      e.value = 0.5 * static_cast<double>(k % 11);
    now += (k % 13 == 0) ? -700 : 250 + 37 * (k % 5);
    e.timestamp = now;
    e.id = k % 4 == 0 ? "" : "ev-" + std::to_string(k);
    out.push_back(e);
  }
  return out;
}

engine::reference_model golden_model() {
  engine::reference_model m{golden_config()};
  const auto events = golden_events();
  for (std::size_t k = 0; k < events.size(); ++k) {
    m.ingest(events[k]);
    if (k == 40)
      m.set_item({"item-3", {"books", "sale"}, false, 1'699'999'000'000});
    if (k == 60)
      m.set_item({"item-new", {"toys"}, true, 0});
    if (k == 90)
      m.remove_item("item-5");
    if (k == 100)
      m.profiles().erase("user-4");
    if (k == 120)
      m.popular(4);
  }
  return m;
}

/// The golden model with a feedback history (retention 4): the same events,
/// some with a comment, a timestamp text or the overwrite flag, and two
/// feedback deletions.
engine::reference_model golden_history_model() {
  auto cfg = golden_config();
  cfg.feedback_retention = 4;
  engine::reference_model m{cfg};
  auto events = golden_events();
  for (std::size_t k = 0; k < events.size(); ++k) {
    auto& e = events[k];
    e.overwrite = k % 5 == 0;
    if (k % 7 == 0)
      e.comment = "note-" + std::to_string(k);
    if (k % 11 == 0)
      e.timestamp_text = "2023-11-14T22:13:" + std::to_string(10 + k % 50) + "Z";
    m.ingest(e);
    if (k == 100)
      m.profiles().delete_feedback({"user-2", "item-4", true, engine::event_type::view});
    if (k == 130)
      m.profiles().delete_feedback({"user-5", "item-0", false, engine::event_type::like});
  }
  return m;
}

// -- golden constants ------------------------------------------------------------

constexpr const char* golden_profile_store = "1579:8439f12da9fd11be";
// Version 1: the fixed state has no deleted item (its removal names an item
// never seen) and no item extras, so the metadata extension left it as it was.
constexpr const char* golden_item_model = "1159:34154c6f18bb88d1";
constexpr const char* golden_dedup_window =
  "52544431010000000800000000000000f7f6e5cf8b01000016f8e5cf8b010000c3fae5cf8b010000"
  "51fce5cf8b0100004bfde5cf8b010000d3fbe5cf8b0100003cfde5cf8b010000cafee5cf8b010000"
  "08000000000000000600000000000000060000000000000006000000000000000600000000000000"
  "06000000000000000600000000000000060000000000000006000000000000003000000000000000"
  "65762d31353065762d31353165762d31353365762d31353465762d31353565762d31353765762d31"
  "353865762d313539";
constexpr const char* golden_events_payload =
  "0300000006000000757365722d30060000006974656d2d300000000000000000004465e5cf8b0100"
  "000000000006000000757365722d37060000006974656d2d340500000000000000006366e5cf8b01"
  "00000400000065762d3106000000757365722d35070000006974656d2d3130040000000000000000"
  "a767e5cf8b0100000400000065762d32";
// Version 3 (the feedback history), computed by the build that introduced it.
constexpr const char* golden_profile_store_history = "3159:b57b1fab48a827d4";
// Version 2 (the feedback history's fields): version 1 of the first two
// golden events, then u8 2 and per event u8 overwrite, timestamp text, comment.
constexpr const char* golden_events_v2_payload =
  "0200000006000000757365722d30060000006974656d2d300000000000000000004465e5cf8b0100"
  "000000000006000000757365722d37060000006974656d2d340500000000000000006366e5cf8b01"
  "00000400000065762d31"
  "02"
  "00" "00000000" "0600000061206e6f7465"
  "01" "14000000323032332d31312d31345432323a31333a32305a" "00000000";
// user "ann", item "dune", any_type 0, type 2 (like).
constexpr const char* golden_feedback_delete_payload =
  "03000000616e6e" "0400000064756e65" "00" "02";
constexpr const char* golden_item_meta_payload =
  "060000006974656d2d330200000005000000626f6f6b730400000073616c6501c025d6cf8b010000";
// Written out field by field: u32 length + "ann", must_exist 0, set_labels
// 1 + "[1]", set_comment 0 + "", set_subscribe 1 + one subscription "s".
constexpr const char* golden_user_upsert_payload =
  "03000000616e6e" "00" "01030000005b315d" "0000000000" "01010000000100000073";
// Version 2 (the metadata extension): version 1, then u8 2, the Timestamp
// text, the Labels and the Comment.
constexpr const char* golden_item_meta_v2_payload =
  "060000006974656d2d330200000005000000626f6f6b730400000073616c6501c025d6cf8b010000"
  "02"
  "19000000323032332d31312d31345432323a31303a30302b30313a3030"
  "0b0000007b226b223a5b312c325d7d"
  "0600000061206e6f7465";
// A log record of format version 1 (builds before replication: no epoch)
// and of version 2 (u64 epoch after seq; here epoch 5).
constexpr const char* golden_log_record_v1 =
  "3d000000a3718ddd03ffffffff4d00000000000000404ae7cf8b010000060000006974656d2d3302"
  "00000005000000626f6f6b730400000073616c6501c025d6cf8b010000";
constexpr const char* golden_log_record_v2 =
  "45000000e51130c103ffffffff4d000000000000000500000000000000404ae7cf8b010000060000"
  "006974656d2d330200000005000000626f6f6b730400000073616c6501c025d6cf8b010000";
// item_model blobs written by the build before the metadata extension (the
// state of old_blob_model(), shard 0 of 1): version 1 (blend off) and 2 (blend
// on). They must load, and what loads must save as the same version.
constexpr const char* previous_item_model_v1 =
  "525449310100000000000000010000009d2c61b3b12ab83d00000000000000005ed6a2f4a5020000"
  "0110beb7a27fb0133e64c1800e860100002ec27b000d00000001887be5cf8b010000060000000000"
  "00000c00000000000000000000000000000000000000000000000400000000000000040000000000"
  "0000666aeff505c245701f4e961eb632c6e63f84d8441c0b5a571bf8b9469a21408c040000000000"
  "00000100000000000000010000000000000001000000000000000100000000000000040000000000"
  "00006861626304000000000000000000000000000000000000000000000001000000000000000000"
  "000000000000010000000000000005000000000000000500000000000000626f6f6b730400000000"
  "0000000000000000000000e0d7f5d944df7043dcd7f5d944df7043d0f94ae344df70430400000000"
  "00000000000000000000006c068d05b4f69542d8d68c05b4f6954254dc067fb6f695420400000000"
  "00000000000000000000000200000000000000020000000000000002000000000000000400000000"
  "0000000000000000000000a077e5cf8b010000b873e5cf8b010000887be5cf8b0100000400000000"
  "00000000000000000000000068e5cf8b010000c025d6cf8b010000d06fe5cf8b0100000400000000"
  "00000002000102030000000000000003000000000000003f84d8441c0b5a571bf8b9469a21408c1f"
  "4e961eb632c6e6030000000000000002000000000000000200000000000000020000000000000006"
  "000000000000001f4e961eb632c6e61bf8b9469a21408c3f84d8441c0b5a571f4e961eb632c6e63f"
  "84d8441c0b5a571bf8b9469a21408c0600000000000000833812dd44df7043d0f94ae344df7043d0"
  "f94ae344df7043d0f94ae344df7043833812dd44df7043d0f94ae344df70430300000000000000c0"
  "25d6cf8b0100000068e5cf8b010000d06fe5cf8b01000003000000000000003f84d8441c0b5a571f"
  "4e961eb632c6e61bf8b9469a21408c00000000000000000000000000000000000600000000000000"
  "00";
constexpr const char* previous_item_model_v2 =
  "525449310200000000000000010000009d2c61b3b12ab83d00000000000000005ed6a2f4a5020000"
  "0110beb7a27fb0133e64c1800e860100002ec27b000d00000001887be5cf8b010000060000000000"
  "00000c00000000000000000000000000000000000000000000000400000000000000040000000000"
  "0000666aeff505c245701f4e961eb632c6e63f84d8441c0b5a571bf8b9469a21408c040000000000"
  "00000100000000000000010000000000000001000000000000000100000000000000040000000000"
  "00006861626304000000000000000000000000000000000000000000000001000000000000000000"
  "000000000000010000000000000005000000000000000500000000000000626f6f6b730400000000"
  "0000000000000000000000e0d7f5d944df7043dcd7f5d944df7043d0f94ae344df70430400000000"
  "00000000000000000000006c068d05b4f69542d8d68c05b4f6954254dc067fb6f695420400000000"
  "00000000000000000000000200000000000000020000000000000002000000000000000400000000"
  "0000000000000000000000a077e5cf8b010000b873e5cf8b010000887be5cf8b0100000400000000"
  "00000000000000000000000068e5cf8b010000c025d6cf8b010000d06fe5cf8b0100000400000000"
  "00000002000102030000000000000003000000000000003f84d8441c0b5a571bf8b9469a21408c1f"
  "4e961eb632c6e6030000000000000002000000000000000200000000000000020000000000000006"
  "000000000000001f4e961eb632c6e61bf8b9469a21408c3f84d8441c0b5a571f4e961eb632c6e63f"
  "84d8441c0b5a571bf8b9469a21408c0600000000000000833812dd44df7043d0f94ae344df7043d0"
  "f94ae344df7043d0f94ae344df7043833812dd44df7043d0f94ae344df70430300000000000000c0"
  "25d6cf8b0100000068e5cf8b010000d06fe5cf8b01000003000000000000003f84d8441c0b5a571f"
  "4e961eb632c6e61bf8b9469a21408c00000000000000000000000000000000000600000000000000"
  "00ed3967207760f23d72c1800e860100007ed2edb8370000000103000000000000001f4e961eb632"
  "c6e63f84d8441c0b5a571bf8b9469a21408c03000000000000009a4b94e0c468a1408a4994e0c468"
  "a1407f6cbd55c568a140060000000000000000000000000000000200000000000000020000000000"
  "00003f84d8441c0b5a571f4e961eb632c6e602000000000000000200000000000000020000000000"
  "000004000000000000001bf8b9469a21408c1f4e961eb632c6e63f84d8441c0b5a571bf8b9469a21"
  "408c040000000000000028992ee044df6043f0cd8988067f5643c2c8a66f067f5643765a67e644df"
  "6043020000000000000020807324c81e6c43d7be3a1ec81e6c43";
constexpr const char* golden_segment_header_v1 = "525452454357414c0100000000000000";
constexpr const char* golden_segment_header = "525452454357414c0200000000000000";
constexpr const char* golden_identity_file =
  "5254524543534e5001000000040000000800000000000000fa77b235c8326dcb0200000003000000";
constexpr const char* golden_node_file =
  "5254524543534e500100000005000000080000000000000019703dbba9719b120100000003000000";
constexpr const char* golden_manifest_file =
  "5254524543534e50010000000300000078000000000000003ca5aa7a95df8dab0500000000000000"
  "58a6f4cf8b01000002000000030000000b000000000000000c000000000000000100000000000000"
  "02000000000000000300000000000000040000000000000005000000000000000600000000000000"
  "0900000000000000e80300000000000028000000000000003200000000000000";
constexpr const char* golden_item_snapshot_prefix =
  "02000000070000000000000008000000000000008704000000000000";
constexpr const char* golden_profile_snapshot_prefix =
  "2a000000000000004300000052544431010000000200000000000000010000000000000002000000"
  "0000000002000000000000000100000000000000020000000000000003000000000000006162632b"
  "06000000000000";

TEST(format_golden, engine_blobs_are_byte_identical) {
  auto model = golden_model();
  std::string store_blob, items_blob;
  model.profiles().save(store_blob);
  model.items().save(items_blob);
  EXPECT_EQ(digest(canonical_profile_store(store_blob)), golden_profile_store);
  EXPECT_EQ(digest(canonical_item_model(items_blob)), golden_item_model);

  engine::dedup_window window{8, 0};
  for (const auto& e : golden_events())
    window.insert(e.id, e.timestamp);
  std::string window_blob;
  window.save(window_blob);
  EXPECT_EQ(hex(window_blob), golden_dedup_window);
}

TEST(format_golden, profile_store_with_a_feedback_history_is_version_3) {
  auto model = golden_history_model();
  std::string blob;
  model.profiles().save(blob);
  EXPECT_EQ(blob.substr(4, 4), std::string("\x03\0\0\0", 4));
  EXPECT_EQ(digest(canonical_profile_store(blob)), golden_profile_store_history);
  engine::profile_store back{model.profiles().config()};
  back.load(blob);
  EXPECT_EQ(back.feedback_records(), model.profiles().feedback_records());
  EXPECT_GT(back.feedback_records(), 0u);
}

TEST(format_golden, event_payloads_of_both_versions_decode) {
  auto events = golden_events();
  events.resize(2);
  events[0].comment = "a note";
  events[1].overwrite = true;
  events[1].timestamp_text = "2023-11-14T22:13:20Z";
  std::string v2;
  encode_events(events, v2);
  EXPECT_EQ(hex(v2), golden_events_v2_payload);
  const auto back = decode_events(v2);
  ASSERT_EQ(back.size(), 2u);
  EXPECT_EQ(back[0].comment, "a note");
  EXPECT_FALSE(back[0].overwrite);
  EXPECT_TRUE(back[1].overwrite);
  EXPECT_EQ(back[1].timestamp_text, "2023-11-14T22:13:20Z");
  // Every proper prefix is refused but the one that ends where version 1
  // ends (a version 1 payload; the record's CRC guards against that cut).
  auto plain = golden_events();
  plain.resize(2);
  std::string v1_bytes;
  encode_events(plain, v1_bytes);
  ASSERT_EQ(v2.substr(0, v1_bytes.size()), v1_bytes);
  for (std::size_t len = 0; len < v2.size(); ++len) {
    if (len != v1_bytes.size()) {
      EXPECT_THROW(decode_events(std::string_view{v2}.substr(0, len)), corrupt) << len;
    }
  }

  // A version 1 payload (the previous build's) decodes with empty extras.
  const auto v1 = decode_events(unhex(golden_events_payload));
  ASSERT_EQ(v1.size(), 3u);
  for (const auto& e : v1) {
    EXPECT_TRUE(e.comment.empty());
    EXPECT_TRUE(e.timestamp_text.empty());
    EXPECT_FALSE(e.overwrite);
  }

  std::string del;
  encode_feedback_delete({"ann", "dune", false, engine::event_type::like}, del);
  EXPECT_EQ(hex(del), golden_feedback_delete_payload);
  const auto d = decode_feedback_delete(del);
  EXPECT_EQ(d.user, "ann");
  EXPECT_EQ(d.item, "dune");
  EXPECT_FALSE(d.any_type);
  EXPECT_EQ(d.type, engine::event_type::like);
  for (std::size_t len = 0; len < del.size(); ++len)
    EXPECT_THROW(decode_feedback_delete(std::string_view{del}.substr(0, len)), corrupt);
  EXPECT_THROW(decode_feedback_delete(del + '\0'), corrupt);
}

TEST(format_golden, log_payloads_are_byte_identical) {
  auto events = golden_events();
  events.resize(3);
  std::string payload;
  encode_events(events, payload);
  EXPECT_EQ(hex(payload), golden_events_payload);

  std::string meta;
  encode_item_meta({"item-3", {"books", "sale"}, true, 1'699'999'000'000}, meta);
  EXPECT_EQ(hex(meta), golden_item_meta_payload);

  engine::user_patch patch;
  patch.set_labels = true;
  patch.labels = "[1]";
  patch.set_subscribe = true;
  patch.subscribe = {"s"};
  std::string upsert;
  encode_user_upsert("ann", patch, upsert);
  EXPECT_EQ(hex(upsert), golden_user_upsert_payload);
  std::string user;
  auto back = decode_user_upsert(upsert, user);
  EXPECT_EQ(user, "ann");
  EXPECT_EQ(back.labels, "[1]");
  EXPECT_EQ(back.subscribe, patch.subscribe);
  EXPECT_FALSE(back.set_comment);
  for (std::size_t len = 0; len < upsert.size(); ++len)
    EXPECT_THROW(decode_user_upsert(std::string_view{upsert}.substr(0, len), user), corrupt);

  log_record r;
  r.kind = record_kind::item_meta;
  r.stream = meta_stream;
  r.seq = 77;
  r.time_ms = 1'700'000'123'456;
  r.payload = meta;
  r.epoch = 5;
  std::string framed;
  frame_record(r, framed);
  EXPECT_EQ(hex(framed), golden_log_record_v2);
}

TEST(format_golden, item_meta_payloads_of_both_versions_decode) {
  const engine::item_meta v1{"item-3", {"books", "sale"}, true, 1'699'999'000'000};
  auto with_extras = v1;
  with_extras.timestamp_text = "2023-11-14T22:10:00+01:00";
  with_extras.labels = R"({"k":[1,2]})";
  with_extras.comment = "a note";
  std::string payload;
  encode_item_meta(with_extras, payload);
  EXPECT_EQ(hex(payload), golden_item_meta_v2_payload);

  for (const auto& [golden, want] : {std::pair{golden_item_meta_payload, v1},
                                     std::pair{golden_item_meta_v2_payload, with_extras}}) {
    const auto got = decode_item_meta(unhex(golden));
    EXPECT_EQ(got.id, want.id);
    EXPECT_EQ(got.categories, want.categories);
    EXPECT_EQ(got.hidden, want.hidden);
    EXPECT_EQ(got.timestamp, want.timestamp);
    EXPECT_EQ(got.timestamp_text, want.timestamp_text);
    EXPECT_EQ(got.labels, want.labels);
    EXPECT_EQ(got.comment, want.comment);
  }
  // An unknown extension version, or a cut one, is refused.
  auto bad = unhex(golden_item_meta_v2_payload);
  bad[40] = 3;
  EXPECT_THROW(decode_item_meta(bad), corrupt);
  EXPECT_THROW(decode_item_meta(unhex(golden_item_meta_v2_payload).substr(0, 45)), corrupt);
}

/// The config of the model that wrote previous_item_model_v1 (blend off) and
/// _v2 (blend on).
engine::model_config old_blob_config(bool blend) {
  engine::model_config c;
  c.recent_max = 5;
  c.pair_window = 3;
  c.neighbors_max = 4;
  c.popular_cache = 6;
  c.seq_weight = blend ? 0.5 : 0.0;
  c.trend_weight = blend ? 0.1 : 0.0;
  return c;
}

TEST(format_golden, item_model_blobs_of_the_previous_build_load) {
  for (bool blend : {false, true}) {
    SCOPED_TRACE(blend ? "version 2" : "version 1");
    const auto blob = unhex(blend ? previous_item_model_v2 : previous_item_model_v1);
    engine::item_model m{old_blob_config(blend)};
    ASSERT_NO_THROW(m.load(blob));
    // The state the previous build saved: a, b, c from events, b's metadata,
    // h hidden by metadata, c removed (which only hid it then).
    auto b = m.meta("b");
    ASSERT_TRUE(b);
    EXPECT_EQ(b->categories, std::vector<std::string>{"books"});
    EXPECT_EQ(b->timestamp, 1'699'999'000'000);
    EXPECT_TRUE(b->labels.empty() && b->comment.empty() && b->timestamp_text.empty());
    ASSERT_TRUE(m.meta("h"));
    EXPECT_TRUE(m.meta("h")->hidden);
    ASSERT_TRUE(m.meta("c"));
    EXPECT_TRUE(m.meta("c")->hidden);
    EXPECT_EQ(m.page("", 10)->items.size(), 4u);
    EXPECT_FALSE(m.similar(engine::hash_id("a"), 5, {}).empty());
    // Saved again, it is the same version and size (the order of records
    // and row entries follows this process's hash tables), and answers alike.
    std::string again;
    m.save(again);
    EXPECT_EQ(again.substr(4, 4), blob.substr(4, 4));
    EXPECT_EQ(again.size(), blob.size());
    engine::item_model reloaded{old_blob_config(blend)};
    ASSERT_NO_THROW(reloaded.load(again));
    for (const char* id : {"a", "b", "c"}) {
      const auto k = engine::hash_id(id);
      const auto x = m.similar(k, 5, {}), y = reloaded.similar(k, 5, {});
      ASSERT_EQ(x.size(), y.size()) << id;
      for (std::size_t r = 0; r < x.size(); ++r) {
        EXPECT_EQ(x[r].key, y[r].key) << id;
        EXPECT_EQ(x[r].score, y[r].score) << id;
      }
    }
    // With a deleted item it becomes version 3, and loads back.
    ASSERT_TRUE(m.remove("a"));
    std::string v3;
    m.save(v3);
    EXPECT_EQ(hex(v3.substr(4, 4)), "03000000");
    engine::item_model back{old_blob_config(blend)};
    ASSERT_NO_THROW(back.load(v3));
    EXPECT_FALSE(back.meta("a"));
    EXPECT_TRUE(back.meta("b"));
  }
}

TEST(format_golden, log_segment_header_is_byte_identical) {
  storage_test::temp_dir tmp;
  wal_options o;
  o.dir = (tmp.path() / "wal").string();
  std::filesystem::create_directories(o.dir);
  {
    wal w{o, {}};
    w.close();
  }
  std::vector<std::filesystem::path> files;
  for (const auto& entry : std::filesystem::directory_iterator(o.dir))
    files.push_back(entry.path());
  ASSERT_EQ(files.size(), 1u);
  std::ifstream in{files[0], std::ios::binary};
  const std::string file{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  EXPECT_EQ(hex(file), golden_segment_header);
}

// What the previous build wrote, a version 1 segment, and this build's
// version 2 record in a later segment (a log upgraded in place) read back,
// the version 1 record as epoch 0.
TEST(format_golden, log_segments_of_both_versions_read_back) {
  storage_test::temp_dir tmp;
  const auto dir = tmp.path() / "wal";
  std::filesystem::create_directories(dir);
  auto write = [&](const char* name, const std::string& bytes) {
    std::ofstream out{dir / name, std::ios::binary};
    out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  };
  write("wal-0000000000000001.log",
        unhex(golden_segment_header_v1) + unhex(golden_log_record_v1));
  write("wal-0000000000000002.log", unhex(golden_segment_header) + unhex(golden_log_record_v2));
  for (bool live : {false, true}) {
    SCOPED_TRACE(live ? "read_log" : "scan_log");
    std::vector<log_record> got;
    if (live)
      read_log(dir.string(), [&](const log_record& r) {
        got.push_back(r);
        return true;
      });
    else
      scan_log(dir.string(), corruption_policy::strict,
               [&](const log_record& r) { got.push_back(r); });
    ASSERT_EQ(got.size(), 2u);
    for (std::size_t k = 0; k < 2; ++k) {
      EXPECT_EQ(got[k].kind, record_kind::item_meta);
      EXPECT_EQ(got[k].stream, meta_stream);
      EXPECT_EQ(got[k].seq, 77u);
      EXPECT_EQ(got[k].time_ms, 1'700'000'123'456);
      EXPECT_EQ(hex(got[k].payload), golden_item_meta_payload);
    }
    EXPECT_EQ(got[0].epoch, 0u);
    EXPECT_EQ(got[1].epoch, 5u);
  }
}

TEST(format_golden, identity_file_is_byte_identical) {
  storage_test::temp_dir tmp;
  recovery_options opts;
  opts.data_dir = tmp.data_dir();
  opts.profile_shards = 2;
  opts.item_shards = 3;
  recover(opts);
  std::ifstream in{opts.data_dir + "/IDENTITY", std::ios::binary};
  const std::string file{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  EXPECT_EQ(hex(file), golden_identity_file);
}

TEST(format_golden, snapshot_files_are_byte_identical) {
  storage_test::temp_dir tmp;
  checkpoint_data data;
  data.manifest.id = 5;
  data.manifest.created_ms = 1'700'000'999'000;
  data.manifest.profile_shards = 2;
  data.manifest.item_shards = 3;
  data.manifest.profile_seq = {11, 12};
  data.manifest.item_applied = {{1, 2}, {3, 4}, {5, 6}};
  data.manifest.meta_seq = 9;
  data.manifest.events_applied = 1000;
  data.manifest.users = 40;
  data.manifest.items = 50;
  data.profile_blobs = {"p0", "p1"};
  data.item_blobs = {"i0", "i1", "i2"};
  const auto root = (tmp.path() / "cp").string();
  write_checkpoint(root, data, false);
  std::ifstream in{checkpoint_path(root, 5) + "/MANIFEST", std::ios::binary};
  const std::string file{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  EXPECT_EQ(hex(file), golden_manifest_file);

  // The shard snapshot payloads: their framing around the engine blobs.
  auto model = golden_model();
  std::string items_blob, store_blob, window_blob;
  model.items().save(items_blob);
  model.profiles().save(store_blob);
  engine::dedup_window window{8, 0};
  window.insert("a", 1);
  window.insert("bc", 2);
  window.save(window_blob);
  const auto item_snap = encode_item_snapshot({7, 8}, model.items());
  ASSERT_EQ(item_snap.size(), 4 + 2 * 8 + 8 + items_blob.size());
  EXPECT_EQ(hex(item_snap.substr(0, 28)), golden_item_snapshot_prefix);
  EXPECT_EQ(item_snap.substr(28), items_blob);
  const auto profile_snap = encode_profile_snapshot(42, model.profiles(), window);
  ASSERT_EQ(profile_snap.size(), 8 + 4 + window_blob.size() + 8 + store_blob.size());
  const auto prefix_end = 8 + 4 + window_blob.size() + 8;
  EXPECT_EQ(hex(profile_snap.substr(0, prefix_end)), golden_profile_snapshot_prefix);
  EXPECT_EQ(profile_snap.substr(prefix_end), store_blob);
}

}  // namespace
TEST(format_golden, node_file_is_byte_identical) {
  storage_test::temp_dir tmp;
  recovery_options opts;
  opts.data_dir = tmp.data_dir();
  opts.profile_shards = 2;
  opts.item_shards = 3;
  opts.node = 1;
  opts.nodes = 3;
  recover(opts);
  std::ifstream in{opts.data_dir + "/NODE", std::ios::binary};
  const std::string file{std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
  EXPECT_EQ(hex(file), golden_node_file);
}

}  // namespace rtrec::storage
