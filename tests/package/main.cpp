// Uses rtrec through its installed package only: the embedding API, no CAF
// in sight. Prints "consumer: ok" when every check passed, else says which
// failed and exits 1.
#include <rtrec/rtrec.hpp>

#include <cstdio>
#include <string>

namespace {

int fail(const std::string& what) {
  std::printf("consumer: FAILED: %s\n", what.c_str());
  return 1;
}

}  // namespace

int main() {
  rtrec::service_options o;
  o.topology.profile_shards = 2;
  o.topology.item_shards = 2;
  o.worker_threads = 2;
  rtrec::service svc{o, [] { return std::int64_t{1'700'000'000'000}; }};
  using rtrec::engine::event_type;
  const std::int64_t t = 1'700'000'000'000;
  auto r = svc.ingest({{"bob", "dune", event_type::like, 0, t, ""},
                       {"bob", "hyperion", event_type::like, 0, t, ""},
                       {"alice", "dune", event_type::like, 0, t, ""},
                       {"alice", "", event_type::like, 0, t, ""}});
  if (!r)
    return fail("ingest: " + r.error().to_string());
  if (r->accepted != 3 || r->rejected.size() != 1)
    return fail("ingest: expected 3 accepted and 1 rejected");
  if (auto f = svc.flush(); !f)
    return fail("flush: " + f.error().to_string());
  auto recs = svc.recommend("alice");
  if (!recs)
    return fail("recommend: " + recs.error().to_string());
  if (recs->empty() || recs->front().item != "hyperion")
    return fail("recommend: expected hyperion first");
  auto bad = svc.recommend("alice", {20000, 0, {}, true});
  if (bad || bad.error().code != rtrec::error_code::invalid_request)
    return fail("recommend with n = 20000: expected invalid_request");
  if (svc.now_ms() != t)
    return fail("the injected clock was not used");
  svc.stop();
  std::printf("consumer: ok\n");
  return 0;
}
