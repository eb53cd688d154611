// Unit tests of storage::recover.
//
// The oracle is a "reference world": the same shard objects (profile stores,
// dedup windows, item models) fed the same batches directly, through
// engine::apply_idempotent + item_model::apply, as the actors do. A seeded
// workload of event batches (with retried event ids), user deletions and item
// metadata changes is logged with a storage::wal into data_dir/wal; recover()
// must then rebuild a state that answers every query exactly as the reference
// world does: from the log alone, from a hand-written checkpoint plus the log
// tail, after falling back from a damaged checkpoint, and after a continued
// log. Also: the refusals (other shard counts, no checkpoint for a trimmed
// log, corrupt records under strict) and what they say.
//
// Every test works in its own temporary directory, removed at the end.
#include "storage/recovery.hpp"

#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <random>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/idempotent_apply.hpp"
#include "storage/codec.hpp"
#include "storage/rederive.hpp"
#include "storage/replica_stream.hpp"

#include "tests/storage/log_writer.hpp"
#include "tests/storage/temp_dir.hpp"

namespace fs = std::filesystem;
using namespace rtrec;
using namespace rtrec::storage;

namespace {

using rtrec::storage_test::temp_dir;

std::string read_bytes(const fs::path& p) {
  std::ifstream in{p, std::ios::binary};
  return {std::istreambuf_iterator<char>{in}, std::istreambuf_iterator<char>{}};
}

void write_bytes(const fs::path& p, const std::string& data) {
  std::ofstream out{p, std::ios::binary | std::ios::trunc};
  out.write(data.data(), static_cast<std::streamsize>(data.size()));
}

void flip_byte(const fs::path& p, std::size_t at) {
  auto data = read_bytes(p);
  ASSERT_LT(at, data.size()) << p;
  data[at] = static_cast<char>(data[at] ^ 0x20);
  write_bytes(p, data);
}

std::vector<fs::path> segment_files(const std::string& dir) {
  std::vector<fs::path> out;
  for (auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".log")
      out.push_back(e.path());
  std::sort(out.begin(), out.end());
  return out;
}

// Small bounds so that rows are pruned and windows fill within a short run.
engine::model_config small_config() {
  engine::model_config cfg;
  cfg.recent_max = 5;
  cfg.pair_window = 3;
  cfg.seen_max = 30;
  cfg.neighbors_max = 6;
  cfg.cooc_half_life_s = 3600.0;
  cfg.trend_half_life_s = 600.0;
  cfg.popular_cache = 16;
  cfg.popular_refresh_events = 0;
  cfg.feedback_retention = 4;  // histories are trimmed
  return cfg;
}

recovery_options make_options(const std::string& data_dir, std::uint32_t profile_shards,
                              std::uint32_t item_shards, std::size_t dedup_ids = 1000,
                              std::int64_t dedup_age_ms = 0) {
  recovery_options o;
  o.data_dir = data_dir;
  o.profile_shards = profile_shards;
  o.item_shards = item_shards;
  o.model = small_config();
  o.dedup_ids_per_shard = dedup_ids;
  o.dedup_age_ms = dedup_age_ms;
  return o;
}

// -- the workload -------------------------------------------------------------------

// One logged record and what it carries, unencoded.
struct step {
  log_record record;
  std::vector<engine::event> events;  // record_kind::events
  engine::item_meta meta;             // record_kind::item_meta
  engine::user_patch patch;           // record_kind::user_upsert
  engine::feedback_delete del;        // record_kind::feedback_delete
  std::string target;                 // user (forget_user, user_upsert) or item (item_remove)
};

struct workload {
  std::vector<step> steps;
  std::vector<std::string> users;
  std::vector<std::string> items;
  std::vector<std::string> event_ids;
};

std::string user_name(int k) { return "user-" + std::to_string(k); }
std::string item_name(int k) { return "item-" + std::to_string(k); }

// Seeded: `n` records over `profile_shards` streams plus meta_stream. Event
// batches hold 1..6 events of users the stream's shard owns; about one event
// id in six repeats an earlier id of the same shard (a client retry), some
// repeat within the batch, many events carry no id.
workload make_workload(std::uint64_t seed, std::size_t n, std::uint32_t profile_shards) {
  std::mt19937_64 rng{seed};
  workload w;
  constexpr int user_pool = 40;
  constexpr int item_pool = 50;
  for (int k = 0; k < user_pool; ++k)
    w.users.push_back(user_name(k));
  for (int k = 0; k < item_pool; ++k)
    w.items.push_back(item_name(k));
  std::vector<std::vector<std::string>> users_of(profile_shards);
  for (auto& u : w.users)
    users_of[engine::shard_of(engine::hash_id(u), profile_shards)].push_back(u);
  for (int k = 0; k < 8; ++k)  // users that only ever get metadata
    w.users.push_back("meta-user-" + std::to_string(k));
  std::vector<std::vector<std::string>> ids_of(profile_shards);
  std::map<std::uint32_t, std::uint64_t> seq;
  std::int64_t now = 1'700'000'000'000;
  int next_id = 0;
  const char* const cats[] = {"red", "green", "blue"};
  for (std::size_t k = 0; k < n; ++k) {
    now += 1 + static_cast<std::int64_t>(rng() % 2000);
    step s;
    s.record.time_ms = now;
    const auto roll = rng() % 25;
    if (roll == 0) {
      const auto& u = w.users[rng() % w.users.size()];
      s.record.kind = record_kind::forget_user;
      s.record.stream = engine::shard_of(engine::hash_id(u), profile_shards);
      s.target = u;
      s.record.payload = u;
    } else if (roll <= 2) {
      s.record.kind = record_kind::item_meta;
      s.record.stream = meta_stream;
      s.meta.id = rng() % 4 == 0 ? "new-item-" + std::to_string(k) : w.items[rng() % item_pool];
      if (s.meta.id.rfind("new-item-", 0) == 0)
        w.items.push_back(s.meta.id);
      const auto ncat = rng() % 3;
      for (std::size_t c = 0; c < ncat; ++c)
        s.meta.categories.push_back(cats[(c + rng()) % 3]);
      s.meta.hidden = rng() % 5 == 0;
      s.meta.timestamp = rng() % 3 == 0 ? 0 : now - static_cast<std::int64_t>(rng() % 100000);
      encode_item_meta(s.meta, s.record.payload);
    } else if (roll == 4 || roll == 5) {
      // A user upsert: sometimes a user with no events yet, sometimes a
      // PATCH (must_exist) of a user that may be unknown.
      const auto& u = rng() % 4 == 0 ? "meta-user-" + std::to_string(rng() % 8)
                                     : w.users[rng() % w.users.size()];
      s.record.kind = record_kind::user_upsert;
      s.record.stream = engine::shard_of(engine::hash_id(u), profile_shards);
      s.target = u;
      s.patch.must_exist = rng() % 3 == 0;
      s.patch.set_labels = rng() % 2 == 0;
      s.patch.labels = rng() % 3 == 0 ? "" : "[\"l" + std::to_string(rng() % 5) + "\"]";
      s.patch.set_comment = rng() % 2 == 0;
      s.patch.comment = "c" + std::to_string(k);
      s.patch.set_subscribe = rng() % 3 == 0;
      s.patch.subscribe.assign(rng() % 3, "s" + std::to_string(k));
      encode_user_upsert(u, s.patch, s.record.payload);
    } else if (roll == 6 || roll == 7) {
      // A feedback deletion, of every type or one, of a user's item.
      const auto& u = w.users[rng() % w.users.size()];
      s.record.kind = record_kind::feedback_delete;
      s.record.stream = engine::shard_of(engine::hash_id(u), profile_shards);
      s.del = {u, w.items[rng() % item_pool], rng() % 2 == 0,
               static_cast<engine::event_type>(rng() % engine::event_type_count)};
      encode_feedback_delete(s.del, s.record.payload);
    } else if (roll == 3) {
      s.record.kind = record_kind::item_remove;
      s.record.stream = meta_stream;
      s.target = w.items[rng() % item_pool];
      s.record.payload = s.target;
    } else {
      std::uint32_t p = 0;
      do
        p = static_cast<std::uint32_t>(rng() % profile_shards);
      while (users_of[p].empty());
      s.record.kind = record_kind::events;
      s.record.stream = p;
      const auto count = 1 + rng() % 6;
      for (std::size_t j = 0; j < count; ++j) {
        engine::event e;
        e.user = users_of[p][rng() % users_of[p].size()];
        e.item = w.items[rng() % item_pool];
        e.type = static_cast<engine::event_type>(rng() % engine::event_type_count);
        e.value = e.type == engine::event_type::rating ? static_cast<double>(rng() % 11) : 0.0;
        e.timestamp = now - static_cast<std::int64_t>(rng() % 50000);
        const auto extras = rng() % 6;  // what only the feedback history keeps
        e.overwrite = extras % 2 == 0;
        e.comment = extras == 0 ? "note " + std::to_string(k) : "";
        e.timestamp_text = extras == 1 ? "ts " + std::to_string(e.timestamp) : "";
        const auto id_roll = rng() % 12;
        if (id_roll < 5) {
          // no id
        } else if (id_roll < 10 || ids_of[p].empty()) {
          e.id = "ev-" + std::to_string(next_id++);
          ids_of[p].push_back(e.id);
          w.event_ids.push_back(e.id);
        } else if (id_roll == 10 && !s.events.empty() && !s.events.back().id.empty()) {
          e.id = s.events.back().id;  // repeated within the batch
        } else {
          e.id = ids_of[p][rng() % ids_of[p].size()];  // a retry
        }
        s.events.push_back(std::move(e));
      }
      encode_events(s.events, s.record.payload);
    }
    s.record.seq = ++seq[s.record.stream];
    w.steps.push_back(std::move(s));
  }
  return w;
}

// -- the reference world ----------------------------------------------------------

struct reference_world {
  explicit reference_world(const recovery_options& o) : opts(o) {
    for (std::uint32_t p = 0; p < o.profile_shards; ++p) {
      profiles.push_back(std::make_unique<engine::profile_store>(o.model));
      windows.push_back(
        std::make_unique<engine::dedup_window>(o.dedup_ids_per_shard, o.dedup_age_ms));
    }
    for (std::uint32_t i = 0; i < o.item_shards; ++i)
      items.push_back(std::make_unique<engine::item_model>(o.model, i, o.item_shards));
    seq.assign(o.profile_shards, 0);
  }

