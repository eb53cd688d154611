#include "engine/profile_store.hpp"

#include <algorithm>
#include <cmath>

namespace rtrec::engine {

bool user_profile::has_seen(key_t item) const noexcept {
  if (!seen_index.empty())
    return seen_index.contains(item);
  return std::find(seen_order.begin() + static_cast<std::ptrdiff_t>(seen_head), seen_order.end(),
                   item)
         != seen_order.end();
}

void user_profile::add_seen(key_t item, std::size_t seen_max) {
  seen_order.push_back(item);
  if (!seen_index.empty()) {
    seen_index.insert(item);
  } else if (seen_count() > small_seen) {
    seen_index.insert(seen_order.begin() + static_cast<std::ptrdiff_t>(seen_head),
                      seen_order.end());
  }
  if (seen_count() > seen_max) {
    if (!seen_index.empty())
      seen_index.erase(seen_order[seen_head]);
    ++seen_head;
    if (seen_head * 2 > seen_order.size()) {
      seen_order.erase(seen_order.begin(),
                       seen_order.begin() + static_cast<std::ptrdiff_t>(seen_head));
      seen_head = 0;
    }
  }
}

profile_store::profile_store(model_config cfg) : cfg_(std::move(cfg)) {
  cfg_.recent_max = std::max<std::size_t>(1, cfg_.recent_max);
  // An item in the recent list must still be remembered as seen.
  cfg_.seen_max = std::max(cfg_.seen_max, cfg_.recent_max);
}

reject_reason profile_store::apply(const event& e, item_delta_batch& out) {
  const key_t uk = hash_id(e.user);
  const key_t ik = hash_id(e.item);
  // Check both ids before changing anything (one lookup each).
  auto uit = users_.find(uk);
  if (uit != users_.end() && uit->second.id != e.user)
    return reject_reason::id_collision;
  auto [nit, named] = item_names_.try_emplace(ik);
  if (named) {
    nit->second = e.item;
    out.new_keys.push_back(ik);
    out.new_ids.push_back(e.item);
  } else if (nit->second != e.item) {
    return reject_reason::id_collision;
  }
  if (uit == users_.end()) {
    uit = users_.try_emplace(uk).first;
    uit->second.id = e.user;
    uit->second.recent.reserve(std::min<std::size_t>(cfg_.recent_max, 4));
  }
  auto& p = uit->second;
  ++p.events;
  ++events_applied_;

  const bool negative = e.type == event_type::dislike;
  const float w = negative ? 0.0f : cfg_.weight_of(e.type, e.value);
  const bool first_time = !p.has_seen(ik);
  if (first_time)
    p.add_seen(ik, cfg_.seen_max);

  // Item-side delta: the event and its context (recent items, newest first).
  out.item.push_back(ik);
  out.weight.push_back(w);
  out.timestamp.push_back(e.timestamp);
  std::uint8_t flags = 0;
  if (first_time)
    flags |= item_delta_batch::first_time;
  if (negative)
    flags |= item_delta_batch::negative;
  out.flags.push_back(flags);
  if (first_time && !negative) {
    std::size_t taken = 0;
    for (auto it = p.recent.rbegin(); it != p.recent.rend() && taken < cfg_.pair_window; ++it) {
      if (it->item == ik || it->weight <= 0.0f)
        continue;
      out.ctx_item.push_back(it->item);
      out.ctx_weight.push_back(it->weight);
      ++taken;
    }
  }
  out.ctx_end.push_back(static_cast<std::uint32_t>(out.ctx_item.size()));

  // Recent list: one entry per distinct item, the newest at the back.
  auto same = std::find_if(p.recent.begin(), p.recent.end(),
                           [ik](const auto& r) { return r.item == ik; });
  float kept_weight = w;
  if (same != p.recent.end()) {
    kept_weight = negative ? 0.0f : std::max(w, same->weight);
    p.recent.erase(same);
  }
  if (!negative) {
    if (p.recent.size() >= cfg_.recent_max)
      p.recent.erase(p.recent.begin());
    p.recent.push_back({ik, e.timestamp, kept_weight, e.type});
  }
  return reject_reason::none;
}

const user_profile* profile_store::find(std::string_view user) const {
  auto it = users_.find(hash_id(user));
  if (it == users_.end() || it->second.id != user)
    return nullptr;
  return &it->second;
}

profile_view profile_store::view(std::string_view user) const {
  profile_view v;
  const auto* p = find(user);
  if (p == nullptr)
    return v;
  v.known = true;
  v.recent.reserve(p->recent.size());
  v.recent_weight.reserve(p->recent.size());
  double decay = 1.0;
  for (auto it = p->recent.rbegin(); it != p->recent.rend(); ++it) {
    v.recent.push_back(it->item);
    v.recent_weight.push_back(static_cast<float>(it->weight * decay));
    decay *= cfg_.recency_decay;
  }
  v.seen.assign(p->seen_order.begin() + static_cast<std::ptrdiff_t>(p->seen_head),
                p->seen_order.end());
  return v;
}

std::vector<interaction> profile_store::recent(std::string_view user) const {
  std::vector<interaction> out;
  const auto* p = find(user);
  if (p == nullptr)
    return out;
  for (auto it = p->recent.rbegin(); it != p->recent.rend(); ++it) {
    auto name = item_names_.find(it->item);
    out.push_back({name != item_names_.end() ? name->second : std::string{},
                   it->type, it->weight, it->timestamp});
  }
  return out;
}

bool profile_store::erase(std::string_view user) {
  auto it = users_.find(hash_id(user));
  if (it == users_.end() || it->second.id != user)
    return false;
  users_.erase(it);
  return true;
}

std::size_t profile_store::memory_bytes() const noexcept {
  std::size_t total = users_.capacity() * (sizeof(void*) + 1)
                      + users_.size() * (sizeof(key_t) + sizeof(user_profile) + 16);
  for (const auto& [k, p] : users_) {
    total += p.id.capacity() > 15 ? p.id.capacity() + 1 : 0;
    total += p.recent.capacity() * sizeof(user_profile::recent_entry);
    total += p.seen_index.capacity() * (sizeof(key_t) + 1);
    total += p.seen_order.capacity() * sizeof(key_t);
  }
  total += item_names_.capacity() * (sizeof(key_t) + sizeof(std::string) + 1);
  for (const auto& [k, s] : item_names_)
    total += s.capacity() > 15 ? s.capacity() + 1 : 0;
  return total;
}

}  // namespace rtrec::engine
