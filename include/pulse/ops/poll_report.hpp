// What one poll of one hypervisor did: the poller returns it, the self-metrics record it.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>

namespace pulse {

struct PollReport {
    bool connected = false;
    std::size_t domains = 0;
    std::size_t messages = 0;
    std::size_t points = 0;
    std::uint64_t libvirt_calls = 0;
    std::chrono::microseconds duration{0};
};

}  // namespace pulse