  void apply(const step& s) {
    const auto& r = s.record;
    switch (r.kind) {
      case record_kind::events: {
        engine::batch_outcome outcome;
        engine::item_delta_batch delta;
        engine::apply_idempotent(*profiles[r.stream], *windows[r.stream], s.events, r.time_ms,
                                 outcome, delta);
        events_applied += outcome.applied;
        if (!delta.empty())
          for (auto& m : items)
            m->apply(delta);
        break;
      }
      case record_kind::forget_user:
        profiles[r.stream]->erase(s.target);
        break;
      case record_kind::user_upsert:
        profiles[r.stream]->upsert(s.target, s.patch);
        break;
      case record_kind::feedback_delete:
        profiles[r.stream]->delete_feedback(s.del);
        break;
      case record_kind::item_meta:
        for (auto& m : items)
          m->set_meta(s.meta);
        break;
      case record_kind::item_remove:
        for (auto& m : items)
          m->remove(s.target);
        break;
      case record_kind::truncate_stream:
        ADD_FAILURE() << "a truncate_stream marker is not a write (the readers never pass one)";
        return;
      case record_kind::replica_state:
        ADD_FAILURE() << "these logs hold no replica's commit point";
        return;
    }
    if (r.stream == meta_stream)
      meta_seq = r.seq;
    else
      seq[r.stream] = r.seq;
  }

  void apply(const workload& w, std::size_t from, std::size_t to) {
    for (std::size_t k = from; k < to; ++k)
      apply(w.steps[k]);
  }

  // A checkpoint of the current state, as a snapshot task would write it.
  checkpoint_data checkpoint(std::uint64_t id) const {
    checkpoint_data d;
    auto& m = d.manifest;
    m.id = id;
    m.created_ms = 1'700'000'000'000 + static_cast<std::int64_t>(id);
    m.profile_shards = opts.profile_shards;
    m.item_shards = opts.item_shards;
    m.profile_seq = seq;
    m.item_applied.assign(opts.item_shards, seq);
    m.meta_seq = meta_seq;
    m.events_applied = events_applied;
    for (auto& p : profiles)
      m.users += p->users();
    m.items = items.front()->stats().items;
    for (std::uint32_t p = 0; p < opts.profile_shards; ++p)
      d.profile_blobs.push_back(encode_profile_snapshot(seq[p], *profiles[p], *windows[p]));
    for (std::uint32_t i = 0; i < opts.item_shards; ++i)
      d.item_blobs.push_back(encode_item_snapshot(seq, *items[i]));
    return d;
  }

