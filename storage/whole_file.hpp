// Reading a whole file into memory in one go (log segments, checkpoint
// files): one fstat and read() calls of the file's size, instead of a
// character-at-a-time stream iterator.
#pragma once

#include <string>

namespace rtrec::storage {

/// Reads the file at `path` into `out` and returns 0, or the errno of the
/// call that failed. A file that grows meanwhile yields what it held when
/// it was opened; one that shrinks, what is left.
int read_whole_file(const std::string& path, std::string& out);

}  // namespace rtrec::storage
