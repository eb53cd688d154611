// The feedback history part of profile_store: recording events into each
// user's feedback_log, reading, listing and deleting records (the rules are
// drawn in engine/feedback.hpp; the snapshot part is in serialization.cpp).
#include <algorithm>

#include "engine/profile_store.hpp"

namespace rtrec::engine {

void profile_store::record_feedback(user_profile& p, key_t uk, key_t ik, const event& e,
                                    bool first_time) {
  if (cfg_.feedback_retention == 0)
    return;
  auto& h = p.history;
  // Every record's item is seen unless history_unseen: a first-time item has
  // none, and the scan (up to feedback_retention records) is skipped.
  const auto at = first_time && !p.history_unseen ? feedback_log::npos : h.find(ik, e.type);
  if (at != feedback_log::npos) {
    if (!e.overwrite)
      return;  // Gorse's POST: an existing record stays as it was
    drop_text(uk, h[at]);
    h.remove(at);
    --feedback_records_;
  }
  const bool text = !e.comment.empty() || !e.timestamp_text.empty();
  h.append(ik, e.timestamp, e.type, static_cast<float>(e.value), text);
  ++feedback_records_;
  if (text)
    feedback_text_.insert_or_assign(text_key{uk, ik, e.type},
                                    feedback_text{e.timestamp_text, e.comment});
  const auto before = h.size();
  h.trim(cfg_.feedback_retention, [&](const feedback_entry& x) { drop_text(uk, x); });
  feedback_records_ -= before - h.size();
}

void profile_store::drop_text(key_t uk, const feedback_entry& x) {
  if (x.has_text)
    feedback_text_.erase(text_key{uk, x.item, x.type});
}

void profile_store::add_record(const user_profile& p, key_t uk, const feedback_entry& x,
                               std::vector<feedback_record>& out) const {
  feedback_record r;
  r.type = x.type;
  r.user = p.id;
  if (auto name = item_names_.find(x.item); name != item_names_.end())
    r.item = name->second;
  r.timestamp = x.timestamp;
  r.value = x.value;
  if (x.has_text) {
    if (auto t = feedback_text_.find(text_key{uk, x.item, x.type}); t != feedback_text_.end()) {
      r.timestamp_text = t->second.timestamp_text;
      r.comment = t->second.comment;
    }
  }
  out.push_back(std::move(r));
}

std::vector<feedback_record> profile_store::feedback(std::string_view user,
                                                     const feedback_filter& f) const {
  std::vector<feedback_record> out;
  const auto* p = find(user);
  if (p == nullptr)
    return out;
  const key_t uk = hash_id(user);
  const key_t fk = f.item.empty() ? 0 : hash_id(f.item);
  for (std::size_t k = 0; k < p->history.size(); ++k)
    if (passes(p->history[k], f, fk))
      add_record(*p, uk, p->history[k], out);
  return out;
}

bool profile_store::page_user(const user_profile& p, std::uint64_t slot, std::size_t from,
                              const feedback_filter& f, key_t fk, std::size_t n,
                              feedback_page& page) const {
  const key_t uk = hash_id(p.id);
  for (auto k = from; k < p.history.size(); ++k) {
    const auto& x = p.history[k];
    if (!passes(x, f, fk))
      continue;
    add_record(p, uk, x, page.records);
    if (page.records.size() == n) {
      page.done = false;
      page.next_slot = slot;
      page.next_seq = x.seq;
      return false;
    }
  }
  return true;
}

feedback_page profile_store::list_feedback(std::uint64_t from_slot, std::uint32_t after_seq,
                                           std::size_t n, const feedback_filter& f,
                                           std::size_t max_users) const {
  feedback_page page;
  if (n == 0) {  // nothing asked: continue where asked to start
    page.done = from_slot >= slots_used_;
    page.next_slot = from_slot;
    page.next_seq = after_seq;
    return page;
  }
  const key_t fk = f.item.empty() ? 0 : hash_id(f.item);
  std::size_t visited = 0;
  for (auto s = from_slot; s < slots_used_; ++s, after_seq = 0) {
    if (visited++ == std::max<std::size_t>(1, max_users)) {
      page.done = false;
      page.next_slot = s;
      page.next_seq = 0;
      return page;
    }
    const auto& p = profile_at(static_cast<std::uint32_t>(s));
    if (p.id.empty() || p.history.empty())
      continue;  // a free slot, or no records
    if (!page_user(p, s, p.history.after(after_seq), f, fk, n, page))
      return page;
  }
  return page;
}

std::size_t profile_store::delete_feedback(const feedback_delete& d) {
  auto uit = users_.find(hash_id(d.user));
  const key_t ik = hash_id(d.item);
  auto name = item_names_.find(ik);
  if (uit == users_.end() || name == item_names_.end() || name->second != d.item)
    return 0;
  auto& p = profile_at(uit->second);
  if (p.id != d.user)
    return 0;
  std::size_t deleted = 0;
  for (std::size_t k = p.history.size(); k > 0; --k) {
    const auto& x = p.history[k - 1];
    if (x.item != ik || (!d.any_type && x.type != d.type))
      continue;
    drop_text(uit->first, x);
    p.history.remove(k - 1);
    ++deleted;
  }
  feedback_records_ -= deleted;
  if (!p.history.has_item(ik)) {
    p.recent.erase(std::remove_if(p.recent.begin(), p.recent.end(),
                                  [ik](const auto& r) { return r.item == ik; }),
                   p.recent.end());
    p.forget_seen(ik);
  }
  return deleted;
}

}  // namespace rtrec::engine
