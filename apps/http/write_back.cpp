// The delayed write-back queue (see write_back.hpp): entries by due time in
// memory, mirrored in the deferred journal, ingested by one thread when due.
#include "apps/http/write_back.hpp"

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <chrono>

namespace rtrec::http {

std::vector<engine::event> write_back_events(const std::string& user,
                                             const std::vector<std::string>& items,
                                             engine::event_type type, std::int64_t at_ms) {
  std::vector<engine::event> out;
  out.reserve(items.size());
  for (const auto& item : items) {
    std::string key = engine::to_string(type);
    key.append(1, '\0').append(user).append(1, '\0').append(item);
    out.push_back({user, item, type, 0.0, at_ms, fmt::format("wb-{:016x}", engine::hash_id(key))});
  }
  return out;
}

write_back_queue::write_back_queue(service& eng, write_back_options o, metrics& m)
  : eng_(eng), opts_(std::move(o)), metrics_(m) {
  if (!opts_.journal_dir.empty()) {
    journal_ = std::make_unique<storage::deferred_journal>(opts_.journal_dir, opts_.sync);
    for (const auto& w : journal_->warnings())
      spdlog::warn("write-back: {}", w);
    for (const auto& e : journal_->loaded()) {
      pending_events_ += e.events.size();
      pending_.emplace(e.due_ms, entry{e.seq, e.due_ms, e.events});
    }
    if (!pending_.empty())
      spdlog::info("write-back: {} delayed write-backs ({} events) reloaded from {}",
                   pending_.size(), pending_events_, journal_->path());
  }
  metrics_.write_back_pending.store(static_cast<std::int64_t>(pending_events_));
  thread_ = std::thread([this] { loop(); });
}

write_back_queue::~write_back_queue() {
  stop();
}

void write_back_queue::stop() {
  {
    std::lock_guard<std::mutex> guard{mtx_};
    stopping_ = true;
    cv_.notify_all();
  }
  if (thread_.joinable())
    thread_.join();
}

std::size_t write_back_queue::pending_events() const {
  std::lock_guard<std::mutex> guard{mtx_};
  return pending_events_;
}

std::string write_back_queue::schedule(std::int64_t due_ms, std::vector<engine::event> events) {
  std::lock_guard<std::mutex> guard{mtx_};
  if (stopping_)
    return "the server is shutting down";
  if (pending_events_ + events.size() > opts_.max_pending_events)
    return fmt::format("{} write-back events are already waiting for their delay (the limit, "
                       "--max-write-back-pending)",
                       pending_events_);
  std::uint64_t seq = next_seq_++;
  if (journal_) {
    if (auto why = journal_->add(due_ms, events, seq); !why.empty())
      return why;
  }
  pending_events_ += events.size();
  metrics_.write_back_pending.store(static_cast<std::int64_t>(pending_events_));
  metrics_.write_back_scheduled.Increment(static_cast<double>(events.size()));
  pending_.emplace(due_ms, entry{seq, due_ms, std::move(events)});
  cv_.notify_all();  // the new entry may be due before the one the thread waits for
  return {};
}

void write_back_queue::loop() {
  std::unique_lock<std::mutex> lock{mtx_};
  while (!stopping_) {
    lock.unlock();
    run_due();
    lock.lock();
    // The service clock may be a test's: wake at least every second. After a
    // failed round, wait that second before trying again.
    auto wait = std::chrono::milliseconds(1000);
    if (!pending_.empty() && !failed_round_)
      wait = std::clamp(std::chrono::milliseconds(pending_.begin()->first - eng_.now_ms()),
                        std::chrono::milliseconds(1), wait);
    if (!stopping_)
      cv_.wait_for(lock, wait);
  }
}

// Removes and returns due entries, up to about opts_.ingest_batch events.
std::vector<write_back_queue::entry> write_back_queue::take_due(std::int64_t now) {
  std::vector<entry> out;
  std::size_t events = 0;
  std::lock_guard<std::mutex> guard{mtx_};
  while (!pending_.empty() && pending_.begin()->first <= now && events < opts_.ingest_batch) {
    events += pending_.begin()->second.events.size();
    out.push_back(std::move(pending_.begin()->second));
    pending_.erase(pending_.begin());
  }
  return out;
}

std::size_t write_back_queue::run_due() {
  std::lock_guard<std::mutex> running{run_mtx_};
  std::size_t ingested = 0;
  for (;;) {
    auto batch = take_due(eng_.now_ms());
    if (batch.empty())
      break;
    std::vector<engine::event> events;
    for (const auto& e : batch)
      events.insert(events.end(), e.events.begin(), e.events.end());
    auto r = eng_.ingest(std::move(events));
    if (r)
      ingested += r->accepted;
    const bool retry_later = !r || !r->failed.empty();
    settle(std::move(batch), r);
    if (retry_later) {
      std::lock_guard<std::mutex> guard{mtx_};
      failed_round_ = true;
      return ingested;  // the engine is shutting down, or a shard or the log failed
    }
  }
  {
    std::lock_guard<std::mutex> guard{mtx_};
    failed_round_ = false;
  }
  maybe_compact();
  return ingested;
}

// Counts the outcome of ingesting `batch` and puts back the entries (only
// their undelivered events) that must be tried again; the others are done.
void write_back_queue::settle(std::vector<entry> batch, const result<ingest_result>& r) {
  std::vector<bool> undelivered;
  if (r) {
    metrics_.write_back_applied.Increment(static_cast<double>(r->accepted - r->duplicates));
    metrics_.write_back_duplicates.Increment(static_cast<double>(r->duplicates));
    metrics_.write_back_rejected.Increment(static_cast<double>(r->rejected.size()));
    for (const auto& x : r->rejected)
      spdlog::warn("write-back: an event was refused ({}); it is dropped",
                   engine::to_string(x.reason));
    std::size_t total = 0;
    for (const auto& e : batch)
      total += e.events.size();
    undelivered.assign(total, false);
    for (const auto& x : r->failed)
      undelivered[x.index] = true;
  } else {
    spdlog::warn("write-back: ingest failed ({}); retrying", r.error().to_string());
  }
  std::size_t index = 0;
  for (auto& e : batch) {
    std::vector<engine::event> again;
    for (auto& ev : e.events)
      if (!r || undelivered[index++])
        again.push_back(std::move(ev));
    std::lock_guard<std::mutex> guard{mtx_};
    pending_events_ -= e.events.size() - again.size();
    if (again.empty()) {
      finish_entry(e.seq);
    } else {
      e.events = std::move(again);
      pending_.emplace(e.due_ms, std::move(e));
    }
  }
  metrics_.write_back_pending.store(static_cast<std::int64_t>(pending_events()));
}

// Marks entry `seq` done in the journal (mtx_ held).
void write_back_queue::finish_entry(std::uint64_t seq) {
  if (!journal_)
    return;
  if (auto why = journal_->done(seq); !why.empty())
    spdlog::warn("write-back: {} (the entry will be ingested again after a restart, as a "
                 "duplicate)",
                 why);
}

// Rewrites the journal when it holds mostly finished entries.
void write_back_queue::maybe_compact() {
  std::lock_guard<std::mutex> guard{mtx_};
  if (!journal_ || journal_->records() < 4 * pending_.size() + 1024)
    return;
  std::vector<storage::deferred_entry> live;
  for (const auto& [due, e] : pending_)
    live.push_back({e.seq, e.due_ms, e.events});
  std::sort(live.begin(), live.end(), [](const auto& a, const auto& b) { return a.seq < b.seq; });
  if (auto why = journal_->rewrite(live); !why.empty())
    spdlog::warn("write-back: {}", why);
}

}  // namespace rtrec::http
