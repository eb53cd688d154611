# The packages rtrec's libraries need, found the same way for the build and
# (through rtrecConfig.cmake) for a project that uses the installed package.
find_package(CAF 0.17 REQUIRED)
find_package(absl REQUIRED)
find_package(spdlog REQUIRED)
find_package(nlohmann_json 3 REQUIRED)
find_package(Threads REQUIRED)
# Boost headers: Beast and Asio (HTTP).
find_package(Boost 1.74 REQUIRED)
# zlib: CRC-32 of log records and snapshot files (crc32_z, several times
# Boost.CRC's byte table on large buffers).
find_package(ZLIB REQUIRED)
# libcrypto: API keys (SHA-256, constant-time compare); libssl: TLS between nodes.
find_package(OpenSSL REQUIRED COMPONENTS Crypto SSL)
find_path(XXHASH_INCLUDE_DIR xxhash.h REQUIRED)
find_library(XXHASH_LIBRARY NAMES xxhash REQUIRED)
# simdjson: the fast path of POST /api/feedback's body (apps/http/feedback_body.cpp).
find_package(simdjson REQUIRED)
# prometheus-cpp's core: the /metrics text of the HTTP API (our Beast server serves it).
find_package(prometheus-cpp REQUIRED)
