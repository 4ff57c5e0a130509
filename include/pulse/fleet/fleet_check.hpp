// --check in fleet mode: the coordination topic and the group as the cluster describes them,
// and which hypervisors each member polls, found without joining the group (a member that
// joined and left would move hypervisors twice).
#pragma once

#include <chrono>
#include <vector>

#include "pulse/config/config.hpp"
#include "pulse/ops/connection_check.hpp"

namespace pulse {

// One line for the group ("fleet"), then one per member ("fleet member"). Not ok when the
// cluster cannot be asked or refuses, or when the group is stable with members and some
// hypervisor is polled by none of them.
std::vector<CheckResult> check_fleet(const Config& config, std::chrono::milliseconds timeout);

}  // namespace pulse
