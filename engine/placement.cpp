#include "engine/placement.hpp"

#include <xxhash.h>

#include <algorithm>
#include <charconv>

namespace rtrec::engine {

std::optional<node_address> parse_node_address(std::string_view text, std::string& why) {
  const auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0 || colon + 1 == text.size()) {
    why = "\"" + std::string{text} + "\" is not host:port";
    return std::nullopt;
  }
  auto host = text.substr(0, colon);
  if (host.size() > 2 && host.front() == '[' && host.back() == ']')
    host = host.substr(1, host.size() - 2);  // [::1]:7000
  for (char c : host)
    if (c == ' ' || c == '\t' || static_cast<unsigned char>(c) < 0x20) {
      why = "\"" + std::string{text} + "\": the host contains a space or control character";
      return std::nullopt;
    }
  unsigned port = 0;
  const auto digits = text.substr(colon + 1);
  auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), port);
  if (ec != std::errc{} || end != digits.data() + digits.size() || port == 0 || port > 65535) {
    why = "\"" + std::string{text} + "\": the port must be a number from 1 to 65535";
    return std::nullopt;
  }
  return node_address{std::string{host}, static_cast<std::uint16_t>(port)};
}

bool is_loopback_host(std::string_view host) {
  return host == "localhost" || host == "::1" || host.substr(0, 4) == "127.";
}

namespace {

std::uint64_t weight(const node_address& node, std::string_view kind, std::uint32_t shard) {
  auto key = node.to_string();
  key += '/';
  key += kind;
  key += '/';
  key += std::to_string(shard);
  return XXH3_64bits(key.data(), key.size());
}

std::vector<std::uint32_t> place(const std::vector<node_address>& nodes, std::string_view kind,
                                 std::uint32_t shards) {
  std::vector<std::uint32_t> owner(shards, 0);
  for (std::uint32_t s = 0; s < shards; ++s) {
    std::uint64_t best = 0;
    for (std::uint32_t n = 0; n < nodes.size(); ++n) {
      const auto w = weight(nodes[n], kind, s);
      if (n == 0 || w > best) {
        best = w;
        owner[s] = n;
      }
    }
  }
  return owner;
}

std::vector<std::uint32_t> owned(const std::vector<std::uint32_t>& owner, std::uint32_t node) {
  std::vector<std::uint32_t> out;
  for (std::uint32_t s = 0; s < owner.size(); ++s)
    if (owner[s] == node)
      out.push_back(s);
  return out;
}

}  // namespace

std::vector<std::uint32_t> shard_map::profiles_of(std::uint32_t node) const {
  return owned(profile_owner, node);
}

std::vector<std::uint32_t> shard_map::items_of(std::uint32_t node) const {
  return owned(item_owner, node);
}

std::vector<std::uint32_t> rendezvous_order(const std::vector<node_address>& nodes,
                                            std::string_view kind, std::uint32_t shard) {
  std::vector<std::pair<std::uint64_t, std::uint32_t>> by_weight;
  by_weight.reserve(nodes.size());
  for (std::uint32_t n = 0; n < nodes.size(); ++n)
    by_weight.emplace_back(weight(nodes[n], kind, shard), n);
  std::sort(by_weight.begin(), by_weight.end(), [](const auto& a, const auto& b) {
    return a.first != b.first ? a.first > b.first : a.second < b.second;
  });
  std::vector<std::uint32_t> order;
  order.reserve(by_weight.size());
  for (const auto& [w, n] : by_weight)
    order.push_back(n);
  return order;
}

shard_map place_shards(const std::vector<node_address>& nodes, std::uint32_t profile_shards,
                       std::uint32_t item_shards) {
  shard_map m;
  if (nodes.empty())
    return m;
  m.profile_owner = place(nodes, "profile", profile_shards);
  m.item_owner = place(nodes, "item", item_shards);
  return m;
}

std::string describe(const shard_map& map, const std::vector<node_address>& nodes) {
  std::string out;
  auto list = [&](const std::vector<std::uint32_t>& xs) {
    if (xs.empty()) {
      out += " none";
      return;
    }
    for (auto x : xs)
      out += " " + std::to_string(x);
  };
  for (std::uint32_t n = 0; n < nodes.size(); ++n) {
    out += "node " + std::to_string(n) + " " + nodes[n].to_string() + ": profile shards";
    list(map.profiles_of(n));
    out += ", item shards";
    list(map.items_of(n));
    out += '\n';
  }
  return out;
}

}  // namespace rtrec::engine