  recovery_options opts;
  std::vector<std::unique_ptr<engine::profile_store>> profiles;
  std::vector<std::unique_ptr<engine::dedup_window>> windows;
  std::vector<std::unique_ptr<engine::item_model>> items;
  std::vector<std::uint64_t> seq;
  std::uint64_t meta_seq = 0;
  std::uint64_t events_applied = 0;
};

// The user's feedback history is the same on both (records, write numbers).
void expect_same_feedback(const engine::profile_store& got, const engine::profile_store& want,
                          const std::string& u) {
  EXPECT_EQ(got.feedback_records(), want.feedback_records());
  const auto a = got.feedback(u, {}), b = want.feedback(u, {});
  ASSERT_EQ(a.size(), b.size()) << u;
  for (std::size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].item, b[k].item) << u << " #" << k;
    EXPECT_EQ(a[k].type, b[k].type) << u << " #" << k;
    EXPECT_EQ(a[k].timestamp, b[k].timestamp) << u << " #" << k;
    EXPECT_EQ(a[k].value, b[k].value) << u << " #" << k;
    EXPECT_EQ(a[k].timestamp_text, b[k].timestamp_text) << u << " #" << k;
    EXPECT_EQ(a[k].comment, b[k].comment) << u << " #" << k;
  }
  const auto* pa = got.find(u);
  const auto* pb = want.find(u);
  if (pa != nullptr && pb != nullptr) {
    EXPECT_EQ(pa->history.last_seq(), pb->history.last_seq()) << u;
  }
}

// Every query of every shard answers the same on both.
void expect_same_state(recovered_state& got, reference_world& want, const workload& w) {
  ASSERT_EQ(got.profiles.size(), want.profiles.size());
  ASSERT_EQ(got.windows.size(), want.windows.size());
  ASSERT_EQ(got.items.size(), want.items.size());
  EXPECT_EQ(got.profile_seq, want.seq);
  EXPECT_EQ(got.meta_seq, want.meta_seq);
  for (std::size_t p = 0; p < want.profiles.size(); ++p) {
    SCOPED_TRACE("profile shard " + std::to_string(p));
    EXPECT_EQ(got.profiles[p]->users(), want.profiles[p]->users());
    EXPECT_EQ(got.profiles[p]->events_applied(), want.profiles[p]->events_applied());
    EXPECT_EQ(got.windows[p]->size(), want.windows[p]->size());
    for (auto& id : w.event_ids)
      EXPECT_EQ(got.windows[p]->contains(id), want.windows[p]->contains(id)) << id;
  }
  for (auto& u : w.users) {
    SCOPED_TRACE(u);
    for (std::size_t p = 0; p < want.profiles.size(); ++p) {
      auto a = got.profiles[p]->view(u);
      auto b = want.profiles[p]->view(u);
      EXPECT_EQ(a.known, b.known);
      EXPECT_EQ(a.recent, b.recent);
      EXPECT_EQ(a.recent_weight, b.recent_weight);
      std::sort(a.seen.begin(), a.seen.end());
      std::sort(b.seen.begin(), b.seen.end());
      EXPECT_EQ(a.seen, b.seen);
      const auto ua = got.profiles[p]->record(u), ub = want.profiles[p]->record(u);
      EXPECT_EQ(ua.known, ub.known) << u;
      EXPECT_EQ(ua.meta.labels, ub.meta.labels) << u;
      EXPECT_EQ(ua.meta.comment, ub.meta.comment) << u;
      EXPECT_EQ(ua.meta.subscribe, ub.meta.subscribe) << u;
      expect_same_feedback(*got.profiles[p], *want.profiles[p], u);
      auto ra = got.profiles[p]->recent(u);
      auto rb = want.profiles[p]->recent(u);
      ASSERT_EQ(ra.size(), rb.size());
      for (std::size_t k = 0; k < ra.size(); ++k) {
        EXPECT_EQ(ra[k].item, rb[k].item);
        EXPECT_EQ(ra[k].type, rb[k].type);
        EXPECT_EQ(ra[k].weight, rb[k].weight);
        EXPECT_EQ(ra[k].timestamp, rb[k].timestamp);
      }
    }
  }
  auto same_scored = [](const std::vector<engine::scored>& a,
                        const std::vector<engine::scored>& b, const std::string& what) {
    ASSERT_EQ(a.size(), b.size()) << what;
    for (std::size_t k = 0; k < a.size(); ++k) {
      EXPECT_EQ(a[k].key, b[k].key) << what << " #" << k;
      EXPECT_EQ(a[k].score, b[k].score) << what << " #" << k;
    }
  };
  const std::vector<engine::item_filter> filters = {{}, {"red"}, {"blue"}};
  for (std::size_t i = 0; i < want.items.size(); ++i) {
    SCOPED_TRACE("item shard " + std::to_string(i));
    auto& a = *got.items[i];
    auto& b = *want.items[i];
    EXPECT_EQ(a.stats().items, b.stats().items);
    EXPECT_EQ(a.stats().events, b.stats().events);
    EXPECT_EQ(a.stats().rows, b.stats().rows);
    EXPECT_EQ(a.stats().row_entries, b.stats().row_entries);
    EXPECT_EQ(a.latest_timestamp(), b.latest_timestamp());
    for (auto& f : filters) {
      same_scored(a.popular(10, f), b.popular(10, f), "popular " + f.category);
      same_scored(a.latest(10, f), b.latest(10, f), "latest " + f.category);
    }
    for (auto& id : w.items) {
      const auto key = engine::hash_id(id);
      const auto* ea = a.find(key);
      const auto* eb = b.find(key);
      ASSERT_EQ(ea == nullptr, eb == nullptr) << id;
      if (ea) {
        EXPECT_EQ(ea->id, eb->id);
        EXPECT_EQ(ea->categories, eb->categories) << id;
        EXPECT_EQ(ea->hidden, eb->hidden) << id;
        EXPECT_EQ(ea->events, eb->events) << id;
        EXPECT_EQ(ea->created, eb->created) << id;
      }
      if (!b.owns(key))
        continue;
      for (auto& f : filters)
        same_scored(a.similar(key, 10, f), b.similar(key, 10, f), "similar " + id);
    }
  }
}

// -- logging ------------------------------------------------------------------------

// Appends records [from, to) of `w` to `log`, `chunk` at a time, waiting
// until each chunk is durable (storage_test::append_in_groups).
void log_steps(wal& log, const workload& w, std::size_t from, std::size_t to,
               std::size_t chunk = 8) {
  const auto errors = storage_test::append_in_groups(
    log, from, to, chunk, [&](std::size_t k) -> const log_record& { return w.steps[k].record; });
  ASSERT_TRUE(errors.empty()) << errors.front();
}

wal_options log_options(const std::string& data_dir, std::uint64_t segment_bytes) {
  wal_options o;
  o.dir = wal_dir(data_dir);
  o.sync = sync_policy::none;
  o.segment_bytes = segment_bytes;
  return o;
}

// Logs the whole workload into data_dir/wal in one run.
void log_all(const std::string& data_dir, const workload& w,
             std::uint64_t segment_bytes = 64ull << 20) {
  wal log{log_options(data_dir, segment_bytes), {}};
  log_steps(log, w, 0, w.steps.size());
}

// -- tests -----------------------------------------------------------------------

