// Calls from outside the actor system (the embedding API's threads) reach
// the actors as messages with a ticket and no requester: an ingestor gets
// (submit_atom, ticket, ingest_request), a recommender (query_atom, ticket,
// request). The actor hands its answer to the topology's reply_sink under
// that ticket: one message in, the answer handed over, no relaying actor.
//
//   caller thread --add_*(callback)--> ticket_registry --ticket--> actor
//   actor --answer(ticket, result)--> ticket_registry --> callback (once)
//   watchdog tick --expire(now)-----> callbacks of tickets past the deadline
//                                     get shard_unavailable (a backstop: the
//                                     actors time their own requests out
//                                     sooner, but one that stopped would
//                                     leave its tickets unanswered)
//
// reply_to<T> is how an actor answers either kind of caller: a response
// promise (an actor asked) or the sink under a ticket.
#pragma once

#include <caf/all.hpp>
#include <spdlog/spdlog.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <unordered_map>
#include <variant>
#include <vector>

#include "actors/request.hpp"
#include "messages/messages.hpp"

namespace rtrec {

/// Where actors deliver the answers to calls sent with a ticket. Called on a
/// CAF worker thread, once per ticket (an answer or an error).
class reply_sink {
 public:
  virtual ~reply_sink() = default;
  virtual void answer(std::uint64_t ticket, caf::expected<recommendations> result) = 0;
  virtual void answer(std::uint64_t ticket, caf::expected<ingest_result> result) = 0;
};

/// An answer's destination: the requester's response promise, or a sink
/// under a ticket.
template <class T>
class reply_to {
 public:
  explicit reply_to(caf::typed_response_promise<T> rp) : rp_(std::move(rp)) {}
  reply_to(std::shared_ptr<reply_sink> sink, std::uint64_t ticket)
    : sink_(std::move(sink)), ticket_(ticket) {}

  void deliver(T x) {
    if (sink_)
      sink_->answer(ticket_, caf::expected<T>{std::move(x)});
    else
      rp_.deliver(std::move(x));
  }
  void deliver(caf::error err) {
    if (sink_)
      sink_->answer(ticket_, caf::expected<T>{std::move(err)});
    else
      rp_.deliver(std::move(err));
  }

 private:
  caf::typed_response_promise<T> rp_;
  std::shared_ptr<reply_sink> sink_;
  std::uint64_t ticket_ = 0;
};

/// The reply to a call sent with `ticket` (no requester): the sink under the
/// ticket; nullopt, logged as an error naming `who`, when the topology has no
/// sink (only the embedding API sends such calls, and it sets one).
template <class T>
std::optional<reply_to<T>> ticketed(const std::shared_ptr<reply_sink>& sink, std::uint64_t ticket,
                                    const char* who) {
  if (!sink) {
    spdlog::error("{}: call {} came without a requester and this topology has no reply sink "
                  "(topology_context::sink); dropped",
                  who, ticket);
    return std::nullopt;
  }
  return reply_to<T>{sink, ticket};
}

/// The tickets of calls in flight, with one deadline (`timeout` after the
/// call). Thread-safe. Each ticket's callback runs exactly once: with the
/// actor's answer, with shard_unavailable at its deadline, or with the error
/// given to fail_all().
class ticket_registry final : public reply_sink {
 public:
  using ingest_done = std::function<void(caf::expected<ingest_result>)>;
  using query_done = std::function<void(caf::expected<recommendations>)>;

  /// `clock` tells the time deadlines are measured in (the actor system's).
  ticket_registry(caf::timespan timeout, caf::actor_clock& clock)
    : timeout_(timeout), clock_(clock) {}

  /// Registers a call; returns its ticket.
  std::uint64_t add(ingest_done done) { return add_pending(std::move(done)); }
  std::uint64_t add(query_done done) { return add_pending(std::move(done)); }

  void answer(std::uint64_t ticket, caf::expected<recommendations> result) override;
  void answer(std::uint64_t ticket, caf::expected<ingest_result> result) override;

  /// Fails every ticket whose deadline passed at `now` (the watchdog's tick).
  void expire(caf::actor_clock::time_point now);
  /// Fails every ticket still pending with `err` (the service stops).
  void fail_all(const caf::error& err);
  /// Tickets pending.
  std::size_t pending() const;
  caf::timespan timeout() const noexcept { return timeout_; }

 private:
  using callback = std::variant<ingest_done, query_done>;
  struct entry {
    callback done;
    done_flag finished;
  };
  std::uint64_t add_pending(callback done);
  /// Removes `ticket` and returns its callback (empty if already answered).
  std::optional<callback> take(std::uint64_t ticket);
  static void run(callback& done, const caf::error& err);
  /// Runs `ticket`'s callback (of type Done) with `result`, if still pending.
  template <class Done, class T>
  void deliver(std::uint64_t ticket, caf::expected<T> result, const char* kind);

  caf::timespan timeout_;
  caf::actor_clock& clock_;
  mutable std::mutex mtx_;
  std::uint64_t next_ = 1;
  std::unordered_map<std::uint64_t, entry> pending_;
  deadline_queue deadlines_;
  std::vector<std::uint64_t> due_;  // filled by deadlines_.expire()
};

/// Ticks every eighth of the registry's timeout and expires its tickets.
caf::behavior ticket_watchdog(caf::event_based_actor* self,
                              std::shared_ptr<ticket_registry> tickets);

}  // namespace rtrec
