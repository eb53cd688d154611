#include "storage/replica_stream.hpp"

#include <algorithm>
#include <stdexcept>

#include "storage/codec.hpp"

namespace rtrec::storage {

namespace {

/// A replica_record's payload (declared once: encode and decode below).
/// The payload is a view: written from the caller's bytes, read in place.
struct entry_fields {
  std::uint8_t kind = 0;
  std::int64_t time_ms = 0;
  std::string_view payload;

  template <class A>
  void fields(A& a) {
    a.value(kind);
    a.value(time_ms);
    a.column(payload);
  }
};

/// A replica_state record's payload.
struct state_fields {
  std::uint64_t commit = 0;
  std::uint64_t epoch_seen = 0;

  template <class A>
  void fields(A& a) {
    a.value(commit);
    a.value(epoch_seen);
  }
};

/// Whether `kind` is a record a replica applies (not a marker or state).
bool data_kind(std::uint8_t kind) {
  return kind >= static_cast<std::uint8_t>(record_kind::events) &&
         kind <= static_cast<std::uint8_t>(record_kind::feedback_delete);
}

}  // namespace

std::string encode_replica_entry(record_kind kind, std::int64_t time_ms,
                                 std::string_view payload) {
  std::string out;
  writer w{out};
  entry_fields{static_cast<std::uint8_t>(kind), time_ms, payload}.fields(w);
  return out;
}

replica_entry decode_replica_entry(std::string_view in) {
  entry_fields f;
  reader r{in};
  f.fields(r);
  if (!r.done())
    throw corrupt{"replica entry: " + std::to_string(in.size()) + " bytes, trailing bytes after "
                  "the payload"};
  if (!data_kind(f.kind))
    throw corrupt{"replica entry: record kind " + std::to_string(f.kind) +
                  " is not a data record's"};
  return {static_cast<record_kind>(f.kind), f.time_ms, std::string{f.payload}};
}

log_record replica_state_record(std::uint32_t stream, std::uint64_t commit,
                                std::uint64_t epoch_seen) {
  log_record r;
  r.kind = record_kind::replica_state;
  r.stream = stream;
  r.seq = commit;
  r.epoch = epoch_seen;
  writer w{r.payload};
  state_fields{commit, epoch_seen}.fields(w);
  return r;
}

// -- replica_stream -------------------------------------------------------------

replica_stream::replica_stream(std::uint32_t self, std::uint32_t stream, wal& log,
                               notify_fn notify)
  : stream_(stream), wal_(log), notify_(std::move(notify)), log_(self) {}

void replica_stream::restore(engine::replica_persisted p) {
  log_.restore(std::move(p));
  // The wal numbers nothing: write numbers are this object's, from 0 again.
  journal_.restart(0, log_.last_seq(), log_.commit_known(), log_.epoch_seen());
}

bool replica_stream::ready() const noexcept { return failed_.empty() && journal_.ready(log_); }

void replica_stream::store() {
  auto number = journal_.written();
  for (const auto& w : journal_.changes(log_)) {
    log_record r;
    switch (w.kind) {
      case engine::journal_write::record: {
        const auto* rec = log_.record_at(w.seq);
        auto e = decode_replica_entry(rec->payload);
        r = log_record{e.kind, stream_, w.seq, e.time_ms, std::move(e.payload), rec->epoch};
        break;
      }
      case engine::journal_write::marker:
        r = truncate_marker(stream_, w.keep, w.seq, log_.epoch_seen(), 0);
        break;
      case engine::journal_write::state:
        r = replica_state_record(stream_, w.commit, w.epoch_seen);
        break;
    }
    wal_.append(std::move(r), [n = ++number, notify = notify_](const std::string& error) {
      notify(n, error);
    });
  }
}

void replica_stream::adopt(std::uint64_t epoch, const engine::shard_replicas& shard) {
  log_.adopt(epoch, shard);
  if (failed_.empty())
    store();
}

std::vector<engine::isr_request> replica_stream::join_requests() {
  if (!ready())
    return {};
  return log_.join_requests();
}

std::optional<std::uint64_t> replica_stream::append(const replica_entry& e) {
  if (!ready())
    return std::nullopt;
  auto seq = log_.append(0, encode_replica_entry(e.kind, e.time_ms, e.payload));
  store();
  return seq;
}

std::vector<std::pair<std::uint32_t, engine::ship_request>>
replica_stream::ships(std::size_t max_records) {
  if (!ready())
    return {};
  return log_.ships(max_records);
}

void replica_stream::on_answer(const engine::ship_answer& a) {
  if (!failed_.empty())
    return;
  log_.on_answer(a);
  store();
}

engine::ship_answer replica_stream::on_ship(const engine::ship_request& s) {
  if (!failed_.empty()) {
    // Not a replica any more until it restarts: refuse without a hint.
    engine::ship_answer a;
    a.epoch = s.epoch;
    a.last = log_.last_seq();
    return a;
  }
  // The records must decode before anything is stored: a ship is input.
  for (const auto& r : s.records)
    decode_replica_entry(r.payload);
  auto a = log_.on_ship(s);
  store();
  return a;
}

std::optional<engine::ship_answer> replica_stream::on_durable(std::uint64_t written,
                                                              const std::string& error) {
  if (!failed_.empty())
    return std::nullopt;
  if (!error.empty()) {
    failed_ = "stream " + std::to_string(stream_) + ": the write-ahead log failed a write (" +
              error + "); the shard must restart from its data directory";
    return std::nullopt;
  }
  log_.sync(journal_.durable(written));
  return log_.after_sync();
}

std::vector<std::pair<std::uint64_t, replica_entry>> replica_stream::take_applicable() {
  std::vector<std::pair<std::uint64_t, replica_entry>> out;
  if (!failed_.empty())
    return out;
  const auto [from, to] = log_.take_applicable();
  for (auto seq = from + 1; seq <= to; ++seq)
    out.emplace_back(seq, decode_replica_entry(log_.record_at(seq)->payload));
  store();
  return out;
}

void replica_stream::release(std::uint64_t upto) { log_.release(upto); }

// -- replica_recovery -----------------------------------------------------------

replica_recovery::replica_recovery(std::uint32_t stream, std::uint64_t base,
                                   std::uint64_t base_epoch)
  : stream_(stream) {
  p_.base = base;
  p_.base_epoch = base_epoch;
}

void replica_recovery::add(const log_record& r) {
  if (r.stream != stream_)
    return;
  if (r.kind == record_kind::replica_state) {
    state_fields f;
    reader rd{r.payload};
    f.fields(rd);
    if (!rd.done())
      throw corrupt{"replica_state record of stream " + std::to_string(stream_) +
                    ": trailing bytes"};
    p_.commit_known = std::max(p_.commit_known, f.commit);
    p_.epoch_seen = std::max(p_.epoch_seen, f.epoch_seen);
    return;
  }
  if (r.seq <= p_.base)
    return;  // the checkpoint holds it
  const auto next = p_.base + p_.records.size() + 1;
  if (r.seq != next)
    throw std::runtime_error("wal: stream " + std::to_string(stream_) + " has record seq " +
                             std::to_string(r.seq) + " where seq " + std::to_string(next) +
                             " was due (checkpoint at " + std::to_string(p_.base) +
                             "): the log does not continue the checkpoint; restore the data "
                             "directory from a backup, or let the node rejoin empty");
  p_.records.push_back({r.seq, r.epoch, 0, encode_replica_entry(r.kind, r.time_ms, r.payload)});
}

engine::replica_persisted replica_recovery::result() {
  p_.applied = p_.commit_known;
  return std::move(p_);
}

}  // namespace rtrec::storage
