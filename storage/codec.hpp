// The payloads rtrec logs (event batches, item metadata, user upserts,
// feedback deletions) and the codec every
// storage record, snapshot body and manifest is written and read with: the
// one binary codec of engine/binary_codec.hpp (fixed-width values in the
// machine's little-endian layout, u32-length strings), plus CRC-32.
//
// Readers never trust their input: every read checks the bytes left and
// throws storage::corrupt (never reads out of bounds), so a flipped or
// truncated record is reported, not undefined behaviour.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "engine/binary_codec.hpp"
#include "engine/event.hpp"
#include "engine/feedback.hpp"
#include "engine/item_model.hpp"
#include "engine/user_meta.hpp"

namespace rtrec::storage {

/// Appends fields to a byte string (engine::codec::writer).
using writer = engine::codec::writer;
/// Reads fields from a byte range; throws corrupt on any shortfall.
using reader = engine::codec::reader;
/// Thrown by a reader, and by the decoders, when the bytes do not form a
/// valid value.
using corrupt = engine::codec::decode_error;

/// Appends `events`. Version 1: u32 count, then per event: user, item, u8
/// type, f64 value, i64 timestamp, id (strings u32-length-prefixed).
/// Version 2, written only when an event has a comment, a timestamp text or
/// the overwrite flag: version 1, then u8 2 and per event u8 overwrite,
/// timestamp text, comment. Either decodes; version 1 leaves them empty.
void encode_events(const std::vector<engine::event>& events, std::string& out);
/// Decodes what encode_events wrote (the whole input). Throws corrupt.
std::vector<engine::event> decode_events(std::string_view in);

/// Appends an item's metadata. Version 1: id, u32 category count and the
/// categories, u8 hidden, i64 timestamp. Version 2, written only when
/// m.has_extras(): version 1, then u8 2, the timestamp text, labels and
/// comment (strings). Either decodes; a version 1 payload has empty extras.
void encode_item_meta(const engine::item_meta& m, std::string& out);
/// Decodes what encode_item_meta wrote (the whole input). Throws corrupt.
engine::item_meta decode_item_meta(std::string_view in);

/// Appends a user upsert: the user id and the patch (u8 must_exist, then per
/// field a u8 set flag and its value: labels, comment, u32 count and the
/// subscriptions).
void encode_user_upsert(const std::string& user, const engine::user_patch& p, std::string& out);
/// Decodes what encode_user_upsert wrote (the whole input) into `user` and
/// the returned patch. Throws corrupt.
engine::user_patch decode_user_upsert(std::string_view in, std::string& user);

/// Appends a feedback deletion: user, item, u8 any_type, u8 type.
void encode_feedback_delete(const engine::feedback_delete& d, std::string& out);
/// Decodes what encode_feedback_delete wrote (the whole input). Throws corrupt.
engine::feedback_delete decode_feedback_delete(std::string_view in);

/// CRC-32 (IEEE 802.3, zlib's crc32_z) of `bytes`.
std::uint32_t crc32(std::string_view bytes) noexcept;

}  // namespace rtrec::storage
