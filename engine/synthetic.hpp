// Seeded synthetic workload: an endless-looking but reproducible stream of
// interaction events with realistic shape, for load tests and benchmarks.
//
// Shape: item popularity follows a Zipf law over the item index (item 0 is
// the most popular), user activity a Zipf law over the user index (exponent 0
// = every user equally active). Users and items each belong to one of
// `tastes` latent clusters (a seeded hash of the index). An event picks a user,
// then with probability `taste_affinity` an item of the user's own cluster
// (Zipf within the cluster) and otherwise an item from the global Zipf law.
// Ratings are 1..5 in 0.5 steps, higher on average for items of the user's
// own cluster (mean about 4.0 against 2.7). Event k (0-based) happens at
// start_timestamp_ms + floor(k * (1000 / events_per_second)), so time never
// goes backwards.
//
// Events are generated on demand and never stored: memory is O(users + items)
// (8 bytes per user when user_zipf_exponent > 0, 20 per item). Sampling is O(1) per event (alias
// tables, xoshiro256** seeded by splitmix64). The sequence depends only on the
// configuration: no std:: distributions, no libm transcendental functions, so
// the same seed gives the same events on every run and platform with IEEE-754
// doubles. A generator is a plain value, not thread-safe; use one per thread.
#pragma once

#include "engine/event.hpp"

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rtrec::engine {

/// Parameters of a synthetic workload. validate_config lists the valid ranges.
struct synthetic_config {
  std::uint64_t seed = 42;
  std::size_t users = 1'000'000;   ///< 1 .. 2^32-1
  std::size_t items = 100'000;     ///< 1 .. 2^32-1
  std::size_t events = 10'000'000; ///< events before next() returns false
  double zipf_exponent = 1.0;      ///< item popularity skew, >= 0 (0 = uniform)
  std::size_t tastes = 64;         ///< latent taste clusters, 1 .. 1'000'000
  double taste_affinity = 0.75;    ///< P(item drawn from the user's cluster), in [0, 1]
  double user_zipf_exponent = 0.5; ///< user activity skew, >= 0 (0 = uniform)
  std::int64_t start_timestamp_ms = 1'700'000'000'000;  ///< time of event 0, >= 0
  double events_per_second = 5000.0;  ///< > 0; the last event must fall before year 10000
  /// Event type mix: weights >= 0, not all 0, normalized by their sum.
  double p_view = 0.55, p_click = 0.2, p_like = 0.08, p_rating = 0.1, p_purchase = 0.05,
         p_dislike = 0.02;
};

/// Returns an empty string when `cfg` is usable, else a sentence naming the
/// first bad field, e.g. "users must be between 1 and 4294967295".
std::string validate_config(const synthetic_config& cfg);

/// Produces the events of one synthetic_config, one by one.
class synthetic_generator {
 public:
  /// Builds the sampling tables in O(users + items) time and memory. With an
  /// invalid configuration the generator produces no event and error()
  /// returns validate_config's message.
  explicit synthetic_generator(const synthetic_config& cfg);

  /// Overwrites `out` with the next event and returns true; returns false
  /// (leaving `out` untouched) once cfg.events events were produced or when
  /// the configuration is invalid. Reuses `out`'s string capacity. Every
  /// event has user "u<index>", item "i<index>", an empty id, value 1..5 for
  /// ratings and 0 otherwise.
  bool next(event& out);

  /// Appends up to `n` events to `out`; returns how many were appended
  /// (fewer than `n` only at the end of the stream).
  std::size_t next_batch(std::vector<event>& out, std::size_t n);

  /// Returns the number of events produced so far.
  std::size_t produced() const noexcept { return produced_; }

  /// Returns the number of events still to come.
  std::size_t remaining() const noexcept { return error_.empty() ? cfg_.events - produced_ : 0; }

  /// Returns the configuration this generator was built with.
  const synthetic_config& config() const noexcept { return cfg_; }

  /// Returns "" for a valid configuration, else why it is not.
  const std::string& error() const noexcept { return error_; }

  /// Returns "u<index>", the id of user `index`.
  static std::string user_id(std::size_t index);

  /// Returns "i<index>", the id of item `index`.
  static std::string item_id(std::size_t index);

  /// Returns the taste cluster (0 .. tastes-1) of user `u`; defined for every
  /// index, meaningful for u < users. Returns 0 for an invalid configuration.
  std::size_t taste_of_user(std::size_t u) const noexcept;

  /// Returns the taste cluster (0 .. tastes-1) of item `i`; defined for every
  /// index, meaningful for i < items. Returns 0 for an invalid configuration.
  std::size_t taste_of_item(std::size_t i) const noexcept;

 private:
  /// One bucket of a Walker alias table over a cluster's items: keep
  /// `primary` when the 32-bit coin is below `threshold`, else take `alias`.
  struct alias_entry {
    std::uint32_t threshold;
    std::uint32_t primary;
    std::uint32_t alias;
  };
  /// One bucket of an alias table over 0..n-1: the bucket's own index is the
  /// primary.
  struct index_entry {
    std::uint32_t threshold;
    std::uint32_t alias;
  };
  /// xoshiro256** (Blackman, Vigna), state seeded by splitmix64.
  struct rng {
    std::uint64_t s[4] = {0, 0, 0, 0};
    std::uint64_t next() noexcept;
  };
  /// User draws are made this many events ahead, from their own stream, so
  /// the user table bucket can be prefetched (the table is the one large,
  /// randomly read structure).
  static constexpr std::size_t lookahead = 16;

  std::size_t sample_user(std::uint64_t r) const noexcept;
  // The constructor's steps.
  void seed();
  void build_type_cdf();
  void build_user_table();
  /// Fills item_table_, taste_offset_ and taste_tables_ (one alias table
  /// per taste cluster).
  void build_item_tables();

  synthetic_config cfg_;
  std::string error_;
  std::size_t produced_ = 0;
  rng rng_;       // items, branch, type, rating
  rng user_rng_;  // users, `lookahead` draws ahead
  std::uint64_t user_ahead_[lookahead] = {};
  std::size_t ahead_pos_ = 0;
  std::uint64_t user_salt_ = 0;
  std::uint64_t item_salt_ = 0;
  double ms_per_event_ = 0;
  double type_cdf_[event_type_count] = {};
  std::vector<index_entry> user_table_;    // empty when user activity is uniform
  std::vector<index_entry> item_table_;    // global Zipf over all items
  std::vector<alias_entry> taste_tables_;  // one slice per cluster, items in global ids
  std::vector<std::uint32_t> taste_offset_;  // slice of cluster c: [offset[c], offset[c+1])
};

}  // namespace rtrec::engine
