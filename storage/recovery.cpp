#include "storage/recovery.hpp"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <stdexcept>

#include "engine/idempotent_apply.hpp"
#include "storage/codec.hpp"
#include "storage/meta_log.hpp"
#include "storage/profile_replay.hpp"
#include "storage/replica_stream.hpp"

namespace fs = std::filesystem;

namespace rtrec::storage {

namespace {

/// The IDENTITY file's payload: the shard counts of the data directory.
struct identity_fields {
  std::uint32_t profile_shards = 0;
  std::uint32_t item_shards = 0;

  template <class A>
  void fields(A& a) {
    a.value(profile_shards);
    a.value(item_shards);
  }
};

/// A profile shard's snapshot payload: u64 last log seq applied, the dedup
/// window's blob (u32 length), the profile store's blob (u64 length).
struct profile_snapshot_fields {
  std::uint64_t seq = 0;
  std::string_view window;
  std::string_view store;

  template <class A>
  void fields(A& a) {
    a.value(seq);
    a.str(window);
    a.column(store);
  }
};

/// An item shard's snapshot payload: u32 profile shard count and per profile
/// shard the last delta seq applied (u64), the item model's blob (u64 length).
struct item_snapshot_fields {
  std::vector<std::uint64_t> applied;
  std::string_view model;

  template <class A>
  void fields(A& a) {
    a.sequence(applied, sizeof(std::uint64_t), "profile shard", [&](auto& s) { a.value(s); });
    a.column(model);
  }
};

double ms_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

/// The NODE file's payload: which node of how many wrote the directory.
struct node_fields {
  std::uint32_t node = 0;
  std::uint32_t nodes = 0;