TEST(recovery, an_empty_data_directory_recovers_an_empty_state) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 3, 2);
  auto st = recover(opts);
  EXPECT_EQ(st.profiles.size(), 3u);
  EXPECT_EQ(st.windows.size(), 3u);
  EXPECT_EQ(st.items.size(), 2u);
  for (std::uint32_t i = 0; i < 2; ++i) {
    EXPECT_EQ(st.items[i]->shard(), i);
    EXPECT_EQ(st.items[i]->shards(), 2u);
  }
  EXPECT_EQ(st.profile_seq, (std::vector<std::uint64_t>{0, 0, 0}));
  // Per item shard: three delta streams, then the metadata stream.
  EXPECT_EQ(st.item_applied, (std::vector<std::vector<std::uint64_t>>(2, {0, 0, 0, 0})));
  EXPECT_EQ(st.next_checkpoint_id, 1u);
  EXPECT_FALSE(st.report.from_snapshot);
  EXPECT_EQ(st.report.records_replayed, 0u);
  EXPECT_EQ(st.report.users, 0u);
  EXPECT_TRUE(st.report.warnings.empty());
  EXPECT_TRUE(st.segments.empty());
  EXPECT_TRUE(fs::exists(fs::path{tmp.data_dir()} / "IDENTITY"));
  EXPECT_THROW(recover(make_options(tmp.data_dir(), 0, 1)), std::invalid_argument);
}

class recovery_replay : public ::testing::TestWithParam<std::uint64_t> {};

TEST_P(recovery_replay, the_log_alone_rebuilds_the_state_of_direct_application) {
  const std::uint64_t seed = GetParam();
  SCOPED_TRACE("seed " + std::to_string(seed));
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 3);
  auto w = make_workload(seed, 400, 2);
  log_all(tmp.data_dir(), w, 8192);
  reference_world ref{opts};
  ref.apply(w, 0, w.steps.size());
  ASSERT_GT(ref.events_applied, 0u);
  // The workload exercises the feedback history: records kept, deletions
  // logged (expect_same_state compares every user's history).
  ASSERT_GT(ref.profiles[0]->feedback_records() + ref.profiles[1]->feedback_records(), 0u);
  ASSERT_GT(std::count_if(w.steps.begin(), w.steps.end(),
                          [](const step& s) {
                            return s.record.kind == record_kind::feedback_delete;
                          }),
            5);

  auto st = recover(opts);
  EXPECT_FALSE(st.report.from_snapshot);
  EXPECT_EQ(st.report.records_replayed, w.steps.size());
  EXPECT_EQ(st.report.records_skipped, 0u);
  EXPECT_EQ(st.report.events_replayed, ref.events_applied);
  EXPECT_TRUE(st.report.warnings.empty());
  EXPECT_EQ(st.report.users, ref.profiles[0]->users() + ref.profiles[1]->users());
  EXPECT_EQ(st.report.items, ref.items[0]->stats().items);
  EXPECT_GT(st.report.log_bytes, 0u);
  EXPECT_GE(st.segments.size(), 3u);
  EXPECT_EQ(st.segments.size(), segment_files(wal_dir(tmp.data_dir())).size());
  EXPECT_EQ(st.next_checkpoint_id, 1u);
  expect_same_state(st, ref, w);

  // Recovering twice gives the same state (recovery writes nothing that
  // changes the outcome).
  auto again = recover(opts);
  EXPECT_EQ(again.report.records_replayed, w.steps.size());
  expect_same_state(again, ref, w);
}

INSTANTIATE_TEST_SUITE_P(seeds, recovery_replay, ::testing::Values(1u, 2u, 3u));

// A replica's log whose tails were replaced (docs/replication.md, "The log
// on disk"): now and then a stream gets 1-3 records a new primary never had
// (events with ids that come again later, metadata, deletions, taken from
// another workload), then a truncate_stream marker and the true records.
// Recovery applies exactly the true records: a void record's events would
// change profiles, items and the dedup window (its ids would swallow the
// true events that reuse them). The profile streams are replicas' (records
// of map epochs): each ends with the replica's stored commit, up to which
// recovery replays them; `commit_back` records before the end, the rest
// stay in the replica's restored log, unapplied.
TEST(recovery, a_log_with_replaced_tails_recovers_the_primarys_records_only) {
  for (std::uint64_t seed : {11u, 12u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    temp_dir tmp;
    auto opts = make_options(tmp.data_dir(), 2, 3);
    const auto truth = make_workload(seed, 400, 2);
    const auto other = make_workload(seed + 1000, 400, 2);
    workload logged;
    std::map<std::uint32_t, std::uint64_t> seq;
    std::uint64_t epoch = 1;
    std::size_t taken = 0, voided = 0;
    for (std::size_t k = 0; k < truth.steps.size(); ++k) {
      const auto stream = truth.steps[k].record.stream;
      if (k % 23 == 7) {
        const auto top = seq[stream];
        std::uint64_t n = 0;
        for (; taken < other.steps.size() && n < 1 + k % 3; ++taken) {
          auto s = other.steps[taken];
          if (s.record.stream != stream)
            continue;
          s.record.seq = top + ++n;
          s.record.epoch = epoch;
          logged.steps.push_back(std::move(s));
        }
        if (n > 0) {
          step marker;
          marker.record = truncate_marker(stream, top, top + n, ++epoch,
                                          truth.steps[k].record.time_ms);
          logged.steps.push_back(std::move(marker));
          voided += n;
        }
      }
      auto s = truth.steps[k];
      s.record.epoch = epoch;
      seq[stream] = s.record.seq;
      logged.steps.push_back(std::move(s));
    }
    ASSERT_GT(voided, 20u);
    // Every profile stream's commit: all its true records.
    for (const auto& [stream, last] : seq)
      if (stream != meta_stream) {
        step state;
        state.record = replica_state_record(stream, last, epoch);
        logged.steps.push_back(std::move(state));
      }
    log_all(tmp.data_dir(), logged, 4096);
    // Recovery replays a replica's stream once the scan has read its commit,
    // so after the metadata stream, one stream after the other: the
    // reference applies them in that order (the item side depends on it).
    workload order;
    for (const auto stream : {meta_stream, 0u, 1u})
      for (const auto& s : truth.steps)
        if (s.record.stream == stream)
          order.steps.push_back(s);
    reference_world ref{opts};
    ref.apply(order, 0, order.steps.size());
    auto st = recover(opts);
    EXPECT_EQ(st.report.records_replayed, truth.steps.size());
    EXPECT_EQ(st.report.events_replayed, ref.events_applied);
    EXPECT_TRUE(st.report.warnings.empty());
    expect_same_state(st, ref, truth);
    for (std::uint32_t p = 0; p < 2; ++p) {
      ASSERT_TRUE(st.replicas[p]) << "stream " << p << " is a replica's";
      EXPECT_EQ(st.replicas[p]->commit_known, seq[p]);
      EXPECT_EQ(st.replicas[p]->records.size(), seq[p]) << "gap-free, void records left out";
      EXPECT_EQ(st.replicas[p]->epoch_seen, epoch);
    }
  }
}

// The same kind of log whose last commit is behind its last records: those
// are restored into the replica's log but not replayed into its state.
TEST(recovery, a_replica_stream_is_replayed_up_to_its_stored_commit_only) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 1, 1);
  const auto truth = make_workload(21, 120, 1);
  workload logged;
  std::uint64_t last = 0;
  for (auto s : truth.steps) {
    if (s.record.stream == meta_stream)
      continue;
    s.record.epoch = 3;
    last = s.record.seq;
    logged.steps.push_back(std::move(s));
  }
  ASSERT_GT(last, 20u);
  const auto commit = last - 10;
  step state;
  state.record = replica_state_record(0, commit, 3);
  // The commit point is written after the records it covers, mid-log.
  logged.steps.insert(logged.steps.begin() + static_cast<std::ptrdiff_t>(commit), state);
  log_all(tmp.data_dir(), logged, 4096);
  workload committed;
  committed.users = truth.users;
  committed.items = truth.items;
  for (const auto& s : logged.steps)
    if (s.record.kind != record_kind::replica_state && s.record.seq <= commit)
      committed.steps.push_back(s);
  reference_world ref{opts};
  ref.apply(committed, 0, committed.steps.size());
  auto st = recover(opts);
  EXPECT_EQ(st.report.records_replayed, commit);
  EXPECT_EQ(st.profile_seq[0], commit);
  expect_same_state(st, ref, committed);
  ASSERT_TRUE(st.replicas[0]);
  EXPECT_EQ(st.replicas[0]->records.size(), last) << "every durable record, applied or not";
  EXPECT_EQ(st.replicas[0]->commit_known, commit);
  EXPECT_EQ(st.replicas[0]->applied, commit);
}

