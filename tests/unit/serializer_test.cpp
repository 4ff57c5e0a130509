// The JSON a consumer sees: the old sensor's documented messages, byte for byte, and a compact
// writer that agrees with nlohmann::json on every point.
#include "pulse/serializer.hpp"

#include <gtest/gtest.h>

#include <random>

#include "fixtures.hpp"

namespace pulse {
namespace {

using namespace std::chrono;
using pulse::testing::read_fixture;

const Timestamp kSampleTime = sys_days{year{2018} / 8 / 17} + hours{9} + seconds{35};
const std::string kHost = "qemu+ssh://root@10.252.1.33/system";

Point tagged(const char* measurement) {
    Point p;
    p.measurement = measurement;
    p.time = kSampleTime;
    return p;
}

Point& vm_tags(Point& p) {
    return p.tag("vmHost", kHost)
        .tag("vmId", "i-376-1733-VM")
        .tag("vmUuid", "12805898-0fda-4fa6-9f18-fac64f673679");
}

// The points of reference/sample-vm-message.json, as the sensor builds them.
std::vector<Point> sample_vm_points() {
    std::vector<Point> points;
    Point cpu = tagged("cpuTime");
    cpu.field("cpuTime", 1070.75).field("cpus", std::int64_t{4});
    points.push_back(vm_tags(cpu));
    Point rss = tagged("rss");
    rss.field("maxmem", std::int64_t{4194304})
        .field("mem", std::int64_t{4194304})
        .field("rss", std::int64_t{1443428});
    points.push_back(vm_tags(rss));
    Point nic = tagged("networkInterface");
    nic.field("readBytes", std::int64_t{111991494})
        .field("readDrops", std::int64_t{0})
        .field("readErrors", std::int64_t{0})
        .field("readPackets", std::int64_t{1453303})
        .field("writeBytes", std::int64_t{3067403974})
        .field("writeDrops", std::int64_t{0})
        .field("writeErrors", std::int64_t{0})
        .field("writePackets", std::int64_t{588124});
    nic.tag("mac", "06:f2:64:00:01:54");
    points.push_back(vm_tags(nic));
    Point disk = tagged("disk");
    disk.field("allocatedSpace", std::int64_t{890})
        .field("ioErrors", std::int64_t{-1})
        .field("onDiskSpace", std::int64_t{890})
        .field("readBytes", std::int64_t{264512607744})
        .field("readIOPS", std::int64_t{16538654})
        .field("totalSpace", std::int64_t{1000})
        .field("writeBytes", std::int64_t{930057794560})
        .field("writeIOPS", std::int64_t{30476842});
    disk.tag("image", "cc8121ef-2029-4f4f-826e-7c4f2c8a5563")
        .tag("pool", "b13cb3c0-c84d-334c-9fc3-4826ae58d984");
    points.push_back(vm_tags(disk));
    return points;
}

std::string without_trailing_newline(std::string text) {
    while (!text.empty() && text.back() == '\n') {
        text.pop_back();
    }
    return text;
}

TEST(Serializer, PrettyOutputIsTheOldSensorsVmMessageByteForByte) {
    auto points = sample_vm_points();
    EXPECT_EQ(serialize_json_pretty(points),
              without_trailing_newline(read_fixture("sample-vm-message.json")));
}

TEST(Serializer, CompactOutputIsTheSameDocumentOnOneLine) {
    auto points = sample_vm_points();
    std::string compact;
    serialize_json(points, compact);
    EXPECT_EQ(compact, nlohmann::json::parse(read_fixture("sample-vm-message.json")).dump());
}

TEST(Serializer, HostMessageMatchesTheOldSensor) {
    Point p;
    p.measurement = "nodeInfo";
    p.time = kSampleTime;
    p.field("freeMem", std::int64_t{80558})
        .field("idle", std::int64_t{120492574})
        .field("iowait", std::int64_t{39380})
        .field("kernel", std::int64_t{1198652})
        .field("totalMem", std::int64_t{128850})
        .field("user", std::int64_t{6416940});
    p.tag("vmHost", kHost);
    std::string compact;
    serialize_json({&p, 1}, compact);
    std::string expected = read_fixture("sample-host-message.json");
    EXPECT_EQ(compact, nlohmann::json::parse(expected).dump());
    EXPECT_EQ(serialize_json_pretty({&p, 1}), without_trailing_newline(expected));
}

TEST(Serializer, AWholeFloatKeepsItsDecimalPointSoInfluxTypesItAsFloat) {
    Point p = tagged("cpuTime");
    p.field("cpuTime", 1070.0).field("cpus", std::int64_t{2});
    std::string out;
    serialize_json({&p, 1}, out);
    EXPECT_NE(out.find("\"cpuTime\":1070.0,"), std::string::npos) << out;
    EXPECT_NE(out.find("\"cpus\":2}"), std::string::npos) << out;
    auto parsed = nlohmann::json::parse(out);
    EXPECT_TRUE(parsed[0]["fields"]["cpuTime"].is_number_float());
    EXPECT_TRUE(parsed[0]["fields"]["cpus"].is_number_integer());
}

TEST(Serializer, StringsAreEscaped) {
    Point p = tagged("disk");
    p.tag("image", "a\"b\\c\nd\x01").field("x", std::int64_t{1});
    std::string out;
    serialize_json({&p, 1}, out);
    auto parsed = nlohmann::json::parse(out);
    EXPECT_EQ(parsed[0]["tags"]["image"], "a\"b\\c\nd\x01");
    EXPECT_EQ(out, nlohmann::json::array({to_json(p)}).dump());
}

TEST(Serializer, ValidUtf8IsKeptAndInvalidBytesBecomeAReplacementCharacter) {
    Point p = tagged("disk");
    p.tag("image", "caf\xC3\xA9-\xE2\x82\xAC-\xF0\x9F\x92\xBE")
        .tag("pool", "bad\xFF-\xC3-\xED\xA0\x80-\xC0\xAF")
        .field("x", std::int64_t{1});
    std::string out;
    serialize_json({&p, 1}, out);
    ASSERT_TRUE(nlohmann::json::accept(out)) << out;
    auto compact = nlohmann::json::parse(out);
    EXPECT_EQ(compact[0]["tags"]["image"], "caf\xC3\xA9-\xE2\x82\xAC-\xF0\x9F\x92\xBE");
    const std::string pool = compact[0]["tags"]["pool"];
    EXPECT_EQ(pool.rfind("bad\xEF\xBF\xBD-\xEF\xBF\xBD-", 0), 0u) << pool;
    std::string pretty;
    ASSERT_NO_THROW(pretty = serialize_json_pretty({&p, 1}));
    EXPECT_TRUE(nlohmann::json::accept(pretty));
}

TEST(Serializer, NonFiniteFloatsBecomeNullNotInvalidJson) {
    Point p = tagged("cpuTime");
    p.field("cpuTime", std::numeric_limits<double>::quiet_NaN());
    std::string out;
    serialize_json({&p, 1}, out);
    EXPECT_TRUE(nlohmann::json::accept(out)) << out;
}

TEST(Serializer, AnEmptyMessageIsAnEmptyArray) {
    std::string out;
    serialize_json({}, out);
    EXPECT_EQ(out, "[]");
}

TEST(Serializer, SerializingAppendsToTheBuffer) {
    auto points = sample_vm_points();
    std::string out = "x";
    serialize_json(points, out);
    EXPECT_EQ(out.front(), 'x');
    EXPECT_EQ(out.substr(1), nlohmann::json::parse(out.substr(1)).dump());
}

// Property: for many random points the hand-written writer and nlohmann print the same document,
// so the compact (Kafka) and indented (DEBUG) forms always carry the same values. (The digits of
// a float may differ in the last place: both forms are exact, nlohmann's Grisu2 is just not
// always the shortest.)
TEST(Serializer, CompactWriterAgreesWithNlohmannOnRandomPoints) {
    std::mt19937_64 rng(42);
    std::uniform_int_distribution<std::int64_t> ints(std::numeric_limits<std::int64_t>::min(),
                                                     std::numeric_limits<std::int64_t>::max());
    std::uniform_real_distribution<double> mantissa(0.0, 10.0);
    std::uniform_int_distribution<int> exponent(-12, 18);
    std::uniform_int_distribution<int> chars(1, 126);
    for (int round = 0; round < 2000; ++round) {
        Point p = tagged("m");
        std::string tag;
        for (int i = 0; i < round % 9; ++i) {
            tag.push_back(static_cast<char>(chars(rng)));
        }
        p.tag("aTag", tag);
        // In nlohmann's (sorted) key order, as the point builders add them.
        p.field("aFloat", mantissa(rng) * std::pow(10.0, exponent(rng)));
        p.field("aSmallInt", static_cast<std::int64_t>(round));
        p.field("anInt", ints(rng));
        std::string out;
        serialize_json({&p, 1}, out);
        auto expected = nlohmann::json::array({to_json(p)});
        ASSERT_EQ(nlohmann::json::parse(out), expected) << out;
    }
}

}  // namespace
}  // namespace pulse
