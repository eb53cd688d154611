// The item side of one item shard: item-to-item co-occurrence rows for the
// items this shard owns, plus a full replica of every item's statistics
// (norm, popularity, name, categories, hidden flag) so that similarity and
// popularity are computed locally. Every item shard receives every
// item_delta_batch; it updates the replicated table for all events and the
// rows only for the items it owns.
//
// Time decay is "forward decay" (Cormode et al. 2009): an event at time t adds
// w * exp(lambda * (t - landmark)), so no entry needs a timestamp, values from
// any time are comparable, and ratios (cosine) need no decay at all. The
// landmark moves forward in fixed steps with a rescale when exponents grow.
//
// Per event: O(pair_window) row updates; each row holds at most
// 1.5 * neighbors_max entries (pruned to the strongest neighbors_max), as
// packed arrays of neighbor record indices and weights (neighbor_row.hpp),
// so a query reads each of its rows as two short contiguous arrays and each
// neighbor's scoring record by index, with no hash probe.
#pragma once

#include <absl/container/flat_hash_map.h>
#include <absl/container/flat_hash_set.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <vector>

#include "engine/blend.hpp"
#include "engine/config.hpp"
#include "engine/model_types.hpp"
#include "engine/neighbor_row.hpp"
#include "engine/sequence_rules.hpp"

namespace rtrec::engine {

struct top_k;  // engine/top_k.hpp

/// Exponential forward decay with a movable landmark.
class forward_decay {
 public:
  explicit forward_decay(double half_life_s = 0.0);
  /// Returns the multiplier for an event at `ts_ms`, moving the landmark (and
  /// reporting the rescale factor through `rescale`, 1.0 if none) when needed.
  double weight(std::int64_t ts_ms, double& rescale);
  /// Returns the factor that turns a stored value into its value at `now_ms`.
  double to_present(std::int64_t now_ms) const;
  bool enabled() const noexcept { return lambda_ > 0.0; }

 private:
  friend class item_model;  // save() / load() copy the state

  double lambda_ = 0.0;       // per millisecond
  std::int64_t landmark_ = 0;
  std::int64_t step_ = 0;     // ms between landmarks
  bool started_ = false;
  // The last weight() computed, for the next event at the same time (a
  // batch's events often share one): a cache of exp(), not state (neither
  // saved nor compared; valid while memo_landmark_ == landmark_).
  std::int64_t memo_ts_ = 0;
  std::int64_t memo_landmark_ = 0;
  double memo_weight_ = 0.0;
  bool memo_valid_ = false;
};

/// What only some items have (item_meta::has_extras()): kept behind a
/// pointer, null for the items without, so the others pay 16 bytes a shard.
struct item_extras {
  std::string timestamp_text;
  std::string labels;
  std::string comment;
};

struct item_entry {
  /// norm^(1 - similarity_alpha), the item's factor as a neighbor in sim();
  /// derived from norm (kept with it, never saved) so queries call no pow().
  /// Queries read it (and `hidden`) from the model's compact copy.
  double norm_pow = 0.0;
  bool hidden = false;
  bool created_by_meta = false;
  /// Deleted through remove(): hidden, and unknown to item queries (meta(),
  /// page()) until set_meta() brings it back.
  bool deleted = false;
  /// The index of the item's scoring record (item_model's own bookkeeping,
  /// set when the entry is made; in the padding after the flags).
  std::uint32_t record = 0;
  std::string id;
  /// The given Timestamp text, Labels and Comment; null when none was given.
  /// Never changed, only replaced (by set_meta()): copies of a model share it.
  std::shared_ptr<const item_extras> extras;
  std::vector<std::string> categories;
  double norm = 0.0;        ///< decayed sum of squared first-interaction weights
  double popularity = 0.0;  ///< decayed sum of positive event weights
  /// The blend's trend: decayed sum of positive event weights with
  /// blend_trend_half_life_s (kept only when config().trend_on()).
  double trend = 0.0;
  std::uint64_t events = 0;
  std::int64_t last_timestamp = 0;
  /// When the item appeared: its metadata timestamp when the application set
  /// one, else the earliest time of its positive events (whatever order they
  /// arrive in). 0 = not yet known.
  std::int64_t created = 0;
};

class item_model {
 public:
  /// A model for shard `shard` of `shards` (shards >= 1, shard < shards).
  item_model(model_config cfg, std::uint32_t shard = 0, std::uint32_t shards = 1);

  bool owns(key_t item) const noexcept { return shard_of(item, shards_) == shard_; }

  /// Applies one batch from a profile store.
  void apply(const item_delta_batch& batch) { apply(batch, 0, batch.size()); }
  /// Applies events [from, to) of `batch` (to clamped to its size): a batch
  /// applied as consecutive ranges from 0 to its size, in order, leaves
  /// exactly the state one apply(batch) leaves (its names are learned with
  /// the range from 0, the popular cache refreshed after the range that
  /// ends it), so an item shard can let queries in between ranges.
  void apply(const item_delta_batch& batch, std::size_t from, std::size_t to);

