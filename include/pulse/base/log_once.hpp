// A problem that recurs is logged once, not every time it is seen: the one home of that rule.
//
// ConditionLog: a problem a poll sees, logged once when it starts and once when it ends.
//
// A poller reports each problem it sees during a cycle under a stable key ("disk i-2-17-VM/vda
// has no source"); end_cycle() then logs the problems that went away. A hypervisor with a broken
// domain thus logs one line, not one line every PAUSE seconds for months.
//
// LogLimiter: an event that may come thousands of times (a refused message, a full spool), logged
// the first time and then at most once per interval, with how often it came.
#pragma once

#include <spdlog/spdlog.h>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
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

class LogLimiter {
  public:
    using Clock = std::chrono::steady_clock;
    // An interval that never ends: a line the first time only.
    static constexpr Clock::duration kOnce = Clock::duration::max();

    explicit LogLimiter(Clock::duration interval) : interval_(interval) {}

    // Counts one occurrence of `key`. Returns how many there were so far when a line is due
    // (the first time, and then once `interval` has passed since the last line), nullopt when
    // the caller should stay quiet. Thread-safe.
    std::optional<std::uint64_t> due(std::string_view key, Clock::time_point now = Clock::now());

  private:
    struct Entry {
        std::uint64_t count = 0;
        std::optional<Clock::time_point> logged;
    };
    Clock::duration interval_;
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace pulse
