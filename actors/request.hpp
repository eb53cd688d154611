// The one way rtrec's actors send a request that must be answered in time.
//
// CAF 0.17's thread-safe actor clock takes a lock and wakes its timer thread
// for every request sent with a timeout, and again when the reply cancels
// it. On the query path (4 timed requests per HTTP recommend) that cost a
// third of the CPU in context switches (docs/benchmarks.md). So requests go
// out with no CAF timeout; each has a deadline in its owner's
// request_deadlines (a FIFO, since one owner has one timeout), checked on a
// self-addressed tick that is pending only while a deadline is. A request
// whose deadline passes fails with error_code::shard_unavailable ("no answer
// within N ms") exactly once; a reply that arrives later is ignored.
//
//   timed_request(self, st.deadlines, dest, ok, fail, msg...)
//       one request, one deadline: ok(reply) or fail(error), exactly once
//   auto done = st.deadlines.add(self, on_expire);
//   step_request(self, done, dest, high, ok, fail, msg...)
//       one step of an operation of several requests under one deadline
//       (the recommender's query): ok runs unless the operation finished,
//       fail finishes it
//
// An owner handles tick_atom by calling st.deadlines.on_tick(self). The
// ticket registry (actors/tickets.hpp) keeps its deadlines in the same
// deadline_queue.
#pragma once

#include <caf/all.hpp>

#include <deque>
#include <functional>
#include <memory>
#include <string>
#include <utility>

#include "messages/messages.hpp"

namespace rtrec {

/// Marks an operation finished (by its reply, its error or its deadline).
using done_flag = std::shared_ptr<bool>;

/// Deadlines in the order they were added (one timeout per owner, so also
/// in time order); entries finished early are dropped as they reach the
/// front. Not thread-safe: one owner.
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

/// The tick interval for a timeout: an eighth of it (at least 1 ms), so a
/// deadline fires at most 12.5% late.
inline caf::timespan tick_interval(caf::timespan timeout) {
  return std::max<caf::timespan>(timeout / 8, std::chrono::milliseconds(1));
}

/// The error of a request whose deadline passed.
inline caf::error deadline_error(caf::timespan timeout) {
  return caf::make_error(error_code::shard_unavailable,
                         "no answer within "
                           + std::to_string(
                             std::chrono::duration_cast<std::chrono::milliseconds>(timeout).count())
                           + " ms");
}

/// The deadlines of one actor's requests in flight, and its tick.
class request_deadlines {
 public:
  void set_timeout(caf::timespan t) noexcept { timeout_ = t; }
  caf::timespan timeout() const noexcept { return timeout_; }
  std::size_t size() const noexcept { return q_.size(); }

  /// Registers an operation due timeout() from now: `on_expire` runs once it
  /// passes, unless the returned flag is set first.
  template <class Self>
  done_flag add(Self* self, std::function<void()> on_expire) {
    auto done = std::make_shared<bool>(false);
    q_.add(self->clock().now() + timeout_, done, std::move(on_expire));
    arm(self);
    return done;
  }

  /// The owner's tick_atom handler.
  template <class Self>
  void on_tick(Self* self) {
    armed_ = false;
    q_.expire(self->clock().now());
    arm(self);
  }

 private:
  // Keeps one tick pending while any deadline is.
  template <class Self>
  void arm(Self* self) {
    if (armed_ || q_.empty())
      return;
    armed_ = true;
    caf::delayed_anon_send(caf::actor_cast<caf::actor>(self), tick_interval(timeout_),
                           tick_atom::value);
  }

  deadline_queue q_;
  caf::timespan timeout_{};
  bool armed_ = false;
};

/// One step of an operation under `done`'s deadline: sends `xs` to `dest`
/// (high priority when `high`) with no CAF timeout; `ok(Reply&)` runs with
/// the reply unless the operation finished meanwhile (it may send the next
/// step, or set *done itself when it completes the operation);
/// `fail(caf::error&)` runs on an error unless the operation finished, and
/// finishes it.
template <class Reply, class Self, class Dest, class Ok, class Fail, class... Ts>
void step_request(Self* self, done_flag done, const Dest& dest, bool high, Ok ok, Fail fail,
                  Ts&&... xs) {
  auto on_reply = [done, ok = std::move(ok)](Reply& x) mutable {
    if (!*done)
      ok(x);
  };
  auto on_error = [done, fail = std::move(fail)](caf::error& err) mutable {
    if (*done)
      return;
    *done = true;
    fail(err);
  };
  if (high)
    self->template request<caf::message_priority::high>(dest, caf::infinite,
                                                        std::forward<Ts>(xs)...)
      .then(std::move(on_reply), std::move(on_error));
  else
    self->request(dest, caf::infinite, std::forward<Ts>(xs)...)
      .then(std::move(on_reply), std::move(on_error));
}

/// One request with its own deadline in `deadlines`: exactly one of
/// `ok(Reply&)` and `fail(caf::error&)` runs (fail with deadline_error()
/// when the deadline passes first).
template <class Reply, class Self, class Dest, class Ok, class Fail, class... Ts>
void timed_request(Self* self, request_deadlines& deadlines, const Dest& dest, Ok ok, Fail fail,
                   Ts&&... xs) {
  auto shared_fail = std::make_shared<Fail>(std::move(fail));
  const auto timeout = deadlines.timeout();
  auto done = deadlines.add(self, [shared_fail, timeout] {
    auto err = deadline_error(timeout);
    (*shared_fail)(err);
  });
  step_request<Reply>(
    self, done, dest, false,
    [done, ok = std::move(ok)](Reply& x) mutable {
      *done = true;
      ok(x);
    },
    [shared_fail](caf::error& err) { (*shared_fail)(err); }, std::forward<Ts>(xs)...);
}

}  // namespace rtrec