struct window_case {
  std::size_t ids;
  std::int64_t age_ms;
};

class recovery_checkpoint : public ::testing::TestWithParam<window_case> {};

TEST_P(recovery_checkpoint, a_checkpoint_plus_the_log_tail_equals_full_replay) {
  const std::uint64_t seed = 99;
  SCOPED_TRACE("seed " + std::to_string(seed));
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 2, GetParam().ids, GetParam().age_ms);
  auto w = make_workload(seed, 360, 2);
  const std::size_t at = 200;
  log_all(tmp.data_dir(), w);
  reference_world ref{opts};
  ref.apply(w, 0, at);
  const auto events_at = ref.events_applied;
  write_checkpoint(snapshot_dir(tmp.data_dir()), ref.checkpoint(7), true);
  ref.apply(w, at, w.steps.size());

  auto st = recover(opts);
  EXPECT_TRUE(st.report.from_snapshot);
  EXPECT_EQ(st.report.checkpoint_id, 7u);
  EXPECT_EQ(st.next_checkpoint_id, 8u);
  EXPECT_EQ(st.report.events_in_snapshot, events_at);
  // Per-stream seqs grow along the log: the first `at` records are covered.
  EXPECT_EQ(st.report.records_skipped, at);
  EXPECT_EQ(st.report.records_replayed, w.steps.size() - at);
  EXPECT_EQ(st.report.events_replayed, ref.events_applied - events_at);
  EXPECT_TRUE(st.report.warnings.empty());
  expect_same_state(st, ref, w);
  for (auto& v : st.item_applied) {
    ASSERT_EQ(v.size(), st.profile_seq.size() + 1);
    for (std::size_t p = 0; p < st.profile_seq.size(); ++p)
      EXPECT_LE(v[p], st.profile_seq[p]);
    EXPECT_EQ(v.back(), st.meta_seq);  // every item shard replayed the metadata stream
  }
}

INSTANTIATE_TEST_SUITE_P(windows, recovery_checkpoint,
                         ::testing::Values(window_case{1000, 0}, window_case{6, 4000},
                                           window_case{0, 0}),
                         [](const auto& info) {
                           return "ids" + std::to_string(info.param.ids) + "_age" +
                                  std::to_string(info.param.age_ms);
                         });

TEST(recovery, a_log_released_up_to_the_checkpoint_still_recovers) {
  const std::uint64_t seed = 5;
  SCOPED_TRACE("seed " + std::to_string(seed));
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 1);
  auto w = make_workload(seed, 300, 2);
  const std::size_t at = 180;
  reference_world ref{opts};
  {
    wal log{log_options(tmp.data_dir(), 2048), {}};
    log_steps(log, w, 0, at);
    ref.apply(w, 0, at);
    auto cp = ref.checkpoint(1);
    write_checkpoint(snapshot_dir(tmp.data_dir()), cp, true);
    std::map<std::uint32_t, std::uint64_t> covered{{meta_stream, ref.meta_seq}};
    for (std::uint32_t p = 0; p < 2; ++p)
      covered[p] = ref.seq[p];
    log_steps(log, w, at, w.steps.size());
    ASSERT_GT(log.release(covered), 0u);
  }
  ref.apply(w, at, w.steps.size());
  auto files = segment_files(wal_dir(tmp.data_dir()));
  ASSERT_NE(files.front().filename().string(), "wal-0000000000000001.log");

  auto st = recover(opts);
  EXPECT_TRUE(st.report.from_snapshot);
  EXPECT_EQ(st.report.records_replayed, w.steps.size() - at);
  EXPECT_LT(st.report.records_skipped, at);
  EXPECT_EQ(st.segments.size(), files.size());
  expect_same_state(st, ref, w);
}

TEST(recovery, a_corrupt_newest_checkpoint_falls_back_to_the_previous_one) {
  const std::uint64_t seed = 17;
  SCOPED_TRACE("seed " + std::to_string(seed));
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 2);
  auto w = make_workload(seed, 300, 2);
  log_all(tmp.data_dir(), w);
  const auto root = snapshot_dir(tmp.data_dir());
  reference_world ref{opts};
  ref.apply(w, 0, 100);
  write_checkpoint(root, ref.checkpoint(1), true);
  ref.apply(w, 100, 200);
  write_checkpoint(root, ref.checkpoint(2), true);
  ref.apply(w, 200, w.steps.size());
  flip_byte(checkpoint_path(root, 2) + "/item-1.snap", 32 + 40);

  auto st = recover(opts);
  EXPECT_TRUE(st.report.from_snapshot);
  EXPECT_EQ(st.report.checkpoint_id, 1u);
  EXPECT_EQ(st.report.records_skipped, 100u);
  EXPECT_EQ(st.report.records_replayed, 200u);
  EXPECT_EQ(st.next_checkpoint_id, 3u);  // never reuses the id of the bad one
  ASSERT_EQ(st.report.warnings.size(), 1u);
  const auto& warn = st.report.warnings[0];
  EXPECT_NE(warn.find("checkpoint 2"), std::string::npos) << warn;
  EXPECT_NE(warn.find("item-1.snap"), std::string::npos) << warn;
  EXPECT_NE(warn.find(".bad"), std::string::npos) << warn;
  EXPECT_FALSE(fs::exists(checkpoint_path(root, 2)));
  EXPECT_TRUE(fs::exists(checkpoint_path(root, 2) + ".bad"));
  EXPECT_EQ(list_checkpoints(root), std::vector<std::uint64_t>{1});
  expect_same_state(st, ref, w);
}

