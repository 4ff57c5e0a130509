// A PointSink that keeps every message it is handed, points and all, as Telegraf's test
// accumulator does: tests of the poller read points, not serialized JSON.
#pragma once

#include <algorithm>
#include <map>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/output/point_sink.hpp"

namespace pulse::testing {

class PointRecorder : public PointSink {
  public:
    struct Message {
        std::string key;
        std::vector<Point> points;
    };

    void deliver(std::string_view key, std::span<const Point> points) override {
        std::lock_guard lock(mutex_);
        messages.push_back({std::string(key), {points.begin(), points.end()}});
    }

    // Messages by the vmHost tag of their first point; safe while host threads deliver.
    std::map<std::string, int> messages_by_host() {
        std::lock_guard lock(mutex_);
        std::map<std::string, int> counts;
        for (const Message& m : messages) {
            ++counts[tag(m.points.at(0), "vmHost")];
        }
        return counts;
    }

    static std::string tag(const Point& point, std::string_view key) {
        auto found = std::find_if(point.tags.begin(), point.tags.end(),
                                  [&](const auto& t) { return t.first == key; });
        return found == point.tags.end() ? std::string() : found->second;
    }

    std::vector<Message> messages;

  private:
    std::mutex mutex_;
};

}  // namespace pulse::testing
