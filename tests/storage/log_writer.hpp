// Writing a log the way a shard or the meta writer would, for tests that
// read it back (recovery, resyncs): item metadata records, and appending
// records to data_dir/wal, waiting until the log's writer thread has written
// them all. Shared by the storage and actor test files.
#pragma once

#include <gtest/gtest.h>

#include <algorithm>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

#include "engine/model_types.hpp"
#include "storage/codec.hpp"
#include "storage/recovery.hpp"
#include "storage/wal.hpp"

namespace rtrec::storage_test {

/// Item metadata for `id` with `categories`, created at a fixed time.
inline engine::item_meta meta_of(const std::string& id, std::vector<std::string> categories = {}) {
  engine::item_meta m;
  m.id = id;
  m.categories = std::move(categories);
  m.timestamp = 1'700'000'000'000;
  return m;
}

/// The meta writer's log record `seq` setting `m`, or removing item `id`.
inline storage::log_record set_record(std::uint64_t seq, const engine::item_meta& m) {
  storage::log_record r{storage::record_kind::item_meta, storage::meta_stream, seq,
                        1'700'000'000'000, {}};
  storage::encode_item_meta(m, r.payload);
  return r;
}
inline storage::log_record remove_record(std::uint64_t seq, const std::string& id) {
  return {storage::record_kind::item_remove, storage::meta_stream, seq, 1'700'000'000'000, id};
}

/// Appends records at(from) .. at(to - 1) to `log`, `group` at a time: each
/// group is queued, then waited for until durable, before the next (a group
/// never rolls a segment in its middle, so small groups and small segments
/// spread the records over many segments). Returns the errors reported.
template <class At>
std::vector<std::string> append_in_groups(storage::wal& log, std::size_t from, std::size_t to,
                                          std::size_t group, At&& at) {
  std::vector<std::string> errors;
  for (std::size_t begin = from; begin < to; begin += group) {
    const auto end = begin + std::min(group, to - begin);
    std::mutex mtx;
    std::condition_variable cv;
    std::size_t left = end - begin;
    for (auto k = begin; k < end; ++k)
      log.append(at(k), [&](const std::string& err) {
        std::lock_guard<std::mutex> guard{mtx};
        if (!err.empty())
          errors.push_back(err);
        if (--left == 0)
          cv.notify_all();
      });
    std::unique_lock<std::mutex> guard{mtx};
    cv.wait(guard, [&] { return left == 0; });
  }
  return errors;
}

/// Appends `records` to a new log in data_dir/wal, `group` records at a time
/// (append_in_groups; default: all in one go).
inline void append_records(const std::string& data_dir,
                           const std::vector<storage::log_record>& records,
                           std::uint64_t segment_bytes = 64ull << 20,
                           std::size_t group = static_cast<std::size_t>(-1)) {
  storage::wal_options o;
  o.dir = storage::wal_dir(data_dir);
  o.sync = storage::sync_policy::none;
  o.segment_bytes = segment_bytes;
  storage::wal log{o, {}};
  const auto errors = append_in_groups(log, 0, records.size(), group,
                                       [&](std::size_t k) -> const storage::log_record& {
                                         return records[k];
                                       });
  EXPECT_TRUE(errors.empty()) << errors.front();
}

}  // namespace rtrec::storage_test
