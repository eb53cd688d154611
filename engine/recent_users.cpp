// The per-item lists of recent users and the user-neighbor scoring over them
// (see recent_users.hpp for the formula and what is listed).
#include "engine/recent_users.hpp"

#include <absl/container/flat_hash_map.h>

#include <algorithm>
#include <cmath>

#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"

namespace rtrec::engine {

namespace {

// True if a is more recent than b: later time, then larger key.
bool more_recent(std::int64_t ts_a, key_t a, std::int64_t ts_b, key_t b) noexcept {
  return ts_a > ts_b || (ts_a == ts_b && a > b);
}

}  // namespace

void recent_users::add(key_t item, key_t user, std::int64_t timestamp, float weight) {
  if (k_ == 0)
    return;
  auto& list = lists_[item];
  // One pass: the user's entry if listed, else the least recent entry.
  std::size_t oldest = 0;
  for (std::size_t at = 0; at < list.size(); ++at) {
    auto& m = list[at];
    if (m.user == user) {
      m.timestamp = std::max(m.timestamp, timestamp);
      m.weight = std::max(m.weight, weight);
      return;
    }
    if (more_recent(list[oldest].timestamp, list[oldest].user, m.timestamp, m.user))
      oldest = at;
  }
  if (list.size() < k_) {
    list.push_back({user, timestamp, weight});
    ++entries_;
    return;
  }
  auto& least = list[oldest];
  if (!more_recent(timestamp, user, least.timestamp, least.user))
    return;
  least = {user, timestamp, weight};
  ++evictions_;
}

void recent_users::prefetch_list(key_t item) const {
  auto it = lists_.find(item);
  if (it == lists_.end())
    return;
  const char* p = reinterpret_cast<const char*>(it->second.data());
  const std::size_t bytes = it->second.size() * sizeof(user_mark);
  for (std::size_t off = 0; off < bytes; off += 64)
    __builtin_prefetch(p + off);
}

void recent_users::remove(key_t item, key_t user) {
  auto it = lists_.find(item);
  if (it == lists_.end())
    return;
  auto& list = it->second;
  auto m = std::find_if(list.begin(), list.end(), [user](const auto& x) { return x.user == user; });
  if (m == list.end())
    return;
  *m = list.back();
  list.pop_back();
  --entries_;
  if (list.empty())
    lists_.erase(it);
}

const std::vector<user_mark>* recent_users::users_of(key_t item) const {
  auto it = lists_.find(item);
  return it == lists_.end() ? nullptr : &it->second;
}

std::size_t recent_users::memory_bytes() const noexcept {
  std::size_t bytes = lists_.capacity() * (sizeof(key_t) + sizeof(std::vector<user_mark>) + 1);
  for (const auto& [item, list] : lists_)
    bytes += list.capacity() * sizeof(user_mark);
  return bytes;
}

item_delta_batch recent_users_seed(const profile_store& store, std::uint32_t m,
                                   std::uint32_t count) {
  item_delta_batch out;
  store.for_each_recent([&](key_t user, const user_profile::recent_entry& r) {
    if (shard_of(r.item, count) != m)
      return;
    out.item.push_back(r.item);
    out.user.push_back(user);
    out.timestamp.push_back(r.timestamp);
    out.weight.push_back(r.weight);
    out.flags.push_back(0);
  });
  return out;
}

user_neighbor_parts user_neighbor_contributions(const recent_users& index,
                                                const item_model& model,
                                                const user_neighbor_query& q) {
  user_neighbor_parts out;
  out.end.reserve(q.items.size());
  for (std::size_t k = 0; k < q.items.size(); ++k) {
    const auto item = q.items[k];
    const auto* list = model.owns(item) ? index.users_of(item) : nullptr;
    const auto* entry = list != nullptr ? model.find(item) : nullptr;
    if (entry != nullptr) {
      const double damping = std::log2(2.0 + static_cast<double>(entry->events));
      const double qw = k < q.weights.size() ? q.weights[k] : 0.0;
      for (const auto& m : *list)
        out.users.push_back({m.user, qw * static_cast<double>(m.weight) / damping});
    }
    out.end.push_back(static_cast<std::uint32_t>(out.users.size()));
  }
  return out;
}

std::vector<scored> rank_user_neighbors(const std::vector<user_neighbor_parts>& parts,
                                        key_t self) {
  absl::flat_hash_map<key_t, double> sums;
  std::size_t items = 0;
  for (const auto& p : parts)
    items = std::max(items, p.end.size());
  for (std::size_t k = 0; k < items; ++k)
    for (const auto& p : parts) {
      if (k >= p.end.size())
        continue;
      const std::size_t begin = k == 0 ? 0 : p.end[k - 1];
      for (std::size_t j = begin; j < p.end[k] && j < p.users.size(); ++j)
        if (p.users[j].key != self)
          sums[p.users[j].key] += p.users[j].score;
    }
  std::vector<scored> out;
  out.reserve(sums.size());
  for (const auto& [user, score] : sums)
    out.push_back({user, score});
  std::sort(out.begin(), out.end(), by_better);
  return out;
}

}  // namespace rtrec::engine
