// Reading line protocol the way InfluxDB 1.x does: escapes, every field type, and the lines it
// refuses.
#include "pulse/format/line_protocol.hpp"

#include <gtest/gtest.h>

namespace pulse {
namespace {

TEST(LineProtocolParser, ReadsMeasurementTagsTypedFieldsAndTime) {
    ParsedLine l = parse_line("cpuTime,vmId=i-2-17-VM,vmUuid=u1 cpuTime=12.5,cpus=2i 1534498535");
    EXPECT_EQ(l.measurement, "cpuTime");
    ASSERT_EQ(l.tags.size(), 2u);
    EXPECT_EQ(l.tags[0], (std::pair<std::string, std::string>{"vmId", "i-2-17-VM"}));
    ASSERT_EQ(l.fields.size(), 2u);
    EXPECT_EQ(l.fields[0].second, LineFieldValue{12.5});
    EXPECT_EQ(l.fields[1].second, LineFieldValue{std::int64_t{2}});
    EXPECT_EQ(l.timestamp, 1534498535);
}

TEST(LineProtocolParser, UnescapesOnlyWhatInfluxDbUnescapes) {
    ParsedLine l = parse_line(R"(a\ b\,c=d,k\=1=v\ 2\,x\y f\ g=1i)");
    EXPECT_EQ(l.measurement, "a b,c=d");
    ASSERT_EQ(l.tags.size(), 1u);
    EXPECT_EQ(l.tags[0].first, "k=1");
    EXPECT_EQ(l.tags[0].second, R"(v 2,x\y)");
    EXPECT_EQ(l.fields[0].first, "f g");
    EXPECT_FALSE(l.timestamp.has_value());
}

TEST(LineProtocolParser, ReadsStringAndBooleanFields) {
    ParsedLine l = parse_line(R"(m s="a \"q\" \\ b, c=d",t=true,f=F,n=-1.5e3 -5)");
    ASSERT_EQ(l.fields.size(), 4u);
    EXPECT_EQ(l.fields[0].second, LineFieldValue{std::string(R"(a "q" \ b, c=d)")});
    EXPECT_EQ(l.fields[1].second, LineFieldValue{true});
    EXPECT_EQ(l.fields[2].second, LineFieldValue{false});
    EXPECT_EQ(l.fields[3].second, LineFieldValue{-1500.0});
    EXPECT_EQ(l.timestamp, -5);
}

TEST(LineProtocolParser, RefusesWhatInfluxDbRefuses) {
    for (const char* line : {"", "m", "m ", ",t=1 f=1", "m,t f=1", "m,t= f=1", "m,=v f=1", "m f",
                             "m f=", "m f=1x", "m f=1.5i", "m f=nan", "m f=inf", "m f=1 12x",
                             "m f=1 1 2", "m f=\"open", "m f=1i,", "m f=99999999999999999999i"}) {
        EXPECT_THROW(parse_line(line), LineProtocolError) << "'" << line << "'";
    }
}

TEST(LineProtocolParser, AnErrorSaysWhere) {
    try {
        parse_line("m f=1x 10");
        FAIL();
    } catch (const LineProtocolError& e) {
        EXPECT_NE(std::string(e.what()).find("'1x'"), std::string::npos) << e.what();
    }
}

TEST(LineProtocolParser, BlankAndCommentLinesAreSkippedAndCarriageReturnsDropped) {
    std::vector<std::string> lines;
    for_each_line("# header\n\nm f=1i 1\r\n  \nm f=2i 2",
                  [&](std::string_view line) { lines.emplace_back(line); });
    EXPECT_EQ(lines, (std::vector<std::string>{"m f=1i 1", "m f=2i 2"}));
}

}  // namespace
}  // namespace pulse
