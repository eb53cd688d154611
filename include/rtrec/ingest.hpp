// What happens to the events of one ingest call: how many were applied,
// which were refused as invalid (engine::reject_reason: something about the
// event itself) and which could not be delivered (delivery_failure: nothing
// wrong with the event; retry it). Every submitted event is in exactly one of
// accepted, rejected or undelivered. The same struct is the ingestor's reply
// between actors (messages/messages.hpp gives it inspect()).
#pragma once

#include <cstdint>
#include <vector>

#include "engine/event.hpp"

namespace rtrec {

/// Why an event that was valid was not applied. Nothing of it was applied;
/// sending it again (with its event id, to make the retry idempotent) is safe.
enum class delivery_failure : std::uint8_t {
  shard_unavailable = 0,  ///< its profile shard is dead, unreachable or did not answer in time
  storage_failed = 1,     ///< the write-ahead log could not store it
};

constexpr std::size_t delivery_failure_count = 2;

/// "shard_unavailable" or "storage_failed".
inline const char* to_string(delivery_failure f) noexcept {
  return f == delivery_failure::storage_failed ? "storage_failed" : "shard_unavailable";
}

/// One invalid event: its index in the submitted batch and why.
struct rejection {
  std::uint32_t index = 0;
  engine::reject_reason reason = engine::reject_reason::none;
};

/// One valid event that was not applied: its index and why.
struct undelivered {
  std::uint32_t index = 0;
  delivery_failure why = delivery_failure::shard_unavailable;
};

/// Outcome of one ingest call (and the ingestor's acknowledgement). Sent once
/// every accepted event is applied by its profile shard: read-your-writes
/// holds from then on. accepted + rejected.size() + failed.size() == number
/// of events submitted; both lists are sorted by index.
struct ingest_result {
  std::uint64_t accepted = 0;
  std::vector<rejection> rejected;
  std::vector<undelivered> failed;
  /// Of the accepted: events whose id was already applied (acknowledged
  /// again, applied once).
  std::uint64_t duplicates = 0;
};

}  // namespace rtrec