TEST(recovery, a_checkpoint_whose_manifest_disagrees_with_its_snapshots_is_skipped) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 1);
  auto w = make_workload(23, 150, 2);
  log_all(tmp.data_dir(), w);
  const auto root = snapshot_dir(tmp.data_dir());
  reference_world ref{opts};
  ref.apply(w, 0, 60);
  write_checkpoint(root, ref.checkpoint(1), true);
  ref.apply(w, 60, 120);
  auto cp = ref.checkpoint(2);
  cp.manifest.profile_seq[1] += 1;  // the snapshot says otherwise
  write_checkpoint(root, cp, true);
  ref.apply(w, 120, w.steps.size());

  auto st = recover(opts);
  EXPECT_EQ(st.report.checkpoint_id, 1u);
  ASSERT_EQ(st.report.warnings.size(), 1u);
  EXPECT_NE(st.report.warnings[0].find("manifest"), std::string::npos) << st.report.warnings[0];
  EXPECT_TRUE(fs::exists(checkpoint_path(root, 2) + ".bad"));
  expect_same_state(st, ref, w);
}

TEST(recovery, every_checkpoint_corrupt_with_a_complete_log_replays_from_the_start) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 1, 2);
  auto w = make_workload(31, 120, 1);
  log_all(tmp.data_dir(), w);
  const auto root = snapshot_dir(tmp.data_dir());
  reference_world ref{opts};
  ref.apply(w, 0, 50);
  write_checkpoint(root, ref.checkpoint(1), true);
  ref.apply(w, 50, w.steps.size());
  flip_byte(checkpoint_path(root, 1) + "/MANIFEST", 10);

  auto st = recover(opts);
  EXPECT_FALSE(st.report.from_snapshot);
  EXPECT_EQ(st.report.records_replayed, w.steps.size());
  EXPECT_EQ(st.report.records_skipped, 0u);
  EXPECT_EQ(st.report.warnings.size(), 1u);
  EXPECT_EQ(st.next_checkpoint_id, 2u);
  expect_same_state(st, ref, w);
}

TEST(recovery, no_usable_checkpoint_for_a_trimmed_log_throws) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 1);
  auto w = make_workload(41, 200, 2);
  const auto root = snapshot_dir(tmp.data_dir());
  reference_world ref{opts};
  {
    wal log{log_options(tmp.data_dir(), 2048), {}};
    log_steps(log, w, 0, 120);
    ref.apply(w, 0, 120);
    write_checkpoint(root, ref.checkpoint(1), true);
    std::map<std::uint32_t, std::uint64_t> covered{{meta_stream, ref.meta_seq}};
    for (std::uint32_t p = 0; p < 2; ++p)
      covered[p] = ref.seq[p];
    log_steps(log, w, 120, w.steps.size());
    ASSERT_GT(log.release(covered), 0u);
  }
  ASSERT_TRUE(recover(opts).report.from_snapshot);  // fine while the checkpoint is good
  flip_byte(checkpoint_path(root, 1) + "/profile-0.snap", 32 + 3);
  try {
    recover(opts);
    FAIL() << "recover() rebuilt a state from a log missing its start";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("no usable checkpoint"), std::string::npos) << what;
    EXPECT_NE(what.find(segment_files(wal_dir(tmp.data_dir())).front().string()),
              std::string::npos)
      << what;
  }
  EXPECT_TRUE(fs::exists(checkpoint_path(root, 1) + ".bad"));
}

TEST(recovery, a_log_without_its_first_segment_and_no_checkpoint_throws) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 1, 1);
  auto w = make_workload(43, 100, 1);
  log_all(tmp.data_dir(), w, 1024);
  auto files = segment_files(wal_dir(tmp.data_dir()));
  ASSERT_GE(files.size(), 2u);
  fs::remove(files.front());
  EXPECT_THROW(recover(opts), std::runtime_error);
}

TEST(recovery, other_shard_counts_are_refused_naming_the_counts) {
  temp_dir tmp;
  recover(make_options(tmp.data_dir(), 2, 1));
  for (auto [p, i] : {std::pair<std::uint32_t, std::uint32_t>{3, 1}, {2, 2}, {1, 4}}) {
    SCOPED_TRACE(std::to_string(p) + "/" + std::to_string(i));
    try {
      recover(make_options(tmp.data_dir(), p, i));
      FAIL() << "no throw";
    } catch (const std::runtime_error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("2 profile shards"), std::string::npos) << what;
      EXPECT_NE(what.find("1 item shards"), std::string::npos) << what;
      EXPECT_NE(what.find("--profile-shards 2 --item-shards 1"), std::string::npos) << what;
    }
  }
  EXPECT_NO_THROW(recover(make_options(tmp.data_dir(), 2, 1)));
}

TEST(recovery, duplicate_event_ids_across_records_are_applied_once) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 1, 1);
  auto ev = [](const std::string& item, const std::string& id, std::int64_t ts) {
    engine::event e;
    e.user = "alice";
    e.item = item;
    e.type = engine::event_type::click;
    e.timestamp = ts;
    e.id = id;
    return e;
  };
  workload w;
  w.users = {"alice"};
  w.items = {"a", "b", "c", "d"};
  w.event_ids = {"e1", "e2", "e3", "e4"};
  auto add = [&](std::vector<engine::event> events) {
    step s;
    s.record.kind = record_kind::events;
    s.record.stream = 0;
    s.record.seq = w.steps.size() + 1;
    s.record.time_ms = 1'700'000'000'000 + static_cast<std::int64_t>(w.steps.size()) * 1000;
    s.events = std::move(events);
    encode_events(s.events, s.record.payload);
    w.steps.push_back(std::move(s));
  };
  add({ev("a", "e1", 1000), ev("b", "e2", 2000)});
  add({ev("a", "e1", 1000), ev("c", "e3", 3000), ev("c", "e3", 3000)});  // retry + in-batch dup
  add({ev("b", "e2", 2000), ev("d", "e4", 4000), ev("d", "", 4000)});   // no id: always applied
  log_all(tmp.data_dir(), w);
  reference_world ref{opts};
  ref.apply(w, 0, w.steps.size());
  ASSERT_EQ(ref.events_applied, 5u);

  {
    auto st = recover(opts);
    EXPECT_EQ(st.report.events_replayed, 5u);
    ASSERT_NE(st.profiles[0]->find("alice"), nullptr);
    EXPECT_EQ(st.profiles[0]->find("alice")->events, 5u);
    EXPECT_EQ(st.items[0]->find(engine::hash_id("c"))->events, 1u);
    for (auto& id : w.event_ids)
      EXPECT_TRUE(st.windows[0]->contains(id)) << id;
    expect_same_state(st, ref, w);
  }

  // The same with a checkpoint after the first record: the window comes back
  // from the checkpoint, so the retries in the tail are still recognised.
  reference_world at1{opts};
  at1.apply(w, 0, 1);
  write_checkpoint(snapshot_dir(tmp.data_dir()), at1.checkpoint(1), true);
  auto st = recover(opts);
  EXPECT_TRUE(st.report.from_snapshot);
  EXPECT_EQ(st.report.records_skipped, 1u);
  EXPECT_EQ(st.report.events_in_snapshot, 2u);
  EXPECT_EQ(st.report.events_replayed, 3u);
  EXPECT_EQ(st.profiles[0]->find("alice")->events, 5u);
  EXPECT_EQ(st.items[0]->find(engine::hash_id("a"))->events, 1u);
  expect_same_state(st, ref, w);
}

