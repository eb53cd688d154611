// The flow gate of the embedding API: at most `limit` events accepted but
// not yet acknowledged, across every calling thread. A caller takes room
// before it submits (waiting for it, or refused with overloaded) and gives
// it back when its answer arrives. Closing the gate (the service stops)
// wakes every waiter and refuses every later call. Plain C++, thread-safe.
#pragma once

#include <algorithm>
#include <condition_variable>
#include <cstddef>
#include <mutex>

#include "rtrec/error.hpp"

namespace rtrec {

class flow_gate {
 public:
  explicit flow_gate(std::size_t limit) : limit_(limit) {}

  /// Takes room for n events; when there is none, waits for it (`wait`) or
  /// returns overloaded. A call alone larger than the limit gets in when
  /// nothing else is in flight. Returns shutting_down once closed.
  error acquire(std::size_t n, bool wait) {
    std::unique_lock<std::mutex> guard{mtx_};
    auto room = [&] { return closed_ || in_flight_ == 0 || in_flight_ + n <= limit_; };
    if (!room()) {
      if (!wait)
        return {error_code::overloaded, "too many events in flight; retry after a short delay"};
      cv_.wait(guard, room);
    }
    if (closed_)
      return {error_code::shutting_down, "the service is stopped"};
    in_flight_ += n;
    peak_ = std::max(peak_, in_flight_);
    return {};
  }

  /// Gives back room taken for n events.
  void release(std::size_t n) {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      in_flight_ -= std::min(n, in_flight_);
    }
    cv_.notify_all();
  }

  /// Refuses every later acquire(); returns false if it was closed already.
  bool close() {
    {
      std::lock_guard<std::mutex> guard{mtx_};
      if (closed_)
        return false;
      closed_ = true;
    }
    cv_.notify_all();
    return true;
  }

  bool closed() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return closed_;
  }
  std::size_t in_flight() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return in_flight_;
  }
  std::size_t peak() const {
    std::lock_guard<std::mutex> guard{mtx_};
    return peak_;
  }

 private:
  const std::size_t limit_;
  mutable std::mutex mtx_;
  std::condition_variable cv_;
  std::size_t in_flight_ = 0;
  std::size_t peak_ = 0;
  bool closed_ = false;
};

}  // namespace rtrec
