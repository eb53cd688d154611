// blend_scores(), and the item model's blended query: the co-occurrence
// sums of candidates() plus the sequential rules' sums and the trend,
// combined by blend_scores().
#include "engine/blend.hpp"

#include <algorithm>

#include "engine/item_model.hpp"

namespace rtrec::engine {

void blend_scores(const std::vector<blend_parts>& parts, double cf_weight, double seq_weight,
                  double trend_weight, std::vector<scored>& out) {
  double max_cf = 0.0, max_seq = 0.0, max_trend = 0.0;
  for (const auto& p : parts) {
    max_cf = std::max(max_cf, p.cf);
    max_seq = std::max(max_seq, p.seq);
    max_trend = std::max(max_trend, p.trend);
  }
  const double a = max_cf > 0.0 ? cf_weight / max_cf : 0.0;
  const double b = max_seq > 0.0 ? seq_weight / max_seq : 0.0;
  const double c = max_trend > 0.0 ? trend_weight / max_trend : 0.0;
  out.reserve(out.size() + parts.size());
  for (const auto& p : parts)
    out.push_back({p.key, a * p.cf + b * p.seq + c * p.trend});
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
                                  shard_scores& out) const {
  std::vector<blend_parts> parts;
  blend_sums(q, &up, parts);
  if (last) {
    add_trend(parts);
    blend_scores(parts, cfg_.cf_weight, cfg_.seq_weight, cfg_.trend_weight, out.candidates);
    return;
  }
  out.candidates.reserve(out.candidates.size() + parts.size());
  out.seq.reserve(out.seq.size() + parts.size());
  for (const auto& p : parts) {
    out.candidates.push_back({p.key, p.cf});
    out.seq.push_back(p.seq);
  }
}

void item_model::blend_sums(const score_query& q, const shard_scores* up,
                            std::vector<blend_parts>& parts) const {
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
  std::vector<blend_parts> passed;
  if (up != nullptr)
    for (std::size_t m = 0; m < up->candidates.size(); ++m) {
      const scored& u = up->candidates[m];
      const double seq = m < up->seq.size() ? up->seq[m] : 0.0;
      auto x = index_.find(u.key);
      if (x != index_.end() && records_[x->second].known) {
        add_to_sum(records_[x->second], u.score);
        seq_acc_[x->second] += seq;
      } else if (!excluded(u.key)) {
        passed.push_back({u.key, u.score, seq, 0.0});
      }
    }
  for (const key_t key : q.exclude)
    if (auto x = index_.find(key); x != index_.end())
      records_[x->second].mark = 0;
  parts.reserve(touched_.size() + passed.size());
  const hot_item* const base = records_.data();
  for (const hot_item* h : touched_) {
    double& seq = seq_acc_[static_cast<std::size_t>(h - base)];
    if (h->mark == acc_epoch_)
      parts.push_back({h->key, h->acc, seq, 0.0});
    seq = 0.0;  // the scratch is all zeros between queries
  }
  parts.insert(parts.end(), passed.begin(), passed.end());
}

void item_model::add_trend(std::vector<blend_parts>& parts) const {
  if (!cfg_.trend_on())
    return;
  // Every shard keeps every item's trend (the replicated table).
  for (auto& p : parts)
    if (auto it = items_.find(p.key); it != items_.end())
      p.trend = it->second.trend;
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
  const std::size_t nq = std::min(q.items.size(), q.weights.size());
  const hot_item* const records = records_.data();
  const bool filtered = !q.filter.category.empty();
  for (std::size_t n = 0; n < nq; ++n) {
    if (!owns(q.items[n]))
      continue;
    const rule_row* r = seq_.find(q.items[n]);
    if (r == nullptr || !(r->total > 0.0))
      continue;
    const double w = q.weights[n] / r->total;
    const std::uint32_t* nb = r->targets.neighbors();
    const double* wt = r->targets.weights();
    for (std::size_t e = 0; e < r->targets.size(); ++e) {
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
      seq_acc_[nb[e]] += w * wt[e];
    }
  }
}

}  // namespace rtrec::engine
