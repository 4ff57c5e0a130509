// Logging a recurring problem once; see log_once.hpp.
#include "pulse/base/log_once.hpp"

#include <vector>

namespace pulse {

bool ConditionLog::report(const std::string& key, spdlog::level::level_enum level,
                          const std::string& message) {
    auto [it, inserted] = conditions_.try_emplace(key);
    Condition& c = it->second;
    ++c.occurrences;
    c.seen_this_cycle = true;
    if (inserted) {
        c.message = message;
        logger_->log(level, message);
    }
    return inserted;
}

void ConditionLog::end_cycle() {
    std::vector<std::string> gone;
    for (auto& [key, c] : conditions_) {
        if (!c.seen_this_cycle) {
            gone.push_back(key);
        }
        c.seen_this_cycle = false;
    }
    for (const auto& key : gone) {
        const Condition& c = conditions_.at(key);
        logger_->info("no longer seen after {} poll(s): {}", c.occurrences, c.message);
        conditions_.erase(key);
    }
}

void ConditionLog::resolve(const std::string& key, const std::string& message) {
    auto it = conditions_.find(key);
    if (it == conditions_.end()) {
        return;
    }
    logger_->info("{}", message);
    conditions_.erase(it);
}

std::optional<std::uint64_t> LogLimiter::due(std::string_view key, Clock::time_point now) {
    std::lock_guard lock(mutex_);
    auto [it, inserted] = entries_.try_emplace(std::string(key));
    Entry& entry = it->second;
    ++entry.count;
    if (entry.logged && (interval_ == kOnce || now - *entry.logged < interval_)) {
        return std::nullopt;
    }
    entry.logged = now;
    return entry.count;
}

}  // namespace pulse
