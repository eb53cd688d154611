// Files compiled into the binary at build time (cmake/embed_files.cmake
// writes their bytes into a generated source): the dashboard's static pages.
#pragma once

#include <cstddef>
#include <string_view>

namespace rtrec::http {

struct embedded_file {
  std::string_view path;     ///< relative to apps/http/dashboard/, e.g. "app.js"
  std::string_view content;  ///< the file's bytes, as they were at build time
};

/// The embedded files, embedded_file_count of them (then one empty entry).
extern const embedded_file embedded_files[];
extern const std::size_t embedded_file_count;

}  // namespace rtrec::http
