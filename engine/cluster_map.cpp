#include "engine/cluster_map.hpp"

#include <algorithm>

namespace rtrec::engine {

namespace {

std::vector<shard_replicas> place_replicas(const std::vector<node_address>& nodes,
                                           std::string_view kind, std::uint32_t shards,
                                           std::uint32_t rf) {
  std::vector<shard_replicas> out(shards);
  for (std::uint32_t s = 0; s < shards; ++s) {
    auto order = rendezvous_order(nodes, kind, s);
    order.resize(std::min<std::size_t>(order.size(), rf));
    out[s].replicas = order;
    out[s].in_sync = order;
    out[s].primary = order.empty() ? no_node : order.front();
  }
  return out;
}

bool contains(const std::vector<std::uint32_t>& xs, std::uint32_t x) {
  return std::find(xs.begin(), xs.end(), x) != xs.end();
}

/// The first in-sync replica that is up, in rendezvous (replica list)
/// order, or no_node.
std::uint32_t first_up_in_sync(const cluster_map& m, const shard_replicas& s) {
  for (auto r : s.replicas)
    if (m.down[r] == 0 && contains(s.in_sync, r))
      return r;
  return no_node;
}

/// Keeps the in-sync set in replica-list order (so equal sets compare equal).
void add_in_sync(shard_replicas& s, std::uint32_t n) {
  if (contains(s.in_sync, n))
    return;
  std::vector<std::uint32_t> ordered;
  for (auto r : s.replicas)
    if (r == n || contains(s.in_sync, r))
      ordered.push_back(r);
  s.in_sync = std::move(ordered);
}

void remove_in_sync(shard_replicas& s, std::uint32_t n) {
  s.in_sync.erase(std::remove(s.in_sync.begin(), s.in_sync.end(), n), s.in_sync.end());
}

std::string check_shard(const cluster_map& m, const shard_replicas& s, const char* kind,
                        std::size_t index) {
  const auto name = std::string{kind} + " shard " + std::to_string(index);
  const auto members = m.members.size();
  for (std::size_t i = 0; i < s.replicas.size(); ++i) {
    if (s.replicas[i] >= members)
      return name + ": replica " + std::to_string(s.replicas[i]) + " is not a member";
    if (std::find(s.replicas.begin(), s.replicas.begin() + static_cast<std::ptrdiff_t>(i),
                  s.replicas[i])
        != s.replicas.begin() + static_cast<std::ptrdiff_t>(i))
      return name + ": replica " + std::to_string(s.replicas[i]) + " listed twice";
  }
  for (auto n : s.in_sync)
    if (!contains(s.replicas, n))
      return name + ": in-sync node " + std::to_string(n) + " is not a replica";
  if (s.in_sync.size() != static_cast<std::size_t>(std::count_if(
        s.replicas.begin(), s.replicas.end(), [&](auto r) { return contains(s.in_sync, r); })))
    return name + ": in-sync set lists a node twice";
  if (s.in_sync.empty() != s.replicas.empty())
    return name + ": in-sync set is empty";
  const auto up = static_cast<std::size_t>(
    std::count_if(s.in_sync.begin(), s.in_sync.end(), [&](auto r) { return m.down[r] == 0; }));
  if (up != 0 && up != s.in_sync.size())
    return name + ": a down node is in sync beside nodes that are up";
  if (s.primary == no_node ? up != 0 : !contains(s.in_sync, s.primary) || m.down[s.primary] != 0)
    return name + ": primary " + (s.primary == no_node ? "none" : std::to_string(s.primary))
           + " does not match the in-sync set";
  return {};
}

}  // namespace

cluster_map initial_map(const std::vector<node_address>& nodes, std::uint32_t profile_shards,
                        std::uint32_t item_shards, std::uint32_t replication_factor) {
  cluster_map m;
  m.epoch = 1;
  m.members = nodes;
  m.down.assign(nodes.size(), 0);
  const auto rf = std::max<std::uint32_t>(1, replication_factor);
  m.profiles = place_replicas(nodes, "profile", profile_shards, rf);
  m.items = place_replicas(nodes, "item", item_shards, rf);
  return m;
}

cluster_map node_down(cluster_map m, std::uint32_t n) {
  if (n >= m.members.size())
    return m;
  m.down[n] = 1;
  for (auto* shards : {&m.profiles, &m.items})
    for (auto& s : *shards) {
      if (!contains(s.in_sync, n))
        continue;
      // The last in-sync replica up stays in the set: it alone holds every
      // acknowledged record, so only it may be primary again.
      if (std::any_of(s.in_sync.begin(), s.in_sync.end(),
                      [&](auto r) { return r != n && m.down[r] == 0; }))
        remove_in_sync(s, n);
      if (s.primary == n)
        s.primary = first_up_in_sync(m, s);
    }
  return m;
}

cluster_map node_up(cluster_map m, std::uint32_t n) {
  if (n >= m.members.size())
    return m;
  m.down[n] = 0;
  for (auto* shards : {&m.profiles, &m.items})
    for (auto& s : *shards)
      if (s.primary == no_node && contains(s.in_sync, n))
        s.primary = n;
  return m;
}

cluster_map caught_up(cluster_map m, shard_kind k, std::uint32_t s, std::uint32_t n) {
  auto& shards = m.shards(k);
  // Catching up needs a primary to catch up from.
  if (s >= shards.size() || n >= m.members.size() || m.down[n] != 0
      || shards[s].primary == no_node || !contains(shards[s].replicas, n))
    return m;
  add_in_sync(shards[s], n);
  return m;
}

cluster_map fell_behind(cluster_map m, shard_kind k, std::uint32_t s, std::uint32_t n) {
  auto& shards = m.shards(k);
  if (s < shards.size() && shards[s].primary != no_node && shards[s].primary != n)
    remove_in_sync(shards[s], n);
  return m;
}

std::string check_map(const cluster_map& m) {
  if (m.down.size() != m.members.size())
    return std::to_string(m.down.size()) + " down flags for " + std::to_string(m.members.size())
           + " members";
  for (std::size_t s = 0; s < m.profiles.size(); ++s)
    if (auto why = check_shard(m, m.profiles[s], "profile", s); !why.empty())
      return why;
  for (std::size_t s = 0; s < m.items.size(); ++s)
    if (auto why = check_shard(m, m.items[s], "item", s); !why.empty())
      return why;
  return {};
}

std::string encode_map(const cluster_map& m) {
  std::string out;
  codec::writer w{out};
  auto copy = m;  // fields() serves reading too: not const
  copy.fields(w);
  return out;
}

cluster_map decode_map(std::string_view bytes) {
  cluster_map m;
  codec::reader r{bytes};
  m.fields(r);
  if (!r.done())
    throw codec::decode_error("cluster map: " + std::to_string(r.left())
                              + " bytes after its last field");
  if (auto why = check_map(m); !why.empty())
    throw codec::decode_error("cluster map: " + why);
  return m;
}

}  // namespace rtrec::engine
