// Snapshots of per-shard engine state with Boost.Serialization binary
// archives: save() and load() of profile_store, item_model and dedup_window.
// All Boost.Serialization code of the engine lives in this file.
//
// Format of one blob (no Boost header: the caller frames its files with its
// own magic, version and checksum):
//
//   u32 tag (which object)   u32 format version   fields and columns ...
//
// A column is a u64 count followed by the elements as one raw array
// (make_array on a binary archive: one memcpy, not a call per element), so
// state is written column-wise: one column per field. Large tables (profile
// slots, items, rows) are written in blocks of a few thousand records, each
// block a set of columns, so that save() gathers into small reused buffers
// rather than copying the whole state once more. Strings are a column of u64
// lengths plus one column of all their bytes. Byte order and float layout
// are the machine's: a snapshot is read back by the same build on the same
// kind of machine. The layout of each object is drawn above its save().
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
#include <boost/archive/archive_exception.hpp>
#include <boost/archive/binary_iarchive.hpp>
#include <boost/archive/binary_oarchive.hpp>
#include <boost/serialization/array_wrapper.hpp>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <deque>
#include <exception>
#include <memory>
#include <set>
#include <stdexcept>
#include <streambuf>
#include <string>
#include <string_view>
#include <vector>

#include "engine/dedup_window.hpp"
#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"

namespace rtrec::engine {
namespace {

constexpr unsigned archive_flags = boost::archive::no_header | boost::archive::no_codecvt;
constexpr std::uint32_t format_version = 1;
constexpr std::uint32_t profile_store_tag = 0x31505452;  // "RTP1"
constexpr std::uint32_t item_model_tag = 0x31495452;     // "RTI1"
constexpr std::uint32_t dedup_window_tag = 0x31445452;   // "RTD1"

/// Output buffer that appends to a std::string (no intermediate copy).
class append_buf final : public std::streambuf {
 public:
  explicit append_buf(std::string& out) : out_(out) {}

 protected:
  std::streamsize xsputn(const char* s, std::streamsize n) override {
    out_.append(s, static_cast<std::size_t>(n));
    return n;
  }
  int_type overflow(int_type c) override {
    if (!traits_type::eq_int_type(c, traits_type::eof()))
      out_.push_back(traits_type::to_char_type(c));
    return traits_type::not_eof(c);
  }

 private:
  std::string& out_;
};

/// Input buffer over bytes it does not own and never writes.
class view_buf final : public std::streambuf {
 public:
  explicit view_buf(std::string_view bytes) {
    char* begin = const_cast<char*>(bytes.data());  // the get area is only read
    setg(begin, begin, begin + bytes.size());
  }
  std::size_t remaining() const noexcept { return static_cast<std::size_t>(egptr() - gptr()); }
};

/// Strings as one column of lengths and one of all their bytes.
struct string_column {
  std::vector<std::uint64_t> lengths;
  std::string bytes;

  void add(std::string_view s) {
    lengths.push_back(s.size());
    bytes.append(s);
  }
  std::size_t size() const noexcept { return lengths.size(); }
};

/// Walks a loaded string_column in order (lengths already checked to sum to
/// bytes.size()).
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

class writer {
 public:
  explicit writer(std::string& out) : buf_(out), ar_(buf_, archive_flags) {}

  template <class T>
  void value(const T& v) {
    ar_ << v;
  }
  template <class T>
  void column(const T* data, std::size_t n) {
    value(static_cast<std::uint64_t>(n));
    if (n > 0)
      ar_ << boost::serialization::make_array(data, n);
  }
  template <class T>
  void column(const std::vector<T>& v) {
    column(v.data(), v.size());
  }
  void strings(const string_column& s) {
    column(s.lengths);
    column(s.bytes.data(), s.bytes.size());
  }
  void header(std::uint32_t tag) {
    value(tag);
    value(format_version);
  }

 private:
  append_buf buf_;
  boost::archive::binary_oarchive ar_;
};

class reader {
 public:
  reader(std::string_view bytes, const char* what)
    : buf_(bytes), ar_(buf_, archive_flags), what_(what) {}

  [[noreturn]] void fail(const std::string& why) const {
    throw std::runtime_error(std::string{what_} + ": malformed snapshot: " + why);
  }

