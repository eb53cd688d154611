// Snapshots of per-shard engine state: save() and load() of profile_store,
// item_model and dedup_window, written and read with the codec of
// engine/binary_codec.hpp.
//
// Format of one blob (no codec header: the caller frames its files with its
// own magic, version and checksum):
//
//   u32 tag (which object)   u32 format version   fields and columns ...
//
// A column is a u64 count followed by the elements as one raw array (one
// memcpy, not a call per element), so state is written column-wise: one
// column per field. Large tables (profile slots, items, rows) are written in
// blocks of a few thousand records, each block a set of columns, so that
// save() gathers into small reused buffers rather than copying the whole
// state once more. Strings are a column of u64 lengths plus one column of all
// their bytes. Byte order and float layout are the machine's: a snapshot is
// read back by the same build on the same kind of machine. The layout of each
// object is drawn above its save(). The bytes are exactly those of the
// Boost.Serialization binary archives (no header) that earlier builds wrote;
// tests/storage/format_golden_test.cpp holds them to it.
//
// Each part of a blob (a block of profile slots, items or rows, the fields
// around them) is a struct that lists its fields once, in fields(), which
// save() runs with a codec::writer and load() with a codec::reader; what
// only loading needs is checked after the read, in the struct's check().
//
// load() never trusts the blob. A count is checked against the bytes left
// before anything is allocated; sums of per-record counts must equal their
// column sizes; indexes, enum values, keys, decay parameters and the
// finiteness of every score are checked; the blob must end exactly where the
// state ends. The new state is built aside and moved in only when all of it
// was read, so a bad blob throws std::runtime_error and leaves the object as
// it was.
//
// Hash tables are rebuilt on load, so their iteration order may differ from
// the saved object's. Nothing observable depends on it: every ranking breaks
// ties by key (better()), row pruning keeps a set defined by that order, and
// candidate sums are accumulated in query order.
#include <absl/container/flat_hash_set.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <set>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "engine/binary_codec.hpp"
#include "engine/dedup_window.hpp"
#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"

namespace rtrec::engine {
namespace {

using codec::any_count;
using codec::reader;
using codec::writer;

constexpr std::uint32_t format_version = 1;
/// item_model blobs of a model with the blend on (model_config::seq_on() or
/// trend_on()) are version 2: version 1 and the blend's state after it.
/// Every other blob, and an item_model's with the blend off, stays version 1.
constexpr std::uint32_t item_model_blend_version = 2;
/// profile_store blobs of a store holding any user metadata are version 2:
/// version 1 and the metadata part after it (profile_meta_part). A store
/// without metadata stays version 1 byte for byte.
constexpr std::uint32_t profile_store_meta_version = 2;
/// profile_store blobs of a store holding any feedback history (a user that
/// was ever given a write number) are version 3: version 2 with its
/// metadata part always present (maybe empty), then the history part
/// (profile_history_part). Other stores stay version 1 or 2 byte for byte.
constexpr std::uint32_t profile_store_history_version = 3;
/// item_model blobs holding a deleted item or an item with extras (given
/// Timestamp text, Labels, Comment) are version 3: version 2 (the blend part
/// always present) and the extras part after it. Every other blob stays
/// version 1 or 2 byte for byte.
constexpr std::uint32_t item_model_extras_version = 3;
constexpr std::uint32_t profile_store_tag = 0x31505452;  // "RTP1"
constexpr std::uint32_t item_model_tag = 0x31495452;     // "RTI1"
constexpr std::uint32_t dedup_window_tag = 0x31445452;   // "RTD1"

/// Rejects the blob: guarded_load() names the object and "malformed snapshot".
[[noreturn]] void fail(const std::string& why) { throw codec::decode_error(why); }

/// u32 tag (which object), u32 format version.
struct blob_header {
  std::uint32_t tag = 0;
  std::uint32_t version = format_version;

  template <class A>
  void fields(A& a) {
    a.value(tag);
    a.value(version);
  }
};

void save_header(writer& w, std::uint32_t tag, std::uint32_t version = format_version) {
  blob_header h{tag, version};
  h.fields(w);
}

/// Reads the header; returns its version, failing unless it is between
/// format_version and `newest`.
std::uint32_t load_header(reader& r, std::uint32_t tag, std::uint32_t newest = format_version) {
  if (r.done())
    fail("empty input");
  blob_header h;
  h.fields(r);
  if (h.tag != tag)
    fail("not this kind of snapshot (tag mismatch)");
  if (h.version < format_version || h.version > newest)
    fail("unsupported format version " + std::to_string(h.version));
  return h.version;
}

void expect_end(const reader& r) {
  if (!r.done())
    fail(std::to_string(r.left()) + " bytes after the end of the state");
}

/// Returns the sum of `counts`, failing if it overflows or differs from `total`.
std::uint64_t checked_sum(const std::vector<std::uint64_t>& counts, std::uint64_t total,
                          const char* what) {
  std::uint64_t sum = 0;
  for (auto n : counts) {
    if (n > total - sum)
      fail(std::string{what} + " counts exceed their column");
    sum += n;
  }
  if (sum != total)
    fail(std::string{what} + " counts do not match their column");
  return sum;
}

/// Fails unless every value is finite (events never produce NaN or infinity,
/// and the rankings need values that compare consistently).
template <class T>
void check_finite(const std::vector<T>& v, const char* what) {
  for (auto x : v)
    if (!std::isfinite(x))
      fail(std::string{"non-finite "} + what);
}

/// Strings as one column of u64 lengths and one column of all their bytes.
struct string_column {
  std::vector<std::uint64_t> lengths;
  std::string bytes;

  void add(std::string_view s) {
    lengths.push_back(s.size());
    bytes.append(s);
  }
  std::size_t size() const noexcept { return lengths.size(); }
  void clear() noexcept {
    lengths.clear();
    bytes.clear();
  }
  /// `n`: how many strings a reader must find (any_count: any).
  template <class A>
  void fields(A& a, std::uint64_t n) {
    a.column(lengths, n);
    a.column(bytes);
  }
  /// After a read: the lengths must add up to the bytes.
  void check() const {
    std::uint64_t sum = 0;
    for (auto len : lengths) {
      if (len > bytes.size() - sum)
        fail("string lengths exceed their bytes");
      sum += len;
    }
    if (sum != bytes.size())
      fail("string lengths do not match their bytes");
  }
};

/// Walks a loaded string_column in order (after its check()).
class string_cursor {
 public:
  explicit string_cursor(const string_column& c) : c_(c) {}
  std::string_view next() {
    std::string_view s{c_.bytes.data() + offset_, static_cast<std::size_t>(c_.lengths[n_])};
    offset_ += static_cast<std::size_t>(c_.lengths[n_++]);
    return s;
  }

