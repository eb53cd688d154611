// The item side's view of the profile shards' delta streams: for each
// stream, how far it is applied, and whether a delta batch is the next one,
// a duplicate, or reveals a gap (docs/replication.md, "Stage 1: durable
// nodes"). Plain data; the item shard actor keeps one.
#pragma once

#include <algorithm>
#include <cstdint>
#include <vector>

namespace rtrec::engine {

enum class delta_verdict {
  apply,      ///< the next batch of its stream
  duplicate,  ///< already applied (a resend, a replay, or a marker with nothing new)
  gap,        ///< batches before it are missing: resync the stream
};

class delta_streams {
 public:
  /// `applied[s]`: every delta batch of stream s up to that seq is applied.
  explicit delta_streams(std::vector<std::uint64_t> applied = {}) : applied_(std::move(applied)) {}

  /// What to do with batch `seq` of stream `source` whose predecessor in the
  /// stream is `prev` (0: unknown, no gap check).
  delta_verdict judge(std::uint32_t source, std::uint64_t prev, std::uint64_t seq) const {
    const auto a = applied(source);
    if (prev > a)
      return delta_verdict::gap;
    return seq <= a ? delta_verdict::duplicate : delta_verdict::apply;
  }

  /// Stream `source` is applied up to `seq` (never moves back).
  void advance(std::uint32_t source, std::uint64_t seq) {
    if (source >= applied_.size())
      applied_.resize(source + 1, 0);
    applied_[source] = std::max(applied_[source], seq);
  }

  std::uint64_t applied(std::uint32_t source) const {
    return source < applied_.size() ? applied_[source] : 0;
  }
  const std::vector<std::uint64_t>& applied() const noexcept { return applied_; }

  /// Whether a resync of `source` is asked and not answered yet.
  bool resyncing(std::uint32_t source) const {
    return source < resyncing_.size() && resyncing_[source];
  }
  bool any_resyncing() const {
    for (bool on : resyncing_)
      if (on)
        return true;
    return false;
  }
  void set_resyncing(std::uint32_t source, bool on) {
    if (source >= resyncing_.size())
      resyncing_.resize(source + 1, false);
    resyncing_[source] = on;
  }

 private:
  std::vector<std::uint64_t> applied_;
  std::vector<bool> resyncing_;
};

}  // namespace rtrec::engine
