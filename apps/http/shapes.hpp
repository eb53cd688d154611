// Gorse's user, item and feedback objects as rtrec reads and writes them (the
// users, items, feedback and bulk routes share them): a user object's fields
// into a patch, and a user record, item metadata or feedback record as the
// JSON object Gorse answers.
//
//   user: {"UserId", "Labels", "Comment", "Subscribe"}
//   item: {"ItemId", "IsHidden", "Categories", "Timestamp", "Labels", "Comment"}
//   feedback: {"FeedbackType", "UserId", "ItemId", "Value", "Timestamp", "Comment"}
#pragma once

#include <nlohmann/json.hpp>

#include <string>

#include "apps/http/json_io.hpp"
#include "engine/feedback.hpp"
#include "engine/model_types.hpp"
#include "engine/user_meta.hpp"

namespace rtrec::http {

/// Reads the user fields of object `x` into a patch; `where` names `x` in
/// errors ("body", "[3]"). With `id_required`, UserId must be there (into
/// `id`). Returns false with `err` naming the field on the first problem.
bool parse_user(const nlohmann::json& x, const std::string& where, bool id_required,
                const input_limits& limits, std::string& id, engine::user_patch& p,
                input_error& err);

/// A user in Gorse's shape; unset Labels and Subscribe are null, Comment "".
nlohmann::json user_json(const engine::user_record& u);

/// An item in Gorse's shape: Timestamp as the client wrote it (else the
/// creation time in RFC 3339), Labels the JSON given (null when none),
/// Comment "" when none.
nlohmann::json item_json(const engine::item_meta& m);

/// A feedback record in Gorse's shape: Timestamp as the client wrote it when
/// it was a string, else the time in RFC 3339 (UTC).
nlohmann::json feedback_json(const engine::feedback_record& r);

}  // namespace rtrec::http
