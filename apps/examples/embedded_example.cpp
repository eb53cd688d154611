// The embedded API in one page: start an engine, ingest events for two
// users, ask for recommendations (a just-ingested event shows at once),
// similar and popular items, then stop. Errors come back as caf::expected.
#include <cstdio>
#include <string>
#include <vector>

#include "actors/embedded_engine.hpp"

using rtrec::engine::event;
using rtrec::engine::event_type;

namespace {

void print(const char* title,
           const caf::expected<std::vector<rtrec::engine::recommendation>>& recs) {
  std::printf("%s:", title);
  if (!recs) {
    std::printf(" error: %s\n", caf::to_string(recs.error()).c_str());
    return;
  }
  for (const auto& r : *recs)
    std::printf(" %s (%.2f)", r.item.c_str(), r.score);
  std::printf("\n");
}

}  // namespace

int main() {
  rtrec::engine_options opts;           // 2 profile shards, 2 item shards, ...
  opts.topology.model.recent_max = 20;  // every engine::model_config knob is here
  rtrec::embedded_engine eng{opts};

  // Alice and Bob share taste: both read dune, then foundation or hyperion.
  const std::int64_t t0 = 1'700'000'000'000;  // ms since the epoch
  std::vector<event> events = {
    {"alice", "dune", event_type::view, 0, t0, ""},
    {"alice", "foundation", event_type::like, 0, t0 + 1000, ""},
    {"bob", "dune", event_type::view, 0, t0 + 2000, ""},
    {"bob", "hyperion", event_type::purchase, 0, t0 + 3000, ""},
    {"carol", "neuromancer", event_type::rating, 4.5, t0 + 4000, ""},
  };
  if (auto r = eng.ingest(events); !r) {
    std::printf("ingest failed: %s\n", caf::to_string(r.error()).c_str());
    return 1;
  }
  eng.flush();  // wait for the item side (co-occurrence, popularity)
  print("alice", eng.recommend("alice", {}));  // hyperion, via dune

  // A new user gets popular items; one view later, items that go with it.
  // Read-your-writes: once ingest() returns, dave's profile has the event.
  print("dave (new)", eng.recommend("dave", {}));
  eng.ingest({{"dave", "dune", event_type::view, 0, t0 + 5000, ""}});
  print("dave after viewing dune", eng.recommend("dave", {}));

  print("similar to dune", eng.similar("dune", 3));
  print("popular", eng.popular(3));

  eng.stop();  // also done by the destructor
  return 0;
}