  /// Appends to `out` the partial scores of candidates from the rows this
  /// shard owns, for the query's items: sum over i of w_i * sim(i, j), added
  /// in query order. One entry per candidate (in no particular order); hidden
  /// items, items failing the filter and the query's `exclude` items are
  /// left out. Sums in each item's
  /// compact scoring record (no hash insert per contribution), so it must not
  /// run concurrently with another query or any change on the same model
  /// (stats() and save() may run meanwhile: they do not read the records'
  /// sums).
  void candidates(const score_query& q, std::vector<scored>& out) const {
    candidates(q, out, {});
  }
  /// The same, then adds `upstream` (earlier shards' summed partial scores,
  /// one entry per candidate) to this shard's sums: out = own + upstream.
  /// With `best` > 0, appends only the `best` best of those candidates (by
  /// better(); all of them when fewer), in no particular order.
  void candidates(const score_query& q, std::vector<scored>& out,
                  const std::vector<scored>& upstream, std::size_t best = 0) const;
  /// The same sums added into `out`, which may hold candidates from earlier
  /// calls (equal keys are summed: out[j] += this shard's partial).
  void candidates(const score_query& q, absl::flat_hash_map<key_t, double>& out) const;
  /// With the blend on (config().blend_on()): appends to `out` every
  /// candidate of the query with its blended score (engine/blend.hpp: cf,
  /// sequential rules and trend, each divided by its maximum over these
  /// candidates), leaving out what candidates() leaves out. The scores are
  /// complete only on a model that owns every row (one shard). With the blend
  /// off it is candidates(q, out). Same concurrency rule as candidates().
  /// Defined in blend.cpp.
  void blended_candidates(const score_query& q, std::vector<scored>& out) const;
  /// One shard of a chained blended query (several item shards): `up` holds
  /// the earlier shards' partial sums (up.candidates: co-occurrence, up.seq:
  /// rules, parallel; both empty for the first shard). This shard adds its
  /// own rows' and rules' partials. Not `last`: appends every candidate to
  /// out.candidates with its co-occurrence sum and its rules' sum to
  /// out.seq. `last`: the sums are complete, and out.candidates gets the
  /// blended scores (out.seq stays empty): every candidate, or with `best`
  /// > 0 only the `best` best (in no particular order). Leaves out
  /// q.exclude.
  void blended_partials(const score_query& q, const shard_scores& up, bool last,
                        shard_scores& out, std::size_t best = 0) const;
  /// The sequential rules this shard keeps (empty with seq_weight 0).
  const sequence_rules& rules() const noexcept { return seq_; }
  /// Returns the evidence of rule from -> to in stored (forward-decayed)
  /// units, 0 when this shard keeps no such rule. Defined in blend.cpp.
  double rule(key_t from, key_t to) const;

  /// Returns up to n items most similar to `item` (must be owned by this
  /// shard to give results), best first. Empty for an unknown item.
  std::vector<scored> similar(key_t item, std::size_t n, const item_filter& f) const;

  /// Returns up to n most popular items (scores decayed to the latest event
  /// time seen), best first, skipping keys in `exclude` and hidden items.
  std::vector<scored> popular(std::size_t n, const item_filter& f,
                              const absl::flat_hash_set<key_t>& exclude = {});

  /// Returns up to n visible items, newest first by their `created` time
  /// (ties: key ascending), with the creation time in seconds as score. Only
  /// shard 0 keeps the index (other shards return an empty list).
  std::vector<scored> latest(std::size_t n, const item_filter& f) const;

  /// Sets an item's metadata (creates the item if needed; a timestamp of 0
  /// keeps the current creation time). Returns false if the id's key belongs
  /// to a different string.
  bool set_meta(const item_meta& meta);
  /// Deletes an item: hidden (never recommended) and unknown to meta() and
  /// page() until set_meta() brings it back explicitly. Returns false if
  /// unknown or already deleted.
  bool remove(std::string_view id);

  /// Returns the metadata of item `id`; nullopt if unknown or deleted.
  /// `timestamp` is the creation time.
  std::optional<item_meta> meta(std::string_view id) const;
  /// Returns up to n items (n >= 1) after `cursor` in key order, deleted
  /// items left out, with the cursor of the next page (empty when no item
  /// follows). An empty cursor starts at the first item; a cursor is 16 hex
  /// digits (the last key of a page), so paging is stable while items come
  /// and go: each item that exists all along is listed exactly once.
  /// Returns nullopt for a malformed cursor. O(items) per page.
  std::optional<item_page> page(std::string_view cursor, std::size_t n) const;

