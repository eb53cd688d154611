#include "engine/reference_model.hpp"

namespace rtrec::engine {

reference_model::reference_model(model_config cfg)
  : cfg_(cfg), profiles_(cfg), items_(cfg, 0, 1), item_users_(cfg.item_users_max) {
}

reject_reason reference_model::ingest(const event& e) {
  if (auto r = validate(e, cfg_.limits); r != reject_reason::none)
    return r;
  scratch_.clear();
  if (auto r = profiles_.apply(e, scratch_); r != reject_reason::none)
    return r;
  items_.apply(scratch_);
  item_users_.apply(scratch_, [](key_t) { return true; });
  return reject_reason::none;
}

std::vector<scored> reference_model::recommend_keys(std::string_view user,
                                                    const recommend_options& o) {
  auto view = profiles_.view(user);
  auto q = make_query(view, o, true);
  q.names = false;
  return merge_shard_keys({score_on_shard(items_, q)}, o);
}

std::vector<recommendation> reference_model::recommend(std::string_view user,
                                                       const recommend_options& o) {
  auto view = profiles_.view(user);
  return merge_shard_scores({score_on_shard(items_, make_query(view, o, true))}, o);
}

std::vector<recommendation> reference_model::similar(std::string_view item, std::size_t n,
                                                     const item_filter& f) const {
  return resolve(items_, items_.similar(hash_id(item), n, f));
}

std::vector<recommendation> reference_model::popular(std::size_t n, const item_filter& f) {
  return resolve(items_, items_.popular(n, f));
}

std::vector<recommendation> reference_model::latest(std::size_t n, const item_filter& f) const {
  return resolve(items_, items_.latest(n, f));
}

std::vector<recommendation> reference_model::user_neighbors(std::string_view user, std::size_t n,
                                                           std::size_t offset) const {
  const auto view = profiles_.view(user);
  const auto ranked = rank_user_neighbors(
    {user_neighbor_contributions(item_users_, items_, {view.recent, view.recent_weight})},
    hash_id(user));
  std::vector<recommendation> out;
  std::size_t skipped = 0;
  for (const auto& s : ranked) {
    if (out.size() == n)
      break;
    auto id = profiles_.id_of(s.key);
    if (id.empty())
      continue;  // forgotten since it was listed
    if (skipped++ < offset)
      continue;
    out.push_back({std::move(id), s.score});
  }
  return out;
}

std::vector<recommendation> reference_model::session(const std::vector<event>& events,
                                                     const recommend_options& o) {
  auto view = session_view(cfg_, events);
  return merge_shard_scores({score_on_shard(items_, make_query(view, o, true))}, o);
}

}  // namespace rtrec::engine
