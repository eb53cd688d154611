#include "messages/messages.hpp"

namespace rtrec {

void register_messages(caf::actor_system_config& cfg) {
  cfg.add_message_types<caf::id_block::rtrec>();
  cfg.add_message_type<item_shard_actor>("rtrec::item_shard_actor");
  cfg.add_message_type<profile_shard_actor>("rtrec::profile_shard_actor");
  // (CAF 0.17.6's add_error_category<T> overload does not compile; use the
  // renderer form.)
  cfg.add_error_category(caf::atom("rtrec"),
                         [](std::uint8_t code, caf::atom_value, const caf::message& ctx) {
                           std::string out = std::string{"rtrec: "} + to_string(static_cast<error_code>(code));
                           if (ctx.match_elements<std::string>())
                             out += ": " + ctx.get_as<std::string>(0);
                           else if (!ctx.empty())
                             out += " " + caf::to_string(ctx);
                           return out;
                         });
}

}  // namespace rtrec