  /// Returns the item's name, or nullptr if unknown.
  const std::string* name(key_t key) const;
  const item_entry* find(key_t key) const;
  bool visible(key_t key, const item_filter& f) const;

  std::int64_t latest_timestamp() const noexcept { return latest_ts_; }
  /// True when the next popular() without a category would recompute the
  /// popular cache (it changes the model); false when popular() only reads.
  bool popular_refresh_due() const noexcept {
    return !popular_valid_ || popular_changes_ > cfg_.popular_refresh_events;
  }
  /// Counts and memory. Reads no query scratch, so it (like save()) may run
  /// on another thread while candidates() and the other queries run.
  item_model_stats stats() const;
  const model_config& config() const noexcept { return cfg_; }

  /// Appends a snapshot of the whole state to `out`: items, rows, the
  /// creation index, both decay states, counters and the popular cache (so
  /// popular() answers after load() exactly as it would have), plus shard()
  /// and shards() to check on load; the config is not included. Columns
  /// in the codec of engine/binary_codec.hpp, in native byte order: read it
  /// back with load() of the same build. Throws only std::bad_alloc (`out` may
  /// then hold part of a snapshot). Defined in serialization.cpp.
  void save(std::string& out) const;

  /// Replaces the whole state with the snapshot `bytes` (exactly one save()
  /// output). The model must have been built with the config of the model
  /// that saved it; afterwards every query and every further batch behaves
  /// exactly (bit for bit) as on the saved model. Throws std::runtime_error
  /// naming the problem when `bytes` is empty, truncated, too long or
  /// malformed, or was saved by a model of another shard or shard count; the
  /// model is then unchanged.
  void load(std::string_view bytes);

  /// Returns the shard index given to the constructor.
  std::uint32_t shard() const noexcept { return shard_; }
  /// Returns the shard count given to the constructor (at least 1).
  std::uint32_t shards() const noexcept { return shards_; }

 private:
  /// A row: neighbors' record indices (in records_) and co-occurrence
  /// weights.
  using row = neighbor_row;
  /// Adds inc to r's entry for record `other`, pruning r when it outgrows
  /// 1.5 * neighbors_max.
  void bump(row& r, std::uint32_t other, double inc);
  /// Returns the index of `key`'s scoring record, creating an unknown one
  /// (skipped by every query until entry() makes it known) if new.
  std::uint32_t record(key_t key);
  /// Returns the entry of `key`, creating it (and making its record known)
  /// if new.
  item_entry& entry(key_t key);
  /// Copies what the scoring loop reads of `key`'s entry `e` into its record
  /// (and the record's index into e.record).
  void mirror(key_t key, item_entry& e) {
    e.record = record(key);
    auto& h = records_[e.record];
    h.norm_pow = e.norm_pow;
    h.hidden = e.hidden;
    h.known = true;
    trends_[e.record] = e.trend;
  }
  /// Rebuilds the records from items_ and the rows (keyed by neighbor key,
  /// as in a snapshot) into rows_.
  void rebuild_records(absl::flat_hash_map<key_t, absl::flat_hash_map<key_t, double>> rows);
  void rescale_rows(double factor);
  void rescale_items_pop(double factor);
  void rescale_items_norm(double factor);
  void rescale_items_trend(double factor);
  /// Adds the rules c -> j for event k's first seq_window context items c.
  void add_rules(const item_delta_batch& b, std::uint32_t jx, double inc, std::uint32_t ctx_begin,
                 std::uint32_t ctx_end);
  /// sim(i, j) = c / (norm_i^alpha * norm_j^(1-alpha)), from the two factors.
  static double sim(double c, double ni_alpha, double nj_pow) {
    return ni_alpha > 0.0 && nj_pow > 0.0 ? c / (ni_alpha * nj_pow) : 0.0;
  }
  /// norm^alpha (the query item's factor); 0 for a norm <= 0.
  double norm_alpha(double norm) const;
  /// Sets e.norm and its derived norm_pow.
  void set_norm(item_entry& e, double norm) const;
  void refresh_popular();
  void set_created(key_t key, item_entry& e, std::int64_t ts);

