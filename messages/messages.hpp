// The contract between rtrec's actors: message structs with their CAF 0.17
// inspect() functions, atoms, one CAF type-ID block, typed actor interfaces
// and error codes. No logic lives here.
//
// Who talks to whom (arrows are requests, replies flow back):
//
//   application --ingest_request--> ingestor --shard_batch--> profile_shard
//   profile_shard --delta_batch--> every item_shard      (item side, async)
//   item_shard --seed_atom--> each profile_shard on another node, once per
//                             item shard start (its recent users' entries)
//   application --recommend_request--> recommender
//        recommender --profile_atom--> owning profile_shard
//        recommender --score_atom--> each item_shard in turn (each adds
//                                    its partial scores to the earlier
//                                    ones'; shard 0 adds the popular list)
//   application --user_neighbors_request--> recommender
//        recommender --profile_atom--> owning profile_shard
//        recommender --user_nb_atom--> every item_shard (at once)
//        recommender --names_atom--> the candidates' profile_shards
//   application --item_atom / remove_atom--> item_writer
//        item_writer (not the meta writer) --the same--> the meta writer
//        meta writer --meta_op--> every item_shard
//   item_shard --resync_atom--> meta writer, at a gap in the meta stream
//   checkpointer --snapshot_atom--> profile shards, item_writer (item shards)
//
// The embedding API sends (submit_atom, ticket, ingest_request) and
// (query_atom, ticket, ...) with no requester; the answer goes to the
// topology's reply sink under the ticket (actors/tickets.hpp).
//
// In cluster mode (actors/cluster.hpp) the same messages cross nodes: the
// cluster managers exchange shard_directory (directory_atom) and hand it to
// their node's ingestors, profile shards, recommenders and item writer,
// which address remote shards through it.
//
// Every type that travels is in the type-ID block below and registered by
// register_messages(), so it can cross a node boundary unchanged
// (tests/actors/cluster_test.cpp sends each one across a real connection).
#pragma once

#include <caf/all.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "engine/event.hpp"
#include "engine/feedback.hpp"
#include "engine/item_model.hpp"
#include "engine/map_agreement.hpp"
#include "engine/model_types.hpp"
#include "engine/recent_users.hpp"
#include "engine/replica_log.hpp"
#include "engine/user_meta.hpp"
#include "rtrec/error.hpp"
#include "rtrec/ingest.hpp"
#include "rtrec/options.hpp"
#include "rtrec/stats.hpp"

