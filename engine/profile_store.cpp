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
    history_unseen = history_unseen || !history.empty();
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

void user_profile::forget_seen(key_t item) {
  auto first = seen_order.begin() + static_cast<std::ptrdiff_t>(seen_head);
  auto it = std::find(first, seen_order.end(), item);
  if (it == seen_order.end())
    return;
  seen_order.erase(it);
  seen_index.erase(item);
}

profile_store::profile_store(model_config cfg) : cfg_(std::move(cfg)) {
  cfg_.recent_max = std::max<std::size_t>(1, cfg_.recent_max);
  // An item in the recent list must still be remembered as seen.
  cfg_.seen_max = std::max(cfg_.seen_max, cfg_.recent_max);
}

reject_reason profile_store::apply(const event& e, item_delta_batch& out) {
  return apply_keyed(e, hash_id(e.user), hash_id(e.item), out);
}

void profile_store::apply_batch(const std::vector<event>& events,
                                std::vector<reject_reason>& results, item_delta_batch& out) {
  const std::size_t n = events.size();
  results.resize(n);
  std::vector<key_t> uks(n), iks(n);
  for (std::size_t k = 0; k < n; ++k) {
    uks[k] = hash_id(events[k].user);
    iks[k] = hash_id(events[k].item);
  }
  // Three-stage software pipeline over the cache misses of a lookup: the
  // table slot (far ahead), the profile (nearer), its vectors (next).
  constexpr std::size_t far = 12, near = 6, next = 2;
  for (std::size_t k = 0; k < n; ++k) {
    if (k + far < n) {
      users_.prefetch(uks[k + far]);
      item_names_.prefetch(iks[k + far]);
    }
    if (k + near < n) {
      if (auto it = users_.find(uks[k + near]); it != users_.end())
        __builtin_prefetch(&profile_at(it->second));
    }
    if (k + next < n) {
      if (auto it = users_.find(uks[k + next]); it != users_.end()) {
        const auto& p = profile_at(it->second);
        if (!p.recent.empty())
          __builtin_prefetch(p.recent.data() + p.recent.size() - 1);
        if (p.seen_count() > 0 && p.seen_index.empty())
          __builtin_prefetch(p.seen_order.data() + p.seen_head);
      }
    }
    results[k] = apply_keyed(events[k], uks[k], iks[k], out);
  }
}

