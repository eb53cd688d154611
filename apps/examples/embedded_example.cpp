// The embedding API in one page: start a service, ingest events for two
// users, ask for recommendations (a just-ingested event shows at once),
// similar and popular items, then stop. Errors come back in rtrec::result.
#include <cstdio>
#include <string>
#include <vector>

#include <rtrec/rtrec.hpp>

using rtrec::engine::event;
using rtrec::engine::event_type;

namespace {

void print(const char* title,
           const rtrec::result<std::vector<rtrec::engine::recommendation>>& recs) {
  std::printf("%s:", title);
  if (!recs) {
    std::printf(" error: %s\n", recs.error().to_string().c_str());
    return;
  }
  for (const auto& r : *recs)
    std::printf(" %s (%.2f)", r.item.c_str(), r.score);
  std::printf("\n");
}

}  // namespace

int main() {
  rtrec::service_options opts;           // 2 profile shards, 2 item shards, ...
  opts.topology.model.recent_max = 20;  // every engine::model_config knob is here
  rtrec::service svc{opts};

  // Alice and Bob share taste: both read dune, then foundation or hyperion.
  const std::int64_t t0 = 1'700'000'000'000;  // ms since the epoch
  std::vector<event> events = {
    {"alice", "dune", event_type::view, 0, t0, ""},
    {"alice", "foundation", event_type::like, 0, t0 + 1000, ""},
    {"bob", "dune", event_type::view, 0, t0 + 2000, ""},
    {"bob", "hyperion", event_type::purchase, 0, t0 + 3000, ""},
    {"carol", "neuromancer", event_type::rating, 4.5, t0 + 4000, ""},
  };
  if (auto r = svc.ingest(events); !r) {
    std::printf("ingest failed: %s\n", r.error().to_string().c_str());
    return 1;
  }
  svc.flush();  // wait for the item side (co-occurrence, popularity)
  print("alice", svc.recommend("alice", {}));  // hyperion, via dune

  // A new user gets popular items; one view later, items that go with it.
  // Read-your-writes: once ingest() returns, dave's profile has the event.
  print("dave (new)", svc.recommend("dave", {}));
  svc.ingest({{"dave", "dune", event_type::view, 0, t0 + 5000, ""}});
  print("dave after viewing dune", svc.recommend("dave", {}));

  print("similar to dune", svc.similar("dune", 3));
  print("popular", svc.popular(3));

  svc.stop();  // also done by the destructor
  return 0;
}
