// Cluster member addresses for engine tests of placement and the cluster map.
#pragma once

#include <string>
#include <vector>

#include "engine/placement.hpp"

namespace rtrec::engine::test {

/// n distinct addresses 10.0.0.1:7000, 10.0.0.2:7001, ...
inline std::vector<node_address> nodes(std::size_t n) {
  std::vector<node_address> out;
  for (std::size_t i = 0; i < n; ++i)
    out.push_back({"10.0.0." + std::to_string(i + 1), static_cast<std::uint16_t>(7000 + i)});
  return out;
}

}  // namespace rtrec::engine::test