TEST(recovery, a_wal_continued_from_the_recovered_segments_extends_the_log) {
  const std::uint64_t seed = 61;
  SCOPED_TRACE("seed " + std::to_string(seed));
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 2);
  auto w = make_workload(seed, 300, 2);
  reference_world ref{opts};
  // Three "process runs": each recovers, then logs more with a new wal that
  // continues the recovered segments.
  const std::size_t cuts[] = {0, 90, 200, 300};
  for (std::size_t run = 0; run < 3; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    auto st = recover(opts);
    expect_same_state(st, ref, w);
    EXPECT_EQ(st.report.records_replayed, cuts[run]);
    wal log{log_options(tmp.data_dir(), 4096), st.segments};
    log_steps(log, w, cuts[run], cuts[run + 1]);
    ref.apply(w, cuts[run], cuts[run + 1]);
  }
  auto st = recover(opts);
  EXPECT_EQ(st.report.records_replayed, w.steps.size());
  EXPECT_TRUE(st.report.warnings.empty());
  for (std::size_t k = 0; k < st.segments.size(); ++k)
    EXPECT_EQ(st.segments[k].number, k + 1);
  expect_same_state(st, ref, w);
}

// Byte offset of record k's payload in a single-segment log of `w`.
std::size_t payload_offset(const workload& w, std::size_t k) {
  std::string buf;
  for (std::size_t j = 0; j < k; ++j)
    frame_record(w.steps[j].record, buf);
  return 16 + buf.size() + 8 + 21;
}

TEST(recovery, a_corrupt_record_before_the_tail_is_refused_or_truncated_by_policy) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 1);
  auto w = make_workload(71, 120, 2);
  log_all(tmp.data_dir(), w);
  const std::size_t bad = 70;
  ASSERT_FALSE(w.steps[bad].record.payload.empty());
  const auto seg = segment_files(wal_dir(tmp.data_dir())).front();
  flip_byte(seg, payload_offset(w, bad));
  try {
    recover(opts);
    FAIL() << "strict recovery accepted a corrupt log";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find(seg.string()), std::string::npos) << e.what();
  }
  opts.policy = corruption_policy::truncate;
  auto st = recover(opts);
  EXPECT_EQ(st.report.records_replayed, bad);
  ASSERT_FALSE(st.report.warnings.empty());
  EXPECT_NE(st.report.warnings[0].find("corrupt"), std::string::npos) << st.report.warnings[0];
  reference_world ref{opts};
  ref.apply(w, 0, bad);
  expect_same_state(st, ref, w);
}

TEST(recovery, a_record_that_passes_its_crc_but_does_not_decode_is_refused) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 1, 1);
  {
    wal log{log_options(tmp.data_dir(), 64ull << 20), {}};
    workload w;
    step s;
    s.record.kind = record_kind::events;
    s.record.stream = 0;
    s.record.seq = 1;
    s.record.payload = "\x05\x00\x00\x00garbage";  // claims 5 events
    w.steps.push_back(s);
    log_steps(log, w, 0, 1);
  }
  try {
    recover(opts);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("seq 1"), std::string::npos) << what;
    EXPECT_NE(what.find("does not decode"), std::string::npos) << what;
  }
}

TEST(recovery, a_record_for_a_shard_this_node_lacks_is_refused) {
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 1);
  auto w = make_workload(3, 10, 4);  // streams 0..3
  std::size_t k = 0;
  while (k < w.steps.size() &&
         (w.steps[k].record.stream < 2 || w.steps[k].record.stream == meta_stream))
    ++k;
  ASSERT_LT(k, w.steps.size());
  log_all(tmp.data_dir(), w);
  try {
    recover(opts);
    FAIL() << "no throw";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("profile shard " +
                                         std::to_string(w.steps[k].record.stream)),
              std::string::npos)
      << e.what();
  }
}

TEST(recovery, profile_and_item_snapshot_payloads_round_trip) {
  auto cfg = small_config();
  auto opts = make_options("unused", 1, 2);
  auto w = make_workload(8, 80, 1);
  reference_world ref{opts};
  ref.apply(w, 0, w.steps.size());

  auto blob = encode_profile_snapshot(42, *ref.profiles[0], *ref.windows[0]);
  engine::profile_store store{cfg};
  engine::dedup_window window{1000, 0};
  EXPECT_EQ(decode_profile_snapshot(blob, store, window), 42u);
  EXPECT_EQ(store.users(), ref.profiles[0]->users());
  EXPECT_EQ(store.events_applied(), ref.profiles[0]->events_applied());
  EXPECT_EQ(window.size(), ref.windows[0]->size());
  EXPECT_THROW(decode_profile_snapshot(blob.substr(0, blob.size() - 1), store, window),
               std::runtime_error);
  EXPECT_THROW(decode_profile_snapshot(blob + "x", store, window), std::runtime_error);

  const std::vector<std::uint64_t> applied{3, 9};
  auto iblob = encode_item_snapshot(applied, *ref.items[1]);
  engine::item_model model{cfg, 1, 2};
  EXPECT_EQ(decode_item_snapshot(iblob, model), applied);
  EXPECT_EQ(model.stats().items, ref.items[1]->stats().items);
  EXPECT_EQ(model.stats().rows, ref.items[1]->stats().rows);
  engine::item_model wrong_shard{cfg, 0, 2};
  EXPECT_THROW(decode_item_snapshot(iblob, wrong_shard), std::runtime_error);
  EXPECT_THROW(decode_item_snapshot(iblob.substr(0, 10), model), std::runtime_error);
}

}  // namespace

