#include "actors/checkpointer.hpp"

#include <spdlog/spdlog.h>

#include <chrono>
#include <map>

#include "actors/blocking_call.hpp"
#include "storage/recovery.hpp"
#include "storage/retention.hpp"
#include "storage/snapshot.hpp"

namespace rtrec {

namespace {

// The checkpoint parts of a shard another cluster node hosts: empty shards.
std::string empty_profile_blob(const storage::recovery_options& o) {
  engine::profile_store store{o.model};
  engine::dedup_window window{o.dedup_ids_per_shard, o.dedup_age_ms};
  return storage::encode_profile_snapshot(0, store, window);
}

std::string empty_item_blob(const storage::recovery_options& o, std::uint32_t shard) {
  engine::item_model model{o.model, shard, o.item_shards};
  return storage::encode_item_snapshot(std::vector<std::uint64_t>(o.profile_shards, 0), model);
}

}  // namespace

checkpointer::checkpointer(caf::actor_system& sys, std::vector<profile_shard_actor> profiles,
                           item_writer_actor items, std::uint32_t item_shards,
                           std::shared_ptr<storage::wal> wal, durability_options opts,
                           storage::recovery_options data, std::optional<cluster_link> cluster,
                           std::uint64_t next_id, caf::timespan timeout)
  : sys_(sys),
    profiles_(std::move(profiles)),
    items_(std::move(items)),
    item_shards_(item_shards),
    wal_(std::move(wal)),
    opts_(std::move(opts)),
    data_(std::move(data)),
    cluster_(std::move(cluster)),
    timeout_(timeout),
    next_id_(next_id) {
  if (opts_.snapshot_interval.count() > 0)
    timer_ = std::thread([this] { loop(); });
}

checkpointer::~checkpointer() {
  stop_timer();
}

void checkpointer::stop_timer() {
  {
    std::lock_guard<std::mutex> guard{timer_mtx_};
    timer_stop_ = true;
  }
  timer_cv_.notify_all();
  if (timer_.joinable())
    timer_.join();
}

void checkpointer::loop() {
  std::unique_lock<std::mutex> guard{timer_mtx_};
  for (;;) {
    if (timer_cv_.wait_for(guard, opts_.snapshot_interval, [this] { return timer_stop_; }))
      return;
    guard.unlock();
    (void) run();
    guard.lock();
  }
}

caf::expected<checkpoint_report> checkpointer::run() {
  std::lock_guard<std::mutex> guard{run_mtx_};
  auto r = run_locked();
  if (!r) {
    {
      std::lock_guard<std::mutex> stats_guard{stats_mtx_};
      ++failures_;
    }
    spdlog::error("checkpoint failed: {}; the previous checkpoint and the log stay in place",
                  sys_.render(r.error()));
    return r;
  }
  std::lock_guard<std::mutex> stats_guard{stats_mtx_};
  ++checkpoints_;
  max_pause_ns_ = std::max(max_pause_ns_, r->max_pause_ns);
  max_hold_ns_ = std::max(max_hold_ns_, r->max_hold_ns);
  last_ = *r;
  return r;
}

// Deletes the log segments the oldest kept checkpoint covers.
void checkpointer::release(checkpoint_report& rep) {
  const auto root = storage::snapshot_dir(opts_.data_dir);
  auto ids = storage::list_checkpoints(root);
  if (ids.empty())
    return;
  auto oldest = storage::read_manifest(root, ids.back());
  std::map<std::uint32_t, std::uint64_t> covered;
  for (std::uint32_t p = 0; p < oldest.profile_shards; ++p)
    covered[p] = oldest.profile_seq[p];
  // An item shard whose last metadata operation failed holds less than
  // meta_seq: recovery replays its stream from where it is.
  auto meta = oldest.meta_seq;
  for (auto s : oldest.item_meta_applied)
    meta = std::min(meta, s);
  covered[storage::meta_stream] = meta;
  rep.segments_deleted = wal_->release(covered);
}

// A cluster node keeps a checkpoint at or before what every item shard of
// the cluster holds, and the log after it; then tells the peers (through
// its manager) what its own item shards hold.
void checkpointer::retain_for_cluster(checkpoint_report& rep) {
  const auto root = storage::snapshot_dir(opts_.data_dir);
  storage::item_coverage_map coverage;
  {
    std::lock_guard<std::mutex> guard{cluster_->shared->mtx};
    coverage = cluster_->shared->coverage;
  }
  std::vector<bool> local_profiles;
  for (const auto& p : profiles_)
    local_profiles.push_back(static_cast<bool>(p));
  const auto plan = storage::plan_retention(root, local_profiles, coverage, item_shards_);
  if (plan.complete) {
    storage::prune_checkpoints(root, std::max<std::size_t>(2, opts_.keep_checkpoints), plan.base);
    if (plan.base != 0)
      rep.segments_deleted = wal_->release(plan.covered);
  }
  item_coverage own;
  for (auto& [m, applied] : storage::kept_coverage(root, cluster_->local_items)) {
    own.shards.push_back(m);
    own.applied.push_back(std::move(applied));
  }
  caf::anon_send(cluster_->manager, coverage_atom::value, std::move(own), true);
}

caf::expected<checkpoint_report> checkpointer::run_locked() {
  const auto t0 = std::chrono::steady_clock::now();
  storage::checkpoint_data data;
  auto& m = data.manifest;
  checkpoint_report rep;
  m.id = next_id_;
  m.created_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
                   std::chrono::system_clock::now().time_since_epoch())
                   .count();
  m.profile_shards = static_cast<std::uint32_t>(profiles_.size());
  m.item_shards = item_shards_;
  // 1. Profile shards, one at a time (each pauses only for itself).
  for (auto& p : profiles_) {
    if (!p) {  // another node's shard
      m.profile_seq.push_back(0);
      data.profile_blobs.push_back(empty_profile_blob(data_));
      continue;
    }
    auto r = blocking_call<shard_snapshot>(sys_, timeout_, p, snapshot_atom::value);
    if (!r)
      return std::move(r.error());
    m.profile_seq.push_back(r->seq);
    m.events_applied += r->events;
    m.users += r->count;
    rep.max_pause_ns = std::max(rep.max_pause_ns, r->pause_ns);
    rep.max_hold_ns = std::max(rep.max_hold_ns, r->hold_ns);
    rep.profile_bytes += r->bytes.size();
    data.profile_blobs.push_back(std::move(r->bytes));
  }
  // 2. Every delta of those batches applied on the item side.
  for (auto& p : profiles_)
    if (!p)
      continue;
    else if (auto r = blocking_call<std::uint64_t>(sys_, timeout_, p, flush_atom::value); !r)
      return std::move(r.error());
  // 3. Item shards, between two item metadata writes.
  auto items = blocking_call<item_snapshots>(sys_, timeout_, items_, snapshot_atom::value);
  if (!items)
    return std::move(items.error());
  for (std::uint32_t i = 0; i < items->shards.size(); ++i) {
    auto& s = items->shards[i];
    if (s.bytes.empty())  // another node's shard
      s.bytes = empty_item_blob(data_, i);
    // applied: per profile shard's delta stream, then the metadata stream.
    m.item_meta_applied.push_back(s.applied.size() > m.profile_shards ? s.applied[m.profile_shards]
                                                                      : 0);
    s.applied.resize(m.profile_shards, 0);
    m.item_applied.push_back(std::move(s.applied));
    m.items = std::max(m.items, s.count);
    rep.max_pause_ns = std::max(rep.max_pause_ns, s.pause_ns);
    rep.max_hold_ns = std::max(rep.max_hold_ns, s.hold_ns);
    rep.item_bytes += s.bytes.size();
    data.item_blobs.push_back(std::move(s.bytes));
  }
  m.meta_seq = items->meta_seq;
  // 4. Write, then drop what the oldest kept checkpoint makes unnecessary.
  const auto root = storage::snapshot_dir(opts_.data_dir);
  try {
    rep.bytes = storage::write_checkpoint(root, data, opts_.sync == storage::sync_policy::fsync);
    ++next_id_;
    if (cluster_) {
      retain_for_cluster(rep);
    } else {
      storage::prune_checkpoints(root, std::max<std::size_t>(2, opts_.keep_checkpoints));
      release(rep);
    }
  } catch (const std::exception& e) {
    return caf::make_error(error_code::shard_unavailable, e.what());
  }
  rep.id = m.id;
  rep.users = m.users;
  rep.items = m.items;
  rep.total_ms =
    std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
  spdlog::info("checkpoint {} written: {} bytes ({} profile, {} item) in {:.0f} ms, longest "
               "shard pause {:.2f} ms, writes held up to {:.0f} ms, {} log segments deleted",
               rep.id, rep.bytes, rep.profile_bytes, rep.item_bytes, rep.total_ms,
               static_cast<double>(rep.max_pause_ns) / 1e6,
               static_cast<double>(rep.max_hold_ns) / 1e6, rep.segments_deleted);
  return rep;
}

void checkpointer::fill(durability_stats& s) const {
  std::lock_guard<std::mutex> guard{stats_mtx_};
  s.checkpoints = checkpoints_;
  s.checkpoint_failures = failures_;
  s.last_checkpoint = last_;
  s.max_pause_ns = max_pause_ns_;
  s.max_hold_ns = max_hold_ns_;
}

}  // namespace rtrec
