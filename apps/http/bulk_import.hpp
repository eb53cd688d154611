// Bulk import of JSON lines into a service, shared by POST /api/bulk/*
// (api_bulk.cpp) and `rtrec import --data-dir` (no server): each line is one
// Gorse object (a user, an item or a feedback, as Gorse exports them), parsed
// on its own; good lines are written in batches of at most `batch` through
// the service's normal paths (put_user, set_item, ingest: logged and
// applied), bad ones are counted and reported by line number. Memory: one
// batch. Not thread-safe; its calls block on the service.
#pragma once

#include <nlohmann/json.hpp>

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "rtrec/rtrec.hpp"
#include "apps/http/json_io.hpp"

namespace rtrec::http {

enum class bulk_kind { users, items, feedback };

/// "users", "items" or "feedback" -> the kind; nullopt for anything else.
std::optional<bulk_kind> parse_bulk_kind(std::string_view name);
const char* to_string(bulk_kind k) noexcept;

/// What an import did.
struct bulk_report {
  std::uint64_t lines = 0;       ///< lines read (empty lines included)
  std::uint64_t imported = 0;    ///< objects written (feedback: applied or duplicates)
  std::uint64_t duplicates = 0;  ///< feedback whose EventId was applied before
  std::uint64_t errors = 0;      ///< lines refused (each counted once)
  /// The first errors, each naming its line ("line 7: UserId: ...").
  std::vector<std::string> first_errors;
  static constexpr std::size_t max_listed = 20;

  /// {"RowAffected", "Lines", "Duplicates", "Errors", "FirstErrors"}.
  nlohmann::json to_json() const;
};

class bulk_importer {
 public:
  /// `eng` must outlive the importer; `now_ms` stamps feedback without a
  /// Timestamp (the service's clock).
  bulk_importer(service& eng, bulk_kind kind, input_limits limits, std::size_t batch = 1000);

  /// Takes line `number` (1-based). A line that does not parse is counted
  /// with its error; a full batch is written. Empty lines are skipped.
  void line(std::uint64_t number, std::string_view text);
  /// Counts line `number` as an error (e.g. too long) with `why`.
  void refuse(std::uint64_t number, const std::string& why);
  /// Writes what is left and returns the report.
  bulk_report finish();

  /// Set once the service refused a batch for a reason that will not go
  /// away within this import (shutting down, a shard unavailable,
  /// overloaded): the caller stops reading; the report says what was done.
  const std::optional<rtrec::error>& stopped() const noexcept { return stopped_; }
  const bulk_report& report() const noexcept { return report_; }

 private:
  void flush();
  void flush_users();
  void flush_items();
  void flush_feedback();
  void error(std::uint64_t number, std::string why);

  service& eng_;
  bulk_kind kind_;
  input_limits limits_;
  std::size_t batch_;
  bulk_report report_;
  std::optional<rtrec::error> stopped_;
  std::vector<std::uint64_t> numbers_;  // of the batch's lines
  std::vector<std::pair<std::string, engine::user_patch>> users_;
  std::vector<engine::item_meta> items_;
  std::vector<engine::event> events_;
};

}  // namespace rtrec::http