  template <class A>
  void fields(A& a) {
    a.value(node);
    a.value(nodes);
  }
};

// A directory belongs to one node of one cluster shape, or to an embedded
// engine: refuses any other use. `fresh`: the directory was just created.
void check_node(const recovery_options& opts, bool fresh) {
  const auto path = (fs::path{opts.data_dir} / "NODE").string();
  std::error_code ec;
  const bool exists = fs::exists(path, ec);
  if (!exists && opts.nodes == 0)
    return;
  if (!exists) {
    if (!fresh)
      throw std::runtime_error("data directory " + opts.data_dir + " belongs to an embedded "
                               "engine (rtrec serve), not to a cluster node; give the node a "
                               "directory of its own (--data-dir)");
    std::string payload;
    writer w{payload};
    node_fields{opts.node, opts.nodes}.fields(w);
    write_framed_file(path, blob_kind::node, payload, true);
    return;
  }
  auto payload = read_framed_file(path, blob_kind::node);
  reader r{payload};
  node_fields id;
  id.fields(r);
  if (opts.nodes == 0)
    throw std::runtime_error("data directory " + opts.data_dir + " belongs to node "
                             + std::to_string(id.node) + " of a cluster; an embedded engine "
                             "needs a directory of its own");
  if (id.node != opts.node || id.nodes != opts.nodes)
    throw std::runtime_error("data directory " + opts.data_dir + " belongs to node "
                             + std::to_string(id.node) + " of a " + std::to_string(id.nodes)
                             + "-node cluster, not to node " + std::to_string(opts.node) + " of "
                             + std::to_string(opts.nodes) + "; give each node its own "
                             "--data-dir (changing the node list of a data directory is not "
                             "supported yet)");
}

void check_identity(const recovery_options& opts) {
  const auto path = (fs::path{opts.data_dir} / "IDENTITY").string();
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    std::string payload;
    writer w{payload};
    identity_fields{opts.profile_shards, opts.item_shards}.fields(w);
    write_framed_file(path, blob_kind::identity, payload, true);
    check_node(opts, true);
    return;
  }
  auto payload = read_framed_file(path, blob_kind::identity);
  reader r{payload};
  identity_fields id;
  id.fields(r);
  const auto p = id.profile_shards;
  const auto i = id.item_shards;
  if (p != opts.profile_shards || i != opts.item_shards)
    throw std::runtime_error(
      "data directory " + opts.data_dir + " was written with " + std::to_string(p) +
      " profile shards and " + std::to_string(i) + " item shards; start with --profile-shards " +
      std::to_string(p) + " --item-shards " + std::to_string(i) +
      " (changing the shard counts of a data directory is not supported)");
  check_node(opts, false);
}

void fresh_state(const recovery_options& opts, recovered_state& st) {
  st.profiles.clear();
  st.windows.clear();
  st.items.clear();
  for (std::uint32_t p = 0; p < opts.profile_shards; ++p) {
    st.profiles.push_back(std::make_unique<engine::profile_store>(opts.model));
    st.windows.push_back(
      std::make_unique<engine::dedup_window>(opts.dedup_ids_per_shard, opts.dedup_age_ms));
  }
  for (std::uint32_t i = 0; i < opts.item_shards; ++i)
    st.items.push_back(std::make_unique<engine::item_model>(opts.model, i, opts.item_shards));
  st.profile_seq.assign(opts.profile_shards, 0);
  st.replicas.assign(opts.profile_shards, std::nullopt);
  // One entry per profile shard's delta stream, then the metadata stream's.
  st.item_applied.assign(opts.item_shards,
                         std::vector<std::uint64_t>(opts.profile_shards + 1, 0));
  st.meta_seq = 0;
}

void load_checkpoint(const recovery_options& opts, std::uint64_t id, recovered_state& st) {
  auto data = read_checkpoint(snapshot_dir(opts.data_dir), id);
  const auto& m = data.manifest;
  if (m.profile_shards != opts.profile_shards || m.item_shards != opts.item_shards)
    throw std::runtime_error("checkpoint " + std::to_string(id) + " has " +
                             std::to_string(m.profile_shards) + "/" +
                             std::to_string(m.item_shards) + " shards, expected " +
                             std::to_string(opts.profile_shards) + "/" +
                             std::to_string(opts.item_shards));
  fresh_state(opts, st);
  for (std::uint32_t p = 0; p < m.profile_shards; ++p) {
    auto seq = decode_profile_snapshot(data.profile_blobs[p], *st.profiles[p], *st.windows[p]);
    if (seq != m.profile_seq[p])
      throw std::runtime_error("checkpoint " + std::to_string(id) + ": profile shard " +
                               std::to_string(p) + " snapshot is at seq " + std::to_string(seq) +
                               " but the manifest says " + std::to_string(m.profile_seq[p]));
    st.profile_seq[p] = seq;
  }
  for (std::uint32_t i = 0; i < m.item_shards; ++i) {
    auto applied = decode_item_snapshot(data.item_blobs[i], *st.items[i]);
    if (applied != m.item_applied[i])
      throw std::runtime_error("checkpoint " + std::to_string(id) + ": item shard " +
                               std::to_string(i) + " disagrees with the manifest");
    // The metadata stream's position: from the manifest, or (written before
    // it recorded one) the log's meta_seq, which every item shard of the
    // writer's node held; another node's shards then resync it whole.
    const auto meta = i < m.item_meta_applied.size() ? m.item_meta_applied[i]
                      : opts.meta_writer            ? m.meta_seq
                                                    : 0;
    applied.push_back(meta);
    st.item_applied[i] = std::move(applied);
  }
  st.meta_seq = m.meta_seq;
  st.report.events_in_snapshot = m.events_applied;
}

}  // namespace

std::string wal_dir(const std::string& data_dir) {
  return (fs::path{data_dir} / "wal").string();
}

std::string snapshot_dir(const std::string& data_dir) {
  return (fs::path{data_dir} / "snapshots").string();
}

std::string encode_profile_snapshot(std::uint64_t seq, const engine::profile_store& store,
                                    const engine::dedup_window& window) {
  std::string window_blob, store_blob;
  window.save(window_blob);
  store.save(store_blob);
  std::string out;
  writer w{out};
  profile_snapshot_fields{seq, window_blob, store_blob}.fields(w);
  return out;
}

std::uint64_t decode_profile_snapshot(std::string_view bytes, engine::profile_store& store,
                                      engine::dedup_window& window) {
  try {
    reader r{bytes};
    profile_snapshot_fields f;
    f.fields(r);
    if (!r.done())
      throw corrupt("trailing bytes");
    window.load(f.window);
    store.load(f.store);
    return f.seq;
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string{"profile shard snapshot: "} + e.what());
  }
}

std::string encode_item_snapshot(const std::vector<std::uint64_t>& applied,
                                 const engine::item_model& model) {
  std::string blob;
  model.save(blob);
  std::string out;
  writer w{out};
  item_snapshot_fields{applied, blob}.fields(w);
  return out;
}

