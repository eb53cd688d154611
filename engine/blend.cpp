// blend_scores(), and the item model's blended query: the co-occurrence
// sums of candidates() plus the sequential rules' sums and the trend,
// combined by blend_factors (the formula, engine/blend.hpp).
#include "engine/blend.hpp"

#include <algorithm>

#include "engine/item_model.hpp"
#include "engine/top_k.hpp"

namespace rtrec::engine {

void blend_scores(const std::vector<blend_parts>& parts, double cf_weight, double seq_weight,
                  double trend_weight, std::vector<scored>& out) {
  double max_cf = 0.0, max_seq = 0.0, max_trend = 0.0;
  for (const auto& p : parts) {
    max_cf = std::max(max_cf, p.cf);
    max_seq = std::max(max_seq, p.seq);
    max_trend = std::max(max_trend, p.trend);
  }
  const blend_factors f{cf_weight, seq_weight, trend_weight, max_cf, max_seq, max_trend};
  out.reserve(out.size() + parts.size());
  for (const auto& p : parts)
    out.push_back({p.key, f.score(p.cf, p.seq, p.trend)});
}

void item_model::blended_candidates(const score_query& q, std::vector<scored>& out) const {
  if (!cfg_.blend_on()) {
    candidates(q, out);
    return;
  }
  // The last shard of a chained query with nothing before it: the one path
  // the recommenders and the reference model take.
  shard_scores whole;
  blended_partials(q, shard_scores{}, true, whole);
  out.insert(out.end(), whole.candidates.begin(), whole.candidates.end());
}

void item_model::blended_partials(const score_query& q, const shard_scores& up, bool last,
                                  shard_scores& out, std::size_t best) const {
  blend_sums(q, up);
  const hot_item* const base = records_.data();
  double* const seq = seq_acc_.data();
  if (!last) {
    // Every candidate's partial sums, for the next shard. seq_acc_ goes
    // back to all zeros as it is read.
    out.candidates.reserve(out.candidates.size() + touched_.size() + passed_.size());
    out.seq.reserve(out.seq.size() + touched_.size() + passed_.size());
    for (const hot_item* h : touched_) {
      const auto x = static_cast<std::size_t>(h - base);
      if (h->mark == acc_epoch_) {
        out.candidates.push_back({h->key, h->acc});
        out.seq.push_back(seq[x]);
      }
      seq[x] = 0.0;
    }
    for (const auto& p : passed_) {
      out.candidates.push_back({p.key, p.cf});
      out.seq.push_back(p.seq);
    }
    return;
  }
  // The last shard: the sums are complete. One pass over the touched
  // records gathers each candidate's three signals into a contiguous list
  // (and each signal's maximum); the blended scores are then computed from
  // that list. Reading the records, rule sums and trends (three scattered
  // arrays) twice missed the cache twice per candidate: with a query's
  // thousand-odd candidates they do not stay in the L1 between the passes.
  const double* const trends = trends_.data();
  if (cfg_.trend_on())
    for (auto& p : passed_)  // rare: upstream candidates this shard never saw
      if (auto it = items_.find(p.key); it != items_.end())
        p.trend = it->second.trend;
  // Scratch per thread (a model's queries never run concurrently, and
  // item_model.hpp stays as it is): cleared, never shrunk.
  thread_local std::vector<blend_parts> parts;
  parts.clear();
  parts.reserve(touched_.size() + passed_.size());
  double max_cf = 0.0, max_seq = 0.0, max_trend = 0.0;
  // The rule sums and trends of `ahead` candidates on are requested early,
  // so the misses overlap.
  constexpr std::size_t ahead = 8;
  const std::size_t nt = touched_.size();
  for (std::size_t k = 0; k < nt; ++k) {
    if (k + ahead < nt) {
      const auto y = static_cast<std::size_t>(touched_[k + ahead] - base);
      __builtin_prefetch(seq + y);
      __builtin_prefetch(trends + y);
    }
    const hot_item* h = touched_[k];
    const auto x = static_cast<std::size_t>(h - base);
    if (h->mark == acc_epoch_) {
      parts.push_back({h->key, h->acc, seq[x], trends[x]});
      max_cf = std::max(max_cf, h->acc);
      max_seq = std::max(max_seq, seq[x]);
      max_trend = std::max(max_trend, trends[x]);
    }
    seq[x] = 0.0;
  }
  for (const auto& p : passed_) {
    parts.push_back(p);
    max_cf = std::max(max_cf, p.cf);
    max_seq = std::max(max_seq, p.seq);
    max_trend = std::max(max_trend, p.trend);
  }
  const blend_factors f{cfg_.cf_weight, cfg_.seq_weight, cfg_.trend_weight,
                        max_cf,         max_seq,         max_trend};
  top_k sink{out.candidates, out.candidates.size(), best};
  if (best == 0)
    out.candidates.reserve(out.candidates.size() + parts.size());
  for (const auto& p : parts)
    sink.offer(p.key, f.score(p.cf, p.seq, p.trend));
}

void item_model::blend_sums(const score_query& q, const shard_scores& up) const {
  start_sums();
  find_query_rows(q);
  score_query_rows(q);
  if (seq_acc_.size() < records_.size())
    seq_acc_.resize(records_.size(), 0.0);
  if (cfg_.seq_on())
    score_query_rules(q);
  // The earlier shards' partials: added to this shard's sums, or passed on
  // as they are when this shard has no record of the item (unless excluded).
  auto excluded = [&](key_t key) {
    return std::find(q.exclude.begin(), q.exclude.end(), key) != q.exclude.end();
  };
  passed_.clear();
  find_upstream(up.candidates);
  for (std::size_t m = 0; m < up.candidates.size(); ++m) {
    const scored& u = up.candidates[m];
    const double seq = m < up.seq.size() ? up.seq[m] : 0.0;
    const std::uint32_t x = upstream_records_[m];
    if (x != no_record && records_[x].known) {
      add_to_sum(records_[x], u.score);
      seq_acc_[x] += seq;
    } else if (!excluded(u.key)) {
      passed_.push_back({u.key, u.score, seq, 0.0});
    }
  }
  for (const key_t key : q.exclude)
    if (auto x = index_.find(key); x != index_.end())
      records_[x->second].mark = 0;
}

double item_model::rule(key_t from, key_t to) const {
  const rule_row* r = seq_.find(from);
  auto x = index_.find(to);
  if (r == nullptr || x == index_.end())
    return 0.0;
  const std::size_t at = r->targets.find(x->second);
  return at < r->targets.size() ? r->targets.weight(at) : 0.0;
}

void item_model::score_query_rules(const score_query& q) const {
  // As score_query_rows() does for co-occurrence rows: the rows' table
  // slots requested together, the rows found, then each row's targets
  // scored while the next row is pulled in.
  const std::size_t nq = std::min(q.items.size(), q.weights.size());
  for (std::size_t n = 0; n < nq; ++n)
    if (owns(q.items[n]))
      seq_.prefetch(q.items[n]);
  query_rules_.clear();
  for (std::size_t n = 0; n < nq; ++n) {
    if (!owns(q.items[n]))
      continue;
    const rule_row* r = seq_.find(q.items[n]);
    if (r != nullptr && r->total > 0.0)  // find() answers no empty row
      query_rules_.push_back({r, q.weights[n] / r->total});
  }
  const hot_item* const records = records_.data();
  double* const seq = seq_acc_.data();
  const bool filtered = !q.filter.category.empty();
  if (!query_rules_.empty())
    query_rules_.front().r->targets.prefetch();
  for (std::size_t n = 0; n < query_rules_.size(); ++n) {
    if (n + 1 < query_rules_.size())
      query_rules_[n + 1].r->targets.prefetch();
    const neighbor_row& t = query_rules_[n].r->targets;
    const double w = query_rules_[n].w;
    const std::uint32_t* nb = t.neighbors();
    const double* wt = t.weights();
    // Every target's record and sum first (scattered, as a row's
    // neighbors): the requests overlap, where the loop would wait on each.
    for (std::size_t e = 0; e < t.size(); ++e) {
      __builtin_prefetch(records + nb[e]);
      __builtin_prefetch(seq + nb[e]);
    }
    for (std::size_t e = 0; e < t.size(); ++e) {
      const hot_item& h = records[nb[e]];
      if (h.hidden || !h.known)
        continue;
      if (filtered) {
        auto eit = items_.find(h.key);
        if (eit == items_.end()
            || std::find(eit->second.categories.begin(), eit->second.categories.end(),
                         q.filter.category) == eit->second.categories.end())
          continue;
      }
      add_to_sum(h, 0.0);  // counts h as a candidate
      seq[nb[e]] += w * wt[e];
    }
  }
}

}  // namespace rtrec::engine
