#include "engine/item_model.hpp"

#include "engine/top_k.hpp"

#include <algorithm>
#include <cmath>

namespace rtrec::engine {

// -- forward_decay ------------------------------------------------------------

namespace {
constexpr double exponent_per_step = 64.0;
constexpr double max_exponent = 2 * exponent_per_step;

bool f_matches(const item_entry& e, const item_filter& f) {
  return f.category.empty()
         || std::find(e.categories.begin(), e.categories.end(), f.category) != e.categories.end();
}
}  // namespace

forward_decay::forward_decay(double half_life_s) {
  if (half_life_s > 0.0) {
    lambda_ = std::log(2.0) / (half_life_s * 1000.0);
    step_ = std::max<std::int64_t>(1, static_cast<std::int64_t>(exponent_per_step / lambda_));
  }
}

double forward_decay::weight(std::int64_t ts_ms, double& rescale) {
  rescale = 1.0;
  if (lambda_ <= 0.0)
    return 1.0;
  if (!started_) {
    landmark_ = (ts_ms / step_) * step_;
    started_ = true;
  } else if (static_cast<double>(ts_ms - landmark_) * lambda_ > max_exponent) {
    auto next = (ts_ms / step_) * step_;
    rescale = std::exp(-lambda_ * static_cast<double>(next - landmark_));
    landmark_ = next;
  }
  if (memo_valid_ && memo_ts_ == ts_ms && memo_landmark_ == landmark_)
    return memo_weight_;
  memo_weight_ = std::exp(lambda_ * static_cast<double>(ts_ms - landmark_));
  memo_ts_ = ts_ms;
  memo_landmark_ = landmark_;
  memo_valid_ = true;
  return memo_weight_;
}

double forward_decay::to_present(std::int64_t now_ms) const {
  if (lambda_ <= 0.0 || !started_)
    return 1.0;
  return std::exp(-lambda_ * static_cast<double>(now_ms - landmark_));
}

// -- item_model ---------------------------------------------------------------

namespace {
/// Requests the neighbor indices bump() scans.
void prefetch_neighbors(const neighbor_row& r) {
  neighbor_row::prefetch_lines(r.neighbors(), r.size() * sizeof(std::uint32_t));
}
}  // namespace

item_model::item_model(model_config cfg, std::uint32_t shard, std::uint32_t shards)
  : cfg_(std::move(cfg)),
    shard_(shard),
    shards_(std::max<std::uint32_t>(1, shards)),
    cooc_decay_(cfg_.cooc_half_life_s),
    trend_decay_(cfg_.trend_half_life_s),
    blend_trend_decay_(cfg_.trend_on() ? cfg_.blend_trend_half_life_s : 0.0),
    seq_(cfg_.neighbors_max) {
  cfg_.neighbors_max = std::max<std::size_t>(1, cfg_.neighbors_max);
}

double item_model::norm_alpha(double norm) const {
  if (norm <= 0.0)
    return 0.0;
  return cfg_.similarity_alpha == 0.5 ? std::sqrt(norm) : std::pow(norm, cfg_.similarity_alpha);
}

void item_model::set_norm(item_entry& e, double norm) const {
  e.norm = norm;
  if (norm <= 0.0)
    e.norm_pow = 0.0;
  else
    e.norm_pow = cfg_.similarity_alpha == 0.5 ? std::sqrt(norm)
                                              : std::pow(norm, 1.0 - cfg_.similarity_alpha);
}

void item_model::bump(row& r, std::uint32_t other, double inc) {
  const std::size_t limit = cfg_.neighbors_max + cfg_.neighbors_max / 2;
  r.add(other, inc, limit + 1);
  ++pair_updates_;
  if (r.size() <= limit)
    return;
  // Keep the strongest neighbors_max (ties: smaller key), drop the rest.
  struct neighbor {
    scored s;
    std::size_t at;
  };
  std::vector<neighbor> all;
  all.reserve(r.size());
  for (std::size_t at = 0; at < r.size(); ++at)
    all.push_back({{records_[r.neighbor(at)].key, r.weight(at)}, at});
  auto keep = all.begin() + static_cast<std::ptrdiff_t>(cfg_.neighbors_max);
  std::nth_element(all.begin(), keep, all.end(),
                   [](const neighbor& a, const neighbor& b) { return better(a.s, b.s); });
  std::vector<std::size_t> kept;
  kept.reserve(cfg_.neighbors_max);
  for (auto it = all.begin(); it != keep; ++it)
    kept.push_back(it->at);
  r.keep(kept);
  ++prunes_;
}

void item_model::rescale_rows(double factor) {
  for (auto& [k, r] : rows_)
    r.scale(factor);
  seq_.rescale(factor);
}

void item_model::rescale_items_trend(double factor) {
  for (auto& [k, e] : items_) {
    e.trend *= factor;
    trends_[e.record] = e.trend;
  }
}

void item_model::rescale_items_pop(double factor) {
  for (auto& [k, e] : items_)
    e.popularity *= factor;
  popular_valid_ = false;
}

void item_model::rescale_items_norm(double factor) {
  for (auto& [k, e] : items_) {
    set_norm(e, e.norm * factor);
    mirror(k, e);
  }
}

std::uint32_t item_model::record(key_t key) {
  auto [it, fresh] = index_.try_emplace(key, static_cast<std::uint32_t>(records_.size()));
  if (fresh) {
    records_.emplace_back();
    records_.back().key = key;
    trends_.push_back(0.0);
  }
  return it->second;
}

item_entry& item_model::entry(key_t key) {
  auto [it, fresh] = items_.try_emplace(key);
  if (fresh)
    mirror(key, it->second);
  return it->second;
}

void item_model::rebuild_records(
  absl::flat_hash_map<key_t, absl::flat_hash_map<key_t, double>> rows) {
  index_.clear();
  records_.clear();
  trends_.clear();
  rows_.clear();
  index_.reserve(items_.size());
  records_.reserve(items_.size());
  trends_.reserve(items_.size());
  for (auto& [k, e] : items_)
    mirror(k, e);
  rows_.reserve(rows.size());
  for (auto& [k, keyed] : rows) {
    auto& r = rows_[k];
    r.reserve(keyed.size());
    for (const auto& [j, v] : keyed)
      r.push_back(record(j), v);
    keyed = {};
  }
  acc_epoch_ = 0;
}

namespace {
/// Software pipeline over apply()'s cache misses: the table slots of an
/// event's item and context rows are requested `far` events ahead, the
/// rows' neighbor arrays (scanned by bump()) `near` events ahead.
constexpr std::size_t far = 8, near = 3;

/// [begin, end) of event k's context entries, clamped to the batch.
std::pair<std::uint32_t, std::uint32_t> context_range(const item_delta_batch& b, std::size_t k) {
  const std::uint32_t begin =
    k == 0 ? 0 : std::min<std::uint32_t>(b.ctx_end[k - 1], b.ctx_item.size());
  const std::uint32_t end = std::min<std::uint32_t>(b.ctx_end[k], b.ctx_item.size());
  return {begin, std::max(begin, end)};
}
}  // namespace

void item_model::apply(const item_delta_batch& b, std::size_t from, std::size_t to) {
  to = std::min(to, b.size());
  if (from == 0)
    learn_ids(b);
  // Prefetching needs each event's context range ahead of time (it may look
  // past `to`: a hint for the next range).
  const std::size_t pipelined = b.ctx_end.size() == b.item.size() ? b.item.size() : 0;
  // Events without a ctx_end entry keep the context where the last one left it.
  const std::size_t before = std::min(from, b.ctx_end.size());
  std::uint32_t ctx_begin = before == 0 ? 0 : b.ctx_end[before - 1];
  for (std::size_t k = from; k < to; ++k) {
    prefetch_ahead(b, k, pipelined);
    const std::uint32_t ctx_end = k < b.ctx_end.size() ? b.ctx_end[k] : ctx_begin;
    apply_event(b, k, ctx_begin, ctx_end);
    ctx_begin = ctx_end;
  }
  if (to < b.size())
    return;
  // Shard 0 answers popularity (the recommender asks it): keep its cache warm
  // here so no query pays for the recomputation. Other shards do it lazily.
  if (shard_ == 0 && cfg_.popular_refresh_events > 0
      && popular_changes_ > cfg_.popular_refresh_events)
    refresh_popular();
}

void item_model::learn_ids(const item_delta_batch& b) {
  for (std::size_t n = 0; n < b.new_keys.size() && n < b.new_ids.size(); ++n) {
    auto& e = entry(b.new_keys[n]);
    if (e.id.empty())
      e.id = b.new_ids[n];
    else if (e.id != b.new_ids[n])
      ++collisions_;
  }
}

void item_model::prefetch_ahead(const item_delta_batch& b, std::size_t k,
                                std::size_t pipelined) const {
  // Only what apply_event() will touch: the rows this shard owns, the
  // co-occurrence context's first pair_window items only (the rules' window
  // may be longer), the rules of owned context items.
  const auto pair_window = static_cast<std::uint32_t>(cfg_.pair_window);
  if (k + far < pipelined) {
    const key_t jf = b.item[k + far];
    const bool owned = owns(jf);
    items_.prefetch(jf);
    if (owned)
      rows_.prefetch(jf);
    auto [cb, ce] = context_range(b, k + far);
    const std::uint32_t pe = std::min(ce, cb + pair_window);
    if (cb < pe)
      index_.prefetch(jf);
    for (auto c = cb; c < pe; ++c) {
      const key_t i = b.ctx_item[c];
      if (owns(i))
        rows_.prefetch(i);
      if (owned)
        index_.prefetch(i);
    }
    if (cfg_.seq_on())
      for (auto c = cb; c < ce; ++c)
        if (owns(b.ctx_item[c]))
          seq_.prefetch(b.ctx_item[c]);
  }
  if (k + near < pipelined) {
    const key_t jn = b.item[k + near];
    auto [cb, ce] = context_range(b, k + near);
    const std::uint32_t pe = std::min(ce, cb + pair_window);
    if (cb < ce) {
      if (owns(jn) && cb < pe)
        if (auto rj = rows_.find(jn); rj != rows_.end())
          prefetch_neighbors(rj->second);
      for (auto c = cb; c < pe; ++c)
        if (owns(b.ctx_item[c]))
          if (auto ri = rows_.find(b.ctx_item[c]); ri != rows_.end())
            prefetch_neighbors(ri->second);
      if (cfg_.seq_on())
        for (auto c = cb; c < ce; ++c)
          if (owns(b.ctx_item[c]))
            seq_.prefetch_targets(b.ctx_item[c]);
    }
  }
}

void item_model::apply_event(const item_delta_batch& b, std::size_t k, std::uint32_t ctx_begin,
                             std::uint32_t ctx_end) {
  const key_t j = b.item[k];
  const double w = b.weight[k];
  const std::int64_t t = b.timestamp[k];
  const std::uint8_t flags = b.flags[k];
  ++events_;
  latest_ts_ = std::max(latest_ts_, t);
  if ((flags & item_delta_batch::negative) != 0 || !(w > 0.0))
    return;
  double rescale = 1.0;
  const double gp = trend_decay_.weight(t, rescale);
  if (rescale != 1.0)
    rescale_items_pop(rescale);
  auto& e = entry(j);
  ++e.events;
  e.last_timestamp = std::max(e.last_timestamp, t);
  if (!e.created_by_meta && (e.created == 0 || t < e.created))
    set_created(j, e, t);
  e.popularity += w * gp;
  ++popular_changes_;
  if (cfg_.trend_on()) {
    const double gt = blend_trend_decay_.weight(t, rescale);
    if (rescale != 1.0)
      rescale_items_trend(rescale);
    e.trend += w * gt;
    trends_[e.record] = e.trend;
  }
  if ((flags & item_delta_batch::first_time) == 0)
    return;
  const double gc = cooc_decay_.weight(t, rescale);
  if (rescale != 1.0) {
    rescale_rows(rescale);
    rescale_items_norm(rescale);
  }
  set_norm(e, e.norm + w * w * gc);
  mirror(j, e);
  const std::uint32_t ctx_all =
    std::min<std::uint32_t>(ctx_end, static_cast<std::uint32_t>(b.ctx_item.size()));
  // The context may be longer than the pair window (sequential rules on):
  // co-occurrence pairs only with the first pair_window items.
  const std::uint32_t end =
    std::min<std::uint32_t>(ctx_all, ctx_begin + static_cast<std::uint32_t>(cfg_.pair_window));
  if (ctx_begin < end && owns(j)) {
    auto& rj = rows_[j];  // one lookup for the whole context
    for (std::uint32_t c = ctx_begin; c < end; ++c)
      bump(rj, record(b.ctx_item[c]), static_cast<double>(b.ctx_weight[c]) * w * gc);
  }
  // Separate pass: inserting rows here may move rows_[j].
  const std::uint32_t jx = ctx_begin < end ? record(j) : 0;
  for (std::uint32_t c = ctx_begin; c < end; ++c) {
    const key_t i = b.ctx_item[c];
    if (owns(i))
      bump(rows_[i], jx, static_cast<double>(b.ctx_weight[c]) * w * gc);
  }
  if (cfg_.seq_on() && ctx_begin < ctx_all)
    add_rules(b, record(j), w * gc, ctx_begin, ctx_all);
}

void item_model::add_rules(const item_delta_batch& b, std::uint32_t jx, double inc,
                           std::uint32_t ctx_begin, std::uint32_t ctx_end) {
  const auto window = static_cast<std::uint32_t>(std::max<std::size_t>(1, cfg_.seq_window));
  const std::uint32_t end = std::min(ctx_end, ctx_begin + window);
  auto key_of = [this](std::uint32_t x) { return records_[x].key; };
  for (std::uint32_t c = ctx_begin; c < end; ++c) {
    const key_t i = b.ctx_item[c];
    if (owns(i))
      seq_.add(i, jx, inc / static_cast<double>(c - ctx_begin + 1), key_of);
  }
}

bool item_model::visible(key_t key, const item_filter& f) const {
  auto it = items_.find(key);
  return it != items_.end() && !it->second.hidden && f_matches(it->second, f);
}

void item_model::candidates(const score_query& q,
                            absl::flat_hash_map<key_t, double>& out) const {
  std::vector<scored> partial;
  candidates(q, partial);
  out.reserve(out.size() + partial.size());
  for (const auto& c : partial)
    out[c.key] += c.score;
}

void item_model::candidates(const score_query& q, std::vector<scored>& out,
                            const std::vector<scored>& upstream, std::size_t best) const {
  top_k sink{out, out.size(), best};
  start_sums();
  find_query_rows(q);
  score_query_rows(q);
  add_upstream(q, upstream, sink);
  // Excluded candidates: their records no longer look touched (mark 0 is
  // never a current epoch), so the copy below skips them.
  for (const key_t key : q.exclude)
    if (auto x = index_.find(key); x != index_.end())
      records_[x->second].mark = 0;
  emit_sums(sink);
}

void item_model::start_sums() const {
  if (++acc_epoch_ == 0) {  // wrapped: no mark may look current
    for (const auto& h : records_)
      h.mark = 0;
    acc_epoch_ = 1;
  }
  touched_.clear();
}

void item_model::find_query_rows(const score_query& q) const {
  // A query's cold memory is its rows (1-2 KB each, scattered): find them
  // all first, so that score_query_rows() can pull the next row into cache
  // while scoring this one (docs/benchmarks.md). The lookups are
  // independent: their table slots are requested together first, so the
  // misses overlap instead of following one another.
  const std::size_t nq = std::min(q.items.size(), q.weights.size());
  for (std::size_t n = 0; n < nq; ++n)
    if (owns(q.items[n])) {
      rows_.prefetch(q.items[n]);
      items_.prefetch(q.items[n]);
    }
  query_rows_.clear();
  for (std::size_t n = 0; n < nq; ++n) {
    query_row qr{nullptr, 0.0};
    if (owns(q.items[n]))
      if (auto rit = rows_.find(q.items[n]); rit != rows_.end() && !rit->second.empty())
        if (auto iit = items_.find(q.items[n]); iit != items_.end())
          qr = {&rit->second, norm_alpha(iit->second.norm)};
    query_rows_.push_back(qr);
  }
}

void item_model::score_query_rows(const score_query& q) const {
  const auto& rows = query_rows_;
  std::size_t streamed = 0;  // rows before this one were prefetched
  auto stream_next = [&](std::size_t from) {
    for (streamed = std::max(streamed, from); streamed < rows.size(); ++streamed)
      if (const row* r = rows[streamed].r) {
        r->prefetch();
        ++streamed;
        return;
      }
  };
  const std::size_t k = cfg_.score_neighbors;
  stream_next(0);
  for (std::size_t n = 0; n < rows.size(); ++n) {
    if (rows[n].r == nullptr)
      continue;
    stream_next(n + 1);
    const row& r = *rows[n].r;
    if (k == 0 || r.size() <= k)
      score_row(r, q.weights[n], rows[n].ni_alpha, q.filter);
    else
      score_strongest(r, k, q.weights[n], rows[n].ni_alpha, q.filter);
  }
}

template <class Neighbor, class Weight>
void item_model::score_entries(std::size_t count, Neighbor neighbor, Weight weight, double w,
                               double ni_alpha, const item_filter& f) const {
  // Entries 0 .. count-1: neighbor(e) is the record index, weight(e) the
  // co-occurrence weight.
  const hot_item* const records = records_.data();
  const bool filtered = !f.category.empty();
  for (std::size_t e = 0; e < count; ++e) {
    const hot_item& h = records[neighbor(e)];
    if (h.hidden || !h.known)
      continue;
    if (filtered) {
      auto eit = items_.find(h.key);
      if (eit == items_.end() || !f_matches(eit->second, f))
        continue;
    }
    add_to_sum(h, w * sim(weight(e), ni_alpha, h.norm_pow));
  }
}

void item_model::score_row(const row& r, double w, double ni_alpha, const item_filter& f) const {
  const std::uint32_t* nb = r.neighbors();
  const double* wt = r.weights();
  // Every neighbor's record first (scattered over the shard's table): the
  // requests overlap, where the loop would wait on each.
  const hot_item* const records = records_.data();
  for (std::size_t e = 0; e < r.size(); ++e)
    __builtin_prefetch(records + nb[e]);
  score_entries(
    r.size(), [nb](std::size_t e) { return nb[e]; }, [wt](std::size_t e) { return wt[e]; }, w,
    ni_alpha, f);
}

void item_model::score_strongest(const row& r, std::size_t k, double w, double ni_alpha,
                                 const item_filter& f) const {
  // Only the row's k strongest neighbors (by weight, ties: smaller key):
  // selected from the row alone, before any neighbor's entry is read. Each
  // neighbor adds to its own candidate once per row, so the order they are
  // visited in does not change any sum.
  strongest_.clear();
  for (std::size_t e = 0; e < r.size(); ++e)
    strongest_.emplace_back(r.neighbor(e), r.weight(e));
  auto cut = strongest_.begin() + static_cast<std::ptrdiff_t>(k);
  // The order bump() prunes by: better() on (neighbor's key, weight).
  const hot_item* const records = records_.data();
  std::nth_element(strongest_.begin(), cut, strongest_.end(),
                   [records](const std::pair<std::uint32_t, double>& a,
                             const std::pair<std::uint32_t, double>& b) {
                     return better({records[a.first].key, a.second},
                                   {records[b.first].key, b.second});
                   });
  const auto* top = strongest_.data();
  score_entries(
    k, [top](std::size_t e) { return top[e].first; }, [top](std::size_t e) { return top[e].second; },
    w, ni_alpha, f);
}

void item_model::find_upstream(const std::vector<scored>& upstream) const {
  // Two cache misses each otherwise, one after another: an entry's index
  // slot is requested 2 * ahead entries early, its record as soon as the
  // slot gives its index (the callers read the records after this pass).
  constexpr std::size_t ahead = 8;
  const hot_item* const records = records_.data();
  const std::size_t nu = upstream.size();
  upstream_records_.resize(nu);
  std::uint32_t* const found = upstream_records_.data();
  auto find_record = [&](std::size_t m) {
    auto x = index_.find(upstream[m].key);
    if (x == index_.end()) {
      found[m] = no_record;
      return;
    }
    __builtin_prefetch(records + x->second);
    found[m] = x->second;
  };
  for (std::size_t m = 0; m < 2 * ahead && m < nu; ++m)
    index_.prefetch(upstream[m].key);
  for (std::size_t m = 0; m < nu; ++m) {
    if (m + 2 * ahead < nu)
      index_.prefetch(upstream[m + 2 * ahead].key);
    find_record(m);
  }
}

void item_model::add_upstream(const score_query& q, const std::vector<scored>& upstream,
                              top_k& sink) const {
  // Upstream candidates this shard has no record of pass on unchanged
  // (unless excluded: a short list, and such candidates are rare).
  auto excluded = [&](key_t key) {
    return std::find(q.exclude.begin(), q.exclude.end(), key) != q.exclude.end();
  };
  find_upstream(upstream);
  const hot_item* const records = records_.data();
  for (std::size_t m = 0; m < upstream.size(); ++m) {
    const std::uint32_t x = upstream_records_[m];
    const scored& u = upstream[m];
    if (x != no_record && records[x].known)
      add_to_sum(records[x], u.score);
    else if (!excluded(u.key))
      sink.offer(u.key, u.score);
  }
}

void item_model::emit_sums(top_k& sink) const {
  if (sink.best > 0) {
    for (const hot_item* h : touched_)
      if (h->mark == acc_epoch_)
        sink.offer(h->key, h->acc);
    return;
  }
  // Written field by field through a pointer: a push_back of a scored built
  // from the record measured slower (docs/benchmarks.md: its 16-byte copy
  // waited on the two 8-byte stores that built it).
  auto& out = sink.out;
  const std::size_t own = out.size();
  out.resize(own + touched_.size());
  scored* dst = out.data() + own;
  for (const hot_item* h : touched_)
    if (h->mark == acc_epoch_) {
      dst->key = h->key;
      dst->score = h->acc;
      ++dst;
    }
  out.resize(static_cast<std::size_t>(dst - out.data()));
}

std::vector<scored> item_model::similar(key_t item, std::size_t n,
                                        const item_filter& f) const {
  std::vector<scored> out;
  auto rit = rows_.find(item);
  auto iit = items_.find(item);
  if (rit == rows_.end() || iit == items_.end() || n == 0)
    return out;
  const double ni_alpha = norm_alpha(iit->second.norm);
  const row& r = rit->second;
  for (std::size_t e = 0; e < r.size(); ++e) {
    const double c = r.weight(e);
    const key_t j = records_[r.neighbor(e)].key;
    auto jit = items_.find(j);
    if (j == item || jit == items_.end() || jit->second.hidden || !f_matches(jit->second, f))
      continue;
    out.push_back({j, sim(c, ni_alpha, jit->second.norm_pow)});
  }
  const auto keep = std::min(n, out.size());
  std::partial_sort(out.begin(), out.begin() + static_cast<std::ptrdiff_t>(keep), out.end(), better);
  out.resize(keep);
  return out;
}

std::vector<scored> item_model::popular(std::size_t n, const item_filter& f,
                                        const absl::flat_hash_set<key_t>& exclude) {
  std::vector<scored> out;
  if (n == 0)
    return out;
  const double present = trend_decay_.to_present(latest_ts_);
  auto full_scan = [&](std::size_t want) {
    std::vector<scored> all;
    for (const auto& [k, e] : items_)
      if (!e.hidden && e.popularity > 0.0 && f_matches(e, f) && !exclude.contains(k))
        all.push_back({k, e.popularity});
    const auto keep = std::min(want, all.size());
    std::partial_sort(all.begin(), all.begin() + static_cast<std::ptrdiff_t>(keep), all.end(), better);
    all.resize(keep);
    return all;
  };
  if (!f.category.empty()) {
    out = full_scan(n);
  } else {
    if (!popular_valid_ || popular_changes_ > cfg_.popular_refresh_events)
      refresh_popular();
    for (const auto& s : popular_cache_) {
      if (out.size() >= n)
        break;
      auto it = items_.find(s.key);
      if (exclude.contains(s.key) || it == items_.end() || it->second.hidden)
        continue;
      out.push_back(s);
    }
    if (out.size() < n && !popular_complete_)
      out = full_scan(n);
  }
  for (auto& s : out)
    s.score *= present;
  return out;
}

void item_model::refresh_popular() {
  popular_cache_.clear();
  for (const auto& [k, e] : items_)
    if (!e.hidden && e.popularity > 0.0)
      popular_cache_.push_back({k, e.popularity});
  const auto keep = std::min(std::max<std::size_t>(cfg_.popular_cache, 1), popular_cache_.size());
  popular_complete_ = keep == popular_cache_.size();
  std::partial_sort(popular_cache_.begin(), popular_cache_.begin() + static_cast<std::ptrdiff_t>(keep),
                    popular_cache_.end(), better);
  popular_cache_.resize(keep);
  popular_valid_ = true;
  popular_changes_ = 0;
}

bool item_model::set_meta(const item_meta& meta) {
  const key_t key = hash_id(meta.id);
  auto& e = entry(key);
  if (!e.id.empty() && e.id != meta.id) {
    ++collisions_;
    return false;
  }
  e.id = meta.id;
  e.categories = meta.categories;
  e.hidden = meta.hidden;
  e.deleted = false;
  e.extras = meta.has_extras() ? std::make_shared<const item_extras>(item_extras{
                                   meta.timestamp_text, meta.labels, meta.comment})
                               : nullptr;
  mirror(key, e);
  if (meta.timestamp > 0) {
    set_created(key, e, meta.timestamp);
    e.created_by_meta = true;
  }
  popular_valid_ = false;
  return true;
}

void item_model::set_created(key_t key, item_entry& e, std::int64_t ts) {
  if (shard_ == 0) {
    // Always erased (a no-op when absent): an item first seen at time 0 has
    // an index entry (0, key) too.
    by_created_.erase({e.created, key});
    by_created_.insert({ts, key});
  }
  e.created = ts;
}

std::vector<scored> item_model::latest(std::size_t n, const item_filter& f) const {
  std::vector<scored> out;
  // Newest first; equal times in key order, as everywhere else.
  auto it = by_created_.rbegin();
  while (it != by_created_.rend() && out.size() < n) {
    const auto ts = it->first;
    auto group_end = it;
    while (group_end != by_created_.rend() && group_end->first == ts)
      ++group_end;
    std::vector<key_t> keys;
    for (auto g = it; g != group_end; ++g)
      keys.push_back(g->second);
    std::sort(keys.begin(), keys.end());
    for (auto k : keys)
      if (out.size() < n && visible(k, f))
        out.push_back({k, static_cast<double>(ts) / 1000.0});
    it = group_end;
  }
  return out;
}

bool item_model::remove(std::string_view id) {
  auto it = items_.find(hash_id(id));
  if (it == items_.end() || it->second.id != id || it->second.deleted)
    return false;
  it->second.hidden = true;
  it->second.deleted = true;
  mirror(it->first, it->second);
  popular_valid_ = false;
  return true;
}

namespace {

item_meta meta_of(const item_entry& e) {
  item_meta m{e.id, e.categories, e.hidden, e.created, {}, {}, {}};
  if (e.extras) {
    m.timestamp_text = e.extras->timestamp_text;
    m.labels = e.extras->labels;
    m.comment = e.extras->comment;
  }
  return m;
}

std::string cursor_of(key_t key) {
  static constexpr char digits[] = "0123456789abcdef";
  std::string out(16, '0');
  for (int k = 15; k >= 0; --k, key >>= 4)
    out[static_cast<std::size_t>(k)] = digits[key & 15];
  return out;
}

std::optional<key_t> parse_cursor(std::string_view s) {
  if (s.size() != 16)
    return std::nullopt;
  key_t key = 0;
  for (char c : s) {
    int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
    if (d < 0)
      return std::nullopt;
    key = key << 4 | static_cast<key_t>(d);
  }
  return key;
}

}  // namespace

std::optional<item_meta> item_model::meta(std::string_view id) const {
  auto it = items_.find(hash_id(id));
  if (it == items_.end() || it->second.id != id || it->second.deleted)
    return std::nullopt;
  return meta_of(it->second);
}

std::optional<item_page> item_model::page(std::string_view cursor, std::size_t n) const {
  std::optional<key_t> after;
  if (!cursor.empty() && !(after = parse_cursor(cursor)))
    return std::nullopt;
  n = std::max<std::size_t>(n, 1);
  // The n + 1 smallest keys after the cursor (one more tells whether a next
  // page exists), kept in a max-heap.
  std::vector<key_t> keys;
  keys.reserve(n + 1);
  for (const auto& [k, e] : items_) {
    if (e.deleted || e.id.empty() || (after && k <= *after))
      continue;
    if (keys.size() <= n) {
      keys.push_back(k);
      std::push_heap(keys.begin(), keys.end());
    } else if (k < keys.front()) {
      std::pop_heap(keys.begin(), keys.end());
      keys.back() = k;
      std::push_heap(keys.begin(), keys.end());
    }
  }
  std::sort(keys.begin(), keys.end());
  item_page out;
  const bool more = keys.size() > n;
  keys.resize(std::min(keys.size(), n));
  for (auto k : keys)
    out.items.push_back(meta_of(items_.at(k)));
  if (more)
    out.cursor = cursor_of(keys.back());
  return out;
}

const item_entry* item_model::find(key_t key) const {
  auto it = items_.find(key);
  return it == items_.end() ? nullptr : &it->second;
}

const std::string* item_model::name(key_t key) const {
  auto it = items_.find(key);
  return it == items_.end() || it->second.id.empty() ? nullptr : &it->second.id;
}

item_model_stats item_model::stats() const {
  item_model_stats s;
  s.events = events_;
  s.pair_updates = pair_updates_;
  s.prunes = prunes_;
  s.collisions = collisions_;
  s.items = items_.size();
  s.rows = rows_.size();
  std::size_t bytes = items_.capacity() * (sizeof(key_t) + sizeof(item_entry) + 1);
  bytes += by_created_.size() * (sizeof(std::pair<std::int64_t, key_t>) + 32);  // tree nodes
  for (const auto& [k, e] : items_) {
    bytes += e.id.capacity() > 15 ? e.id.capacity() + 1 : 0;
    bytes += e.categories.capacity() * sizeof(std::string);
    if (e.extras)  // counted in every model that shares it
      bytes += sizeof(item_extras) + 32 + e.extras->timestamp_text.capacity() +
               e.extras->labels.capacity() + e.extras->comment.capacity();
  }
  // Not the queries' scratch vectors: a snapshot's serializer thread calls
  // stats() while the shard goes on answering queries, which resize them.
  bytes += index_.capacity() * (sizeof(key_t) + sizeof(std::uint32_t) + 1);
  bytes += records_.capacity() * sizeof(hot_item) + trends_.capacity() * sizeof(double);
  bytes += rows_.capacity() * (sizeof(key_t) + sizeof(row) + 1);
  for (const auto& [k, r] : rows_) {
    s.row_entries += r.size();
    bytes += r.heap_bytes();
  }
  bytes += seq_.heap_bytes();
  s.memory_bytes = bytes;
  return s;
}

}  // namespace rtrec::engine
