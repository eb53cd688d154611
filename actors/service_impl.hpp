// What an rtrec::service (include/rtrec/rtrec.hpp) holds: its actor system,
// topology and the parts around it, each in its own file:
//
//   flow_gate      events in flight (actors/flow_gate.hpp)
//   tickets        calls in flight and their deadlines (actors/tickets.hpp)
//   item writer    item metadata writes (actors/item_writer.hpp)
//   checkpointer   checkpoints and their timer (actors/checkpointer.hpp)
//   cluster        node bootstrap and manager (actors/cluster.hpp)
//
// Internal: applications include <rtrec/rtrec.hpp> only. Tests reach the
// actors through service::internals().
#pragma once

#include <caf/all.hpp>

#include <atomic>
#include <memory>

#include "actors/blocking_call.hpp"
#include "actors/checkpointer.hpp"
#include "actors/cluster.hpp"
#include "actors/flow_gate.hpp"
#include "actors/shard_router.hpp"
#include "actors/tickets.hpp"
#include "actors/topology.hpp"
#include "rtrec/rtrec.hpp"

namespace rtrec {

struct service::impl {
  impl(service_options o, wall_clock c);

  service_options opts;
  wall_clock clock;
  flow_gate gate;
  std::unique_ptr<caf::actor_system_config> config;
  std::unique_ptr<caf::actor_system> system;
  topology topo;
  std::shared_ptr<ticket_registry> tickets;
  caf::actor watchdog;
  item_writer_actor items;
  // Durability (null / empty in memory).
  std::shared_ptr<storage::wal> wal;
  storage::recovery_report recovery;
  std::unique_ptr<checkpointer> checkpoints;
  // Cluster mode (null in one process).
  std::shared_ptr<cluster_shared> cluster;
  caf::actor manager;
  /// Queries answered without the item shards of an unreachable node.
  std::atomic<std::uint64_t> partial_answers{0};

  /// Every shard's current handle: the topology's in one process, the
  /// cluster directory's in cluster mode (null = its node is unreachable).
  shard_router router() const;
  /// caf::expected -> result, with CAF errors outside rtrec's category as
  /// shard_unavailable naming `what`.
  rtrec::error convert(const caf::error& err, const char* what = "call") const;
  template <class T>
  result<T> convert(caf::expected<T>&& x, const char* what = "call") const {
    if (!x)
      return convert(x.error(), what);
    return std::move(*x);
  }
  /// A blocking call into the actors under call_timeout, converted; fails
  /// with shutting_down once stopped.
  template <class T, class Dest, class... Ts>
  result<T> call(const Dest& dest, Ts&&... xs);
};

template <class T, class Dest, class... Ts>
result<T> service::impl::call(const Dest& dest, Ts&&... xs) {
  if (gate.closed())
    return rtrec::error{error_code::shutting_down, "the service is stopped"};
  return convert(blocking_call<T>(*system, caf::timespan{opts.call_timeout}, dest,
                                  std::forward<Ts>(xs)...));
}

}  // namespace rtrec
