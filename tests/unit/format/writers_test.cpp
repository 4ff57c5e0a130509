// The JSON a consumer sees: the old sensor's documented messages, byte for byte, and a compact
// writer that agrees with nlohmann::json on every point. Line protocol: InfluxDB's escaping and
// types, and random points (nasty names, extreme numbers) that read back from both formats with
// the same data.
#include "pulse/format/json.hpp"

#include <fmt/format.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <random>

#include "fixtures.hpp"
#include "pulse/format/line_protocol.hpp"

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

TEST(Json, PrettyOutputIsTheOldSensorsVmMessageByteForByte) {
    auto points = sample_vm_points();
    EXPECT_EQ(serialize_json_pretty(points),
              without_trailing_newline(read_fixture("sample-vm-message.json")));
}

TEST(Json, CompactOutputIsTheSameDocumentOnOneLine) {
    auto points = sample_vm_points();
    std::string compact;
    serialize_json(points, compact);
    EXPECT_EQ(compact, nlohmann::json::parse(read_fixture("sample-vm-message.json")).dump());
}

TEST(Json, HostMessageMatchesTheOldSensor) {
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

TEST(Json, AWholeFloatKeepsItsDecimalPointSoInfluxTypesItAsFloat) {
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

TEST(Json, StringsAreEscaped) {
    Point p = tagged("disk");
    p.tag("image", "a\"b\\c\nd\x01").field("x", std::int64_t{1});
    std::string out;
    serialize_json({&p, 1}, out);
    auto parsed = nlohmann::json::parse(out);
    EXPECT_EQ(parsed[0]["tags"]["image"], "a\"b\\c\nd\x01");
    EXPECT_EQ(out, nlohmann::json::array({to_json(p)}).dump());
}

// Each name as libvirt could hand it over, and what Python 3 prints for it with
// json.dumps(name.decode('utf-8', 'replace')): the old importer decodes every message as ASCII.
struct PythonJson {
    const char* name;
    const char* json;
};
const PythonJson kPythonJson[] = {
    {"i-2-17-VM", R"("i-2-17-VM")"},
    {"\xD1\x82\xD0\xB5\xD1\x81\xD1\x82", R"("\u0442\u0435\u0441\u0442")"},  // тест
    {"caf\xC3\xA9 \xE2\x82\xAC", R"("caf\u00e9 \u20ac")"},
    {"\xF0\x9F\x92\xBE disk", R"("\ud83d\udcbe disk")"},
    {"\xE4\xB8\xAD\xE6\x96\x87", R"("\u4e2d\u6587")"},
    {"a\"b\\c/d", R"("a\"b\\c/d")"},
    {"\x01\x08\x09\x0A\x0C\x0D\x1F\x7F", R"("\u0001\b\t\n\f\r\u001f\u007f")"},
    {"\xE2\x80\xA8\xEF\xBB\xBF\xEF\xBF\xBF", R"("\u2028\ufeff\uffff")"},
    {"\xF0\x90\x80\x80\xF4\x8F\xBF\xBF", R"("\ud800\udc00\udbff\udfff")"},
    // Ill-formed UTF-8: one U+FFFD per maximal ill-formed subsequence.
    {"bad\xFF", R"("bad\ufffd")"},
    {"trunc\xE2\x82", R"("trunc\ufffd")"},
    {"trunc\xE2\x82-x", R"("trunc\ufffd-x")"},
    {"sur\xED\xA0\x80", R"("sur\ufffd\ufffd\ufffd")"},
    {"over\xC0\xAF", R"("over\ufffd\ufffd")"},
    {"f0\xF0\x80\x80", R"("f0\ufffd\ufffd\ufffd")"},
    {"lone\x80\xBF", R"("lone\ufffd\ufffd")"},
    {"big\xF4\x90\x80\x80", R"("big\ufffd\ufffd\ufffd\ufffd")"},
    {"ok\xF0\x9F\x92", R"("ok\ufffd")"},
};

bool ascii_only(const std::string& text) {
    return std::all_of(text.begin(), text.end(),
                       [](char c) { return static_cast<unsigned char>(c) < 0x80; });
}

TEST(Json, NamesAreEscapedToAsciiExactlyAsPythonsJsonDumpsEscapesThem) {
    for (const PythonJson& c : kPythonJson) {
        Point p = tagged("disk");
        p.tag("image", c.name).field("x", std::int64_t{1});
        std::string out;
        serialize_json({&p, 1}, out);
        const std::string expected =
            fmt::format(R"([{{"fields":{{"x":1}},"measurement":"disk","tags":{{"image":{}}},)"
                        R"("time":"2018-08-17T09:00:35Z"}}])",
                        c.json);
        EXPECT_EQ(out, expected) << "name: " << c.json;
        EXPECT_TRUE(ascii_only(out)) << out;
    }
}

TEST(Json, TheDebugFormEscapesNamesToAsciiLikeTheCompactForm) {
    for (const PythonJson& c : kPythonJson) {
        Point p = tagged("disk");
        p.tag("image", c.name).field("x", std::int64_t{1});
        const std::string pretty = serialize_json_pretty({&p, 1});
        EXPECT_NE(pretty.find(fmt::format("\"image\": {}", c.json)), std::string::npos)
            << "name: " << c.json << "\n"
            << pretty;
        EXPECT_TRUE(ascii_only(pretty)) << pretty;
    }
}

TEST(Json, EscapedNamesReadBackAsTheirUtf8) {
    Point p = tagged("disk");
    p.tag("image", "caf\xC3\xA9-\xE2\x82\xAC-\xF0\x9F\x92\xBE")
        .tag("pool", "bad\xFF-\xC3-\xED\xA0\x80-\xC0\xAF")
        .field("x", std::int64_t{1});
    std::string out;
    serialize_json({&p, 1}, out);
    ASSERT_TRUE(nlohmann::json::accept(out)) << out;
    auto compact = nlohmann::json::parse(out);
    EXPECT_EQ(compact[0]["tags"]["image"], "caf\xC3\xA9-\xE2\x82\xAC-\xF0\x9F\x92\xBE");
    const std::string r = "\xEF\xBF\xBD";
    EXPECT_EQ(compact[0]["tags"]["pool"], "bad" + r + "-" + r + "-" + r + r + r + "-" + r + r);
    std::string pretty;
    ASSERT_NO_THROW(pretty = serialize_json_pretty({&p, 1}));
    EXPECT_EQ(nlohmann::json::parse(pretty), compact);
}

TEST(Json, NonFiniteFloatsBecomeNullNotInvalidJson) {
    Point p = tagged("cpuTime");
    p.field("cpuTime", std::numeric_limits<double>::quiet_NaN());
    std::string out;
    serialize_json({&p, 1}, out);
    EXPECT_TRUE(nlohmann::json::accept(out)) << out;
}

TEST(Json, AnEmptyMessageIsAnEmptyArray) {
    std::string out;
    serialize_json({}, out);
    EXPECT_EQ(out, "[]");
}

TEST(Json, SerializingAppendsToTheBuffer) {
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
TEST(Json, CompactWriterAgreesWithNlohmannOnRandomPoints) {
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

std::string lines_of(const std::vector<Point>& points) {
    std::string out;
    serialize_line_protocol(points, out);
    return out;
}

TEST(LineProtocol, TheSampleVmMessageIsOneLinePerPointWithSortedTagsAndTypedFields) {
    std::string lines = lines_of(sample_vm_points());
    std::vector<std::string> split;
    for_each_line(lines, [&](std::string_view line) { split.emplace_back(line); });
    ASSERT_EQ(split.size(), 4u);
    EXPECT_EQ(split[0],
              "cpuTime,vmHost=qemu+ssh://root@10.252.1.33/system,vmId=i-376-1733-VM,"
              "vmUuid=12805898-0fda-4fa6-9f18-fac64f673679 cpuTime=1070.75,cpus=4i 1534496435");
    // mac was added last but sorts first.
    EXPECT_TRUE(split[2].starts_with("networkInterface,mac=06:f2:64:00:01:54,vmHost=")) << split[2];
    EXPECT_NE(split[3].find(" allocatedSpace=890i,ioErrors=-1i,"), std::string::npos) << split[3];
    EXPECT_NE(lines.back(), '\n');
}

TEST(LineProtocol, SeparatorsInNamesAreEscapedWhereInfluxDbWantsThem) {
    Point p;
    p.measurement = "a b,c=d";
    p.tag("t k", "v,1=2").tag("z", "plain");
    p.field("f=x y", std::int64_t{1});
    p.time = Timestamp{seconds{10}};
    EXPECT_EQ(lines_of({p}), "a\\ b\\,c=d,t\\ k=v\\,1\\=2,z=plain f\\=x\\ y=1i 10");
}

TEST(LineProtocol, EmptyTagsAreLeftOutBecauseLineProtocolCannotCarryThem) {
    Point p;
    p.measurement = "disk";
    p.tag("image", "").tag("pool", "p1").tag("", "orphan");
    p.field("readBytes", std::int64_t{5});
    EXPECT_EQ(lines_of({p}), "disk,pool=p1 readBytes=5i 0");
}

TEST(LineProtocol, FloatsHaveNoSuffixIntegersHaveAnIAndExtremesSurvive) {
    Point p;
    p.measurement = "m";
    p.field("whole", 4.0)
        .field("tiny", 5e-324)
        .field("huge", 1.7976931348623157e308)
        .field("min", std::numeric_limits<std::int64_t>::min())
        .field("max", std::numeric_limits<std::int64_t>::max());
    EXPECT_EQ(lines_of({p}),
              "m whole=4,tiny=5e-324,huge=1.7976931348623157e+308,min=-9223372036854775808i,"
              "max=9223372036854775807i 0");
}

TEST(LineProtocol, NonFiniteFieldsAreSkippedAndCountedAndAPointLeftWithoutFieldsIsDropped) {
    Point partial;
    partial.measurement = "m";
    partial.field("nan", std::numeric_limits<double>::quiet_NaN()).field("ok", 1.5);
    Point empty;
    empty.measurement = "m";
    empty.field("inf", std::numeric_limits<double>::infinity());
    std::vector<Point> points{empty, partial, empty};
    std::string out;
    LineProtocolSkips skips = serialize_line_protocol(points, out);
    EXPECT_EQ(out, "m ok=1.5 0");
    EXPECT_EQ(skips.fields, 3u);
    EXPECT_EQ(skips.points, 2u);
}

TEST(LineProtocol, WhatCannotBeCarriedBecomesTheReplacementCharacter) {
    const std::string r = "\xEF\xBF\xBD";
    EXPECT_EQ(line_protocol_name("a\nb", false), "a" + r + "b");
    EXPECT_EQ(line_protocol_name("#m", true), r + "m");
    EXPECT_EQ(line_protocol_name("#k", false), "#k");
    EXPECT_EQ(line_protocol_name("end\\", false), "end" + r);
    EXPECT_EQ(line_protocol_name("two\\\\", false), "two\\\\");
    EXPECT_EQ(line_protocol_name("a\\,b", false), "a" + r + ",b");
    EXPECT_EQ(line_protocol_name("a\\=b", true), "a\\=b");  // '=' is no separator there
    EXPECT_EQ(line_protocol_name("bad\xff", false), "bad" + r);
    EXPECT_EQ(line_protocol_name("caf\xC3\xA9", false), "caf\xC3\xA9");
    EXPECT_EQ(line_protocol_name("trunc\xE2\x82-x", false), "trunc" + r + "-x");
}

TEST(LineProtocol, NamesStayUtf8BecauseInfluxDbRequiresIt) {
    Point p = tagged("cpuTime");
    p.tag("vmId", "\xD1\x82\xD0\xB5\xD1\x81\xD1\x82").field("cpus", std::int64_t{1});
    EXPECT_EQ(lines_of({p}), "cpuTime,vmId=\xD1\x82\xD0\xB5\xD1\x81\xD1\x82 cpus=1i 1534496435");
}

TEST(JsonMessage, TheSampleMessageReadsBackToItsPoints) {
    auto points = sample_vm_points();
    std::string text;
    serialize_json(points, text);
    std::vector<Point> back = parse_json_message(text);
    ASSERT_EQ(back.size(), points.size());
    for (std::size_t i = 0; i < points.size(); ++i) {
        EXPECT_EQ(to_json(back[i]), to_json(points[i]));
        EXPECT_EQ(back[i].fields.size(), points[i].fields.size());
    }
}

TEST(JsonMessage, MalformedMessagesAreRefusedWithAReason) {
    for (
        const char* text :
        {"", "{}", "[1]", "[{\"measurement\":\"m\"}]", "not json",
         R"([{"measurement":"m","tags":{},"fields":{"f":"x"},"time":"2018-08-17T09:00:35Z"}])",
         R"([{"measurement":"m","tags":{"t":1},"fields":{},"time":"2018-08-17T09:00:35Z"}])",
         R"([{"measurement":"m","tags":{},"fields":{"f":1},"time":"yesterday"}])",
         R"([{"measurement":"m","tags":{},"fields":{"f":18446744073709551615},"time":"2018-08-17T09:00:35Z"}])"}) {
        EXPECT_THROW(parse_json_message(text), MessageError) << text;
    }
}

// Random points for the property below: names built from the characters that need care in
// either format, numbers at the edges of their types.
class PointGenerator {
  public:
    explicit PointGenerator(std::uint64_t seed) : rng_(seed) {}

    std::string text() {
        static const std::vector<std::string> pieces = {"a",
                                                        "Z",
                                                        "9",
                                                        ",",
                                                        " ",
                                                        "=",
                                                        "\\",
                                                        "\"",
                                                        "\n",
                                                        "\t",
                                                        "#",
                                                        "\xC3\xA9",
                                                        "\xE2\x82\xAC",
                                                        "\xF0\x9F\x92\xA1",
                                                        "\xff",
                                                        "\\,",
                                                        "\\ ",
                                                        "/",
                                                        "-",
                                                        "{}"};
        std::string out;
        for (int n = pick(0, 6); n > 0; --n) {
            out += pieces[static_cast<std::size_t>(pick(0, static_cast<int>(pieces.size()) - 1))];
        }
        return out;
    }

    FieldValue value() {
        static const std::vector<std::int64_t> ints = {0, -1, 1,
                                                       std::numeric_limits<std::int64_t>::min(),
                                                       std::numeric_limits<std::int64_t>::max()};
        static const std::vector<double> doubles = {0.0,
                                                    -0.0,
                                                    4.0,
                                                    0.1,
                                                    1e20,
                                                    5e-324,
                                                    -1.7976931348623157e308,
                                                    1070.75,
                                                    std::numeric_limits<double>::quiet_NaN(),
                                                    std::numeric_limits<double>::infinity()};
        switch (pick(0, 3)) {
            case 0:
                return ints[static_cast<std::size_t>(pick(0, static_cast<int>(ints.size()) - 1))];
            case 1:
                return std::uniform_int_distribution<std::int64_t>(
                    std::numeric_limits<std::int64_t>::min())(rng_);
            case 2:
                return doubles[static_cast<std::size_t>(
                    pick(0, static_cast<int>(doubles.size()) - 1))];
            default:
                return std::ldexp(std::uniform_real_distribution<double>(-1, 1)(rng_),
                                  pick(-1000, 1000));
        }
    }

    Point point() {
        Point p;
        p.measurement = pick(0, 3) == 0 ? text() : "m" + text();
        // Unique prefixes keep keys distinct after any replacement.
        for (int i = pick(0, 4); i > 0; --i) {
            p.tag(fmt::format("t{}_{}", i, text()), text());
        }
        for (int i = pick(0, 5); i > 0; --i) {
            p.fields.emplace_back(fmt::format("f{}_{}", i, text()), value());
        }
        p.time = Timestamp{seconds{pick(0, 2000000000)}};
        return p;
    }

  private:
    int pick(int low, int high) { return std::uniform_int_distribution<int>(low, high)(rng_); }
    std::mt19937_64 rng_;
};

bool same_value(const FieldValue& a, const LineFieldValue& b) {
    if (const auto* i = std::get_if<std::int64_t>(&a)) {
        const auto* j = std::get_if<std::int64_t>(&b);
        return j != nullptr && *i == *j;
    }
    const auto* d = std::get_if<double>(&b);
    // Bit for bit: -0.0 must stay -0.0, the shortest form must read back exactly.
    return d != nullptr && std::signbit(*d) == std::signbit(std::get<double>(a)) &&
           *d == std::get<double>(a);
}

TEST(BothFormats, EveryRandomPointCarriesTheSameDataInJsonAndInLineProtocol) {
    PointGenerator generate(20261125);
    for (int round = 0; round < 300; ++round) {
        std::vector<Point> points;
        for (int i = round % 4; i >= 0; --i) {
            points.push_back(generate.point());
        }
        std::string json;
        serialize_json(points, json);
        std::vector<Point> from_json = parse_json_message(json);
        ASSERT_EQ(from_json.size(), points.size()) << json;

        std::vector<ParsedLine> from_lines;
        std::string lines;
        serialize_line_protocol(points, lines);
        for_each_line(lines, [&](std::string_view line) {
            try {
                from_lines.push_back(parse_line(line));
            } catch (const LineProtocolError& e) {
                ADD_FAILURE() << e.what() << " in: " << line;
            }
        });

        std::size_t next_line = 0;
        for (std::size_t i = 0; i < points.size(); ++i) {
            const Point& original = points[i];
            const Point& j = from_json[i];
            // JSON: numbers exactly (non-finite ones as null, left out), names as written.
            std::vector<std::pair<std::string, FieldValue>> finite;
            for (const auto& f : original.fields) {
                if (const auto* d = std::get_if<double>(&f.second); !d || std::isfinite(*d)) {
                    finite.push_back(f);
                }
            }
            ASSERT_EQ(j.fields.size(), finite.size()) << json;
            EXPECT_EQ(j.time, original.time);
            EXPECT_EQ(j.tags.size(), original.tags.size());
            if (finite.empty() || original.measurement.empty()) {
                continue;  // no line for it
            }
            ASSERT_LT(next_line, from_lines.size()) << lines;
            const ParsedLine& l = from_lines[next_line++];
            SCOPED_TRACE(lines);
            EXPECT_EQ(l.measurement, line_protocol_name(j.measurement, true));
            std::vector<std::pair<std::string, std::string>> tags;
            for (const auto& [k, v] : j.tags) {
                if (!k.empty() && !v.empty()) {
                    tags.emplace_back(line_protocol_name(k, false), line_protocol_name(v, false));
                }
            }
            std::sort(tags.begin(), tags.end());
            EXPECT_EQ(l.tags, tags);
            ASSERT_EQ(l.fields.size(), finite.size());
            for (std::size_t f = 0; f < finite.size(); ++f) {
                // JSON objects come back sorted by key, line protocol keeps the point's order.
                auto in_json = std::find_if(j.fields.begin(), j.fields.end(),
                                            [&](auto& x) { return x.first == finite[f].first; });
                bool same_key_in_json =
                    in_json != j.fields.end() || finite[f].first.find('\xff') != std::string::npos;
                EXPECT_TRUE(same_key_in_json) << finite[f].first;
                if (in_json != j.fields.end()) {
                    EXPECT_EQ(in_json->second, finite[f].second);
                }
                EXPECT_EQ(l.fields[f].first, line_protocol_name(finite[f].first, false));
                EXPECT_TRUE(same_value(finite[f].second, l.fields[f].second)) << l.fields[f].first;
            }
            EXPECT_EQ(l.timestamp, original.time.time_since_epoch().count());
        }
        EXPECT_EQ(next_line, from_lines.size()) << lines;
    }
}

}  // namespace
}  // namespace pulse
