// The single-threaded reference model: one profile store and one item model
// (owning every item), composed with the same pipeline steps the actors use.
// It is the oracle that actor tests compare against, and the fast path for
// offline evaluation. Not thread-safe.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "engine/config.hpp"
#include "engine/item_model.hpp"
#include "engine/profile_store.hpp"
#include "engine/recent_users.hpp"
#include "engine/scoring.hpp"

namespace rtrec::engine {

class reference_model {
 public:
  explicit reference_model(model_config cfg = {});

  /// Validates and applies `e` (profile, then item side at once). Returns
  /// reject_reason::none on success, else why it was refused (nothing changed).
  reject_reason ingest(const event& e);

  /// Returns up to o.n recommendations for `user`, best first.
  std::vector<recommendation> recommend(std::string_view user, const recommend_options& o = {});
  /// Same, as keys with scores (no name lookup): for evaluation loops.
  std::vector<scored> recommend_keys(std::string_view user, const recommend_options& o = {});
  /// Returns up to n items most similar to `item`, best first.
  std::vector<recommendation> similar(std::string_view item, std::size_t n,
                                      const item_filter& f = {}) const;
  /// Returns up to n most popular items, best first.
  std::vector<recommendation> popular(std::size_t n, const item_filter& f = {});
  /// Returns up to n newest visible items, newest first.
  std::vector<recommendation> latest(std::size_t n, const item_filter& f = {}) const;
  /// Returns up to n users most similar to `user` after skipping `offset`,
  /// best first (engine/recent_users.hpp; score in recommendation::score,
  /// the user id in recommendation::item). Empty for an unknown user.
  std::vector<recommendation> user_neighbors(std::string_view user, std::size_t n,
                                             std::size_t offset = 0) const;
  /// Returns recommendations for an anonymous session made of `events`
  /// (validated; nothing is stored).
  std::vector<recommendation> session(const std::vector<event>& events,
                                      const recommend_options& o = {});

  bool set_item(const item_meta& meta) { return items_.set_meta(meta); }
  bool remove_item(std::string_view id) { return items_.remove(id); }
  std::vector<interaction> user_recent(std::string_view user) const { return profiles_.recent(user); }

  profile_store& profiles() noexcept { return profiles_; }
  const profile_store& profiles() const noexcept { return profiles_; }
  item_model& items() noexcept { return items_; }
  const item_model& items() const noexcept { return items_; }
  const recent_users& item_users() const noexcept { return item_users_; }
  const model_config& config() const noexcept { return cfg_; }

 private:
  model_config cfg_;
  profile_store profiles_;
  item_model items_;
  recent_users item_users_;
  item_delta_batch scratch_;
};

}  // namespace rtrec::engine