namespace rtrec {

// -- atoms (at most 10 characters) ---------------------------------------------

using profile_atom = caf::atom_constant<caf::atom("profile")>;
using score_atom = caf::atom_constant<caf::atom("score")>;
using similar_atom = caf::atom_constant<caf::atom("similar")>;
using popular_atom = caf::atom_constant<caf::atom("popular")>;
using flush_atom = caf::atom_constant<caf::atom("flush")>;
using stats_atom = caf::atom_constant<caf::atom("stats")>;
using recent_atom = caf::atom_constant<caf::atom("recent")>;
using forget_atom = caf::atom_constant<caf::atom("forget")>;
using item_atom = caf::atom_constant<caf::atom("item")>;
using remove_atom = caf::atom_constant<caf::atom("remove")>;
using latest_atom = caf::atom_constant<caf::atom("latest")>;
using query_atom = caf::atom_constant<caf::atom("query")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using durable_atom = caf::atom_constant<caf::atom("durable")>;
using snapshot_atom = caf::atom_constant<caf::atom("snapshot")>;
using directory_atom = caf::atom_constant<caf::atom("directory")>;
using names_atom = caf::atom_constant<caf::atom("names")>;
using user_atom = caf::atom_constant<caf::atom("user")>;
using users_atom = caf::atom_constant<caf::atom("users")>;
using list_atom = caf::atom_constant<caf::atom("list")>;
using resync_atom = caf::atom_constant<caf::atom("resync")>;
using coverage_atom = caf::atom_constant<caf::atom("coverage")>;
using feedback_atom = caf::atom_constant<caf::atom("feedback")>;
using user_nb_atom = caf::atom_constant<caf::atom("usernbrs")>;
using seed_atom = caf::atom_constant<caf::atom("seed")>;
using apply_atom = caf::atom_constant<caf::atom("apply")>;
using replica_atom = caf::atom_constant<caf::atom("replica")>;
using map_atom = caf::atom_constant<caf::atom("map")>;
using node_atom = caf::atom_constant<caf::atom("node")>;

// -- messages -----------------------------------------------------------------

/// application -> ingestor: events to validate and apply, in order.
struct ingest_request {
  std::vector<engine::event> events;
};

using submit_atom = caf::atom_constant<caf::atom("submit")>;

// An ingestor acknowledges a request with an ingest_result
// (rtrec/ingest.hpp) once every accepted event is applied by its profile
// shard; a profile shard acknowledges its shard_batch with the same shape,
// its indices in the request's index space ("applied" is `accepted`).



/// ingestor -> profile_shard: validated events for users the shard owns, in
/// arrival order; index[k] is events[k]'s index in the ingest_request.
struct shard_batch {
  std::vector<engine::event> events;
  std::vector<std::uint32_t> index;
};


/// A shard's serialized state (storage/recovery.hpp payload), the log seq it
/// covers and how long the shard paused to produce it. Reply to
/// snapshot_atom, sent by the checkpointer (profile shards) or the item
/// writer (item shards).
struct shard_snapshot {
  std::string bytes;
  std::uint64_t seq = 0;                ///< profile shard: last log seq applied
  std::vector<std::uint64_t> applied;   ///< item shard: last delta seq per profile shard
  /// How long the shard answered nothing (queries included) for it.
  std::uint64_t pause_ns = 0;
  /// How long the shard held back writes (applied nothing) while a thread
  /// serialized its state; queries are answered meanwhile.
  std::uint64_t hold_ns = 0;
  std::uint64_t events = 0;  ///< profile shard: events applied; item shard: 0
  std::uint64_t count = 0;   ///< users (profile shard) or items (item shard)
};

/// item writer -> checkpointer: every item shard's snapshot, taken while
/// item metadata writes were held back, and the last item-metadata log seq
/// they all include.
struct item_snapshots {
  std::vector<shard_snapshot> shards;
  std::uint64_t meta_seq = 0;
};

/// profile_shard -> every item_shard: the item side of applied events.
/// seq is the log seq of the batch they came from (increasing per source);
/// created_ns is the sender's steady-clock time (for lag measurement).
/// The item side of profile shard `source`'s log record `seq`. `prev` is the
/// seq of the stream's previous delta batch, so that an item shard sees a
/// gap (docs/replication.md, "Stage 1"); 0 = unknown (no gap check). A
/// marker (empty delta, seq == prev) only says where the stream is.
struct delta_batch {
  engine::item_delta_batch delta;
  std::uint32_t source = 0;
  std::uint64_t seq = 0;
  std::int64_t created_ns = 0;
  std::uint64_t prev = 0;
};

/// Between cluster managers (and from a node's checkpointer to its manager):
/// for each item shard a node hosts, the last delta seq per profile shard
/// that its oldest kept checkpoint holds. A node keeps the log of its profile
/// shards back to the smallest such seq (docs/replication.md, "Stage 1").
struct item_coverage {
  std::vector<std::uint32_t> shards;
  std::vector<std::vector<std::uint64_t>> applied;  ///< per entry of shards
};

/// profile shard -> item shard, the answer to a resync: the stream's delta
/// batches after the seq asked for, in order, and the stream position they
/// bring the item shard to.
struct resync_reply {
  std::vector<delta_batch> batches;
  std::uint64_t upto = 0;
};

/// meta writer -> every item shard: one operation of the item metadata
/// stream (docs/replication.md, "Stage 1b"). `seq` is its record in the meta
/// writer's log and `prev` the stream's previous operation, checked for
/// gaps like a delta batch's; seq 0 = a writer without a log (no check). A
/// marker (seq == prev) only says where the stream is.
struct meta_op {
  enum kind_t : std::uint8_t { marker = 0, set = 1, remove = 2 };
  std::uint8_t kind = marker;
  engine::item_meta meta;  ///< set
  std::string id;          ///< remove
  std::uint64_t seq = 0;
  std::uint64_t prev = 0;
};

/// meta writer -> item shard, the answer to a resync of the meta stream: its
/// operations after the seq asked for, in order, read back from the log, and
/// the stream position they bring the item shard to.
struct meta_resync_reply {
  std::vector<meta_op> ops;
  std::uint64_t upto = 0;
};


/// application -> recommender: top-n for a user.
struct recommend_request {
  std::string user;
  std::uint32_t n = 10;
  std::uint32_t offset = 0;
  std::string category;
  bool exclude_seen = true;
};

/// Reply with recommendations, best first.
/// Recommendations for an anonymous session: a profile built from `events`
/// alone (validated by the sender), scored like a stored user's; nothing is
/// stored. Sent by applications to a recommender.
struct session_request {
  std::vector<engine::event> events;
  std::uint32_t n = 10;
  std::uint32_t offset = 0;
  std::string category;
};

/// application -> recommender: the users most similar to `user`
/// (engine/recent_users.hpp), answered as recommendations whose `item` is a
/// user id.
struct user_neighbors_request {
  std::string user;
  std::uint32_t n = 10;
  std::uint32_t offset = 0;
};

struct recommendations {
  std::vector<engine::recommendation> items;
  /// Item shards that could not contribute because their node is down
  /// (cluster mode): their items are missing from this answer.
  std::uint32_t missing_shards = 0;
};

/// recommender <-> item shard: the names of `keys` (request), answered as
/// `names` (names[k] of keys[k]; empty when the item is unknown or hidden).
/// For the few page items no shard named with its partial scores. The same
/// between recommender and profile shard for user keys (a user neighbor
/// query's candidates; empty when the shard holds no such user).
struct name_lookup {
  std::vector<engine::key_t> keys;
  std::vector<std::string> names;
};

/// profile_shard -> caller: a user's recent interactions, newest first.
struct user_interactions {
  std::vector<engine::interaction> items;
};

/// Where the shards live (cluster mode). A node's node_actor answers with
/// the shards it hosts (other entries null); the cluster manager sends the
/// merged directory of every reachable node to the node's ingestors,
/// profile shards and recommenders, which then address shards through it.
/// A null entry is a shard whose node is unreachable: requests for it fail
/// at once with shard_unavailable (deltas for it are dropped and counted).
// -- replicated profile shards (docs/replication.md) -------------------------------

/// primary replica -> follower replica of profile shard `shard`: records of
/// its log (engine::ship_request; replica_record payloads are
/// storage::encode_replica_entry). The follower answers with a
/// replica_answer to the primary's handle in its replica_config.
struct replica_ship {
  std::uint32_t shard = 0;
  engine::ship_request ship;
};

/// follower -> primary: how far it holds the primary's log (engine::ship_answer).
struct replica_answer {
  std::uint32_t shard = 0;
  engine::ship_answer answer;
};

/// controller -> each replica of a profile shard: a chosen map's entry for
/// the shard, the receiver's node index, and every replica's handle by node
/// index (null where none). The first one makes the shard a replica (it
/// needs a log); later ones with a higher epoch change primary and in-sync
/// set (fencing: a replica acts on the highest epoch it saw). `keeper`: the
/// node's map keeper, where a primary sends its isr_change requests (null:
/// none are sent).
struct replica_config {
  std::uint64_t epoch = 0;
  engine::shard_replicas map;
  std::uint32_t node = 0;
  std::vector<caf::strong_actor_ptr> peers;
  caf::strong_actor_ptr keeper;
};

// -- the cluster map (docs/replication.md, "The map keeper") ----------------------
//
// Between the map keepers of the nodes, all one-way: an answer goes to the
// keeper of the node the message names in `from`.

/// proposer -> every acceptor: prepare(epoch).
struct map_prepare {
  std::uint32_t from = 0;
  std::uint64_t epoch = 0;
};

/// acceptor -> proposer: its answer to the prepare of `epoch`.
struct map_promised {
  std::uint32_t from = 0;
  std::uint64_t epoch = 0;
  engine::map_promise promise;
};

/// proposer -> every acceptor: accept(map) (map.epoch is the proposal's).
struct map_accept {
  std::uint32_t from = 0;
  engine::cluster_map map;
};

/// acceptor -> proposer: its promise after accept(map of `epoch`); equal to
/// `epoch` when it accepted, higher when it refused.
struct map_accepted {
  std::uint32_t from = 0;
  std::uint64_t epoch = 0;
  std::uint64_t promised = 0;
};

/// primary replica -> its node's keeper -> the controller's keeper: a
/// replica joins or leaves the in-sync set of shard `shard` of `kind`
/// (engine::shard_kind).
struct isr_change {
  std::uint8_t kind = 0;
  std::uint32_t shard = 0;
  engine::isr_request request;
};

struct shard_directory {
  std::uint32_t node = 0;  ///< the sender's index in the node list
  std::vector<caf::strong_actor_ptr> profiles;  ///< by profile shard
  std::vector<caf::strong_actor_ptr> items;     ///< by item shard
  /// The meta writer: the item writer of the node hosting item shard 0
  /// (null while that node is unreachable, or in a node's own directory
  /// when another node hosts it).
  caf::strong_actor_ptr meta_writer;
  /// The node's map keeper (actors/map_keeper.hpp).
  caf::strong_actor_ptr keeper;
};




// -- inspect ------------------------------------------------------------------

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, rejection& x) {
  return f(caf::meta::type_name("rejection"), x.index, x.reason);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_request& x) {
  return f(caf::meta::type_name("ingest_request"), x.events);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, undelivered& x) {
  return f(caf::meta::type_name("undelivered"), x.index, x.why);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_result& x) {
  return f(caf::meta::type_name("ingest_result"), x.accepted, x.rejected, x.failed,
           x.duplicates);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_batch& x) {
  return f(caf::meta::type_name("shard_batch"), x.events, x.index);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_snapshot& x) {
  return f(caf::meta::type_name("shard_snapshot"), x.bytes, x.seq, x.applied, x.pause_ns,
           x.hold_ns, x.events, x.count);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_snapshots& x) {
  return f(caf::meta::type_name("item_snapshots"), x.shards, x.meta_seq);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, delta_batch& x) {
  return f(caf::meta::type_name("delta_batch"), x.delta, x.source, x.seq, x.created_ns, x.prev);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_ship& x) {
  return f(caf::meta::type_name("replica_ship"), x.shard, x.ship);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_answer& x) {
  return f(caf::meta::type_name("replica_answer"), x.shard, x.answer);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_config& x) {
  return f(caf::meta::type_name("replica_config"), x.epoch, x.map, x.node, x.peers, x.keeper);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_prepare& x) {
  return f(caf::meta::type_name("map_prepare"), x.from, x.epoch);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_promised& x) {
  return f(caf::meta::type_name("map_promised"), x.from, x.epoch, x.promise);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_accept& x) {
  return f(caf::meta::type_name("map_accept"), x.from, x.map);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_accepted& x) {
  return f(caf::meta::type_name("map_accepted"), x.from, x.epoch, x.promised);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, isr_change& x) {
  return f(caf::meta::type_name("isr_change"), x.kind, x.shard, x.request);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_coverage& x) {
  return f(caf::meta::type_name("item_coverage"), x.shards, x.applied);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, resync_reply& x) {
  return f(caf::meta::type_name("resync_reply"), x.batches, x.upto);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, meta_op& x) {
  return f(caf::meta::type_name("meta_op"), x.kind, x.meta, x.id, x.seq, x.prev);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, meta_resync_reply& x) {
  return f(caf::meta::type_name("meta_resync_reply"), x.ops, x.upto);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recommend_request& x) {
  return f(caf::meta::type_name("recommend_request"), x.user, x.n, x.offset, x.category,
           x.exclude_seen);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, session_request& x) {
  return f(caf::meta::type_name("session_request"), x.events, x.n, x.offset, x.category);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_neighbors_request& x) {
  return f(caf::meta::type_name("user_neighbors_request"), x.user, x.n, x.offset);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recommendations& x) {
  return f(caf::meta::type_name("recommendations"), x.items, x.missing_shards);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_directory& x) {
  return f(caf::meta::type_name("shard_directory"), x.node, x.profiles, x.items,
           x.meta_writer, x.keeper);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_interactions& x) {
  return f(caf::meta::type_name("user_interactions"), x.items);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_stats& x) {
  return f(caf::meta::type_name("shard_stats"), x.shard, x.users, x.events_applied,
           x.rejected, x.memory_bytes, x.deltas_in_flight, x.acks_deferred,
           x.delta_failures, x.duplicates, x.log_pending, x.dedup_ids);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_shard_stats& x) {
  return f(caf::meta::type_name("item_shard_stats"), x.shard, x.batches, x.model, x.lag_p50_ns,
           x.lag_p99_ns, x.lag_max_ns, x.name_lookups, x.duplicates, x.gaps,
           x.resyncs, x.resync_failures, x.item_user_entries, x.item_user_evictions,
           x.meta_applied);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, name_lookup& x) {
  return f(caf::meta::type_name("name_lookup"), x.keys, x.names);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ingest_stats& x) {
  return f(caf::meta::type_name("ingest_stats"), x.requests, x.received, x.accepted,
           x.rejected_by_reason, x.failed_by_reason);
}

}  // namespace rtrec

