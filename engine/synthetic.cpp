// Synthetic workload generator (see synthetic.hpp).
//
// Determinism notes: every random number comes from xoshiro256** seeded by
// splitmix64; integers in [0, n) are the high half of a 64x64-bit product;
// doubles in [0, 1) are the top 53 bits times 2^-53. Zipf weights k^-s use
// the log/exp below, built from + - * / and exact frexp/ldexp/floor only, so
// they do not depend on the platform's libm. Nothing uses std::*_distribution.
#include "engine/synthetic.hpp"

#include <algorithm>
#include <charconv>
#include <cmath>
#include <initializer_list>
#include <limits>

namespace rtrec::engine {

namespace {

__extension__ using u128 = unsigned __int128;

constexpr double ln2 = 0.69314718055994530942;

/// Last millisecond of year 9999, the bound event validation uses.
constexpr double max_timestamp_ms = 253402300799999.0;

constexpr std::size_t max_index = std::numeric_limits<std::uint32_t>::max();
constexpr std::size_t max_tastes = 1'000'000;

std::uint64_t mix64(std::uint64_t z) noexcept {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

std::uint64_t splitmix64(std::uint64_t& state) noexcept {
  state += 0x9E3779B97F4A7C15ULL;
  return mix64(state);
}

std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }

/// Returns floor(r * n / 2^64), uniform in [0, n) for uniform r.
std::uint64_t scale(std::uint64_t r, std::uint64_t n) noexcept {
  return static_cast<std::uint64_t>((static_cast<u128>(r) * n) >> 64);
}

/// Returns a double uniform in [0, 1).
double unit(std::uint64_t r) noexcept { return static_cast<double>(r >> 11) * 0x1.0p-53; }

/// Natural logarithm of x > 0, within a few ulp, platform-independent.
double det_log(double x) noexcept {
  int e = 0;
  double m = std::frexp(x, &e);  // x = m * 2^e, m in [0.5, 1)
  if (m < 0.70710678118654752440) {
    m *= 2.0;
    --e;
  }
  // ln m = 2 atanh(f), f = (m-1)/(m+1), |f| <= 0.172.
  const double f = (m - 1.0) / (m + 1.0);
  const double f2 = f * f;
  double term = f;
  double sum = 0.0;
  for (int k = 0; k < 13; ++k) {
    sum += term / static_cast<double>(2 * k + 1);
    term *= f2;
  }
  return 2.0 * sum + static_cast<double>(e) * ln2;
}

/// e^y for y <= 0 (0 on underflow), within a few ulp, platform-independent.
double det_exp(double y) noexcept {
  if (y < -745.0)
    return 0.0;
  const double n = std::floor(y / ln2 + 0.5);
  // ln 2 split in two (fdlibm): n * ln2_hi is exact, so r keeps its precision.
  constexpr double ln2_hi = 6.93147180369123816490e-01;
  constexpr double ln2_lo = 1.90821492927058770002e-10;
  const double r = (y - n * ln2_hi) - n * ln2_lo;  // |r| <= 0.35
  double term = 1.0;
  double sum = 1.0;
  for (int k = 1; k <= 16; ++k) {
    term *= r / static_cast<double>(k);
    sum += term;
  }
  return std::ldexp(sum, static_cast<int>(n));
}

/// Returns rank^-exponent for rank >= 1.
double zipf_weight(std::size_t rank, double exponent) noexcept {
  if (exponent == 0.0)
    return 1.0;
  return det_exp(-exponent * det_log(static_cast<double>(rank)));
}

std::size_t taste_hash(std::uint64_t salt, std::size_t index, std::size_t tastes) noexcept {
  return static_cast<std::size_t>(
      scale(mix64(salt + static_cast<std::uint64_t>(index) * 0x9E3779B97F4A7C15ULL), tastes));
}

/// Rating levels 1.0, 1.5, ..., 5.0 and their weights for items inside and
/// outside the user's cluster (means about 4.0 and 2.7).
constexpr std::uint32_t rating_levels = 9;
constexpr std::uint32_t in_taste_weights[rating_levels] = {1, 1, 2, 3, 6, 10, 16, 20, 14};
constexpr std::uint32_t out_taste_weights[rating_levels] = {8, 6, 12, 10, 14, 9, 8, 3, 2};

double sample_rating(const std::uint32_t (&weights)[rating_levels], std::uint64_t r) noexcept {
  std::uint64_t total = 0;
  for (auto w : weights)
    total += w;
  std::uint64_t pick = scale(r, total);
  std::uint32_t level = 0;
  while (level + 1 < rating_levels && pick >= weights[level]) {
    pick -= weights[level];
    ++level;
  }
  return 1.0 + 0.5 * static_cast<double>(level);
}

void write_id(std::string& out, char prefix, std::size_t index) {
  char buf[24];
  buf[0] = prefix;
  auto res = std::to_chars(buf + 1, buf + sizeof buf, index);
  out.assign(buf, static_cast<std::size_t>(res.ptr - buf));
}

bool finite_non_negative(double x) noexcept { return std::isfinite(x) && x >= 0.0; }

}  // namespace

std::string validate_config(const synthetic_config& cfg) {
  if (cfg.users < 1 || cfg.users > max_index)
    return "users must be between 1 and " + std::to_string(max_index);
  if (cfg.items < 1 || cfg.items > max_index)
    return "items must be between 1 and " + std::to_string(max_index);
  if (cfg.tastes < 1 || cfg.tastes > max_tastes)
    return "tastes must be between 1 and " + std::to_string(max_tastes);
  if (!finite_non_negative(cfg.zipf_exponent))
    return "zipf_exponent must be a finite number >= 0";
  if (!finite_non_negative(cfg.user_zipf_exponent))
    return "user_zipf_exponent must be a finite number >= 0";
  if (!(cfg.taste_affinity >= 0.0 && cfg.taste_affinity <= 1.0))
    return "taste_affinity must be between 0 and 1";
  if (cfg.start_timestamp_ms < 0)
    return "start_timestamp_ms must be >= 0";
  if (!(std::isfinite(cfg.events_per_second) && cfg.events_per_second > 0.0))
    return "events_per_second must be a finite number > 0";
  const double last = static_cast<double>(cfg.start_timestamp_ms)
                      + static_cast<double>(cfg.events) * (1000.0 / cfg.events_per_second);
  if (!(last <= max_timestamp_ms))
    return "events / events_per_second puts the last event after year 9999";
  const double mix[] = {cfg.p_view, cfg.p_click, cfg.p_like, cfg.p_rating, cfg.p_purchase,
                        cfg.p_dislike};
  double sum = 0.0;
  for (double p : mix) {
    if (!finite_non_negative(p))
      return "event type probabilities (p_view ... p_dislike) must be finite and >= 0";
    sum += p;
  }
  if (!(sum > 0.0) || !std::isfinite(sum))
    return "event type probabilities (p_view ... p_dislike) must not all be 0";
  return {};
}

namespace {

/// Builds a Walker alias table (Vose's method) for the weights in `p`
/// (consumed as scratch): calls set(k, threshold, alias) once for every
/// bucket k in [0, p.size()), where bucket k keeps k when the 32-bit coin is
/// below `threshold` and takes `alias` otherwise.
template <class Set>
void build_alias(std::vector<double>& p, std::vector<std::uint32_t>& small,
                 std::vector<std::uint32_t>& large, Set set) {
  const std::size_t n = p.size();
  double sum = 0.0;
  for (double w : p)
    sum += w;
  small.clear();
  large.clear();
  for (std::size_t k = 0; k < n; ++k) {
    p[k] = p[k] * static_cast<double>(n) / sum;
    (p[k] < 1.0 ? small : large).push_back(static_cast<std::uint32_t>(k));
  }
  while (!small.empty() && !large.empty()) {
    const std::uint32_t s = small.back();
    small.pop_back();
    const std::uint32_t l = large.back();
    const double keep = p[s] > 0.0 ? p[s] : 0.0;
    set(s, static_cast<std::uint32_t>(keep * 4294967296.0), l);
    p[l] = (p[l] + p[s]) - 1.0;
    if (p[l] < 1.0) {
      large.pop_back();
      small.push_back(l);
    }
  }
  // Leftovers are 1 up to rounding: always keep.
  for (auto* rest : {&small, &large})
    for (std::uint32_t k : *rest)
      set(k, std::numeric_limits<std::uint32_t>::max(), k);
}

}  // namespace

synthetic_generator::synthetic_generator(const synthetic_config& cfg)
    : cfg_(cfg), error_(validate_config(cfg)) {
  if (!error_.empty())
    return;
  seed();
  ms_per_event_ = 1000.0 / cfg_.events_per_second;
  build_type_cdf();
  build_user_table();
  build_item_tables();
  for (auto& r : user_ahead_) {
    r = user_rng_.next();
    if (!user_table_.empty())
      __builtin_prefetch(&user_table_[scale(r, cfg_.users)]);
  }
}

void synthetic_generator::seed() {
  std::uint64_t sm = cfg_.seed;
  for (auto& s : rng_.s)
    s = splitmix64(sm);
  user_salt_ = splitmix64(sm);
  item_salt_ = splitmix64(sm);
  for (auto& s : user_rng_.s)
    s = splitmix64(sm);
}

void synthetic_generator::build_type_cdf() {
  const double mix[event_type_count] = {cfg_.p_view, cfg_.p_click, cfg_.p_like,
                                        cfg_.p_rating, cfg_.p_purchase, cfg_.p_dislike};
  double total = 0.0;
  for (double p : mix)
    total += p;
  double acc = 0.0;
  std::size_t last_positive = 0;
  for (std::size_t t = 0; t < event_type_count; ++t) {
    acc += mix[t];
    type_cdf_[t] = acc / total;
    if (mix[t] > 0.0)
      last_positive = t;
  }
  for (std::size_t t = last_positive; t < event_type_count; ++t)
    type_cdf_[t] = 1.0;  // rounding never selects a type of weight 0
}

void synthetic_generator::build_user_table() {
  if (!(cfg_.user_zipf_exponent > 0.0))
    return;
  std::vector<double> weights(cfg_.users);
  for (std::size_t u = 0; u < cfg_.users; ++u)
    weights[u] = zipf_weight(u + 1, cfg_.user_zipf_exponent);
  std::vector<std::uint32_t> small, large;
  user_table_.resize(cfg_.users);
  build_alias(weights, small, large, [this](std::uint32_t k, std::uint32_t t, std::uint32_t a) {
    user_table_[k] = {t, a};
  });
}

void synthetic_generator::build_item_tables() {
  std::vector<double> item_weight(cfg_.items);
  for (std::size_t i = 0; i < cfg_.items; ++i)
    item_weight[i] = zipf_weight(i + 1, cfg_.zipf_exponent);
  std::vector<double> weights = item_weight;
  std::vector<std::uint32_t> small, large;
  item_table_.resize(cfg_.items);
  build_alias(weights, small, large, [this](std::uint32_t k, std::uint32_t t, std::uint32_t a) {
    item_table_[k] = {t, a};
  });

  // Cluster members, in item order, then one alias table per cluster.
  taste_offset_.assign(cfg_.tastes + 1, 0);
  std::vector<std::uint32_t> item_taste(cfg_.items);
  for (std::size_t i = 0; i < cfg_.items; ++i) {
    item_taste[i] = static_cast<std::uint32_t>(taste_of_item(i));
    ++taste_offset_[item_taste[i] + 1];
  }
  for (std::size_t c = 0; c < cfg_.tastes; ++c)
    taste_offset_[c + 1] += taste_offset_[c];
  std::vector<std::uint32_t> members(cfg_.items);
  {
    std::vector<std::uint32_t> fill(taste_offset_.begin(), taste_offset_.end() - 1);
    for (std::size_t i = 0; i < cfg_.items; ++i)
      members[fill[item_taste[i]]++] = static_cast<std::uint32_t>(i);
  }
  taste_tables_.resize(cfg_.items);
  for (std::size_t c = 0; c < cfg_.tastes; ++c) {
    const std::uint32_t begin = taste_offset_[c];
    const std::uint32_t end = taste_offset_[c + 1];
    if (begin == end)
      continue;
    weights.resize(end - begin);
    for (std::uint32_t k = begin; k < end; ++k)
      weights[k - begin] = item_weight[members[k]];
    const std::uint32_t* ids = members.data() + begin;
    alias_entry* out = taste_tables_.data() + begin;
    build_alias(weights, small, large, [ids, out](std::uint32_t k, std::uint32_t t, std::uint32_t a) {
      out[k] = {t, ids[k], ids[a]};
    });
  }
}

std::uint64_t synthetic_generator::rng::next() noexcept {
  const std::uint64_t result = rotl(s[1] * 5, 7) * 9;
  const std::uint64_t t = s[1] << 17;
  s[2] ^= s[0];
  s[3] ^= s[1];
  s[1] ^= s[2];
  s[0] ^= s[3];
  s[2] ^= t;
  s[3] = rotl(s[3], 45);
  return result;
}

std::size_t synthetic_generator::sample_user(std::uint64_t r) const noexcept {
  if (user_table_.empty())
    return static_cast<std::size_t>(scale(r, cfg_.users));
  // The high bits pick the bucket, the low 32 bits are the coin.
  const std::size_t k = static_cast<std::size_t>(scale(r, cfg_.users));
  const index_entry& e = user_table_[k];
  return static_cast<std::uint32_t>(r) < e.threshold ? k : e.alias;
}

bool synthetic_generator::next(event& out) {
  if (!error_.empty() || produced_ >= cfg_.events)
    return false;
  const std::uint64_t user_draw = user_ahead_[ahead_pos_];
  const std::uint64_t later = user_rng_.next();
  user_ahead_[ahead_pos_] = later;
  ahead_pos_ = (ahead_pos_ + 1) % lookahead;
  if (!user_table_.empty())
    __builtin_prefetch(&user_table_[scale(later, cfg_.users)]);
  const std::size_t user = sample_user(user_draw);
  const std::size_t taste = taste_of_user(user);

  // Alias draws: the high bits pick the bucket, the low 32 bits are the coin.
  std::size_t item = 0;
  const bool own = unit(rng_.next()) < cfg_.taste_affinity;
  const std::uint32_t begin = taste_offset_[taste];
  const std::uint32_t end = taste_offset_[taste + 1];
  const std::uint64_t item_draw = rng_.next();
  if (own && begin != end) {
    const alias_entry& e = taste_tables_[begin + scale(item_draw, end - begin)];
    item = static_cast<std::uint32_t>(item_draw) < e.threshold ? e.primary : e.alias;
  } else {
    const std::size_t k = static_cast<std::size_t>(scale(item_draw, cfg_.items));
    const index_entry& e = item_table_[k];
    item = static_cast<std::uint32_t>(item_draw) < e.threshold ? k : e.alias;
  }

  const double u = unit(rng_.next());
  std::size_t type = 0;
  while (type + 1 < event_type_count && !(u < type_cdf_[type]))
    ++type;

  out.type = static_cast<event_type>(type);
  out.value = 0.0;
  if (out.type == event_type::rating) {
    const bool in_taste = taste_of_item(item) == taste;
    out.value = sample_rating(in_taste ? in_taste_weights : out_taste_weights, rng_.next());
  }
  write_id(out.user, 'u', user);
  write_id(out.item, 'i', item);
  out.id.clear();
  out.timestamp = cfg_.start_timestamp_ms
                  + static_cast<std::int64_t>(
                      std::floor(static_cast<double>(produced_) * ms_per_event_));
  ++produced_;
  return true;
}

std::size_t synthetic_generator::next_batch(std::vector<event>& out, std::size_t n) {
  const std::size_t count = std::min(n, remaining());
  out.reserve(out.size() + count);
  for (std::size_t k = 0; k < count; ++k) {
    out.emplace_back();
    next(out.back());
  }
  return count;
}

std::string synthetic_generator::user_id(std::size_t index) {
  std::string s;
  write_id(s, 'u', index);
  return s;
}

std::string synthetic_generator::item_id(std::size_t index) {
  std::string s;
  write_id(s, 'i', index);
  return s;
}

std::size_t synthetic_generator::taste_of_user(std::size_t u) const noexcept {
  return error_.empty() ? taste_hash(user_salt_, u, cfg_.tastes) : 0;
}

std::size_t synthetic_generator::taste_of_item(std::size_t i) const noexcept {
  return error_.empty() ? taste_hash(item_salt_, i, cfg_.tastes) : 0;
}

}  // namespace rtrec::engine