  template <class T>
  T value() {
    if (buf_.remaining() < sizeof(T))
      fail("truncated");
    T v{};
    ar_ >> v;
    return v;
  }
  /// Reads a column; `expected` (if not npos) is the count it must have.
  template <class T>
  void column(std::vector<T>& v, std::uint64_t expected = npos) {
    const auto n = value<std::uint64_t>();
    check_count(n, sizeof(T), expected);
    v.resize(static_cast<std::size_t>(n));
    if (n > 0)
      ar_ >> boost::serialization::make_array(v.data(), v.size());
  }
  void strings(string_column& s, std::uint64_t expected = npos) {
    column(s.lengths, expected);
    const auto n = value<std::uint64_t>();
    check_count(n, 1, npos);
    std::uint64_t sum = 0;
    for (auto len : s.lengths) {
      if (len > n - sum)
        fail("string lengths exceed their bytes");
      sum += len;
    }
    if (sum != n)
      fail("string lengths do not match their bytes");
    s.bytes.resize(static_cast<std::size_t>(n));
    if (n > 0)
      ar_ >> boost::serialization::make_array(s.bytes.data(), s.bytes.size());
  }
  void header(std::uint32_t tag) {
    if (buf_.remaining() == 0)
      fail("empty input");
    if (value<std::uint32_t>() != tag)
      fail("not this kind of snapshot (tag mismatch)");
    if (const auto v = value<std::uint32_t>(); v != format_version)
      fail("unsupported format version " + std::to_string(v));
  }
  void expect_end() const {
    if (buf_.remaining() != 0)
      fail(std::to_string(buf_.remaining()) + " bytes after the end of the state");
  }

  std::size_t remaining() const noexcept { return buf_.remaining(); }

  static constexpr std::uint64_t npos = ~std::uint64_t{0};

 private:
  void check_count(std::uint64_t n, std::size_t elem_size, std::uint64_t expected) const {
    if (n > buf_.remaining() / elem_size)
      fail("truncated (a column is longer than the bytes left)");
    if (expected != npos && n != expected)
      fail("column of " + std::to_string(n) + " entries where " + std::to_string(expected)
           + " were expected");
  }

