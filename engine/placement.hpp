// Shard placement for cluster mode: which node owns which shard. Users map
// to profile shards and items to item shards by engine::shard_of over a fixed
// count (the same rule as in one process); shards map to nodes by rendezvous
// (highest random weight) hashing over the node addresses, so every node
// computes the same map from the same node list and adding or removing one
// node moves only the shards it gains or loses.
//
// Plain C++17: no CAF, no I/O.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace rtrec::engine {

/// A node's address as written in the cluster configuration: "host:port".
struct node_address {
  std::string host;
  std::uint16_t port = 0;
  std::string to_string() const { return host + ":" + std::to_string(port); }
  friend bool operator==(const node_address& a, const node_address& b) {
    return a.host == b.host && a.port == b.port;
  }
};

/// Parses "host:port" (host non-empty, no spaces; port 1..65535). Returns
/// nullopt and sets `why` (naming the text) when it is not one.
std::optional<node_address> parse_node_address(std::string_view text, std::string& why);

/// True for addresses that cannot leave this machine: localhost, 127.0.0.0/8
/// and ::1.
bool is_loopback_host(std::string_view host);

/// Which node owns each shard (indices into the node list).
struct shard_map {
  std::vector<std::uint32_t> profile_owner;  ///< by profile shard
  std::vector<std::uint32_t> item_owner;     ///< by item shard
  /// Shards a node owns, in ascending order.
  std::vector<std::uint32_t> profiles_of(std::uint32_t node) const;
  std::vector<std::uint32_t> items_of(std::uint32_t node) const;
};

/// Rendezvous hashing: shard s of `kind` ("profile" or "item") goes to the
/// node whose address has the highest hash(address, kind, s); ties (never
/// seen in practice) go to the lower index. Requires a non-empty node list
/// of distinct addresses; the order of the list does not matter.
shard_map place_shards(const std::vector<node_address>& nodes, std::uint32_t profile_shards,
                       std::uint32_t item_shards);

/// Every node index in rendezvous order for shard `shard` of `kind`: highest
/// hash(address, kind, shard) first, ties to the lower index, so the first
/// is the node place_shards() gives the shard (replicas take the next ones).
std::vector<std::uint32_t> rendezvous_order(const std::vector<node_address>& nodes,
                                            std::string_view kind, std::uint32_t shard);

/// The map as text, one line per node: "node 1 127.0.0.1:7001: profile
/// shards 0 3 5, item shards 1 2".
std::string describe(const shard_map& map, const std::vector<node_address>& nodes);

}  // namespace rtrec::engine