 private:
  const string_column& c_;
  std::size_t n_ = 0;
  std::size_t offset_ = 0;
};

/// Runs `body`, turning any failure into std::runtime_error prefixed by `what`.
template <class F>
void guarded_load(const char* what, F&& body) {
  try {
    body();
  } catch (const codec::decode_error& e) {
    throw std::runtime_error(std::string{what} + ": malformed snapshot: " + e.what());
  } catch (const std::runtime_error&) {
    throw;
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string{what} + ": cannot load snapshot: " + e.what());
  }
}

/// Largest landmark (and latest time) magnitude accepted: far beyond year
/// 9999 in ms, far from overflowing the time differences forward_decay
/// computes.
constexpr std::int64_t max_landmark = std::int64_t{1} << 60;

}  // namespace

// -- profile_store ------------------------------------------------------------
//
//   u32 slots  u64 events_applied  [free slots]  [item name keys] [item names]
//   then one block per chunk of profile slots (chunk_size slots, the last one
//   fewer), each: [ids] [events] [recent count] [seen count] [seen head]
//   [seen indexed] [recent item] [recent time] [recent weight] [recent type]
//   [seen items]
//   version 2 and 3: [meta keys] [labels] [comments] [subscribe counts]
//   [subscriptions]
//   version 3: [history users] [record counts] [last write numbers] [items]
//   [timestamps] [write numbers] [types] [text flags] [timestamp texts]
//   [comments]
//
// Writing block by block through one reused set of columns keeps the scratch
// memory small and warm; only `out` grows.

namespace {

struct profile_block {
  string_column ids;
  std::vector<std::uint64_t> events, recent_n, seen_n, seen_head;
  std::vector<std::uint8_t> indexed;
  std::vector<key_t> r_item, seen;
  std::vector<std::int64_t> r_ts;
  std::vector<float> r_weight;
  std::vector<std::uint8_t> r_type;

  std::size_t size() const noexcept { return events.size(); }
  void clear() {
    ids.clear();
    for (auto* v : {&events, &recent_n, &seen_n, &seen_head})
      v->clear();
    indexed.clear();
    r_item.clear();
    seen.clear();
    r_ts.clear();
    r_weight.clear();
    r_type.clear();
  }
  void add(const user_profile& p) {
    ids.add(p.id);
    events.push_back(p.events);
    recent_n.push_back(p.recent.size());
    seen_n.push_back(p.seen_order.size());
    seen_head.push_back(p.seen_head);
    indexed.push_back(p.seen_index.empty() ? 0 : 1);
    for (const auto& e : p.recent) {
      r_item.push_back(e.item);
      r_ts.push_back(e.timestamp);
      r_weight.push_back(e.weight);
      r_type.push_back(static_cast<std::uint8_t>(e.type));
    }
    seen.insert(seen.end(), p.seen_order.begin(), p.seen_order.end());
  }
  /// The block's columns; `slots`: how many profiles it holds.
  template <class A>
  void fields(A& a, std::uint64_t slots) {
    ids.fields(a, slots);
    a.column(events, slots);
    a.column(recent_n, slots);
    a.column(seen_n, slots);
    a.column(seen_head, slots);
    a.column(indexed, slots);
    a.column(r_item);
    a.column(r_ts, r_item.size());
    a.column(r_weight, r_item.size());
    a.column(r_type, r_item.size());
    a.column(seen);
  }
  /// After a read: per-profile counts add up to their columns, weights finite.
  void check() const {
    ids.check();
    checked_sum(recent_n, r_item.size(), "recent");
    check_finite(r_weight, "recent weight");
    checked_sum(seen_n, seen.size(), "seen");
  }
};

/// What precedes the profile blocks.
struct profile_store_head {
  std::uint32_t slots = 0;
  std::uint64_t events_applied = 0;
  std::vector<std::uint32_t> free_slots;
  std::vector<key_t> name_keys;
  string_column names;

  template <class A>
  void fields(A& a) {
    a.value(slots);
    a.value(events_applied);
    a.column(free_slots);
    a.column(name_keys);
    names.fields(a, name_keys.size());
  }
  /// After a read: the names fill their bytes (load() checks them against
  /// their keys and the slots as it builds the store).
  void check() const { names.check(); }
};

/// The users' metadata (version 2 of a profile_store blob): per user with
/// metadata its key, labels, comment and subscription count, then every
/// subscription.
struct profile_meta_part {
  std::vector<key_t> keys;
  string_column labels;
  string_column comments;
  std::vector<std::uint64_t> subscribe_n;
  string_column subscribe;

  void add(key_t k, const user_meta& m) {
    keys.push_back(k);
    labels.add(m.labels);
    comments.add(m.comment);
    subscribe_n.push_back(m.subscribe.size());
    for (const auto& x : m.subscribe)
      subscribe.add(x);
  }
  template <class A>
  void fields(A& a) {
    a.column(keys);
    labels.fields(a, keys.size());
    comments.fields(a, keys.size());
    a.column(subscribe_n, keys.size());
    std::uint64_t total = 0;
    for (auto n : subscribe_n)
      total = n > any_count - 1 - total ? any_count - 1 : total + n;
    subscribe.fields(a, total);
  }
  /// After a read: strings fill their bytes, counts add up.
  void check() const {
    labels.check();
    comments.check();
    subscribe.check();
    checked_sum(subscribe_n, subscribe.size(), "subscribe");
  }
};

/// The users' feedback histories (version 3 of a profile_store blob): per
/// user that has a write number (in slot order) its key, record count and
/// last write number; per record (users in that order, each oldest first)
/// its item key, timestamp, write number, value (float), type and text
/// flag; per record
/// with the flag its timestamp text and comment.
struct profile_history_part {
  std::vector<key_t> users;
  std::vector<std::uint64_t> counts;
  std::vector<std::uint32_t> last_seq;
  std::vector<key_t> items;
  std::vector<std::int64_t> timestamps;
  std::vector<std::uint32_t> seqs;
  std::vector<float> values;
  std::vector<std::uint8_t> types;
  std::vector<std::uint8_t> has_text;
  string_column timestamp_texts;
  string_column comments;