std::vector<std::uint64_t> decode_item_snapshot(std::string_view bytes,
                                                engine::item_model& model) {
  try {
    reader r{bytes};
    item_snapshot_fields f;
    f.fields(r);
    if (f.applied.size() > 65536)
      throw corrupt("impossible profile shard count " + std::to_string(f.applied.size()));
    if (!r.done())
      throw corrupt("trailing bytes");
    model.load(f.model);
    return std::move(f.applied);
  } catch (const std::exception& e) {
    throw std::runtime_error(std::string{"item shard snapshot: "} + e.what());
  }
}

namespace {

/// Checks the shard counts, creates the data directory if it is missing and
/// checks its IDENTITY (writing it in a new directory).
void open_data_dir(const recovery_options& opts) {
  if (opts.profile_shards == 0 || opts.item_shards == 0)
    throw std::invalid_argument("recover: shard counts must be at least 1");
  std::error_code ec;
  fs::create_directories(opts.data_dir, ec);
  if (ec)
    throw std::runtime_error("cannot create data directory " + opts.data_dir + ": " +
                             ec.message());
  check_identity(opts);
}

/// Loads into `st` the newest checkpoint that passes every check (leaving a
/// fresh state when none does) and sets st.next_checkpoint_id.
void load_newest_checkpoint(const recovery_options& opts, recovered_state& st) {
  fresh_state(opts, st);
  const auto ids = list_checkpoints(snapshot_dir(opts.data_dir));
  for (auto id : ids) {
    try {
      load_checkpoint(opts, id, st);
      st.report.from_snapshot = true;
      st.report.checkpoint_id = id;
      break;
    } catch (const std::exception& e) {
      // Moved aside (kept for inspection) so that pruning never keeps it in
      // place of a good checkpoint.
      const auto dir = checkpoint_path(snapshot_dir(opts.data_dir), id);
      std::error_code rename_ec;
      fs::rename(dir, dir + ".bad", rename_ec);
      st.report.warnings.push_back(std::string{"snapshot: skipping checkpoint "} +
                                   std::to_string(id) + ": " + e.what() +
                                   "; falling back to the previous one (moved to " + dir +
                                   ".bad)");
      fresh_state(opts, st);
    }
  }
  st.next_checkpoint_id = ids.empty() ? 1 : ids.front() + 1;
}

/// Applies a record of the item metadata stream to every item shard that
/// does not hold it yet. Only the meta writer's node replays its stream
/// (docs/replication.md, "Stage 1b"): another node's item shards get the
/// operations from the meta writer, and meta records in its own log were
/// written before it had one writer, in another numbering.
void replay_meta_record(const recovery_options& opts, const log_record& r, recovered_state& st) {
  st.meta_seq = std::max(st.meta_seq, r.seq);
  if (!opts.meta_writer) {
    ++st.report.records_skipped;
    return;
  }
  const auto e = decode_meta_record(r);
  const auto stream = opts.profile_shards;
  bool applied = false;
  for (std::size_t i = 0; i < st.items.size(); ++i)
    if (st.item_applied[i][stream] < r.seq) {
      apply_meta(e, *st.items[i]);
      st.item_applied[i][stream] = r.seq;
      applied = true;
    }
  ++(applied ? st.report.records_replayed : st.report.records_skipped);
}

/// Applies a record of a profile shard's stream to that shard, and the item
/// delta of its events to each item shard that has not applied it, unless the
/// loaded state already holds it. `outcome` and `delta` are scratch, reused
/// from record to record.
void replay_profile_record(const recovery_options& opts, const log_record& r,
                           recovered_state& st, engine::batch_outcome& outcome,
                           engine::item_delta_batch& delta) {
  if (r.stream >= opts.profile_shards)
    throw std::runtime_error("wal: a record for profile shard " + std::to_string(r.stream) +
                             " but this node has " + std::to_string(opts.profile_shards));
  const auto p = r.stream;
  if (r.seq <= st.profile_seq[p]) {
    ++st.report.records_skipped;
    return;
  }
  st.report.events_replayed += apply_profile_record(r, *st.profiles[p], *st.windows[p], outcome,
                                                    delta);
  if (!delta.empty())
    for (std::size_t i = 0; i < st.items.size(); ++i)
      if (st.item_applied[i][p] < r.seq) {
        st.items[i]->apply(delta);
        st.item_applied[i][p] = r.seq;
      }
  st.profile_seq[p] = r.seq;
  ++st.report.records_replayed;
}

/// Replays the log records that `st` does not hold yet, then hands the log's
/// segments and warnings to `st`. Throws when scan_log() does, when a record
/// passed its CRC but does not decode, or when no checkpoint was loaded and
/// the log no longer starts at its first segment.
void replay_log(const recovery_options& opts, recovered_state& st) {
  engine::batch_outcome outcome;
  engine::item_delta_batch delta;
  // Streams of replicas: collected whole, replayed up to their stored
  // commit once the scan has read it (it follows the records it covers).
  std::vector<std::optional<replica_recovery>> replicas(opts.profile_shards);
  auto rep = scan_log(wal_dir(opts.data_dir), opts.policy, [&](const log_record& r) {
    try {
      if (r.stream == meta_stream) {
        replay_meta_record(opts, r, st);
      } else if (r.stream < opts.profile_shards &&
                 (replicas[r.stream] || r.epoch > 0 || r.kind == record_kind::replica_state)) {
        auto& c = replicas[r.stream];
        if (!c) {
          if (st.profile_seq[r.stream] != 0)
            throw std::runtime_error(
              "wal: profile shard " + std::to_string(r.stream) + "'s log holds a replica's "
              "record after records of its own up to seq " +
              std::to_string(st.profile_seq[r.stream]) + " (a shard becomes a replica only "
              "with an empty log): this data directory was not written by rtrec; restore it "
              "from a backup");
          c.emplace(r.stream, 0, 0);
        }
        c->add(r);
      } else {
        replay_profile_record(opts, r, st, outcome, delta);
      }
    } catch (const corrupt& e) {
      throw std::runtime_error("wal: record seq " + std::to_string(r.seq) + " of stream " +
                               std::to_string(r.stream) +
                               " passed its CRC but does not decode: " + e.what());
    }
  });
  if (!st.report.from_snapshot && !rep.segments.empty() && rep.segments.front().number > 1)
    throw std::runtime_error(
      "no usable checkpoint in " + snapshot_dir(opts.data_dir) + " and the log starts at " +
      rep.segments.front().path + " (earlier segments were deleted once a checkpoint covered "
      "them): the state cannot be rebuilt. Restore the snapshots directory from a backup");
  for (std::uint32_t p = 0; p < opts.profile_shards; ++p) {
    if (!replicas[p])
      continue;
    auto persisted = replicas[p]->result();
    for (const auto& rec : persisted.records) {
      if (rec.seq > persisted.commit_known)
        break;  // durable, not known committed: a primary's ship decides
      auto e = decode_replica_entry(rec.payload);
      replay_profile_record(opts, {e.kind, p, rec.seq, e.time_ms, std::move(e.payload), rec.epoch},
                            st, outcome, delta);
    }
    st.replicas[p] = std::move(persisted);
  }
  for (auto& w : rep.warnings)
    st.report.warnings.push_back(w);
  st.segments = std::move(rep.segments);
  st.report.log_bytes = rep.bytes;
}

// The item shards' recent users of their items (derived state, not in
// checkpoints): rebuilt from every recovered profile's recent window.
void rebuild_item_users(const recovery_options& opts, recovered_state& st) {
  for (std::uint32_t m = 0; m < opts.item_shards; ++m)
    st.item_users.push_back(std::make_unique<engine::recent_users>(opts.model.item_users_max));
  if (opts.model.item_users_max == 0)
    return;
  for (const auto& store : st.profiles)
    store->for_each_recent([&](engine::key_t user, const auto& r) {
      const auto m = engine::shard_of(r.item, opts.item_shards);
      st.item_users[m]->add(r.item, user, r.timestamp, r.weight);
    });
}

}  // namespace

recovered_state recover(const recovery_options& opts) {
  open_data_dir(opts);
  recovered_state st;
  auto t0 = std::chrono::steady_clock::now();
  load_newest_checkpoint(opts, st);
  st.report.load_ms = ms_since(t0);
  t0 = std::chrono::steady_clock::now();
  replay_log(opts, st);
  rebuild_item_users(opts, st);
  st.report.replay_ms = ms_since(t0);
  for (auto& p : st.profiles)
    st.report.users += p->users();
  if (!st.items.empty())
    st.report.items = st.items.front()->stats().items;
  return st;
}

}  // namespace rtrec::storage
