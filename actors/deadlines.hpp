// Request deadlines without a clock entry per request.
//
// CAF 0.17's thread-safe actor clock takes a lock and wakes its timer thread
// for every request sent with a timeout, and again when the reply cancels
// it. On the query path (4 timed requests per HTTP recommend) that cost a
// third of the CPU in context switches (docs/benchmarks.md). Actors on that
// path instead send with no CAF timeout, record the deadline here, and check
// the queue on a periodic tick (one delayed message per tick interval while
// anything is pending). A query whose deadline passes is failed exactly as a
// CAF timeout would fail it; a reply that arrives later is ignored.
//
// Deadlines are added in time order (one timeout per actor), so the queue is
// a FIFO; entries finished early are dropped as they reach the front.
#pragma once

#include <caf/all.hpp>

#include <deque>
#include <functional>
#include <memory>

namespace rtrec {

/// Marks a pending operation finished (by its reply or by its deadline).
using done_flag = std::shared_ptr<bool>;

class deadline_queue {
 public:
  using time_point = caf::actor_clock::time_point;

  /// Runs `on_expire` once `now` passes `deadline`, unless `*done` is set
  /// first; sets `*done` before running it.
  void add(time_point deadline, done_flag done, std::function<void()> on_expire) {
    // Drop what finished meanwhile (replies come back roughly in order), so
    // the queue stays short and a tick never has a long list to walk.
    while (!q_.empty() && *q_.front().done)
      q_.pop_front();
    q_.push_back({deadline, std::move(done), std::move(on_expire)});
  }

  /// Expires every entry due at `now`; returns whether entries remain.
  bool expire(time_point now) {
    while (!q_.empty() && (*q_.front().done || q_.front().deadline <= now)) {
      auto e = std::move(q_.front());
      q_.pop_front();
      if (!*e.done) {
        *e.done = true;
        e.on_expire();
      }
    }
    return !q_.empty();
  }

  bool empty() const noexcept { return q_.empty(); }
  std::size_t size() const noexcept { return q_.size(); }

 private:
  struct entry {
    time_point deadline;
    done_flag done;
    std::function<void()> on_expire;
  };
  std::deque<entry> q_;
};

/// The tick interval for a request timeout: an eighth of it (at least 1 ms),
/// so a deadline fires at most 12.5% late.
inline caf::timespan tick_interval(caf::timespan timeout) {
  return std::max<caf::timespan>(timeout / 8, std::chrono::milliseconds(1));
}

}  // namespace rtrec
