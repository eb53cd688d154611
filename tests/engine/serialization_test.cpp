// Tests of the engine snapshots (profile_store and item_model save/load).
//
// The property that matters: an object loaded from save() is observably the
// same object. A seeded random workload (events one by one and in batches,
// dislikes, ratings, timestamps that sometimes go backwards or are 0, erased
// users whose slots are reused, item metadata, removals, popular() queries
// that move the popular cache) runs on a world of one profile store and the
// item models of 1..4 shards; the world is saved and loaded into a fresh
// world, every query is compared (scores bit for bit), and then the same
// further workload runs on both, comparing every outcome and item delta
// batch, and every query again at intervals and at the end.
//
// Also: empty, truncated, overlong, garbage and wrong-kind blobs throw
// std::runtime_error and leave the object unchanged; a blob of another shard
// or shard count is refused; corrupted bytes inside a valid blob either throw
// or give an object that keeps working (the suite runs under ASan/UBSan).
#include <gtest/gtest.h>


#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <map>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"
#include "engine/synthetic.hpp"

namespace rtrec::engine {
namespace {

constexpr std::int64_t t0 = 1'700'000'000'000;
constexpr int user_pool = 120;
constexpr int item_pool = 150;
const char* const category_names[] = {"a", "b", "c"};

std::string user_name(int k) { return "u" + std::to_string(k); }
std::string item_name(int k) { return "i" + std::to_string(k); }

/// Small bounds so that rows are pruned, seen sets get their hash index, the
/// popular cache goes stale, and both decays rescale within the workload.
model_config busy_config() {
  model_config cfg;
  cfg.recent_max = 6;
  cfg.pair_window = 3;
  cfg.seen_max = 40;
  cfg.neighbors_max = 6;
  cfg.cooc_half_life_s = 20.0;
  cfg.trend_half_life_s = 2.0;
  cfg.popular_cache = 12;
  cfg.popular_refresh_events = 40;
  cfg.feedback_retention = 7;  // heavy users' histories are trimmed
  return cfg;
}

/// Exact popular list, cosine similarity, small seen sets (never indexed).
model_config exact_config() {
  model_config cfg;
  cfg.recent_max = 4;
  cfg.pair_window = 2;
  cfg.seen_max = 10;
  cfg.neighbors_max = 4;
  cfg.cooc_half_life_s = 0.0;
  cfg.trend_half_life_s = 30.0;
  cfg.similarity_alpha = 0.5;
  cfg.popular_refresh_events = 0;
  return cfg;
}

struct world {
  world(const model_config& cfg, std::uint32_t shards) : store(cfg) {
    for (std::uint32_t s = 0; s < shards; ++s)
      models.emplace_back(cfg, s, shards);
  }
  profile_store store;
  std::vector<item_model> models;
};

/// One step of the workload; the same op is applied to every world.
struct op {
  enum kind_t { events, erase, meta, remove, popular, unfeedback } kind = events;
  std::vector<event> evs;
  bool batched = false;
  std::string id;  // user (erase) or item (remove)
  item_meta m;
  std::size_t n = 0;
  item_filter filter;
  absl::flat_hash_set<key_t> exclude;
  feedback_delete del;
};

/// What applying an op produced: compared between worlds.
struct outcome {
  std::vector<reject_reason> results;
  item_delta_batch batch;
  std::vector<bool> flags;
  std::vector<std::vector<scored>> lists;
};

class workload {
 public:
  explicit workload(std::uint64_t seed) : rng_(seed) {}