// Engine payload types: inspect() beside them by ADL, kept here so engine/
// stays free of CAF.
namespace rtrec::engine {

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, event& x) {
  return f(caf::meta::type_name("event"), x.user, x.item, x.type, x.value, x.timestamp, x.id,
           x.comment, x.timestamp_text, x.overwrite);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, feedback_record& x) {
  return f(caf::meta::type_name("feedback_record"), x.type, x.user, x.item, x.timestamp,
           x.value, x.timestamp_text, x.comment);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, feedback_filter& x) {
  return f(caf::meta::type_name("feedback_filter"), x.any_type, x.type, x.item, x.until_ms);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, feedback_delete& x) {
  return f(caf::meta::type_name("feedback_delete"), x.user, x.item, x.any_type, x.type);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, feedback_page& x) {
  return f(caf::meta::type_name("feedback_page"), x.records, x.next_slot, x.next_seq, x.done);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, scored& x) {
  return f(caf::meta::type_name("scored"), x.key, x.score);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, recommendation& x) {
  return f(caf::meta::type_name("recommendation"), x.item, x.score);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_delta_batch& x) {
  return f(caf::meta::type_name("item_delta_batch"), x.item, x.weight, x.timestamp, x.flags,
           x.user, x.ctx_end, x.ctx_item, x.ctx_weight, x.new_keys, x.new_ids);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_neighbor_query& x) {
  return f(caf::meta::type_name("user_neighbor_query"), x.items, x.weights);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_neighbor_parts& x) {
  return f(caf::meta::type_name("user_neighbor_parts"), x.end, x.users);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, profile_view& x) {
  return f(caf::meta::type_name("profile_view"), x.known, x.recent, x.recent_weight, x.seen);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, interaction& x) {
  return f(caf::meta::type_name("interaction"), x.item, x.type, x.weight, x.timestamp);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_filter& x) {
  return f(caf::meta::type_name("item_filter"), x.category);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, score_query& x) {
  return f(caf::meta::type_name("score_query"), x.items, x.weights, x.filter, x.exclude,
           x.popular, x.names, x.names_top);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_scores& x) {
  return f(caf::meta::type_name("shard_scores"), x.candidates, x.seq, x.names, x.popular,
           x.popular_names);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_meta& x) {
  return f(caf::meta::type_name("item_meta"), x.id, x.categories, x.hidden, x.timestamp,
           x.timestamp_text, x.labels, x.comment);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_page& x) {
  return f(caf::meta::type_name("item_page"), x.items, x.cursor);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_meta& x) {
  return f(caf::meta::type_name("user_meta"), x.labels, x.comment, x.subscribe);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_patch& x) {
  return f(caf::meta::type_name("user_patch"), x.must_exist, x.set_labels, x.labels,
           x.set_comment, x.comment, x.set_subscribe, x.subscribe);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_record& x) {
  return f(caf::meta::type_name("user_record"), x.known, x.id, x.meta, x.events);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, user_page& x) {
  return f(caf::meta::type_name("user_page"), x.users, x.next, x.done);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_patch& x) {
  return f(caf::meta::type_name("item_patch"), x.set_hidden, x.hidden, x.set_categories,
           x.categories, x.set_timestamp, x.timestamp, x.timestamp_text, x.set_labels,
           x.labels, x.set_comment, x.comment, x.add_category, x.remove_category);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, shard_replicas& x) {
  return f(caf::meta::type_name("shard_replicas"), x.replicas, x.primary, x.in_sync);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, node_address& x) {
  return f(caf::meta::type_name("node_address"), x.host, x.port);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, cluster_map& x) {
  return f(caf::meta::type_name("cluster_map"), x.epoch, x.parent, x.members, x.down, x.profiles,
           x.items);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, map_promise& x) {
  return f(caf::meta::type_name("map_promise"), x.ok, x.promised, x.accepted);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, isr_request& x) {
  return f(caf::meta::type_name("isr_request"), x.epoch, x.from, x.replica, x.join);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, replica_record& x) {
  return f(caf::meta::type_name("replica_record"), x.seq, x.epoch, x.id, x.payload);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ship_request& x) {
  return f(caf::meta::type_name("ship_request"), x.epoch, x.from, x.prev_seq, x.prev_epoch,
           x.records, x.committed, x.snapshot_seq, x.ids);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, ship_answer& x) {
  return f(caf::meta::type_name("ship_answer"), x.epoch, x.from, x.stale, x.ok, x.installed,
           x.match, x.verified, x.last);
}
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, item_model_stats& x) {
  return f(caf::meta::type_name("item_model_stats"), x.events, x.pair_updates, x.prunes,
           x.collisions, x.items, x.rows, x.row_entries, x.memory_bytes);
}

}  // namespace rtrec::engine

