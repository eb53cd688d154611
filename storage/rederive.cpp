#include "storage/rederive.hpp"

#include <memory>
#include <stdexcept>
#include <string>

#include "engine/idempotent_apply.hpp"
#include "storage/profile_replay.hpp"
#include "storage/snapshot.hpp"
#include "storage/wal.hpp"

namespace rtrec::storage {

namespace {

struct shard_state {
  engine::profile_store store;
  engine::dedup_window window;
  std::uint64_t seq = 0;  ///< last log seq the state holds

  explicit shard_state(const recovery_options& o)
    : store(o.model), window(o.dedup_ids_per_shard, o.dedup_age_ms) {}
};

// The newest checkpoint's state of `shard` whose seq is <= from, or an
// empty state (seq 0) when there is none; a checkpoint that does not read is
// passed over (recovery already warned about it).
std::unique_ptr<shard_state> load_base(const recovery_options& o, std::uint32_t shard,
                                       std::uint64_t from) {
  const auto root = snapshot_dir(o.data_dir);
  for (auto id : list_checkpoints(root)) {
    try {
      const auto m = read_manifest(root, id);
      if (shard >= m.profile_seq.size() || m.profile_seq[shard] > from)
        continue;
      auto data = read_checkpoint(root, id);
      auto st = std::make_unique<shard_state>(o);
      st->seq = decode_profile_snapshot(data.profile_blobs.at(shard), st->store, st->window);
      return st;
    } catch (const std::exception&) {
      continue;
    }
  }
  return std::make_unique<shard_state>(o);
}

}  // namespace

std::vector<rederived_batch> rederive_deltas(const recovery_options& opts, std::uint32_t shard,
                                             std::uint64_t from, std::uint64_t upto) {
  std::vector<rederived_batch> out;
  if (upto <= from)
    return out;
  auto base = load_base(opts, shard, from);
  auto& st = *base;
  engine::batch_outcome outcome;
  engine::item_delta_batch delta;
  auto next = st.seq + 1;  // a shard's records have consecutive seqs
  read_log(wal_dir(opts.data_dir), [&](const log_record& r) {
    if (r.stream != shard || r.seq <= st.seq)
      return true;
    if (r.seq != next)
      throw std::runtime_error("resync of profile shard " + std::to_string(shard) + ": the log "
                               "holds its records from seq " + std::to_string(r.seq)
                               + " but the base state ends at seq " + std::to_string(st.seq)
                               + " (segments released, or released while reading)");
    apply_profile_record(r, st.store, st.window, outcome, delta);
    if (r.seq > from && !delta.empty())
      out.push_back({r.seq, delta});
    st.seq = r.seq;
    ++next;
    return r.seq < upto;
  });
  if (st.seq < upto)
    throw std::runtime_error("resync of profile shard " + std::to_string(shard) + ": the log "
                             "ends at seq " + std::to_string(st.seq) + ", before seq "
                             + std::to_string(upto));
  return out;
}

}  // namespace rtrec::storage