  op next() {
    op o;
    const auto r = rng_() % 100;
    if (r < 80) {
      o.kind = op::events;
      o.batched = rng_() % 2 == 0;
      const auto count = 1 + rng_() % 8;
      for (std::uint64_t k = 0; k < count; ++k)
        o.evs.push_back(random_event());
    } else if (r < 85) {
      o.kind = op::erase;
      o.id = user_name(pick_user());
    } else if (r < 91) {
      o.kind = op::meta;
      o.m.id = item_name(pick_item());
      for (const char* c : category_names)
        if (rng_() % 3 == 0)
          o.m.categories.push_back(c);
      o.m.hidden = rng_() % 5 == 0;
      o.m.timestamp = rng_() % 2 == 0 ? 0 : now_ - static_cast<std::int64_t>(rng_() % 50'000);
      if (o.m.timestamp % 3 == 1) {  // extras on some items (no draw: same sequence)
        o.m.timestamp_text = "t" + std::to_string(o.m.timestamp);
        o.m.labels = "{\"n\":" + std::to_string(o.m.timestamp % 7) + "}";
        o.m.comment = o.m.timestamp % 2 == 0 ? "" : "c" + o.m.id;
      }
    } else if (r < 92) {
      o.kind = op::unfeedback;
      o.del.user = user_name(pick_user());
      o.del.item = item_name(pick_item());
      o.del.any_type = rng_() % 2 == 0;
      o.del.type = static_cast<event_type>(rng_() % event_type_count);
    } else if (r < 94) {
      o.kind = op::remove;
      o.id = item_name(pick_item());
    } else {
      o.kind = op::popular;
      o.n = 1 + rng_() % 20;
      if (rng_() % 3 == 0)
        o.filter.category = category_names[rng_() % 3];
      if (rng_() % 2 == 0)
        for (int k = 0; k < 3; ++k)
          o.exclude.insert(hash_id(item_name(pick_item())));
    }
    return o;
  }

 private:
  int pick_user() {
    // A few heavy users (their seen sets outgrow the linear scan), many light.
    if (rng_() % 10 < 3)
      return static_cast<int>(rng_() % 5);
    return static_cast<int>(rng_() % user_pool);
  }
  int pick_item() {
    const auto a = rng_() % item_pool, b = rng_() % item_pool;
    return static_cast<int>(std::min(a, b));  // skewed towards low indexes
  }
  event random_event() {
    now_ += static_cast<std::int64_t>(rng_() % 1500) - 200;  // sometimes backwards
    event e;
    e.user = user_name(pick_user());
    e.item = item_name(pick_item());
    e.type = static_cast<event_type>(rng_() % event_type_count);
    if (e.type == event_type::rating)
      e.value = static_cast<double>(rng_() % 21) * 0.5;
    e.timestamp = rng_() % 200 == 0 ? 0 : now_;
    const auto extras = rng_() % 8;  // the feedback history's fields on some
    e.overwrite = extras % 2 == 1;
    if (extras >= 6)
      e.comment = "c" + std::to_string(now_ % 97);
    if (extras == 5 || extras == 7)
      e.timestamp_text = "t" + std::to_string(now_);
    return e;
  }

  std::mt19937_64 rng_;
  std::int64_t now_ = t0;
};

outcome apply_op(world& w, const op& o) {
  outcome out;
  switch (o.kind) {
    case op::events:
      if (o.batched) {
        w.store.apply_batch(o.evs, out.results, out.batch);
      } else {
        for (const auto& e : o.evs)
          out.results.push_back(w.store.apply(e, out.batch));
      }
      for (auto& m : w.models)
        m.apply(out.batch);
      break;
    case op::erase:
      out.flags.push_back(w.store.erase(o.id));
      break;
    case op::meta:
      for (auto& m : w.models)
        out.flags.push_back(m.set_meta(o.m));
      break;
    case op::remove:
      for (auto& m : w.models)
        out.flags.push_back(m.remove(o.id));
      break;
    case op::popular:
      for (auto& m : w.models)
        out.lists.push_back(m.popular(o.n, o.filter, o.exclude));
      break;
    case op::unfeedback:
      out.flags.push_back(w.store.delete_feedback(o.del) > 0);
      break;
  }
  return out;
}

void expect_same(const std::vector<scored>& a, const std::vector<scored>& b, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  for (std::size_t k = 0; k < a.size(); ++k) {
    EXPECT_EQ(a[k].key, b[k].key) << what << " #" << k;
    EXPECT_EQ(a[k].score, b[k].score) << what << " #" << k;
  }
}

void expect_same(const outcome& a, const outcome& b) {
  EXPECT_EQ(a.results, b.results);
  EXPECT_EQ(a.flags, b.flags);
  EXPECT_EQ(a.batch.item, b.batch.item);
  EXPECT_EQ(a.batch.weight, b.batch.weight);
  EXPECT_EQ(a.batch.timestamp, b.batch.timestamp);
  EXPECT_EQ(a.batch.flags, b.batch.flags);
  EXPECT_EQ(a.batch.ctx_end, b.batch.ctx_end);
  EXPECT_EQ(a.batch.ctx_item, b.batch.ctx_item);
  EXPECT_EQ(a.batch.ctx_weight, b.batch.ctx_weight);
  EXPECT_EQ(a.batch.new_keys, b.batch.new_keys);
  EXPECT_EQ(a.batch.new_ids, b.batch.new_ids);
  ASSERT_EQ(a.lists.size(), b.lists.size());
  for (std::size_t k = 0; k < a.lists.size(); ++k)
    expect_same(a.lists[k], b.lists[k], "popular");
}

/// Compares two users' feedback histories: records, write numbers.
void expect_same_history(const profile_store& a, const profile_store& b, const std::string& id) {
  const auto fa = a.feedback(id, {}), fb = b.feedback(id, {});
  ASSERT_EQ(fa.size(), fb.size());
  for (std::size_t k = 0; k < fa.size(); ++k) {
    EXPECT_EQ(fa[k].type, fb[k].type);
    EXPECT_EQ(fa[k].user, fb[k].user);
    EXPECT_EQ(fa[k].item, fb[k].item);
    EXPECT_EQ(fa[k].timestamp, fb[k].timestamp);
    EXPECT_EQ(fa[k].value, fb[k].value);
    EXPECT_EQ(fa[k].timestamp_text, fb[k].timestamp_text);
    EXPECT_EQ(fa[k].comment, fb[k].comment);
  }
  const auto* pa = a.find(id);
  const auto* pb = b.find(id);
  if (pa == nullptr || pb == nullptr)
    return;
  EXPECT_EQ(pa->history.last_seq(), pb->history.last_seq());
  for (std::size_t k = 0; k < pa->history.size() && k < pb->history.size(); ++k)
    EXPECT_EQ(pa->history[k].seq, pb->history[k].seq);
}

void expect_same_profiles(const profile_store& a, const profile_store& b) {
  EXPECT_EQ(a.users(), b.users());
  EXPECT_EQ(a.events_applied(), b.events_applied());
  EXPECT_EQ(a.feedback_records(), b.feedback_records());
  for (int u = 0; u < user_pool; ++u) {
    const auto id = user_name(u);
    SCOPED_TRACE(id);
    expect_same_history(a, b, id);
    const auto va = a.view(id), vb = b.view(id);
    EXPECT_EQ(va.known, vb.known);
    EXPECT_EQ(va.recent, vb.recent);
    EXPECT_EQ(va.recent_weight, vb.recent_weight);
    EXPECT_EQ(va.seen, vb.seen);
    const auto ra = a.recent(id), rb = b.recent(id);
    ASSERT_EQ(ra.size(), rb.size());
    for (std::size_t k = 0; k < ra.size(); ++k) {
      EXPECT_EQ(ra[k].item, rb[k].item);
      EXPECT_EQ(ra[k].type, rb[k].type);
      EXPECT_EQ(ra[k].weight, rb[k].weight);
      EXPECT_EQ(ra[k].timestamp, rb[k].timestamp);
    }
    const auto* pa = a.find(id);
    const auto* pb = b.find(id);
    ASSERT_EQ(pa == nullptr, pb == nullptr);
    if (pa == nullptr)
      continue;
    EXPECT_EQ(pa->id, pb->id);
    EXPECT_EQ(pa->events, pb->events);
    EXPECT_EQ(pa->seen_order, pb->seen_order);
    EXPECT_EQ(pa->seen_head, pb->seen_head);
    EXPECT_EQ(pa->seen_index.size(), pb->seen_index.size());
    ASSERT_EQ(pa->recent.size(), pb->recent.size());
    for (std::size_t k = 0; k < pa->recent.size(); ++k) {
      EXPECT_EQ(pa->recent[k].item, pb->recent[k].item);
      EXPECT_EQ(pa->recent[k].timestamp, pb->recent[k].timestamp);
      EXPECT_EQ(pa->recent[k].weight, pb->recent[k].weight);
      EXPECT_EQ(pa->recent[k].type, pb->recent[k].type);
    }
  }
}

/// Compares every query of two models. popular() moves the cache: both
/// models get the same calls.
void expect_same_models(item_model& a, item_model& b, const profile_store& users) {
  const auto sa = a.stats(), sb = b.stats();
  EXPECT_EQ(sa.events, sb.events);
  EXPECT_EQ(sa.pair_updates, sb.pair_updates);
  EXPECT_EQ(sa.prunes, sb.prunes);
  EXPECT_EQ(sa.collisions, sb.collisions);
  EXPECT_EQ(sa.items, sb.items);
  EXPECT_EQ(sa.rows, sb.rows);
  EXPECT_EQ(sa.row_entries, sb.row_entries);
  EXPECT_EQ(a.latest_timestamp(), b.latest_timestamp());
  const item_filter any, cat_a{"a"};
  for (int i = 0; i < item_pool; ++i) {
    const key_t k = hash_id(item_name(i));
    SCOPED_TRACE(item_name(i));
    const auto* ea = a.find(k);
    const auto* eb = b.find(k);
    ASSERT_EQ(ea == nullptr, eb == nullptr);
    if (ea != nullptr) {
      EXPECT_EQ(ea->id, eb->id);
      EXPECT_EQ(ea->categories, eb->categories);
      EXPECT_EQ(ea->norm, eb->norm);
      EXPECT_EQ(ea->popularity, eb->popularity);
      EXPECT_EQ(ea->events, eb->events);
      EXPECT_EQ(ea->last_timestamp, eb->last_timestamp);
      EXPECT_EQ(ea->created, eb->created);
      EXPECT_EQ(ea->created_by_meta, eb->created_by_meta);
      EXPECT_EQ(ea->hidden, eb->hidden);
      EXPECT_EQ(ea->deleted, eb->deleted);
      ASSERT_EQ(ea->extras == nullptr, eb->extras == nullptr);
      if (ea->extras) {
        EXPECT_EQ(ea->extras->timestamp_text, eb->extras->timestamp_text);
        EXPECT_EQ(ea->extras->labels, eb->extras->labels);
        EXPECT_EQ(ea->extras->comment, eb->extras->comment);
      }
    }
    const auto ma = a.meta(item_name(i)), mb = b.meta(item_name(i));
    ASSERT_EQ(ma.has_value(), mb.has_value());
    if (ma) {
      EXPECT_EQ(ma->categories, mb->categories);
      EXPECT_EQ(ma->timestamp, mb->timestamp);
      EXPECT_EQ(ma->labels, mb->labels);
      EXPECT_EQ(ma->comment, mb->comment);
    }
    EXPECT_EQ(a.name(k) == nullptr, b.name(k) == nullptr);
    EXPECT_EQ(a.visible(k, cat_a), b.visible(k, cat_a));
    expect_same(a.similar(k, 8, any), b.similar(k, 8, any), "similar");
    expect_same(a.similar(k, 3, cat_a), b.similar(k, 3, cat_a), "similar a");
  }
  expect_same(a.latest(12, any), b.latest(12, any), "latest");
  expect_same(a.latest(4, item_filter{"b"}), b.latest(4, item_filter{"b"}), "latest b");
  expect_same(a.popular(5, any), b.popular(5, any), "popular 5");
  expect_same(a.popular(40, any), b.popular(40, any), "popular 40");
  expect_same(a.popular(3, cat_a), b.popular(3, cat_a), "popular a");
  const absl::flat_hash_set<key_t> exclude{hash_id(item_name(0)), hash_id(item_name(1))};
  expect_same(a.popular(6, any, exclude), b.popular(6, any, exclude), "popular excl");
  for (int u = 0; u < user_pool; u += 7) {
    const auto v = users.view(user_name(u));
    score_query q;
    q.items = v.recent;
    q.weights = v.recent_weight;
    for (const item_filter* f : {&any, &cat_a}) {
      q.filter = *f;
      absl::flat_hash_map<key_t, double> ca, cb;
      a.candidates(q, ca);
      b.candidates(q, cb);
      EXPECT_EQ((std::map<key_t, double>(ca.begin(), ca.end())),
                (std::map<key_t, double>(cb.begin(), cb.end())))
        << user_name(u);
    }
  }
}

void expect_same_worlds(world& a, world& b) {
  expect_same_profiles(a.store, b.store);
  ASSERT_EQ(a.models.size(), b.models.size());
  for (std::size_t s = 0; s < a.models.size(); ++s) {
    SCOPED_TRACE("shard " + std::to_string(s));
    expect_same_models(a.models[s], b.models[s], a.store);
  }
}

/// Saves `from` and loads it into a fresh world (first given unrelated state
/// that the load must replace).
world copy_through_snapshot(const world& from, const model_config& cfg, std::uint64_t seed) {
  world to{cfg, static_cast<std::uint32_t>(from.models.size())};
  workload junk{seed ^ 0x5eed};
  for (int k = 0; k < 50; ++k)
    apply_op(to, junk.next());
  std::string blob;
  from.store.save(blob);
  to.store.load(blob);
  for (std::size_t s = 0; s < from.models.size(); ++s) {
    blob.clear();
    from.models[s].save(blob);
    to.models[s].load(blob);
  }
  return to;
}

void round_trip(const model_config& cfg, std::uint32_t shards, std::uint64_t seed) {
  SCOPED_TRACE("seed " + std::to_string(seed) + ", shards " + std::to_string(shards));
  workload gen{seed};
  world a{cfg, shards};
  for (int k = 0; k < 1500; ++k)
    apply_op(a, gen.next());
  ASSERT_GT(a.store.users(), 0u);

  world b = copy_through_snapshot(a, cfg, seed);
  {
    SCOPED_TRACE("right after load");
    expect_same_worlds(a, b);
  }
  if (::testing::Test::HasFailure())
    return;
  for (int k = 0; k < 1500; ++k) {
    const op o = gen.next();
    const auto oa = apply_op(a, o);
    const auto ob = apply_op(b, o);
    SCOPED_TRACE("op " + std::to_string(k));
    expect_same(oa, ob);
    if (k % 300 == 299)
      expect_same_worlds(a, b);
    if (::testing::Test::HasFailure())
      return;
  }
  // A loaded object saves and loads again like any other.
  world c = copy_through_snapshot(b, cfg, seed + 1);
  SCOPED_TRACE("second generation");
  expect_same_worlds(a, c);
}

TEST(Serialization, RoundTripIsObservablyIdentical) {
  for (std::uint32_t shards : {1u, 2u, 3u, 4u})
    for (std::uint64_t seed : {101u, 202u})
      round_trip(busy_config(), shards, seed);
}

TEST(Serialization, RoundTripIsObservablyIdenticalExactPopular) {
  for (std::uint32_t shards : {1u, 3u})
    round_trip(exact_config(), shards, 303);
}

TEST(Serialization, EmptyObjectsRoundTrip) {
  const auto cfg = busy_config();
  world a{cfg, 2};
  world b = copy_through_snapshot(a, cfg, 1);
  EXPECT_EQ(b.store.users(), 0u);
  EXPECT_EQ(b.models[0].stats().items, 0u);
  workload gen{9};
  for (int k = 0; k < 200; ++k) {
    const op o = gen.next();
    expect_same(apply_op(a, o), apply_op(b, o));
  }
  expect_same_worlds(a, b);
}

/// A small populated world for the error tests.
world small_world(const model_config& cfg, std::uint32_t shards) {
  world w{cfg, shards};
  workload gen{77};
  for (int k = 0; k < 60; ++k)
    apply_op(w, gen.next());
  return w;
}

template <class T>
void expect_rejected(T& target, std::string_view blob) {
  EXPECT_THROW(target.load(blob), std::runtime_error) << "blob of " << blob.size() << " bytes";
}

TEST(Serialization, BadProfileBlobsThrowAndChangeNothing) {
  const auto cfg = busy_config();
  world src = small_world(cfg, 1);
  std::string blob;
  src.store.save(blob);
  std::string model_blob;
  src.models[0].save(model_blob);

  world target{cfg, 1};
  workload gen{5};
  for (int k = 0; k < 40; ++k)
    apply_op(target, gen.next());
  world twin{cfg, 1};
  workload gen2{5};
  for (int k = 0; k < 40; ++k)
    apply_op(twin, gen2.next());

  expect_rejected(target.store, "");
  for (std::size_t len = 0; len < blob.size(); ++len)
    expect_rejected(target.store, std::string_view{blob}.substr(0, len));
  expect_rejected(target.store, blob + '\0');
  expect_rejected(target.store, model_blob);
  std::mt19937_64 rng{1234};
  for (int k = 0; k < 300; ++k) {
    std::string garbage(rng() % 3000, '\0');
    for (auto& c : garbage)
      c = static_cast<char>(rng());
    expect_rejected(target.store, garbage);
  }
  expect_same_profiles(target.store, twin.store);
}

TEST(Serialization, BadItemModelBlobsThrowAndChangeNothing) {
  const auto cfg = busy_config();
  world src = small_world(cfg, 2);
  std::string blob;
  src.models[0].save(blob);
  std::string profile_blob;
  src.store.save(profile_blob);

  world target = small_world(cfg, 2);
  world twin = small_world(cfg, 2);
  workload gen{6};
  for (int k = 0; k < 30; ++k) {
    const op o = gen.next();
    apply_op(target, o);
    apply_op(twin, o);
  }
  auto& m = target.models[0];
  expect_rejected(m, "");
  for (std::size_t len = 0; len < blob.size(); ++len)
    expect_rejected(m, std::string_view{blob}.substr(0, len));
  expect_rejected(m, blob + '\0');
  expect_rejected(m, profile_blob);
  std::mt19937_64 rng{4321};
  for (int k = 0; k < 300; ++k) {
    std::string garbage(rng() % 3000, '\0');
    for (auto& c : garbage)
      c = static_cast<char>(rng());
    expect_rejected(m, garbage);
  }
  expect_same_models(target.models[0], twin.models[0], target.store);
}

TEST(Serialization, ItemModelRefusesAnotherShardsBlob) {
  const auto cfg = busy_config();
  world src = small_world(cfg, 2);
  std::string blob;
  src.models[0].save(blob);
  item_model other_shard{cfg, 1, 2};
  item_model other_count{cfg, 0, 3};
  item_model single{cfg};
  for (item_model* m : {&other_shard, &other_count, &single}) {
    try {
      m->load(blob);
      ADD_FAILURE() << "loaded a blob of shard 0/2 into " << m->shard() << "/" << m->shards();
    } catch (const std::runtime_error& e) {
      EXPECT_NE(std::string{e.what()}.find("shard"), std::string::npos) << e.what();
    }
    EXPECT_EQ(m->stats().items, 0u);
  }
  item_model same{cfg, 0, 2};
  EXPECT_NO_THROW(same.load(blob));
  EXPECT_EQ(same.stats().items, src.models[0].stats().items);
}

/// Corrupted bytes inside valid blobs: load either throws runtime_error or
/// gives objects that keep working (no crash, no UB under the sanitizers).
TEST(Serialization, CorruptedBlobsNeverCrash) {
  const auto cfg = busy_config();
  world src = small_world(cfg, 1);
  std::string pblob, mblob;
  src.store.save(pblob);
  src.models[0].save(mblob);
  std::mt19937_64 rng{99};
  int loaded = 0;
  for (int k = 0; k < 400; ++k) {
    std::string p = pblob, m = mblob;
    const int flips = 1 + static_cast<int>(rng() % 3);
    for (int f = 0; f < flips; ++f) {
      p[rng() % p.size()] = static_cast<char>(rng());
      m[rng() % m.size()] = static_cast<char>(rng());
    }
    world w{cfg, 1};
    try {
      w.store.load(p);
      w.models[0].load(m);
    } catch (const std::runtime_error&) {
      continue;
    }
    ++loaded;
    workload gen{static_cast<std::uint64_t>(k)};
    for (int n = 0; n < 30; ++n)
      apply_op(w, gen.next());
    for (int u = 0; u < user_pool; u += 11)
      (void)w.store.recent(user_name(u));
    (void)w.models[0].latest(10, {});
    (void)w.models[0].popular(10, {});
  }
  EXPECT_GT(loaded, 0);  // most flips hit values, not structure
}


TEST(Serialization, UserMetadataRoundTripsAndTruncationIsRefused) {
  auto cfg = busy_config();
  cfg.feedback_retention = 0;  // no history: metadata alone makes version 2
  world src = small_world(cfg, 1);
  std::string plain;
  src.store.save(plain);
  user_patch p;
  p.set_labels = true;
  p.labels = R"({"age":30,"tags":["a","b"]})";
  p.set_comment = true;
  p.comment = std::string("with\0nul", 8);
  p.set_subscribe = true;
  p.subscribe = {"news", ""};
  ASSERT_EQ(src.store.upsert("meta-only", p), profile_store::upsert_outcome::created);
  ASSERT_EQ(src.store.upsert(user_name(0), p), profile_store::upsert_outcome::updated);
  std::string blob;
  src.store.save(blob);
  EXPECT_NE(blob.substr(4, 4), plain.substr(4, 4)) << "a store with metadata is version 2";

  profile_store back{cfg};
  back.load(blob);
  for (const auto& id : {std::string{"meta-only"}, user_name(0), user_name(1)}) {
    const auto a = src.store.record(id), b = back.record(id);
    EXPECT_EQ(a.known, b.known) << id;
    EXPECT_EQ(a.events, b.events) << id;
    EXPECT_EQ(a.meta.labels, b.meta.labels) << id;
    EXPECT_EQ(a.meta.comment, b.meta.comment) << id;
    EXPECT_EQ(a.meta.subscribe, b.meta.subscribe) << id;
  }
  EXPECT_EQ(back.users(), src.store.users());
  std::string again;
  back.save(again);
  EXPECT_EQ(again.size(), blob.size());

  profile_store target{cfg};
  for (std::size_t len = plain.size() - 8; len < blob.size(); ++len)
    expect_rejected(target, std::string_view{blob}.substr(0, len));
  EXPECT_EQ(target.users(), 0u);

  // Forgetting the only users with metadata gives a version 1 blob again.
  back.erase("meta-only");
  back.erase(user_name(0));
  std::string v1;
  back.save(v1);
  EXPECT_EQ(v1.substr(4, 4), plain.substr(4, 4));
}

TEST(Serialization, FeedbackHistoryIsVersion3AndRetentionAppliesOnLoad) {
  auto cfg = busy_config();
  cfg.feedback_retention = 0;
  world plain_world = small_world(cfg, 1);
  std::string plain;
  plain_world.store.save(plain);
  std::uint32_t version = 0;
  std::memcpy(&version, plain.data() + 4, 4);
  EXPECT_EQ(version, 1u) << "no history: the blob of the previous build";

  cfg.feedback_retention = 5;
  profile_store src{cfg};
  item_delta_batch out;
  for (int k = 0; k < 8; ++k) {
    event e;
    e.user = "h";
    e.item = "i" + std::to_string(k);
    e.timestamp = 1000 + k;
    e.comment = k % 2 == 0 ? "c" + std::to_string(k) : "";
    e.timestamp_text = k % 3 == 0 ? "t" + std::to_string(k) : "";
    ASSERT_EQ(src.apply(e, out), reject_reason::none);
  }
  event once;
  once.user = "emptied";
  once.item = "i0";
  ASSERT_EQ(src.apply(once, out), reject_reason::none);
  ASSERT_EQ(src.delete_feedback({"emptied", "i0", true, event_type::view}), 1u);
  std::string blob;
  src.save(blob);
  std::memcpy(&version, blob.data() + 4, 4);
  EXPECT_EQ(version, 3u);

  profile_store same{cfg};
  same.load(blob);
  expect_same_history(src, same, "h");
  ASSERT_NE(same.find("emptied"), nullptr);
  EXPECT_EQ(same.find("emptied")->history.last_seq(), 1u) << "write numbers survive";
  std::string again;
  same.save(again);
  EXPECT_EQ(again.size(), blob.size());  // (the name dictionary's order may differ)

  // A smaller retention at load keeps each user's newest records.
  cfg.feedback_retention = 2;
  profile_store fewer{cfg};
  fewer.load(blob);
  const auto kept = fewer.feedback("h", {});
  ASSERT_EQ(kept.size(), 2u);
  EXPECT_EQ(kept[0].item, "i6");
  EXPECT_EQ(kept[0].comment, "c6");
  EXPECT_EQ(kept[0].timestamp_text, "t6");
  EXPECT_EQ(kept[1].item, "i7");
  EXPECT_EQ(fewer.feedback_records(), 2u);

  // Every truncation of the history part is refused and changes nothing.
  profile_store target{cfg};
  for (std::size_t len = 0; len < blob.size(); ++len)
    expect_rejected(target, std::string_view{blob}.substr(0, len));
  EXPECT_EQ(target.users(), 0u);
  // A version 1 blob loads into a store with a retention: empty histories.
  profile_store from_v1{busy_config()};
  from_v1.load(plain);
  EXPECT_EQ(from_v1.feedback_records(), 0u);
  EXPECT_EQ(from_v1.users(), plain_world.store.users());
}

}  // namespace
}  // namespace rtrec::engine