// -- re-deriving a profile shard's delta batches (storage/rederive.hpp) ----------

namespace {

// Each profile shard's non-empty delta batches, as the live shards sent them
// while the workload ran (the oracle of rederive_deltas).
std::vector<std::vector<rederived_batch>> live_deltas(const recovery_options& o,
                                                      const workload& w) {
  std::vector<std::vector<rederived_batch>> out(o.profile_shards);
  reference_world live{o};
  for (const auto& s : w.steps) {
    const auto& r = s.record;
    if (r.kind == record_kind::events) {
      engine::batch_outcome outcome;
      engine::item_delta_batch delta;
      engine::apply_idempotent(*live.profiles[r.stream], *live.windows[r.stream], s.events,
                               r.time_ms, outcome, delta);
      if (!delta.empty())
        out[r.stream].push_back({r.seq, std::move(delta)});
      live.seq[r.stream] = r.seq;
    } else {
      live.apply(s);
    }
  }
  return out;
}

void expect_same_batches(const std::vector<rederived_batch>& got,
                         const std::vector<rederived_batch>& want, std::uint64_t from) {
  std::vector<const rederived_batch*> expected;
  for (const auto& b : want)
    if (b.seq > from)
      expected.push_back(&b);
  ASSERT_EQ(got.size(), expected.size()) << "from " << from;
  for (std::size_t k = 0; k < got.size(); ++k) {
    const auto& g = got[k].delta;
    const auto& e = expected[k]->delta;
    ASSERT_EQ(got[k].seq, expected[k]->seq) << "from " << from << ", batch " << k;
    EXPECT_EQ(g.item, e.item) << "seq " << got[k].seq;
    EXPECT_EQ(g.weight, e.weight) << "seq " << got[k].seq;
    EXPECT_EQ(g.timestamp, e.timestamp) << "seq " << got[k].seq;
    EXPECT_EQ(g.flags, e.flags) << "seq " << got[k].seq;
    EXPECT_EQ(g.ctx_end, e.ctx_end) << "seq " << got[k].seq;
    EXPECT_EQ(g.ctx_item, e.ctx_item) << "seq " << got[k].seq;
    EXPECT_EQ(g.ctx_weight, e.ctx_weight) << "seq " << got[k].seq;
    EXPECT_EQ(g.new_keys, e.new_keys) << "seq " << got[k].seq;
    EXPECT_EQ(g.new_ids, e.new_ids) << "seq " << got[k].seq;
  }
}

}  // namespace

TEST(rederive, batches_equal_the_live_ones_from_any_point_with_and_without_a_checkpoint) {
  for (std::uint64_t seed : {5u, 31u, 77u}) {
    SCOPED_TRACE("seed " + std::to_string(seed));
    temp_dir tmp;
    auto opts = make_options(tmp.data_dir(), 2, 2);
    auto w = make_workload(seed, 300, 2);
    log_all(tmp.data_dir(), w, 4096);  // several segments
    const auto want = live_deltas(opts, w);
    reference_world ref{opts};
    ref.apply(w, 0, 150);
    write_checkpoint(snapshot_dir(tmp.data_dir()), ref.checkpoint(1), true);
    ref.apply(w, 150, w.steps.size());
    for (std::uint32_t p = 0; p < 2; ++p) {
      const auto last = ref.seq[p];
      // Before the checkpoint (from the log's start), at and after it, and
      // at the end (nothing).
      for (std::uint64_t from : {std::uint64_t{0}, last / 4, last / 2, last * 3 / 4, last}) {
        auto got = rederive_deltas(opts, p, from, last);
        expect_same_batches(got, want[p], from);
      }
      // Only up to `upto`.
      auto part = rederive_deltas(opts, p, 0, last / 2);
      for (const auto& b : part)
        EXPECT_LE(b.seq, last / 2);
    }
  }
}

TEST(rederive, says_what_is_missing_when_the_log_no_longer_covers_the_start) {
  const std::uint64_t seed = 12;
  SCOPED_TRACE("seed " + std::to_string(seed));
  temp_dir tmp;
  auto opts = make_options(tmp.data_dir(), 2, 2);
  auto w = make_workload(seed, 300, 2);
  log_all(tmp.data_dir(), w, 2048);
  const auto want = live_deltas(opts, w);
  reference_world ref{opts};
  ref.apply(w, 0, 200);
  const auto covered = ref.seq;
  write_checkpoint(snapshot_dir(tmp.data_dir()), ref.checkpoint(1), true);
  auto segs = segment_files(wal_dir(tmp.data_dir()));
  ASSERT_GT(segs.size(), 2u);
  fs::remove(segs.front());  // released: the checkpoint covers it
  ref.apply(w, 200, w.steps.size());
  const auto last = ref.seq[0];
  ASSERT_GT(covered[0], 1u);
  try {
    (void) rederive_deltas(opts, 0, covered[0] - 1, last);
    ADD_FAILURE() << "re-deriving from before the checkpoint needs the released segment";
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("released"), std::string::npos) << e.what();
  }
  expect_same_batches(rederive_deltas(opts, 0, covered[0], last), want[0], covered[0]);
  try {
    (void) rederive_deltas(opts, 0, covered[0], last + 5);
    ADD_FAILURE() << "the log ends before seq " << last + 5;
  } catch (const std::runtime_error& e) {
    EXPECT_NE(std::string{e.what()}.find("ends at seq"), std::string::npos) << e.what();
  }
}

TEST(recovery, a_data_directory_belongs_to_one_node_of_one_cluster_or_to_an_embedded_engine) {
  temp_dir tmp;
  auto node1 = make_options(tmp.data_dir(), 2, 2);
  node1.node = 1;
  node1.nodes = 3;
  (void) recover(node1);
  EXPECT_NO_THROW((void) recover(node1));  // the same node again
  auto refused = [](const recovery_options& o, const std::string& says) {
    try {
      (void) recover(o);
      ADD_FAILURE() << "accepted; expected a message containing: " << says;
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string{e.what()}.find(says), std::string::npos) << e.what();
    }
  };
  auto node2 = node1;
  node2.node = 2;
  refused(node2, "belongs to node 1 of a 3-node cluster, not to node 2 of 3");
  auto bigger = node1;
  bigger.nodes = 4;
  refused(bigger, "not to node 1 of 4");
  auto embedded = node1;
  embedded.nodes = 0;
  embedded.node = 0;
  refused(embedded, "an embedded engine needs a directory of its own");

  temp_dir other;
  auto serve = make_options(other.data_dir(), 2, 2);
  (void) recover(serve);
  auto as_node = serve;
  as_node.nodes = 3;
  refused(as_node, "belongs to an embedded engine");
}