CAF_ERROR_CODE_ENUM(rtrec::error_code, "rtrec")

// -- type-ID block: every type that travels between actors ----------------------

CAF_BEGIN_TYPE_ID_BLOCK(rtrec, caf::first_custom_type_id)
  CAF_ADD_TYPE_ID(rtrec, (rtrec::ingest_request))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::ingest_result))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::shard_batch))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::delta_batch))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::item_delta_batch))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::recommend_request))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::session_request))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::recommendations))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::user_interactions))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::shard_stats))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::item_shard_stats))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::ingest_stats))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::profile_view))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::score_query))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::shard_scores))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::item_meta))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::shard_snapshot))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::shard_directory))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::name_lookup))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::item_patch))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::item_snapshots))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::user_patch))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::user_record))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::user_page))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::item_page))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::resync_reply))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::item_coverage))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::feedback_filter))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::feedback_delete))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::feedback_page))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::user_neighbors_request))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::user_neighbor_query))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::user_neighbor_parts))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::meta_op))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::meta_resync_reply))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::replica_ship))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::replica_answer))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::replica_config))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::engine::cluster_map))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::map_prepare))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::map_promised))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::map_accept))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::map_accepted))
  CAF_ADD_TYPE_ID(rtrec, (rtrec::isr_change))
CAF_END_TYPE_ID_BLOCK(rtrec)

