// The blend: one score per candidate from three signals, each divided by its
// maximum over the query's candidates so that the weights mean the same on
// any data set whatever the scale of its counts:
//
//   score(j) = w_cf * cf(j) / max cf  +  w_seq * seq(j) / max seq  +  w_trend * trend(j) / max trend
//
//   cf     item-to-item: sum over the user's recent items i of q_i * sim(i, j)
//   seq    sequential rules: sum over recent i of q_i * rule(i -> j) / total(i)
//          (engine/sequence_rules.hpp)
//   trend  the candidate's popularity with a short half-life
//
// A term whose maximum is not positive adds 0. The candidates are those of
// cf and seq (trend only reorders them: it brings in no item of its own, so
// a query's cost stays bounded by its rows). With w_seq = w_trend = 0 the
// blend is off (w_cf = 1) and scores are cf unchanged (model_config::blend_on()).
#pragma once

#include <vector>

#include "engine/model_types.hpp"

namespace rtrec::engine {

/// One candidate's signals before blending.
struct blend_parts {
  key_t key = 0;
  double cf = 0.0;
  double seq = 0.0;
  double trend = 0.0;
};

/// The formula's factors once the maxima are known: w / max per signal (0
/// when the max is not positive). score() is the formula, the one place it
/// is computed.
struct blend_factors {
  blend_factors(double cf_weight, double seq_weight, double trend_weight, double max_cf,
                double max_seq, double max_trend)
      : cf(max_cf > 0.0 ? cf_weight / max_cf : 0.0),
        seq(max_seq > 0.0 ? seq_weight / max_seq : 0.0),
        trend(max_trend > 0.0 ? trend_weight / max_trend : 0.0) {}
  double score(double c, double s, double t) const noexcept { return cf * c + seq * s + trend * t; }
  double cf, seq, trend;
};

/// Appends to `out` one entry per element of `parts` (same order) with the
/// blended score of the formula above.
void blend_scores(const std::vector<blend_parts>& parts, double cf_weight, double seq_weight,
                  double trend_weight, std::vector<scored>& out);

}  // namespace rtrec::engine
