#include "actors/tickets.hpp"

namespace rtrec {

std::uint64_t ticket_registry::add_pending(callback done) {
  const auto deadline = clock_.now() + timeout_;
  auto finished = std::make_shared<bool>(false);
  std::lock_guard<std::mutex> guard{mtx_};
  const auto ticket = next_++;
  pending_.emplace(ticket, entry{std::move(done), finished});
  deadlines_.add(deadline, std::move(finished), [this, ticket] { due_.push_back(ticket); });
  return ticket;
}

std::optional<ticket_registry::callback> ticket_registry::take(std::uint64_t ticket) {
  std::lock_guard<std::mutex> guard{mtx_};
  auto it = pending_.find(ticket);
  if (it == pending_.end())
    return std::nullopt;
  *it->second.finished = true;
  auto done = std::move(it->second.done);
  pending_.erase(it);
  return done;
}

template <class Done, class T>
void ticket_registry::deliver(std::uint64_t ticket, caf::expected<T> result, const char* kind) {
  auto done = take(ticket);
  if (!done)
    return;  // answered at its deadline already
  if (auto* f = std::get_if<Done>(&*done))
    (*f)(std::move(result));
  else
    run(*done, caf::make_error(error_code::invalid_request,
                               "ticket " + std::to_string(ticket) + " got " + kind
                                 + " answer that belongs to another kind of call (a bug)"));
}

void ticket_registry::answer(std::uint64_t ticket, caf::expected<recommendations> result) {
  deliver<query_done>(ticket, std::move(result), "a query's");
}

void ticket_registry::answer(std::uint64_t ticket, caf::expected<ingest_result> result) {
  deliver<ingest_done>(ticket, std::move(result), "an ingest's");
}

void ticket_registry::run(callback& done, const caf::error& err) {
  std::visit([&](auto& f) { f(err); }, done);
}

void ticket_registry::expire(caf::actor_clock::time_point now) {
  std::vector<callback> due;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    deadlines_.expire(now);
    for (auto ticket : due_) {
      auto it = pending_.find(ticket);
      if (it == pending_.end())
        continue;
      due.push_back(std::move(it->second.done));
      pending_.erase(it);
    }
    due_.clear();
  }
  const auto err = deadline_error(timeout_);
  for (auto& done : due)
    run(done, err);
}

void ticket_registry::fail_all(const caf::error& err) {
  std::unordered_map<std::uint64_t, entry> left;
  {
    std::lock_guard<std::mutex> guard{mtx_};
    left.swap(pending_);
    for (auto& [ticket, e] : left)
      *e.finished = true;
  }
  for (auto& [ticket, e] : left)
    run(e.done, err);
}

std::size_t ticket_registry::pending() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return pending_.size();
}

caf::behavior ticket_watchdog(caf::event_based_actor* self,
                              std::shared_ptr<ticket_registry> tickets) {
  const auto every = tick_interval(tickets->timeout());
  self->delayed_send(self, every, tick_atom::value);
  return {
    [=](tick_atom) {
      tickets->expire(self->clock().now());
      self->delayed_send(self, every, tick_atom::value);
    },
  };
}

}  // namespace rtrec