namespace rtrec {

// -- typed actor interfaces -------------------------------------------------------

/// Owns the item side of one item shard (engine::item_model).
using item_shard_actor = caf::typed_actor<
  // from profile shards; replies with the batch's seq once applied
  caf::replies_to<delta_batch>::with<std::uint64_t>,
  // from recommenders, a chained query: this shard's partial scores added to
  // the earlier shards' (upstream); true = the last shard (see
  // engine::score_chained_on_shard)
  caf::replies_to<score_atom, engine::score_query, engine::shard_scores, bool>::with<
    engine::shard_scores>,
  // similar(item, n, category) answered by the item's owner shard
  caf::replies_to<similar_atom, std::string, std::uint32_t, std::string>::with<recommendations>,
  // popular(n, category)
  caf::replies_to<popular_atom, std::uint32_t, std::string>::with<recommendations>,
  // names of the given keys (empty: unknown or hidden), from recommenders
  caf::replies_to<names_atom, name_lookup>::with<name_lookup>,
  // a user neighbor query's contributions from the items this shard owns
  caf::replies_to<user_nb_atom, engine::user_neighbor_query>::with<engine::user_neighbor_parts>,
  // latest(n, category): newest visible items, answered by shard 0
  caf::replies_to<latest_atom, std::uint32_t, std::string>::with<recommendations>,
  // from the meta writer, an operation of the item metadata stream; replies
  // once applied (set: false on an id collision; remove: whether the item
  // was known), or held until a resync of the stream brings it
  caf::replies_to<meta_op>::with<bool>,
  // an item's metadata (timestamp = creation time); error not_found if unknown
  caf::replies_to<item_atom, std::string>::with<engine::item_meta>,
  // a page of up to n items after the cursor (engine::item_model::page);
  // error invalid_request for a malformed cursor
  caf::replies_to<list_atom, std::string, std::uint32_t>::with<engine::item_page>,
  // replies once every delta batch received before it is applied
  caf::replies_to<flush_atom>::with<std::uint64_t>,
  caf::replies_to<stats_atom>::with<item_shard_stats>,
  // from the checkpointer: the shard's state (storage payload)
  caf::replies_to<snapshot_atom>::with<shard_snapshot>,
  // from the shard's own serializer thread: the snapshot is ready
  caf::reacts_to<snapshot_atom, shard_snapshot>,
  // sent by an item shard to itself: expire resyncs past their deadline
  caf::reacts_to<tick_atom>,
  // sent by an item shard to itself: apply the next slice of the delta
  // batches it holds (topology_config::item_apply_slice)
  caf::reacts_to<apply_atom>>;

/// Owns the profiles of the users that hash to it (engine::profile_store).
using profile_shard_actor = caf::typed_actor<
  caf::replies_to<shard_batch>::with<ingest_result>,
  caf::replies_to<profile_atom, std::string>::with<engine::profile_view>,
  caf::replies_to<recent_atom, std::string>::with<user_interactions>,
  caf::replies_to<forget_atom, std::string>::with<bool>,
  // creates the user if unknown and applies the patch to its metadata
  // (logged first when the shard has a log); false on a user id collision
  caf::replies_to<user_atom, std::string, engine::user_patch>::with<bool>,
  // the user's id, metadata and event count (known=false if unknown)
  caf::replies_to<user_atom, std::string>::with<engine::user_record>,
  // up to n users from slot `from` (engine::profile_store::list)
  caf::replies_to<users_atom, std::uint64_t, std::uint32_t>::with<engine::user_page>,
  // the user's feedback records that pass the filter, oldest written first
  // (engine::profile_store::feedback; next_* unused, done = true)
  caf::replies_to<feedback_atom, std::string, engine::feedback_filter>::with<
    engine::feedback_page>,
  // up to n records that pass the filter after (slot, seq), visiting at most
  // feedback_scan_users slots (engine::profile_store::list_feedback)
  caf::replies_to<feedback_atom, std::uint64_t, std::uint32_t, std::uint32_t,
                  engine::feedback_filter>::with<engine::feedback_page>,
  // deletes the user's records of an item (logged first when the shard has
  // a log; engine::profile_store::delete_feedback); replies how many
  caf::replies_to<feedback_atom, engine::feedback_delete>::with<std::uint64_t>,
  // the ids of user keys (empty: no such user here), from recommenders
  caf::replies_to<names_atom, name_lookup>::with<name_lookup>,
  // from item shard m of count after it started: its recent users' entries
  // here (engine::recent_users_seed; docs/replication.md)
  caf::replies_to<seed_atom, std::uint32_t, std::uint32_t>::with<engine::item_delta_batch>,
  // replies once everything applied before it has reached the item side
  caf::replies_to<flush_atom>::with<std::uint64_t>,
  caf::replies_to<stats_atom>::with<shard_stats>,
  // from the checkpointer: the shard's state up to its last applied log seq
  caf::replies_to<snapshot_atom>::with<shard_snapshot>,
  // from the shard's own serializer thread: the snapshot is ready
  caf::reacts_to<snapshot_atom, shard_snapshot>,
  // from the write-ahead log's writer thread: record `seq` is durable (empty
  // string) or failed (why); the shard applies or refuses it
  caf::reacts_to<durable_atom, std::uint64_t, std::string>,
  // sent by a profile shard to itself: expire delta batches past their deadline
  caf::reacts_to<tick_atom>,
  // from an item shard that found a gap in this shard's delta stream: the
  // delta batches after seq `from`, re-derived from the data directory
  // (error shard_unavailable without one)
  caf::replies_to<resync_atom, std::uint64_t>::with<resync_reply>,
  // from the shard's own re-derivation worker: resync `token` is ready, or
  // failed (the string says why)
  caf::reacts_to<resync_atom, std::uint64_t, resync_reply, std::string>,
  // from the cluster manager: where the item shards live now
  caf::reacts_to<directory_atom, shard_directory>,
  // replication (docs/replication.md, "A profile shard as a replica"): the
  // map from the controller, ships from the primary, answers from followers
  caf::reacts_to<replica_config>,
  caf::reacts_to<replica_ship>,
  caf::reacts_to<replica_answer>,
  // from the write-ahead log's writer thread: the replica's writes up to
  // this number are durable (empty string) or one failed (why)
  caf::reacts_to<replica_atom, std::uint64_t, std::string>,
  // sent by a replica to itself while a follower may lack what it shipped:
  // ship again (a ship or its answer may have been lost)
  caf::reacts_to<replica_atom>>;

/// Validates events and routes them to their profile shards.
using ingestor_actor = caf::typed_actor<
  caf::replies_to<ingest_request>::with<ingest_result>,
  // the same from the embedding API in this process, answered through the
  // topology's reply sink under the ticket (no requester)
  caf::reacts_to<submit_atom, std::uint64_t, ingest_request>,
  caf::replies_to<stats_atom>::with<ingest_stats>,
  // sent by an ingestor to itself: expire shard batches past their deadline
  caf::reacts_to<tick_atom>,
  // from the cluster manager: where the profile shards live now
  caf::reacts_to<directory_atom, shard_directory>>;

/// Answers queries by scatter-gather over the shards.
using recommender_actor = caf::typed_actor<
  caf::replies_to<recommend_request>::with<recommendations>,
  caf::replies_to<similar_atom, std::string, std::uint32_t, std::string>::with<recommendations>,
  caf::replies_to<popular_atom, std::uint32_t, std::string>::with<recommendations>,
  caf::replies_to<latest_atom, std::uint32_t, std::string>::with<recommendations>,
  caf::replies_to<session_request>::with<recommendations>,
  caf::replies_to<user_neighbors_request>::with<recommendations>,
  // the same queries from the embedding API in this process, answered
  // through the topology's reply sink under the ticket (no requester)
  caf::reacts_to<query_atom, std::uint64_t, recommend_request>,
  caf::reacts_to<query_atom, std::uint64_t, similar_atom, std::string, std::uint32_t,
                 std::string>,
  caf::reacts_to<query_atom, std::uint64_t, popular_atom, std::uint32_t, std::string>,
  caf::reacts_to<query_atom, std::uint64_t, latest_atom, std::uint32_t, std::string>,
  caf::reacts_to<query_atom, std::uint64_t, session_request>,
  caf::reacts_to<query_atom, std::uint64_t, user_neighbors_request>,
  // sent by a recommender to itself: expire queries past their deadline
  caf::reacts_to<tick_atom>,
  // from the cluster manager: where the shards live now
  caf::reacts_to<directory_atom, shard_directory>>;

/// Item metadata writes (one per service; the cluster's meta writer is the
/// one on item shard 0's node, the others forward to it): logged, then sent
/// to every item shard in log order (pipelined); a patch and a checkpoint's
/// snapshots run alone, between two writes.
using item_writer_actor = caf::typed_actor<
  // set an item's metadata; false on an id collision
  caf::replies_to<item_atom, engine::item_meta>::with<bool>,
  // change some fields of a known item's metadata; error not_found
  caf::replies_to<item_atom, std::string, engine::item_patch>::with<engine::item_meta>,
  // hide an item for good; whether any item shard knew it
  caf::replies_to<remove_atom, std::string>::with<bool>,
  // from the checkpointer: every item shard's snapshot between two writes
  caf::replies_to<snapshot_atom>::with<item_snapshots>,
  // from an item shard that found a gap in the meta stream (meta writer
  // only): the operations after seq `from`, read back from the log (error
  // shard_unavailable without one, or when the log no longer holds them)
  caf::replies_to<resync_atom, std::uint64_t>::with<meta_resync_reply>,
  // from the writer's own log reader: meta resync `token` is ready, or
  // failed (the string says why)
  caf::reacts_to<resync_atom, std::uint64_t, meta_resync_reply, std::string>,
  // from the write-ahead log's writer thread (see profile_shard_actor)
  caf::reacts_to<durable_atom, std::uint64_t, std::string>,
  caf::reacts_to<tick_atom>,
  // from the cluster manager: where the item shards live now
  caf::reacts_to<directory_atom, shard_directory>>;

/// One per node in cluster mode (its cluster manager), published on the
/// node's cluster port. The node with the lower index connects
/// (remote_actor), asks for the other's shards, then introduces itself with
/// its own; the answer true means the peer took it (false: it refused a
/// directory that does not fit its configuration).
using node_actor = caf::typed_actor<
  caf::replies_to<directory_atom>::with<shard_directory>,
  caf::replies_to<directory_atom, shard_directory>::with<bool>,
  // what the peer's item shards' kept checkpoints hold (item_coverage);
  // true: from this node's own checkpointer, to be passed on to the peers
  caf::reacts_to<coverage_atom, item_coverage, bool>>;

/// A node's part in choosing the cluster map (actors/map_keeper.hpp).
using map_keeper_actor = caf::typed_actor<
  // acceptor: answers to the keeper of msg.from
  caf::reacts_to<map_prepare>, caf::reacts_to<map_accept>,
  // proposer: the acceptors' answers
  caf::reacts_to<map_promised>, caf::reacts_to<map_accepted>,
  // learner: a chosen map, from the controller
  caf::reacts_to<map_atom, engine::cluster_map>,
  // the newest chosen map it knows (epoch 0: none yet)
  caf::replies_to<map_atom>::with<engine::cluster_map>,
  // subscribe: told (map_atom, map) of the chosen map it knows and of every
  // newer one
  caf::reacts_to<map_atom, caf::actor>,
  // from the cluster manager: node n's keeper is reached through `keeper`
  // now (null: node n is not reachable; for its own index: the route to
  // itself, null = direct)
  caf::reacts_to<node_atom, std::uint32_t, caf::strong_actor_ptr>,
  // from a primary replica, or forwarded by another keeper
  caf::reacts_to<isr_change>,
  // sent by a keeper to itself: proposal `epoch` is past its deadline, or
  // its retry is due; 0: the startup grace is over, then every
  // proposal_timeout (the controller publishes its chosen map again)
  caf::reacts_to<tick_atom, std::uint64_t>>;

/// Registers every rtrec message type and the error category with `cfg`.
/// Call before constructing the actor_system.
void register_messages(caf::actor_system_config& cfg);

}  // namespace rtrec
