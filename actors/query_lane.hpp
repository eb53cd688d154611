// The query lane: CAF's work-sharing scheduler (one job queue that every
// worker takes from) with a second queue in front of it for query work.
//
//                    +--------------+
//   query actors --->| urgent queue |--+  a worker takes from here first,
//   expedited    --->+--------------+  |  up to `max_urgent_streak` turns in
//   shards           +--------------+  +--> a row while other work waits
//   everything   --->| normal queue |--+
//   else             +--------------+
//
// Why: with one FIFO queue a query waits at every hop for every actor queued
// ahead of it, each applying a batch of up to 256 events, although the
// query's own work takes microseconds. Here an actor goes to the urgent
// queue when
//  - it is a query actor (registered with mark_query_actor: the
//    recommenders, which hold no ingest work), or
//  - a query is waiting in its mailbox: the sender calls expedite() before it
//    sends the (high-priority) query message. A shard already in the normal
//    queue moves to the urgent one; a shard that is running, or blocked,
//    goes to the urgent queue the next time it is enqueued.
// Inside the shard, the query is a high-priority message and is taken before
// the ingest batches queued in its mailbox (CAF's urgent mailbox queue).
//
// With the engine saturated by ingest this cuts a query's tail latency and
// lets several times as many queries through (figures: docs/benchmarks.md,
// "One worker per core, and the query lane").
//
// Ingest is never starved: after `max_urgent_streak` urgent turns in a row
// while normal work waits, a worker takes one normal job. Ordering between
// the messages of one sender and one receiver is CAF's and unchanged: the
// lane orders actors, never the messages in a mailbox.
//
// Selected with service_options::scheduler_policy = "priority" (the default);
// under "sharing", "stealing" or CAF's deterministic "testing" scheduler
// query_lane_of() returns nullptr and expedite() does nothing.
#pragma once

#include <caf/abstract_actor.hpp>
#include <caf/actor_cast.hpp>
#include <caf/actor_system.hpp>
#include <caf/actor_system_config.hpp>
#include <caf/policy/unprofiled.hpp>
#include <caf/resumable.hpp>
#include <caf/scheduler/coordinator.hpp>

#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <list>
#include <mutex>
#include <vector>

#include "actors/lean_worker.hpp"
#include "rtrec/stats.hpp"

namespace rtrec {


/// CAF scheduler policy (see the top of this file). Used through
/// caf::scheduler::coordinator<query_lane_policy>.
class query_lane_policy : public caf::policy::unprofiled {
public:
  using queue_type = std::list<caf::resumable*>;

  /// Urgent turns a worker takes in a row while normal work waits.
  static constexpr std::size_t max_urgent_streak = 16;
  /// Pending expedite marks kept for actors not queued; beyond this the
  /// oldest is dropped (a mark only ever buys one early turn).
  static constexpr std::size_t max_marks = 256;

  struct coordinator_data {
    explicit coordinator_data(caf::scheduler::abstract_coordinator*) {
      // nop
    }
    std::mutex lock;
    std::condition_variable cv;
    queue_type urgent;
    queue_type normal;
    std::vector<const caf::resumable*> query_actors;  ///< always urgent
    std::vector<const caf::resumable*> marks;  ///< go urgent at their next enqueue
    std::size_t streak = 0;
    query_lane_stats stats;
  };

  struct worker_data {
    explicit worker_data(caf::scheduler::abstract_coordinator*) {
      // nop
    }
  };

  template <class Coordinator>
  void enqueue(Coordinator* self, caf::resumable* job) {
    auto& d = self->data();
    queue_type l;
    l.push_back(job);
    std::unique_lock<std::mutex> guard(d.lock);
    auto& q = takes_urgent(d, job) ? d.urgent : d.normal;
    q.splice(q.end(), l);
    d.cv.notify_one();
  }

  template <class Coordinator>
  void central_enqueue(Coordinator* self, caf::resumable* job) {
    enqueue(self, job);
  }

