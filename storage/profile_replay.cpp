#include "storage/profile_replay.hpp"

#include <stdexcept>
#include <string>

#include "storage/codec.hpp"

namespace rtrec::storage {

std::size_t apply_profile_record(const log_record& r, engine::profile_store& store,
                                 engine::dedup_window& window, engine::batch_outcome& outcome,
                                 engine::item_delta_batch& delta) {
  delta.clear();
  switch (r.kind) {
    case record_kind::events: {
      auto events = decode_events(r.payload);
      engine::apply_idempotent(store, window, events, r.time_ms, outcome, delta);
      return outcome.applied;
    }
    case record_kind::forget_user:
      store.erase(r.payload);
      return 0;
    case record_kind::user_upsert: {
      std::string user;
      auto patch = decode_user_upsert(r.payload, user);
      store.upsert(user, patch);
      return 0;
    }
    case record_kind::feedback_delete:
      store.delete_feedback(decode_feedback_delete(r.payload));
      return 0;
    case record_kind::replica_state:  // a replica's commit point: no profile change
      return 0;
    default:
      throw std::runtime_error("wal: record kind " + std::to_string(static_cast<int>(r.kind))
                               + " on profile shard stream " + std::to_string(r.stream));
  }
}

}  // namespace rtrec::storage
