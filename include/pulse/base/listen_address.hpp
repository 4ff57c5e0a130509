// A listen address as METRICS_ADDR spells it: "host:port", ":port" (every interface) or
// "[ipv6]:port". Parsed where the setting is validated and again where the listener binds.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace pulse {

struct ListenAddress {
    std::string host;  // as given; "" (from ":9464") means every interface
    std::uint16_t port = 0;
};

// "127.0.0.1:9464", ":9464", "[::1]:9464", "localhost:9464"; port 1-65535. nullopt otherwise.
std::optional<ListenAddress> parse_listen_address(std::string_view text);

// "host:port", or "[ipv6]:port", for messages.
std::string format_listen_address(const ListenAddress& address);

}  // namespace pulse