  template <class A>
  void fields(A& a) {
    a.column(users);
    a.column(counts, users.size());
    a.column(last_seq, users.size());
    a.column(items);
    a.column(timestamps, items.size());
    a.column(seqs, items.size());
    a.column(values, items.size());
    a.column(types, items.size());
    a.column(has_text, items.size());
    const auto texts = static_cast<std::uint64_t>(
      std::count_if(has_text.begin(), has_text.end(), [](std::uint8_t t) { return t != 0; }));
    timestamp_texts.fields(a, texts);
    comments.fields(a, texts);
  }
  /// After a read: counts add up, strings fill their bytes, flags and types
  /// are in range (load_histories() checks the rest record by record).
  void check() const {
    checked_sum(counts, items.size(), "feedback record");
    timestamp_texts.check();
    comments.check();
    for (auto t : has_text)
      if (t > 1)
        fail("bad feedback text flag");
    for (auto t : types)
      if (t >= event_type_count)
        fail("bad event type in a feedback history");
  }
};

/// Fewest bytes one slot takes in a block (id length, four counters, a flag).
constexpr std::size_t min_slot_bytes = 5 * sizeof(std::uint64_t) + 1;

/// Returns a flag per slot, set for the slots in `free_slots`; fails on a
/// slot out of range or listed twice.
std::vector<std::uint8_t> free_slot_flags(const std::vector<std::uint32_t>& free_slots,
                                          std::uint32_t slots) {
  std::vector<std::uint8_t> is_free(slots);
  for (auto f : free_slots) {
    if (f >= slots || is_free[f])
      fail("bad free slot list");
    is_free[f] = 1;
  }
  return is_free;
}

/// Returns the item name dictionary of a loaded head; fails on a name that
/// does not hash to its key and on a key listed twice.
absl::flat_hash_map<key_t, std::string> load_item_names(const profile_store_head& head) {
  absl::flat_hash_map<key_t, std::string> item_names;
  item_names.reserve(head.name_keys.size());
  string_cursor name_at{head.names};
  for (auto k : head.name_keys) {
    const auto name = name_at.next();
    if (hash_id(name) != k)
      fail("an item name does not match its key");
    if (!item_names.try_emplace(k, name).second)
      fail("duplicate item key in the name dictionary");
  }
  return item_names;
}

/// Builds the profiles of a loaded block, whose first slot is `begin`, into
/// `chunk` (room for them all) and registers each in `users` by user key.
/// Fails on a free slot that holds a profile, on a bad event type, seen_head
/// or seen index flag, and on two profiles with the same user key.
void load_profile_block(const profile_block& block, std::uint64_t begin,
                        const std::vector<std::uint8_t>& is_free, user_profile* chunk,
                        absl::flat_hash_map<key_t, std::uint32_t>& users) {
  string_cursor id_at{block.ids};
  std::size_t recent_at = 0, seen_at = 0;
  for (std::size_t k = 0; k < block.size(); ++k) {
    const auto s = static_cast<std::uint32_t>(begin + k);
    const auto id = id_at.next();
    if (is_free[s]) {
      if (!id.empty() || block.events[k] != 0 || block.recent_n[k] != 0
          || block.seen_n[k] != 0 || block.seen_head[k] != 0 || block.indexed[k] != 0)
        fail("a free slot holds a profile");
      continue;
    }
    auto& p = chunk[k];
    p.id.assign(id);
    p.events = block.events[k];
    p.recent.resize(static_cast<std::size_t>(block.recent_n[k]));
    for (auto& e : p.recent) {
      if (block.r_type[recent_at] >= event_type_count)
        fail("bad event type in a recent list");
      e.item = block.r_item[recent_at];
      e.timestamp = block.r_ts[recent_at];
      e.weight = block.r_weight[recent_at];
      e.type = static_cast<event_type>(block.r_type[recent_at]);
      ++recent_at;
    }
    const auto n_seen = static_cast<std::size_t>(block.seen_n[k]);
    if (block.seen_head[k] > n_seen)
      fail("seen_head past the end of seen_order");
    const auto first = block.seen.begin() + static_cast<std::ptrdiff_t>(seen_at);
    p.seen_order.assign(first, first + static_cast<std::ptrdiff_t>(n_seen));
    seen_at += n_seen;
    p.seen_head = static_cast<std::size_t>(block.seen_head[k]);
    if (block.indexed[k] > 1)
      fail("bad seen index flag");
    if (block.indexed[k] == 1)
      p.seen_index.insert(p.seen_order.begin() + static_cast<std::ptrdiff_t>(p.seen_head),
                          p.seen_order.end());
    if (!users.try_emplace(hash_id(p.id), s).second)
      fail("two profiles share a user key");
  }
}

/// Appends the history of one user (key uk) to `part`; text(entry) gives
/// the (timestamp text, comment) of an entry with the text flag.
template <class Text>
void add_history(profile_history_part& part, const feedback_log& h, key_t uk, Text&& text) {
  part.users.push_back(uk);
  part.counts.push_back(h.size());
  part.last_seq.push_back(h.last_seq());
  for (std::size_t k = 0; k < h.size(); ++k) {
    const auto& x = h[k];
    part.items.push_back(x.item);
    part.timestamps.push_back(x.timestamp);
    part.seqs.push_back(x.seq);
    part.values.push_back(x.value);
    part.types.push_back(static_cast<std::uint8_t>(x.type));
    part.has_text.push_back(x.has_text ? 1 : 0);
    if (x.has_text) {
      const auto [ts, comment] = text(x);
      part.timestamp_texts.add(ts);
      part.comments.add(comment);
    }
  }
}

}  // namespace

