// Logs a recurring problem once when it starts and once when it ends, not on every poll.
//
// A poller reports each problem it sees during a cycle under a stable key ("disk i-2-17-VM/vda
// has no source"); end_cycle() then logs the problems that went away. A hypervisor with a broken
// domain thus logs one line, not one line every PAUSE seconds for months.
#pragma once

#include <spdlog/spdlog.h>

#include <cstdint>
#include <string>
#include <unordered_map>

namespace pulse {

class ConditionLog {
  public:
    explicit ConditionLog(std::shared_ptr<spdlog::logger> logger = spdlog::default_logger())
        : logger_(std::move(logger)) {}

    // Logs `message` at `level` if `key` is not already active; counts it either way.
    // Returns true when the line was logged.
    bool report(const std::string& key, spdlog::level::level_enum level,
                const std::string& message);

    // Logs and forgets the conditions not reported since the previous end_cycle().
    void end_cycle();

    // Clears one condition at once (e.g. the connection is back), logging `message`.
    void resolve(const std::string& key, const std::string& message);

    bool active(const std::string& key) const { return conditions_.contains(key); }
    std::size_t active_count() const { return conditions_.size(); }

  private:
    struct Condition {
        std::string message;
        std::uint64_t occurrences = 0;
        bool seen_this_cycle = false;
    };
    std::shared_ptr<spdlog::logger> logger_;
    std::unordered_map<std::string, Condition> conditions_;
};

}  // namespace pulse