  view_buf buf_;
  boost::archive::binary_iarchive ar_;
  const char* what_;
};

/// Returns the sum of `counts`, failing if it overflows or differs from `total`.
std::uint64_t checked_sum(const reader& r, const std::vector<std::uint64_t>& counts,
                          std::uint64_t total, const char* what) {
  std::uint64_t sum = 0;
  for (auto n : counts) {
    if (n > total - sum)
      r.fail(std::string{what} + " counts exceed their column");
    sum += n;
  }
  if (sum != total)
    r.fail(std::string{what} + " counts do not match their column");
  return sum;
}

/// Fails unless every value is finite (events never produce NaN or infinity,
/// and the rankings need values that compare consistently).
template <class T>
void check_finite(const reader& r, const std::vector<T>& v, const char* what) {
  for (auto x : v)
    if (!std::isfinite(x))
      r.fail(std::string{"non-finite "} + what);
}

/// Runs `body`, turning any failure into std::runtime_error prefixed by `what`.
template <class F>
void guarded_load(const char* what, F&& body) {
  try {
    body();
  } catch (const std::runtime_error&) {
    throw;
  } catch (const boost::archive::archive_exception& e) {
    throw std::runtime_error(std::string{what} + ": malformed snapshot: " + e.what());
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

  void clear() {
    ids.lengths.clear();
    ids.bytes.clear();
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
  void write(writer& w) const {
    w.strings(ids);
    w.column(events);
    w.column(recent_n);
    w.column(seen_n);
    w.column(seen_head);
    w.column(indexed);
    w.column(r_item);
    w.column(r_ts);
    w.column(r_weight);
    w.column(r_type);
    w.column(seen);
  }
  void read(reader& r, std::uint64_t slots) {
    r.strings(ids, slots);
    r.column(events, slots);
    r.column(recent_n, slots);
    r.column(seen_n, slots);
    r.column(seen_head, slots);
    r.column(indexed, slots);
    r.column(r_item);
    const auto recent_total = checked_sum(r, recent_n, r_item.size(), "recent");
    r.column(r_ts, recent_total);
    r.column(r_weight, recent_total);
    r.column(r_type, recent_total);
    check_finite(r, r_weight, "recent weight");
    r.column(seen);
    checked_sum(r, seen_n, seen.size(), "seen");
  }
};

/// Fewest bytes one slot takes in a block (id length, four counters, a flag).
constexpr std::size_t min_slot_bytes = 5 * sizeof(std::uint64_t) + 1;

}  // namespace

void profile_store::save(std::string& out) const {
  const std::uint32_t slots = slots_used_;
  std::vector<key_t> name_keys;
  string_column names;
  name_keys.reserve(item_names_.size());
  names.lengths.reserve(item_names_.size());
  for (const auto& [k, name] : item_names_) {
    name_keys.push_back(k);
    names.add(name);
  }
  // Reserve the output once (a guess from the configured bounds is too
  // coarse; this pass reads only the vector sizes).
  std::size_t bytes = 256 + names.bytes.size() + name_keys.size() * 16
                      + free_slots_.size() * sizeof(std::uint32_t)
                      + std::size_t{slots} * (min_slot_bytes + 16);
  for (std::uint32_t s = 0; s < slots; ++s) {
    const auto& p = profile_at(s);
    bytes += p.id.size() + p.seen_order.size() * sizeof(key_t)
             + p.recent.size() * (sizeof(key_t) + sizeof(std::int64_t) + sizeof(float) + 1);
  }
  out.reserve(out.size() + bytes);

  writer w{out};
  w.header(profile_store_tag);
  w.value(slots);
  w.value(events_applied_);
  w.column(free_slots_);
  w.column(name_keys);
  w.strings(names);
  profile_block block;
  for (std::uint64_t begin = 0; begin < slots; begin += chunk_size) {
    const auto end = std::min<std::uint64_t>(slots, begin + chunk_size);
    block.clear();
    for (auto s = begin; s < end; ++s)
      block.add(profile_at(static_cast<std::uint32_t>(s)));
    block.write(w);
  }
}

void profile_store::load(std::string_view bytes) {
  static constexpr const char* what = "profile_store::load";
  guarded_load(what, [&] {
    reader r{bytes, what};
    r.header(profile_store_tag);
    const auto slots = r.value<std::uint32_t>();
    const auto events_applied = r.value<std::uint64_t>();
    std::vector<std::uint32_t> free_slots;
    r.column(free_slots);
    std::vector<key_t> name_keys;
    r.column(name_keys);
    string_column names;
    r.strings(names, name_keys.size());
    if (slots > r.remaining() / min_slot_bytes)
      r.fail("truncated (more slots than bytes left)");

    std::vector<std::uint8_t> is_free(slots);
    for (auto f : free_slots) {
      if (f >= slots || is_free[f])
        r.fail("bad free slot list");
      is_free[f] = 1;
    }
    absl::flat_hash_map<key_t, std::string> item_names;
    item_names.reserve(name_keys.size());
    string_cursor name_at{names};
    for (auto k : name_keys) {
      const auto name = name_at.next();
      if (hash_id(name) != k)
        r.fail("an item name does not match its key");
      if (!item_names.try_emplace(k, name).second)
        r.fail("duplicate item key in the name dictionary");
    }

    // Each block fills one chunk, allocated only once its columns were read.
    std::vector<std::unique_ptr<user_profile[]>> chunks;
    chunks.reserve(static_cast<std::size_t>((std::uint64_t{slots} + chunk_size - 1) >> chunk_bits));
    absl::flat_hash_map<key_t, std::uint32_t> users;
    users.reserve(slots - free_slots.size());
    profile_block block;
    for (std::uint64_t begin = 0; begin < slots; begin += chunk_size) {
      const auto end = std::min<std::uint64_t>(slots, begin + chunk_size);
      block.read(r, end - begin);
      auto chunk = std::make_unique<user_profile[]>(chunk_size);
      string_cursor id_at{block.ids};
      std::size_t recent_at = 0, seen_at = 0;
      for (std::size_t k = 0; k < end - begin; ++k) {
        const auto s = static_cast<std::uint32_t>(begin + k);
        const auto id = id_at.next();
        if (is_free[s]) {
          if (!id.empty() || block.events[k] != 0 || block.recent_n[k] != 0
              || block.seen_n[k] != 0 || block.seen_head[k] != 0 || block.indexed[k] != 0)
            r.fail("a free slot holds a profile");
          continue;
        }
        auto& p = chunk[k];
        p.id.assign(id);
        p.events = block.events[k];
        p.recent.resize(static_cast<std::size_t>(block.recent_n[k]));
        for (auto& e : p.recent) {
          if (block.r_type[recent_at] >= event_type_count)
            r.fail("bad event type in a recent list");
          e.item = block.r_item[recent_at];
          e.timestamp = block.r_ts[recent_at];
          e.weight = block.r_weight[recent_at];
          e.type = static_cast<event_type>(block.r_type[recent_at]);
          ++recent_at;
        }
        const auto n_seen = static_cast<std::size_t>(block.seen_n[k]);
        if (block.seen_head[k] > n_seen)
          r.fail("seen_head past the end of seen_order");
        const auto first = block.seen.begin() + static_cast<std::ptrdiff_t>(seen_at);
        p.seen_order.assign(first, first + static_cast<std::ptrdiff_t>(n_seen));
        seen_at += n_seen;
        p.seen_head = static_cast<std::size_t>(block.seen_head[k]);
        if (block.indexed[k] > 1)
          r.fail("bad seen index flag");
        if (block.indexed[k] == 1)
          p.seen_index.insert(p.seen_order.begin() + static_cast<std::ptrdiff_t>(p.seen_head),
                              p.seen_order.end());
        if (!users.try_emplace(hash_id(p.id), s).second)
          r.fail("two profiles share a user key");
      }
      chunks.push_back(std::move(chunk));
    }
    r.expect_end();

    chunks_ = std::move(chunks);
    slots_used_ = slots;
    free_slots_ = std::move(free_slots);
    users_ = std::move(users);
    item_names_ = std::move(item_names);
    events_applied_ = events_applied;
  });
}

// -- item_model ---------------------------------------------------------------
//
//   u32 shard  u32 shards  2 x decay (f64 lambda, i64 landmark, i64 step,
//   u8 started)  i64 latest_ts  u64 events, pair_updates, prunes, collisions
//   u64 items, then blocks of up to block_size items: [keys] [ids] [category
//   count] [categories] [norm] [popularity] [events] [last time] [created]
//   [flags: 1 created_by_meta, 2 hidden]
//   u64 rows, then blocks of up to block_size rows: [keys] [sizes] [entry
//   keys] [entry values]
//   [by_created times] [by_created keys]  [popular keys] [popular scores]
//   u8 popular_complete  u64 popular_changes  u8 popular_valid

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
    for (auto* c : {&ids, &categories}) {
      c->lengths.clear();
      c->bytes.clear();
    }
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
    flags.push_back(static_cast<std::uint8_t>((e.created_by_meta ? 1 : 0) | (e.hidden ? 2 : 0)));
  }
  void write(writer& w) const {
    w.column(keys);
    w.strings(ids);
    w.column(cat_n);
    w.strings(categories);
    w.column(norm);
    w.column(popularity);
    w.column(events);
    w.column(last_ts);
    w.column(created);
    w.column(flags);
  }
  void read(reader& r, std::uint64_t n) {
    r.column(keys, n);
    r.strings(ids, n);
    r.column(cat_n, n);
    r.strings(categories);
    checked_sum(r, cat_n, categories.size(), "category");
    r.column(norm, n);
    r.column(popularity, n);
    r.column(events, n);
    r.column(last_ts, n);
    r.column(created, n);
    r.column(flags, n);
    check_finite(r, norm, "item norm");
    check_finite(r, popularity, "item popularity");
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
  /// Adds row `k`; key_of maps a row's neighbour to its item key.
  template <class KeyOf>
  void add(key_t k, const neighbour_row& row, KeyOf key_of) {
    keys.push_back(k);
    sizes.push_back(row.size());
    for (std::size_t e = 0; e < row.size(); ++e) {
      entry_keys.push_back(key_of(row.neighbour(e)));
      values.push_back(row.weight(e));
    }
  }
  void write(writer& w) const {
    w.column(keys);
    w.column(sizes);
    w.column(entry_keys);
    w.column(values);
  }
  void read(reader& r, std::uint64_t n) {
    r.column(keys, n);
    r.column(sizes, n);
    r.column(entry_keys);
    checked_sum(r, sizes, entry_keys.size(), "row");
    r.column(values, entry_keys.size());
    check_finite(r, values, "row value");
  }
};

/// Fewest bytes one row takes in a block (key, size).
constexpr std::size_t min_row_bytes = 2 * sizeof(std::uint64_t);

void save_decay(writer& w, double lambda, std::int64_t landmark, std::int64_t step,
                bool started) {
  w.value(lambda);
  w.value(landmark);
  w.value(step);
  w.value(static_cast<std::uint8_t>(started ? 1 : 0));
}

}  // namespace

void item_model::save(std::string& out) const {
  std::size_t entries = 0;
  for (const auto& [k, r] : rows_)
    entries += r.size();
  out.reserve(out.size() + 512 + items_.size() * (min_item_bytes + 32)
              + rows_.size() * min_row_bytes + entries * 2 * sizeof(std::uint64_t)
              + (by_created_.size() + popular_cache_.size()) * 2 * sizeof(std::uint64_t));

  writer w{out};
  w.header(item_model_tag);
  w.value(shard_);
  w.value(shards_);
  save_decay(w, cooc_decay_.lambda_, cooc_decay_.landmark_, cooc_decay_.step_,
             cooc_decay_.started_);
  save_decay(w, trend_decay_.lambda_, trend_decay_.landmark_, trend_decay_.step_,
             trend_decay_.started_);
  w.value(latest_ts_);
  w.value(events_);
  w.value(pair_updates_);
  w.value(prunes_);
  w.value(collisions_);

  w.value(static_cast<std::uint64_t>(items_.size()));
  item_block items;
  for (const auto& [k, e] : items_) {
    items.add(k, e);
    if (items.size() == block_size) {
      items.write(w);
      items.clear();
    }
  }
  if (items.size() > 0)
    items.write(w);

  w.value(static_cast<std::uint64_t>(rows_.size()));
  row_block rows;
  for (const auto& [k, r] : rows_) {
    rows.add(k, r, [this](std::uint32_t x) { return records_[x].key; });
    if (rows.size() == block_size) {
      rows.write(w);
      rows.clear();
    }
  }
  if (rows.size() > 0)
    rows.write(w);

  std::vector<std::int64_t> by_created_ts;
  std::vector<key_t> by_created_key;
  by_created_ts.reserve(by_created_.size());
  by_created_key.reserve(by_created_.size());
  for (const auto& [ts, k] : by_created_) {
    by_created_ts.push_back(ts);
    by_created_key.push_back(k);
  }
  w.column(by_created_ts);
  w.column(by_created_key);
  std::vector<key_t> pop_keys;
  std::vector<double> pop_scores;
  pop_keys.reserve(popular_cache_.size());
  pop_scores.reserve(popular_cache_.size());
  for (const auto& s : popular_cache_) {
    pop_keys.push_back(s.key);
    pop_scores.push_back(s.score);
  }
  w.column(pop_keys);
  w.column(pop_scores);
  w.value(static_cast<std::uint8_t>(popular_complete_ ? 1 : 0));
  w.value(popular_changes_);
  w.value(static_cast<std::uint8_t>(popular_valid_ ? 1 : 0));
}

void item_model::load(std::string_view bytes) {
  static constexpr const char* what = "item_model::load";
  guarded_load(what, [&] {
    reader r{bytes, what};
    r.header(item_model_tag);
    const auto shard = r.value<std::uint32_t>();
    const auto shards = r.value<std::uint32_t>();
    if (shard != shard_ || shards != shards_)
      throw std::runtime_error(std::string{what} + ": snapshot of shard " + std::to_string(shard)
                               + "/" + std::to_string(shards) + " cannot be loaded into shard "
                               + std::to_string(shard_) + "/" + std::to_string(shards_));
    auto load_decay = [&](forward_decay& d) {
      d.lambda_ = r.value<double>();
      d.landmark_ = r.value<std::int64_t>();
      d.step_ = r.value<std::int64_t>();
      const auto started = r.value<std::uint8_t>();
      if (!std::isfinite(d.lambda_) || d.lambda_ < 0.0 || started > 1
          || (d.lambda_ > 0.0 && d.step_ < 1) || d.landmark_ > max_landmark
          || d.landmark_ < -max_landmark)
        r.fail("bad decay state");
      d.started_ = started == 1;
    };
    forward_decay cooc, trend;
    load_decay(cooc);
    load_decay(trend);
    const auto latest_ts = r.value<std::int64_t>();
    if (latest_ts > max_landmark || latest_ts < -max_landmark)
      r.fail("bad latest timestamp");
    const auto events_total = r.value<std::uint64_t>();
    const auto pair_updates = r.value<std::uint64_t>();
    const auto prunes = r.value<std::uint64_t>();
    const auto collisions = r.value<std::uint64_t>();

    const auto n_items = r.value<std::uint64_t>();
    if (n_items > r.remaining() / min_item_bytes)
      r.fail("truncated (more items than bytes left)");
    absl::flat_hash_map<key_t, item_entry> items;
    items.reserve(static_cast<std::size_t>(n_items));
    item_block ib;
    for (std::uint64_t left = n_items; left > 0;) {
      const auto n = std::min<std::uint64_t>(left, block_size);
      left -= n;
      ib.read(r, n);
      string_cursor id_at{ib.ids}, category_at{ib.categories};
      for (std::size_t k = 0; k < n; ++k) {
        if (ib.flags[k] > 3)
          r.fail("bad item flags");
        auto [it, fresh] = items.try_emplace(ib.keys[k]);
        if (!fresh)
          r.fail("duplicate item key");
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
      }
    }

    const auto n_rows = r.value<std::uint64_t>();
    if (n_rows > r.remaining() / min_row_bytes)
      r.fail("truncated (more rows than bytes left)");
    absl::flat_hash_map<key_t, absl::flat_hash_map<key_t, double>> rows;
    rows.reserve(static_cast<std::size_t>(n_rows));
    row_block rb;
    for (std::uint64_t left = n_rows; left > 0;) {
      const auto n = std::min<std::uint64_t>(left, block_size);
      left -= n;
      rb.read(r, n);
      std::size_t at = 0;
      for (std::size_t k = 0; k < n; ++k) {
        auto [it, fresh] = rows.try_emplace(rb.keys[k]);
        if (!fresh)
          r.fail("duplicate row key");
        auto& rw = it->second;
        const auto size = static_cast<std::size_t>(rb.sizes[k]);
        rw.reserve(size);
        for (std::size_t e = 0; e < size; ++e, ++at)
          if (!rw.try_emplace(rb.entry_keys[at], rb.values[at]).second)
            r.fail("duplicate key in a row");
      }
    }

    std::vector<std::int64_t> by_created_ts;
    std::vector<key_t> by_created_key;
    r.column(by_created_ts);
    r.column(by_created_key, by_created_ts.size());
    std::vector<key_t> pop_keys;
    std::vector<double> pop_scores;
    r.column(pop_keys);
    r.column(pop_scores, pop_keys.size());
    check_finite(r, pop_scores, "popular score");
    const auto popular_complete = r.value<std::uint8_t>();
    const auto popular_changes = r.value<std::uint64_t>();
    const auto popular_valid = r.value<std::uint8_t>();
    r.expect_end();
    if (popular_complete > 1 || popular_valid > 1)
      r.fail("bad popular cache flags");

    std::set<std::pair<std::int64_t, key_t>> by_created;
    for (std::size_t k = 0; k < by_created_ts.size(); ++k)
      by_created.emplace_hint(by_created.end(), by_created_ts[k], by_created_key[k]);
    std::vector<scored> popular_cache(pop_keys.size());
    for (std::size_t k = 0; k < pop_keys.size(); ++k)
      popular_cache[k] = {pop_keys[k], pop_scores[k]};

    cooc_decay_ = cooc;
    trend_decay_ = trend;
    latest_ts_ = latest_ts;
    events_ = events_total;
    pair_updates_ = pair_updates;
    prunes_ = prunes;
    collisions_ = collisions;
    items_ = std::move(items);
    rebuild_records(std::move(rows));
    by_created_ = std::move(by_created);
    popular_cache_ = std::move(popular_cache);
    popular_complete_ = popular_complete == 1;
    popular_changes_ = popular_changes;
    popular_valid_ = popular_valid == 1;
  });
}

// -- dedup_window -------------------------------------------------------------

void dedup_window::save(std::string& out) const {
  std::vector<std::int64_t> times;
  string_column ids;
  times.reserve(order_.size());
  ids.lengths.reserve(order_.size());
  for (const auto& e : order_) {
    times.push_back(e.time);
    ids.add(e.id);
  }
  out.reserve(out.size() + 64 + ids.bytes.size() + order_.size() * 2 * sizeof(std::uint64_t));
  writer w{out};
  w.header(dedup_window_tag);
  w.column(times);
  w.strings(ids);
}

void dedup_window::load(std::string_view bytes) {
  static constexpr const char* what = "dedup_window::load";
  guarded_load(what, [&] {
    reader r{bytes, what};
    r.header(dedup_window_tag);
    std::vector<std::int64_t> times;
    r.column(times);
    string_column ids;
    r.strings(ids, times.size());
    r.expect_end();

    std::deque<entry> order;
    string_cursor id_at{ids};
    absl::flat_hash_set<std::string_view> seen;
    seen.reserve(times.size());
    // Keep the newest max_ids_ (validating all of them).
    const std::size_t skip = times.size() > max_ids_ ? times.size() - max_ids_ : 0;
    for (std::size_t k = 0; k < times.size(); ++k) {
      const auto id = id_at.next();
      if (id.empty())
        r.fail("empty id");
      if (!seen.insert(id).second)
        r.fail("duplicate id");
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