reject_reason profile_store::apply_keyed(const event& e, key_t uk, key_t ik,
                                         item_delta_batch& out) {
  // Check both ids before changing anything (one lookup each).
  auto uit = users_.find(uk);
  if (uit != users_.end() && profile_at(uit->second).id != e.user)
    return reject_reason::id_collision;
  auto [nit, named] = item_names_.try_emplace(ik);
  if (named) {
    nit->second = e.item;
    out.new_keys.push_back(ik);
    out.new_ids.push_back(e.item);
  } else if (nit->second != e.item) {
    return reject_reason::id_collision;
  }
  if (uit == users_.end())
    uit = add_profile(uk, e.user);
  auto& p = profile_at(uit->second);
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
  out.user.push_back(uk);
  if (first_time && !negative) {
    std::size_t taken = 0;
    for (auto it = p.recent.rbegin(); it != p.recent.rend() && taken < cfg_.context_window(); ++it) {
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
  record_feedback(p, uk, ik, e, first_time);
  return reject_reason::none;
}

absl::flat_hash_map<key_t, std::uint32_t>::iterator profile_store::add_profile(
  key_t uk, std::string_view id) {
  std::uint32_t slot;
  if (!free_slots_.empty()) {
    slot = free_slots_.back();
    free_slots_.pop_back();
  } else {
    if ((slots_used_ >> chunk_bits) >= chunks_.size())
      chunks_.push_back(std::make_unique<user_profile[]>(chunk_size));
    slot = slots_used_++;
  }
  auto it = users_.try_emplace(uk, slot).first;
  auto& fresh = profile_at(slot);
  fresh.id = std::string{id};
  fresh.recent.reserve(std::min<std::size_t>(cfg_.recent_max, 4));
  return it;
}

profile_store::upsert_outcome profile_store::upsert(std::string_view user,
                                                    const user_patch& patch) {
  const key_t uk = hash_id(user);
  auto it = users_.find(uk);
  if (it != users_.end() && profile_at(it->second).id != user)
    return upsert_outcome::id_collision;
  const bool created = it == users_.end();
  if (created && patch.must_exist)
    return upsert_outcome::not_found;
  if (created)
    add_profile(uk, user);
  // Patched in place; a user whose metadata became empty keeps no entry.
  auto m = meta_.try_emplace(uk).first;
  patch.apply(m->second);
  if (m->second.empty())
    meta_.erase(m);
  return created ? upsert_outcome::created : upsert_outcome::updated;
}

user_record profile_store::record(std::string_view user) const {
  const auto* p = find(user);
  return p == nullptr ? user_record{} : record_of(*p, hash_id(user));
}

user_record profile_store::record_of(const user_profile& p, key_t uk) const {
  user_record r;
  r.known = true;
  r.id = p.id;
  r.events = p.events;
  if (auto m = meta_.find(uk); m != meta_.end())
    r.meta = m->second;
  return r;
}

user_page profile_store::list(std::uint64_t from, std::size_t n) const {
  user_page page;
  std::uint64_t s = from;
  for (; s < slots_used_ && page.users.size() < n; ++s) {
    const auto& p = profile_at(static_cast<std::uint32_t>(s));
    if (p.id.empty())
      continue;  // a free slot
    page.users.push_back(record_of(p, hash_id(p.id)));
  }
  page.done = s >= slots_used_;
  page.next = page.done ? 0 : s;
  return page;
}

const user_profile* profile_store::find(std::string_view user) const {
  auto it = users_.find(hash_id(user));
  if (it == users_.end() || profile_at(it->second).id != user)
    return nullptr;
  return &profile_at(it->second);
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
  if (it == users_.end() || profile_at(it->second).id != user)
    return false;
  auto& p = profile_at(it->second);
  for (std::size_t k = 0; k < p.history.size(); ++k)
    drop_text(it->first, p.history[k]);
  feedback_records_ -= p.history.size();
  p = user_profile{};
  free_slots_.push_back(it->second);
  meta_.erase(it->first);
  users_.erase(it);
  return true;
}

std::size_t profile_store::memory_bytes() const noexcept {
  std::size_t total = users_.capacity() * (sizeof(key_t) + sizeof(std::uint32_t) + 1)
                      + chunks_.size() * chunk_size * sizeof(user_profile)
                      + free_slots_.capacity() * sizeof(std::uint32_t);
  for (const auto& [k, slot] : users_) {
    const auto& p = profile_at(slot);
    total += p.id.capacity() > 15 ? p.id.capacity() + 1 : 0;
    total += p.recent.capacity() * sizeof(user_profile::recent_entry);
    total += p.seen_index.capacity() * (sizeof(key_t) + 1);
    total += p.seen_order.capacity() * sizeof(key_t);
    total += p.history.memory_bytes();
  }
  total += feedback_text_.capacity() * (sizeof(text_key) + sizeof(feedback_text) + 1);
  for (const auto& [k, t] : feedback_text_)
    total += t.timestamp_text.capacity() + t.comment.capacity();
  total += meta_.capacity() * (sizeof(key_t) + sizeof(user_meta) + 1);
  for (const auto& [k, m] : meta_) {
    total += m.labels.capacity() + m.comment.capacity()
             + m.subscribe.capacity() * sizeof(std::string);
    for (const auto& x : m.subscribe)
      total += x.capacity();
  }
  total += item_names_.capacity() * (sizeof(key_t) + sizeof(std::string) + 1);
  for (const auto& [k, s] : item_names_)
    total += s.capacity() > 15 ? s.capacity() + 1 : 0;
  return total;
}

std::string profile_store::id_of(key_t user) const {
  auto it = users_.find(user);
  return it == users_.end() ? std::string{} : profile_at(it->second).id;
}

profile_view session_view(const model_config& cfg, const std::vector<event>& events) {
  static constexpr std::string_view session_user = "session";
  auto no_history = cfg;
  no_history.feedback_retention = 0;  // nothing is stored for a session
  profile_store store{no_history};
  item_delta_batch scratch;
  for (const auto& e : events) {
    event copy = e;
    copy.user = session_user;
    scratch.clear();
    (void)store.apply(copy, scratch);
  }
  return store.view(session_user);
}

}  // namespace rtrec::engine