void profile_store::save(std::string& out) const {
  const std::uint32_t slots = slots_used_;
  profile_store_head head;
  head.slots = slots;
  head.events_applied = events_applied_;
  head.free_slots = free_slots_;
  head.name_keys.reserve(item_names_.size());
  head.names.lengths.reserve(item_names_.size());
  for (const auto& [k, name] : item_names_) {
    head.name_keys.push_back(k);
    head.names.add(name);
  }
  // Reserve the output once (a guess from the configured bounds is too
  // coarse; this pass reads only the vector sizes).
  std::size_t bytes = 256 + head.names.bytes.size() + head.name_keys.size() * 16
                      + free_slots_.size() * sizeof(std::uint32_t)
                      + std::size_t{slots} * (min_slot_bytes + 16);
  for (std::uint32_t s = 0; s < slots; ++s) {
    const auto& p = profile_at(s);
    bytes += p.id.size() + p.seen_order.size() * sizeof(key_t)
             + p.recent.size() * (sizeof(key_t) + sizeof(std::int64_t) + sizeof(float) + 1);
  }
  profile_history_part history;
  for (std::uint32_t s = 0; s < slots; ++s) {
    const auto& p = profile_at(s);
    if (p.id.empty() || p.history.last_seq() == 0)
      continue;
    const key_t uk = hash_id(p.id);
    add_history(history, p.history, uk, [&](const feedback_entry& x) {
      auto t = feedback_text_.find(text_key{uk, x.item, x.type});
      return t == feedback_text_.end()
               ? std::pair<std::string_view, std::string_view>{}
               : std::pair<std::string_view, std::string_view>{t->second.timestamp_text,
                                                               t->second.comment};
    });
  }
  bytes += history.items.size() * 24 + history.timestamp_texts.bytes.size()
           + history.comments.bytes.size();
  out.reserve(out.size() + bytes);

  const auto version = !history.users.empty() ? profile_store_history_version
                       : !meta_.empty()       ? profile_store_meta_version
                                              : format_version;
  writer w{out};
  save_header(w, profile_store_tag, version);
  head.fields(w);
  profile_block block;
  for (std::uint64_t begin = 0; begin < slots; begin += chunk_size) {
    const auto end = std::min<std::uint64_t>(slots, begin + chunk_size);
    block.clear();
    for (auto s = begin; s < end; ++s)
      block.add(profile_at(static_cast<std::uint32_t>(s)));
    block.fields(w, block.size());
  }
  if (version == format_version)
    return;
  profile_meta_part part;
  for (const auto& [k, m] : meta_)
    part.add(k, m);
  part.fields(w);
  if (version == profile_store_history_version)
    history.fields(w);
}

