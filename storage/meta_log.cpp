#include "storage/meta_log.hpp"

#include <stdexcept>

#include "storage/codec.hpp"

namespace rtrec::storage {

meta_entry decode_meta_record(const log_record& r) {
  meta_entry e;
  e.seq = r.seq;
  if (r.kind == record_kind::item_meta) {
    e.meta = decode_item_meta(r.payload);
  } else if (r.kind == record_kind::item_remove) {
    e.remove = true;
    e.id = r.payload;
  } else {
    throw std::runtime_error("wal: record kind " + std::to_string(static_cast<int>(r.kind))
                             + " on the item metadata stream");
  }
  return e;
}

bool apply_meta(const meta_entry& e, engine::item_model& model) {
  return e.remove ? model.remove(e.id) : model.set_meta(e.meta);
}

std::vector<meta_entry> read_meta_entries(const std::string& dir, std::uint64_t from,
                                          std::uint64_t upto) {
  std::vector<meta_entry> out;
  if (upto <= from)
    return out;
  std::uint64_t last = 0;  // the last meta record read
  bool first = true;
  read_log(dir, [&](const log_record& r) {
    if (r.stream != meta_stream)
      return true;
    if (first && r.seq > from + 1)
      throw std::runtime_error("resync of the item metadata stream: the log holds it from seq "
                               + std::to_string(r.seq) + " on, not from seq "
                               + std::to_string(from + 1)
                               + " (segments released after a checkpoint)");
    first = false;
    last = r.seq;
    if (r.seq > from && r.seq <= upto)
      out.push_back(decode_meta_record(r));
    return r.seq < upto;
  });
  if (last < upto)
    throw std::runtime_error("resync of the item metadata stream: the log ends at seq "
                             + std::to_string(last) + ", before seq " + std::to_string(upto));
  return out;
}

}  // namespace rtrec::storage
