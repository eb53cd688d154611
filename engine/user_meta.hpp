// What an application says about a user apart from interactions (Gorse's
// user object): labels, a comment and subscriptions. Kept by the profile
// shard that owns the user (engine::profile_store), logged and checkpointed
// with it, and forgotten with it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace rtrec::engine {

/// Limits on a user's metadata, checked where it enters (the HTTP API and
/// the embedding API refuse larger values with invalid_request).
struct user_meta_limits {
  static constexpr std::size_t labels_bytes = 16 * 1024;   ///< Labels as JSON text
  static constexpr std::size_t comment_bytes = 4 * 1024;
  static constexpr std::size_t subscribe_max = 256;        ///< Subscribe entries
  static constexpr std::size_t subscribe_bytes = 256;      ///< per entry
};

/// A user's metadata. `labels` is the JSON text of Gorse's Labels value
/// (any JSON), stored as given after validation; empty when never set.
struct user_meta {
  std::string labels;
  std::string comment;
  std::vector<std::string> subscribe;

  bool empty() const noexcept { return labels.empty() && comment.empty() && subscribe.empty(); }
};

/// Changes to a user's metadata: a field changes only when its set_* flag is
/// true (plain flags, so the struct travels between actors and into the log
/// as it is).
struct user_patch {
  /// When true, an unknown user is not created (the upsert answers
  /// not-found); PATCH uses it, POST does not.
  bool must_exist = false;
  bool set_labels = false;
  std::string labels;
  bool set_comment = false;
  std::string comment;
  bool set_subscribe = false;
  std::vector<std::string> subscribe;

  /// Applies the set fields to `m`.
  void apply(user_meta& m) const {
    if (set_labels)
      m.labels = labels;
    if (set_comment)
      m.comment = comment;
    if (set_subscribe)
      m.subscribe = subscribe;
  }

  /// Returns "" when every set field is within user_meta_limits, else which
  /// field is too large and by how much.
  std::string check() const {
    if (set_labels && labels.size() > user_meta_limits::labels_bytes)
      return "Labels is " + std::to_string(labels.size()) + " bytes as JSON, more than "
             + std::to_string(user_meta_limits::labels_bytes);
    if (set_comment && comment.size() > user_meta_limits::comment_bytes)
      return "Comment is " + std::to_string(comment.size()) + " bytes, more than "
             + std::to_string(user_meta_limits::comment_bytes);
    if (set_subscribe && subscribe.size() > user_meta_limits::subscribe_max)
      return "Subscribe has " + std::to_string(subscribe.size()) + " entries, more than "
             + std::to_string(user_meta_limits::subscribe_max);
    for (std::size_t k = 0; set_subscribe && k < subscribe.size(); ++k)
      if (subscribe[k].size() > user_meta_limits::subscribe_bytes)
        return "Subscribe[" + std::to_string(k) + "] is longer than "
               + std::to_string(user_meta_limits::subscribe_bytes) + " bytes";
    return {};
  }
};

/// A user as the API shows it: known=false for an unknown (or forgotten)
/// user, whose other fields are then empty.
struct user_record {
  bool known = false;
  std::string id;
  user_meta meta;
  std::uint64_t events = 0;
};

/// One page of a shard's users in slot order (profile_store::list): the
/// users and the slot to continue from (next == 0 and done: no more).
struct user_page {
  std::vector<user_record> users;
  std::uint64_t next = 0;
  bool done = true;
};

}  // namespace rtrec::engine