  template <class Worker>
  void external_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void internal_enqueue(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  void resume_job_later(Worker* self, caf::resumable* job) {
    enqueue(self->parent(), job);
  }

  template <class Worker>
  caf::resumable* dequeue(Worker* self) {
    auto& d = self->parent()->data();
    std::unique_lock<std::mutex> guard(d.lock);
    d.cv.wait(guard, [&] { return !d.urgent.empty() || !d.normal.empty(); });
    const bool starving = d.streak >= max_urgent_streak && !d.normal.empty();
    if (!d.urgent.empty() && !starving) {
      ++d.streak;
      ++d.stats.urgent_turns;
      return pop(d.urgent);
    }
    if (starving)
      ++d.stats.starvation_breaks;
    d.streak = 0;
    ++d.stats.normal_turns;
    return pop(d.normal);
  }

  template <class Worker, class UnaryFunction>
  void foreach_resumable(Worker*, UnaryFunction) {
    // nop: no per-worker queues
  }

  template <class Coordinator, class UnaryFunction>
  void foreach_central_resumable(Coordinator* self, UnaryFunction f) {
    auto& d = self->data();
    std::unique_lock<std::mutex> guard(d.lock);
    for (auto* q : {&d.urgent, &d.normal})
      while (!q->empty())
        f(pop(*q));
  }

  /// Registers `job` as a query actor: it always takes the urgent queue.
  static void add_query_actor(coordinator_data& d, const caf::resumable* job);

  /// A query waits in `job`'s mailbox: moves it to the urgent queue if it is
  /// in the normal one, or marks it to take the urgent queue at its next
  /// enqueue.
  static void expedite(coordinator_data& d, const caf::resumable* job);

  /// Whether a query was announced (expedite) for `job` while it runs: the
  /// mark it takes to the urgent queue at its next enqueue is set.
  static bool marked(coordinator_data& d, const caf::resumable* job);

private:
  // Called with d.lock held.
  static bool takes_urgent(coordinator_data& d, const caf::resumable* job);

  static caf::resumable* pop(queue_type& q) {
    auto* job = q.front();
    q.pop_front();
    return job;
  }
};

}  // namespace rtrec

// The lane's workers skip CAF's per-resume logging cast (actors/lean_worker.hpp).
RTREC_LEAN_WORKER(rtrec::query_lane_policy);

namespace rtrec {

using query_lane_coordinator = caf::scheduler::coordinator<query_lane_policy>;

/// Makes systems built from `cfg` run the query lane scheduler (whatever
/// scheduler.policy says). Call before constructing the actor_system.
void install_query_lane(caf::actor_system_config& cfg);

/// The query lane of `sys`, or nullptr when `sys` runs another scheduler.
query_lane_coordinator* query_lane_of(caf::actor_system& sys);

/// The scheduler job of a local actor, or nullptr (remote proxy, null handle).
const caf::resumable* job_of(caf::abstract_actor* ptr);

template <class Handle>
const caf::resumable* job_of(const Handle& h) {
  return job_of(caf::actor_cast<caf::abstract_actor*>(h));
}

/// Registers the actor behind `h` as a query actor (no-op without a lane or
/// for a remote actor).
template <class Handle>
void mark_query_actor(query_lane_coordinator* lane, const Handle& h) {
  if (lane == nullptr)
    return;
  if (auto* job = job_of(h))
    query_lane_policy::add_query_actor(lane->data(), job);
}

/// Tells the lane that a query is about to be sent to `h` (no-op without a
/// lane or for a remote actor). Call it right before the send.
template <class Handle>
void expedite(query_lane_coordinator* lane, const Handle& h) {
  // Checked first: under another scheduler no cast is paid per query hop.
  if (lane == nullptr)
    return;
  if (auto* job = job_of(h))
    query_lane_policy::expedite(lane->data(), job);
}

/// Whether a query is waiting for `job`, a running actor (always true
/// without a lane: then an actor cannot tell, so it lets its mailbox in).
inline bool query_waiting(query_lane_coordinator* lane, const caf::resumable* job) {
  return lane == nullptr || query_lane_policy::marked(lane->data(), job);
}

/// The lane's counters (all zero without a lane).
query_lane_stats query_lane_counters(query_lane_coordinator* lane);

}  // namespace rtrec