namespace {

/// Reads the metadata part of a version 2 blob; every key must be a user of
/// `users`.
absl::flat_hash_map<key_t, user_meta> load_user_meta(
  reader& r, const absl::flat_hash_map<key_t, std::uint32_t>& users) {
  profile_meta_part part;
  part.fields(r);
  part.check();
  absl::flat_hash_map<key_t, user_meta> out;
  out.reserve(part.keys.size());
  string_cursor labels{part.labels}, comments{part.comments}, subscribe{part.subscribe};
  for (std::size_t k = 0; k < part.keys.size(); ++k) {
    user_meta m;
    m.labels = std::string{labels.next()};
    m.comment = std::string{comments.next()};
    for (std::uint64_t j = 0; j < part.subscribe_n[k]; ++j)
      m.subscribe.emplace_back(subscribe.next());
    if (!users.contains(part.keys[k]))
      fail("metadata for a user that has no profile");
    if (m.empty() || !out.emplace(part.keys[k], std::move(m)).second)
      fail("empty or repeated user metadata");
  }
  return out;
}

/// A user's history as read from a blob, before it joins the store.
struct loaded_history {
  std::uint32_t slot = 0;
  key_t user = 0;
  std::uint32_t last_seq = 0;
  std::vector<feedback_entry> entries;
  std::vector<std::pair<std::string, std::string>> texts;  ///< per entry with has_text
};

/// Checks the records of one user (records [first, first + count) of
/// `part`): write numbers ascending, none above last_seq, every item named,
/// no (type, item) twice.
void check_history(const profile_history_part& part, std::size_t first, std::size_t count,
                   std::uint32_t last_seq,
                   const absl::flat_hash_map<key_t, std::string>& item_names) {
  absl::flat_hash_set<std::pair<key_t, std::uint8_t>> seen;
  std::uint32_t prev = 0;
  for (auto k = first; k < first + count; ++k) {
    if (part.seqs[k] <= prev || part.seqs[k] > last_seq)
      fail("feedback write numbers out of order");
    prev = part.seqs[k];
    if (!item_names.contains(part.items[k]))
      fail("a feedback record names an unknown item");
    if (!seen.insert({part.items[k], part.types[k]}).second)
      fail("two feedback records of one (type, item)");
  }
}

/// Reads the history part of a version 3 blob: every user must have a
/// profile in `users`, once. Keeps each user's newest `retention` records.
std::vector<loaded_history> load_histories(
  reader& r, const absl::flat_hash_map<key_t, std::uint32_t>& users,
  const absl::flat_hash_map<key_t, std::string>& item_names, std::size_t retention) {
  profile_history_part part;
  part.fields(r);
  part.check();
  std::vector<loaded_history> out;
  out.reserve(part.users.size());
  absl::flat_hash_set<key_t> done;
  string_cursor ts_at{part.timestamp_texts}, comment_at{part.comments};
  std::size_t at = 0;
  for (std::size_t u = 0; u < part.users.size(); ++u) {
    auto slot = users.find(part.users[u]);
    if (slot == users.end() || !done.insert(part.users[u]).second)
      fail("a feedback history of a user that has no profile, or two of one user");
    const auto count = static_cast<std::size_t>(part.counts[u]);
    check_history(part, at, count, part.last_seq[u], item_names);
    loaded_history h{slot->second, part.users[u], part.last_seq[u], {}, {}};
    const auto keep_from = at + count - std::min(count, retention);
    for (auto k = at; k < at + count; ++k) {
      const bool text = part.has_text[k] == 1;
      std::pair<std::string, std::string> t;
      if (text)
        t = {std::string{ts_at.next()}, std::string{comment_at.next()}};
      if (text && t.first.empty() && t.second.empty())
        fail("a feedback text flag without a text");
      if (k < keep_from)
        continue;  // beyond today's retention
      h.entries.push_back({part.items[k], part.timestamps[k], part.seqs[k], part.values[k],
                           static_cast<event_type>(part.types[k]), text});
      if (text)
        h.texts.push_back(std::move(t));
    }
    at += count;
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace

void profile_store::load(std::string_view bytes) {
  static constexpr const char* what = "profile_store::load";
  guarded_load(what, [&] {
    reader r{bytes};
    const auto version = load_header(r, profile_store_tag, profile_store_history_version);
    profile_store_head head;
    head.fields(r);
    head.check();
    const auto slots = head.slots;
    auto& free_slots = head.free_slots;
    if (slots > r.left() / min_slot_bytes)
      fail("truncated (more slots than bytes left)");
    const auto is_free = free_slot_flags(free_slots, slots);
    auto item_names = load_item_names(head);

    // Each block fills one chunk, allocated only once its columns were read.
    std::vector<std::unique_ptr<user_profile[]>> chunks;
    chunks.reserve(static_cast<std::size_t>((std::uint64_t{slots} + chunk_size - 1) >> chunk_bits));
    absl::flat_hash_map<key_t, std::uint32_t> users;
    users.reserve(slots - free_slots.size());
    profile_block block;
    for (std::uint64_t begin = 0; begin < slots; begin += chunk_size) {
      const auto end = std::min<std::uint64_t>(slots, begin + chunk_size);
      block.fields(r, end - begin);
      block.check();
      auto chunk = std::make_unique<user_profile[]>(chunk_size);
      load_profile_block(block, begin, is_free, chunk.get(), users);
      chunks.push_back(std::move(chunk));
    }
    absl::flat_hash_map<key_t, user_meta> meta;
    if (version >= profile_store_meta_version)
      meta = load_user_meta(r, users);
    std::vector<loaded_history> histories;
    if (version == profile_store_history_version)
      histories = load_histories(r, users, item_names, cfg_.feedback_retention);
    expect_end(r);

    absl::flat_hash_map<text_key, feedback_text> texts;
    std::uint64_t records = 0;
    for (auto& h : histories) {
      std::size_t t = 0;
      for (const auto& x : h.entries)
        if (x.has_text) {
          auto& [ts, comment] = h.texts[t++];
          texts.insert_or_assign(text_key{h.user, x.item, x.type},
                                 feedback_text{std::move(ts), std::move(comment)});
        }
      records += h.entries.size();
      auto& p = chunks[h.slot >> chunk_bits][h.slot & (chunk_size - 1)];
      p.history_unseen = std::any_of(h.entries.begin(), h.entries.end(),
                                     [&](const feedback_entry& x) { return !p.has_seen(x.item); });
      p.history.assign(std::move(h.entries), h.last_seq);
    }

    chunks_ = std::move(chunks);
    meta_ = std::move(meta);
    feedback_text_ = std::move(texts);
    feedback_records_ = records;
    slots_used_ = slots;
    free_slots_ = std::move(free_slots);
    users_ = std::move(users);
    item_names_ = std::move(item_names);
    events_applied_ = head.events_applied;
  });
}

// -- item_model ---------------------------------------------------------------
//
//   u32 shard  u32 shards  2 x decay (f64 lambda, i64 landmark, i64 step,
//   u8 started)  i64 latest_ts  u64 events, pair_updates, prunes, collisions
//   u64 items, then blocks of up to block_size items: [keys] [ids] [category
//   count] [categories] [norm] [popularity] [events] [last time] [created]
//   [flags: 1 created_by_meta, 2 hidden, 4 deleted (version 3 only)]
//   u64 rows, then blocks of up to block_size rows: [keys] [sizes] [entry
//   keys] [entry values]
//   [by_created times] [by_created keys]  [popular keys] [popular scores]
//   u8 popular_complete  u64 popular_changes  u8 popular_valid
//   version 2 and 3: the blend part (item_model_blend, then the rule rows)
//   version 3: [extras keys] [timestamp texts] [labels] [comments]

namespace {

constexpr std::size_t block_size = 4096;

struct item_block {
  std::vector<key_t> keys;
  string_column ids, categories;
  std::vector<std::uint64_t> cat_n, events;
  std::vector<double> norm, popularity;
  std::vector<std::int64_t> last_ts, created;
  std::vector<std::uint8_t> flags;

  std::size_t size() const noexcept { return keys.size(); }
  void clear() {
    keys.clear();
    ids.clear();
    categories.clear();
    cat_n.clear();
    events.clear();
    norm.clear();
    popularity.clear();
    last_ts.clear();
    created.clear();
    flags.clear();
  }
  void add(key_t k, const item_entry& e) {
    keys.push_back(k);
    ids.add(e.id);
    cat_n.push_back(e.categories.size());
    for (const auto& c : e.categories)
      categories.add(c);
    norm.push_back(e.norm);
    popularity.push_back(e.popularity);
    events.push_back(e.events);
    last_ts.push_back(e.last_timestamp);
    created.push_back(e.created);
    flags.push_back(static_cast<std::uint8_t>((e.created_by_meta ? 1 : 0) | (e.hidden ? 2 : 0) |
                                              (e.deleted ? 4 : 0)));
  }
  /// The block's columns; `n`: how many items it holds.
  template <class A>
  void fields(A& a, std::uint64_t n) {
    a.column(keys, n);
    ids.fields(a, n);
    a.column(cat_n, n);
    categories.fields(a, any_count);
    a.column(norm, n);
    a.column(popularity, n);
    a.column(events, n);
    a.column(last_ts, n);
    a.column(created, n);
    a.column(flags, n);
  }
  /// After a read: category counts add up to their column, scores finite.
  void check() const {
    ids.check();
    categories.check();
    checked_sum(cat_n, categories.size(), "category");
    check_finite(norm, "item norm");
    check_finite(popularity, "item popularity");
  }
};

/// Fewest bytes one item takes in a block (key, id length, category count,
/// five values, flags).
constexpr std::size_t min_item_bytes = 8 * sizeof(std::uint64_t) + 1;

struct row_block {
  std::vector<key_t> keys, entry_keys;
  std::vector<std::uint64_t> sizes;
  std::vector<double> values;

  std::size_t size() const noexcept { return keys.size(); }
  void clear() {
    keys.clear();
    entry_keys.clear();
    sizes.clear();
    values.clear();
  }
  /// Adds row `k`; key_of maps a row's neighbor to its item key.
  template <class KeyOf>
  void add(key_t k, const neighbor_row& row, KeyOf key_of) {
    keys.push_back(k);
    sizes.push_back(row.size());
    for (std::size_t e = 0; e < row.size(); ++e) {
      entry_keys.push_back(key_of(row.neighbor(e)));
      values.push_back(row.weight(e));
    }
  }
  /// The block's columns; `n`: how many rows it holds.
  template <class A>
  void fields(A& a, std::uint64_t n) {
    a.column(keys, n);
    a.column(sizes, n);
    a.column(entry_keys);
    a.column(values, entry_keys.size());
  }
  /// After a read: row sizes add up to the entries, values finite.
  void check() const {
    checked_sum(sizes, entry_keys.size(), "row");
    check_finite(values, "row value");
  }
};

/// Fewest bytes one row takes in a block (key, size).
constexpr std::size_t min_row_bytes = 2 * sizeof(std::uint64_t);

/// A forward_decay's state: f64 lambda, i64 landmark, i64 step, u8 started.
struct decay_state {
  double lambda = 0.0;
  std::int64_t landmark = 0;
  std::int64_t step = 0;
  std::uint8_t started = 0;

  template <class A>
  void fields(A& a) {
    a.value(lambda);
    a.value(landmark);
    a.value(step);
    a.value(started);
  }
  /// After a read: a state forward_decay can run from.
  bool valid() const noexcept {
    return std::isfinite(lambda) && lambda >= 0.0 && started <= 1 && !(lambda > 0.0 && step < 1)
           && landmark <= max_landmark && landmark >= -max_landmark;
  }
};

/// What precedes the item blocks.
struct item_model_head {
  std::uint32_t shard = 0;
  std::uint32_t shards = 0;
  decay_state cooc, trend;
  std::int64_t latest_ts = 0;
  std::uint64_t events = 0, pair_updates = 0, prunes = 0, collisions = 0;

  template <class A>
  void fields(A& a) {
    a.value(shard);
    a.value(shards);
    cooc.fields(a);
    trend.fields(a);
    a.value(latest_ts);
    a.value(events);
    a.value(pair_updates);
    a.value(prunes);
    a.value(collisions);
  }
  /// After a read: decay states and the latest time in range (load() checks
  /// the shard against the model's).
  void check() const {
    if (!cooc.valid() || !trend.valid())
      fail("bad decay state");
    if (latest_ts > max_landmark || latest_ts < -max_landmark)
      fail("bad latest timestamp");
  }
};

/// What follows the row blocks: the creation index, the popular cache.
struct item_model_tail {
  std::vector<std::int64_t> by_created_ts;
  std::vector<key_t> by_created_key;
  std::vector<key_t> pop_keys;
  std::vector<double> pop_scores;
  std::uint8_t popular_complete = 0;
  std::uint64_t popular_changes = 0;
  std::uint8_t popular_valid = 0;

  template <class A>
  void fields(A& a) {
    a.column(by_created_ts);
    a.column(by_created_key, by_created_ts.size());
    a.column(pop_keys);
    a.column(pop_scores, pop_keys.size());
    a.value(popular_complete);
    a.value(popular_changes);
    a.value(popular_valid);
  }
  /// After a read: finite scores, 0/1 flags.
  void check() const {
    check_finite(pop_scores, "popular score");
    if (popular_complete > 1 || popular_valid > 1)
      fail("bad popular cache flags");
  }
};

/// Version 2's addition after the tail: the blend's state.
///   decay (the trend's)  [trend keys] [trend values]  u64 rule updates,
///   rule prunes  u64 rule rows, then blocks of up to block_size rows as
///   row_block (source keys, sizes, target keys, values) plus [totals]
struct item_model_blend {
  decay_state trend;
  std::vector<key_t> trend_keys;
  std::vector<double> trend_values;
  std::uint64_t updates = 0, prunes = 0;

  template <class A>
  void fields(A& a) {
    trend.fields(a);
    a.column(trend_keys);
    a.column(trend_values, trend_keys.size());
    a.value(updates);
    a.value(prunes);
  }
  void check() const {
    if (!trend.valid())
      fail("bad decay state");
    check_finite(trend_values, "item trend");
  }
};

/// Version 3's addition after the blend part: the items with extras (their
/// keys, then one string column per field).
struct item_model_extras {
  std::vector<key_t> keys;
  string_column timestamp_texts, labels, comments;

  template <class A>
  void fields(A& a) {
    a.column(keys);
    timestamp_texts.fields(a, keys.size());
    labels.fields(a, keys.size());
    comments.fields(a, keys.size());
  }
  void check() const {
    timestamp_texts.check();
    labels.check();
    comments.check();
  }
};

/// True when `items` need version 3: an item deleted or with extras.
template <class Items>
bool needs_extras_version(const Items& items) {
  for (const auto& [k, e] : items)
    if (e.deleted || e.extras)
      return true;
  return false;
}

template <class Items>
void write_extras(writer& w, const Items& items) {
  item_model_extras x;
  for (const auto& [k, e] : items)
    if (e.extras) {
      x.keys.push_back(k);
      x.timestamp_texts.add(e.extras->timestamp_text);
      x.labels.add(e.extras->labels);
      x.comments.add(e.extras->comment);
    }
  x.fields(w);
}

/// Reads write_extras()'s part into the items it names.
template <class Items>
void read_extras(reader& r, Items& items) {
  item_model_extras x;
  x.fields(r);
  x.check();
  string_cursor ts{x.timestamp_texts}, labels{x.labels}, comments{x.comments};
  for (auto k : x.keys) {
    auto it = items.find(k);
    if (it == items.end() || it->second.extras)
      fail("extras of an unknown item, or listed twice");
    it->second.extras = std::make_shared<const item_extras>(
      item_extras{std::string{ts.next()}, std::string{labels.next()}, std::string{comments.next()}});
  }
}

/// Reads the item count and the item blocks after it. `set_norm(e, norm)`
/// sets an entry's norm and what derives from it (item_model::set_norm).
/// Fails on more items than the bytes left can hold, bad flags (the deleted
/// flag only from `version` 3 on) and a key listed twice.
template <class SetNorm>
absl::flat_hash_map<key_t, item_entry> read_items(reader& r, std::uint32_t version,
                                                  SetNorm set_norm) {
  const std::uint8_t max_flags = version >= item_model_extras_version ? 7 : 3;
  const auto n_items = r.get<std::uint64_t>();
  if (n_items > r.left() / min_item_bytes)
    fail("truncated (more items than bytes left)");
  absl::flat_hash_map<key_t, item_entry> items;
  items.reserve(static_cast<std::size_t>(n_items));
  item_block ib;
  for (std::uint64_t left = n_items; left > 0;) {
    const auto n = std::min<std::uint64_t>(left, block_size);
    left -= n;
    ib.fields(r, n);
    ib.check();
    string_cursor id_at{ib.ids}, category_at{ib.categories};
    for (std::size_t k = 0; k < n; ++k) {
      if (ib.flags[k] > max_flags)
        fail("bad item flags");
      auto [it, fresh] = items.try_emplace(ib.keys[k]);
      if (!fresh)
        fail("duplicate item key");
      auto& e = it->second;
      e.id.assign(id_at.next());
      e.categories.reserve(static_cast<std::size_t>(ib.cat_n[k]));
      for (std::uint64_t c = 0; c < ib.cat_n[k]; ++c)
        e.categories.emplace_back(category_at.next());
      set_norm(e, ib.norm[k]);
      e.popularity = ib.popularity[k];
      e.events = ib.events[k];
      e.last_timestamp = ib.last_ts[k];
      e.created = ib.created[k];
      e.created_by_meta = (ib.flags[k] & 1) != 0;
      e.hidden = (ib.flags[k] & 2) != 0;
      e.deleted = (ib.flags[k] & 4) != 0;
    }
  }
  return items;
}

/// Reads the row count and the row blocks after it: each row's entries keyed
/// by neighbor key, as item_model::rebuild_records() takes them. Fails on more
/// rows than the bytes left can hold and on a row or entry key listed twice.
absl::flat_hash_map<key_t, absl::flat_hash_map<key_t, double>> read_rows(reader& r) {
  const auto n_rows = r.get<std::uint64_t>();
  if (n_rows > r.left() / min_row_bytes)
    fail("truncated (more rows than bytes left)");
  absl::flat_hash_map<key_t, absl::flat_hash_map<key_t, double>> rows;
  rows.reserve(static_cast<std::size_t>(n_rows));
  row_block rb;
  for (std::uint64_t left = n_rows; left > 0;) {
    const auto n = std::min<std::uint64_t>(left, block_size);
    left -= n;
    rb.fields(r, n);
    rb.check();
    std::size_t at = 0;
    for (std::size_t k = 0; k < n; ++k) {
      auto [it, fresh] = rows.try_emplace(rb.keys[k]);
      if (!fresh)
        fail("duplicate row key");
      auto& rw = it->second;
      const auto size = static_cast<std::size_t>(rb.sizes[k]);
      rw.reserve(size);
      for (std::size_t e = 0; e < size; ++e, ++at)
        if (!rw.try_emplace(rb.entry_keys[at], rb.values[at]).second)
          fail("duplicate key in a row");
    }
  }
  return rows;
}

/// The tail's by-created index and popular cache columns.
item_model_tail make_tail(const std::set<std::pair<std::int64_t, key_t>>& by_created,
                          const std::vector<scored>& popular) {
  item_model_tail tail;
  tail.by_created_ts.reserve(by_created.size());
  tail.by_created_key.reserve(by_created.size());
  for (const auto& [ts, k] : by_created) {
    tail.by_created_ts.push_back(ts);
    tail.by_created_key.push_back(k);
  }
  tail.pop_keys.reserve(popular.size());
  tail.pop_scores.reserve(popular.size());
  for (const auto& x : popular) {
    tail.pop_keys.push_back(x.key);
    tail.pop_scores.push_back(x.score);
  }
  return tail;
}

/// Version 2's blend part: the trend's decay, the items' trends, the rule
/// counters, then the rule rows in blocks, each block with its totals.
template <class Items, class KeyOf>
void write_blend(writer& w, const decay_state& trend, const Items& items,
                 const sequence_rules& seq, KeyOf key_of) {
  item_model_blend b;
  b.trend = trend;
  for (const auto& [k, e] : items)
    if (e.trend != 0.0) {
      b.trend_keys.push_back(k);
      b.trend_values.push_back(e.trend);
    }
  b.updates = seq.updates();
  b.prunes = seq.prunes();
  b.fields(w);
  w.value(static_cast<std::uint64_t>(seq.all().size()));
  row_block rules;
  std::vector<double> totals;
  auto flush = [&] {
    rules.fields(w, rules.size());
    w.column(totals, rules.size());
    rules.clear();
    totals.clear();
  };
  for (const auto& [k, r] : seq.all()) {
    rules.add(k, r.targets, key_of);
    totals.push_back(r.total);
    if (rules.size() == block_size)
      flush();
  }
  if (rules.size() > 0)
    flush();
}

/// What read_blend() gives: its head, and the rule rows keyed by target key
/// (record indices exist only once the model's records are rebuilt).
struct blend_part {
  item_model_blend head;
  std::vector<std::pair<key_t, absl::flat_hash_map<key_t, double>>> rows;
  std::vector<double> totals;
};

/// Reads write_blend()'s part, setting the trend of the items it names.
template <class Items>
blend_part read_blend(reader& r, Items& items) {
  blend_part out;
  out.head.fields(r);
  out.head.check();
  for (std::size_t k = 0; k < out.head.trend_keys.size(); ++k) {
    auto it = items.find(out.head.trend_keys[k]);
    if (it == items.end())
      fail("trend of an unknown item");
    it->second.trend = out.head.trend_values[k];
  }
  const auto n_rows = r.get<std::uint64_t>();
  if (n_rows > r.left() / min_row_bytes)
    fail("truncated (more rule rows than bytes left)");
  row_block rb;
  std::vector<double> totals;
  std::set<key_t> sources;
  for (std::uint64_t left = n_rows; left > 0;) {
    const auto n = std::min<std::uint64_t>(left, block_size);
    left -= n;
    rb.fields(r, n);
    r.column(totals, n);
    rb.check();
    check_finite(totals, "rule total");
    std::size_t at = 0;
    for (std::size_t k = 0; k < n; ++k) {
      if (!sources.insert(rb.keys[k]).second)
        fail("duplicate rule row key");
      absl::flat_hash_map<key_t, double> targets;
      for (std::uint64_t e = 0; e < rb.sizes[k]; ++e, ++at)
        if (!targets.try_emplace(rb.entry_keys[at], rb.values[at]).second)
          fail("duplicate key in a rule row");
      out.rows.emplace_back(rb.keys[k], std::move(targets));
      out.totals.push_back(totals[k]);
    }
  }
  return out;
}

}  // namespace

void item_model::save(std::string& out) const {
  std::size_t entries = 0;
  for (const auto& [k, r] : rows_)
    entries += r.size();
  out.reserve(out.size() + 512 + items_.size() * (min_item_bytes + 32)
              + rows_.size() * min_row_bytes + entries * 2 * sizeof(std::uint64_t)
              + (by_created_.size() + popular_cache_.size()) * 2 * sizeof(std::uint64_t));

  auto decay = [](const forward_decay& d) {
    return decay_state{d.lambda_, d.landmark_, d.step_,
                       static_cast<std::uint8_t>(d.started_ ? 1 : 0)};
  };
  item_model_head head{shard_, shards_, decay(cooc_decay_), decay(trend_decay_),
                       latest_ts_, events_, pair_updates_, prunes_, collisions_};
  writer w{out};
  const bool extras = needs_extras_version(items_);
  const bool blend = cfg_.seq_on() || cfg_.trend_on() || extras;
  save_header(w, item_model_tag,
              extras ? item_model_extras_version
                     : blend ? item_model_blend_version : format_version);
  head.fields(w);

  w.value(static_cast<std::uint64_t>(items_.size()));
  item_block items;
  for (const auto& [k, e] : items_) {
    items.add(k, e);
    if (items.size() == block_size) {
      items.fields(w, items.size());
      items.clear();
    }
  }
  if (items.size() > 0)
    items.fields(w, items.size());

  w.value(static_cast<std::uint64_t>(rows_.size()));
  row_block rows;
  for (const auto& [k, r] : rows_) {
    rows.add(k, r, [this](std::uint32_t x) { return records_[x].key; });
    if (rows.size() == block_size) {
      rows.fields(w, rows.size());
      rows.clear();
    }
  }
  if (rows.size() > 0)
    rows.fields(w, rows.size());

  auto tail = make_tail(by_created_, popular_cache_);
  tail.popular_complete = popular_complete_ ? 1 : 0;
  tail.popular_changes = popular_changes_;
  tail.popular_valid = popular_valid_ ? 1 : 0;
  tail.fields(w);
  if (blend)
    write_blend(w, decay(blend_trend_decay_), items_, seq_,
                [this](std::uint32_t x) { return records_[x].key; });
  if (extras)
    write_extras(w, items_);
}

void item_model::load(std::string_view bytes) {
  static constexpr const char* what = "item_model::load";
  guarded_load(what, [&] {
    reader r{bytes};
    const auto version = load_header(r, item_model_tag, item_model_extras_version);
    item_model_head head;
    head.fields(r);
    if (head.shard != shard_ || head.shards != shards_)
      throw std::runtime_error(std::string{what} + ": snapshot of shard "
                               + std::to_string(head.shard) + "/" + std::to_string(head.shards)
                               + " cannot be loaded into shard " + std::to_string(shard_) + "/"
                               + std::to_string(shards_));
    head.check();
    auto decay = [](const decay_state& d) {
      forward_decay out;
      out.lambda_ = d.lambda;
      out.landmark_ = d.landmark;
      out.step_ = d.step;
      out.started_ = d.started == 1;
      return out;
    };

    auto items =
      read_items(r, version, [this](item_entry& e, double norm) { set_norm(e, norm); });
    auto rows = read_rows(r);

    item_model_tail tail;
    tail.fields(r);
    tail.check();

    // Version 2 and 3: the blend's trend and rules (rules keyed by target
    // key); version 3: the items' extras.
    blend_part blend;
    if (version >= item_model_blend_version)
      blend = read_blend(r, items);
    if (version == item_model_extras_version)
      read_extras(r, items);
    expect_end(r);

    std::set<std::pair<std::int64_t, key_t>> by_created;
    for (std::size_t k = 0; k < tail.by_created_ts.size(); ++k)
      by_created.emplace_hint(by_created.end(), tail.by_created_ts[k], tail.by_created_key[k]);
    std::vector<scored> popular_cache(tail.pop_keys.size());
    for (std::size_t k = 0; k < tail.pop_keys.size(); ++k)
      popular_cache[k] = {tail.pop_keys[k], tail.pop_scores[k]};

    cooc_decay_ = decay(head.cooc);
    trend_decay_ = decay(head.trend);
    latest_ts_ = head.latest_ts;
    events_ = head.events;
    pair_updates_ = head.pair_updates;
    prunes_ = head.prunes;
    collisions_ = head.collisions;
    items_ = std::move(items);
    rebuild_records(std::move(rows));
    // The rules name their targets by record index: after the records.
    absl::flat_hash_map<key_t, rule_row> rules;
    rules.reserve(blend.rows.size());
    for (std::size_t k = 0; k < blend.rows.size(); ++k) {
      auto& row = rules[blend.rows[k].first];
      row.total = blend.totals[k];
      row.targets.reserve(blend.rows[k].second.size());
      for (const auto& [to, v] : blend.rows[k].second)
        row.targets.push_back(record(to), v);
    }
    seq_.replace(std::move(rules), blend.head.updates, blend.head.prunes);
    if (version >= item_model_blend_version)
      blend_trend_decay_ = decay(blend.head.trend);
    else
      blend_trend_decay_ = forward_decay(cfg_.trend_on() ? cfg_.blend_trend_half_life_s : 0.0);
    by_created_ = std::move(by_created);
    popular_cache_ = std::move(popular_cache);
    popular_complete_ = tail.popular_complete == 1;
    popular_changes_ = tail.popular_changes;
    popular_valid_ = tail.popular_valid == 1;
  });
}

// -- dedup_window -------------------------------------------------------------
//
//   [times] [ids]   (oldest first)

namespace {

struct dedup_columns {
  std::vector<std::int64_t> times;
  string_column ids;

  template <class A>
  void fields(A& a) {
    a.column(times);
    ids.fields(a, times.size());
  }
  /// After a read: the ids fill their bytes (load() checks each id).
  void check() const { ids.check(); }
};

}  // namespace

void dedup_window::save(std::string& out) const {
  dedup_columns c;
  c.times.reserve(order_.size());
  c.ids.lengths.reserve(order_.size());
  for (const auto& e : order_) {
    c.times.push_back(e.time);
    c.ids.add(e.id);
  }
  out.reserve(out.size() + 64 + c.ids.bytes.size() + order_.size() * 2 * sizeof(std::uint64_t));
  writer w{out};
  save_header(w, dedup_window_tag);
  c.fields(w);
}

void dedup_window::load(std::string_view bytes) {
  static constexpr const char* what = "dedup_window::load";
  guarded_load(what, [&] {
    reader r{bytes};
    load_header(r, dedup_window_tag);
    dedup_columns c;
    c.fields(r);
    expect_end(r);
    c.check();
    const auto& times = c.times;

    std::deque<entry> order;
    string_cursor id_at{c.ids};
    absl::flat_hash_set<std::string_view> seen;
    seen.reserve(times.size());
    // Keep the newest max_ids_ (validating all of them).
    const std::size_t skip = times.size() > max_ids_ ? times.size() - max_ids_ : 0;
    for (std::size_t k = 0; k < times.size(); ++k) {
      const auto id = id_at.next();
      if (id.empty())
        fail("empty id");
      if (!seen.insert(id).second)
        fail("duplicate id");
      if (k >= skip)
        order.push_back({std::string{id}, times[k]});
    }
    absl::flat_hash_set<std::string_view> index;
    index.reserve(order.size());
    for (const auto& e : order)
      index.insert(std::string_view{e.id});
    // Moving a deque keeps its elements in place: the views stay valid.
    order_ = std::move(order);
    index_ = std::move(index);
  });
}

}  // namespace rtrec::engine
