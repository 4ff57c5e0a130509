// One encoder per encoding: the same points give the contract's JSON, the indented JSON of
// DEBUG, or line protocol without the fields InfluxDB refuses.
#include "pulse/format/encoding.hpp"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include <limits>
#include <vector>

namespace pulse {
namespace {

using namespace std::chrono;

std::vector<Point> points(double value) {
    Point p;
    p.measurement = "cpuTime";
    p.time = sys_days{year{2026} / 11 / 30};
    p.tag("vmId", "i-2-17-VM").field("cpuTime", value);
    return {p};
}

TEST(Encoder, EachEncodingWritesTheSamePoints) {
    Encoder json(Encoding::json);
    Encoder pretty(Encoding::json_pretty);
    Encoder lines(Encoding::line_protocol);
    const auto p = points(1.5);
    std::string compact(json.encode(p));
    EXPECT_EQ(compact.find('\n'), std::string::npos);
    EXPECT_EQ(nlohmann::json::parse(compact), nlohmann::json::parse(pretty.encode(p)));
    EXPECT_EQ(lines.encode(p), "cpuTime,vmId=i-2-17-VM cpuTime=1.5 1795996800");
}

TEST(Encoder, LineProtocolCountsTheFieldsItLeavesOut) {
    Encoder lines(Encoding::line_protocol);
    EXPECT_EQ(lines.encode(points(std::numeric_limits<double>::quiet_NaN())), "");
    EXPECT_EQ(lines.encode(points(std::numeric_limits<double>::infinity())), "");
    EXPECT_EQ(lines.skipped_fields(), 2U);
    EXPECT_EQ(lines.encode(points(2.0)), "cpuTime,vmId=i-2-17-VM cpuTime=2 1795996800");
}

}  // namespace
}  // namespace pulse