  model_config cfg_;
  std::uint32_t shard_;
  std::uint32_t shards_;
  forward_decay cooc_decay_;
  forward_decay trend_decay_;
  forward_decay blend_trend_decay_;
  sequence_rules seq_;
  absl::flat_hash_map<key_t, item_entry> items_;
  absl::flat_hash_map<key_t, row> rows_;
  // One scoring record per key seen as an item or as a row's neighbor,
  // numbered densely in first-seen order (never removed: items are only
  // hidden), so a row names its neighbors by index and candidates() reads
  // a neighbor's record with no hash lookup. A record holds what the
  // scoring loop reads (items_ slots are ~120 bytes, these 32) and the
  // query's running sum: acc and mark are scratch of candidates() (valid
  // while mark == acc_epoch_). Known records mirror items_ (entry(),
  // mirror(), rebuild_records() keep them in step); unknown ones (a row's
  // neighbor with no entry yet) are skipped as if hidden.
  struct hot_item {
    key_t key = 0;
    double norm_pow = 0.0;
    mutable double acc = 0.0;
    mutable std::uint32_t mark = 0;
    bool known = false;
    bool hidden = false;
  };
  absl::flat_hash_map<key_t, std::uint32_t> index_;
  std::vector<hot_item> records_;
  // Each record's item trend (a copy of item_entry::trend, kept in step by
  // mirror(), apply_event() and rescale_items_trend()): the blended query
  // reads it per candidate from this dense array instead of items_ (0.0 for
  // unknown records and with the trend off).
  std::vector<double> trends_;
  mutable std::uint32_t acc_epoch_ = 0;
  // Scratch of candidates(): the records this query touched, in first-touch
  // order (no state: reset before each use, kept to reuse the allocation).
  mutable std::vector<const hot_item*> touched_;
  // Scratch of candidates(): the query's rows (null: not owned, empty or
  // of an unknown item) with their items' norm^alpha.
  struct query_row {
    const row* r;
    double ni_alpha;
  };
  mutable std::vector<query_row> query_rows_;
  // candidates(), step by step: start the sums, find the query's rows, add
  // each row's (or its strongest neighbors') contributions, add the upstream
  // partials, then emit every touched sum (all, or the best into a heap).
  void start_sums() const;
  void add_to_sum(const hot_item& h, double x) const;
  void find_query_rows(const score_query& q) const;
  void score_query_rows(const score_query& q) const;
  void score_row(const row& r, double w, double ni_alpha, const item_filter& f) const;
  void score_strongest(const row& r, std::size_t k, double w, double ni_alpha,
                       const item_filter& f) const;
  template <class Neighbor, class Weight>
  void score_entries(std::size_t count, Neighbor neighbor, Weight weight, double w,
                     double ni_alpha, const item_filter& f) const;
  // The record of every upstream candidate (upstream_records_[m], or
  // no_record), found with their cache misses overlapped.
  static constexpr std::uint32_t no_record = ~std::uint32_t{0};
  mutable std::vector<std::uint32_t> upstream_records_;
  void find_upstream(const std::vector<scored>& upstream) const;
  void add_upstream(const score_query& q, const std::vector<scored>& upstream,
                    top_k& sink) const;
  void emit_sums(top_k& sink) const;
  // blended_candidates()' scratch: the rules' sum per record (0.0 for every
  // record between queries), and its step adding the rules of the query's
  // items (blend.cpp).
  mutable std::vector<double> seq_acc_;
  // Scratch of score_query_rules(): the query's rule rows with their
  // weights (the query item's weight / the row's total).
  struct query_rule {
    const rule_row* r;
    double w;
  };
  mutable std::vector<query_rule> query_rules_;
  void score_query_rules(const score_query& q) const;
  // The blended query's sums: this shard's rows and rules plus `up`'s
  // partials, in the touched records (acc, seq_acc_); the upstream
  // candidates this shard has no record of (not excluded) go to
  // passed_ (trend 0.0) (blend.cpp).
  mutable std::vector<blend_parts> passed_;
  void blend_sums(const score_query& q, const shard_scores& up) const;
  // apply(), step by step.
  void learn_ids(const item_delta_batch& b);
  void prefetch_ahead(const item_delta_batch& b, std::size_t k, std::size_t pipelined) const;
  void apply_event(const item_delta_batch& b, std::size_t k, std::uint32_t ctx_begin,
                   std::uint32_t ctx_end);
  // (created, key) of every item with a known creation time; shard 0 only.
  std::set<std::pair<std::int64_t, key_t>> by_created_;
  std::int64_t latest_ts_ = 0;
  std::uint64_t events_ = 0;
  std::uint64_t pair_updates_ = 0;
  std::uint64_t prunes_ = 0;
  // Scratch of candidates() when score_neighbors bounds a row (no state:
  // cleared before each use, kept only to reuse its allocation).
  mutable std::vector<std::pair<std::uint32_t, double>> strongest_;
  std::uint64_t collisions_ = 0;
  // Popular cache.
  std::vector<scored> popular_cache_;
  bool popular_complete_ = false;  // cache holds every eligible item
  std::uint64_t popular_changes_ = 0;
  bool popular_valid_ = false;
};

inline void item_model::add_to_sum(const hot_item& h, double x) const {
  if (h.mark != acc_epoch_) {  // first addition: the sum starts at 0.0
    h.mark = acc_epoch_;
    h.acc = 0.0;
    touched_.push_back(&h);
  }
  h.acc += x;
}


}  // namespace rtrec::engine
