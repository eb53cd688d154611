// Bulk export in Gorse's format (JSON lines, one object a line), one page at
// a time, shared by GET /api/bulk/* (api_bulk.cpp) and `rtrec export
// --data-dir` (no server): users, items and feedback (the users' feedback
// histories) in the shapes of apps/http/shapes.hpp. Memory: one page.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "apps/http/bulk_import.hpp"
#include "rtrec/rtrec.hpp"

namespace rtrec::http {

/// Appends the page of up to `n` objects after `cursor` to `lines` (one
/// JSON object and '\n' each), sets `cursor` to where the next page starts
/// ("" after the last page) and adds the objects written to `count`.
/// Returns "" or why the service could not list them.
std::string bulk_export_page(service& eng, bulk_kind kind, std::string& cursor, std::uint32_t n,
                             std::string& lines, std::size_t& count);

}  // namespace rtrec::http
