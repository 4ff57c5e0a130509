// The table of settings: complete rows, one name each, and defaults that are Config's.
#include "pulse/config/settings.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <set>

#include "pulse/config/config.hpp"

namespace pulse {
namespace {

TEST(Settings, EveryRowIsComplete) {
    for (const Setting& row : kSensorSettings) {
        const std::string name = setting_name(row);
        EXPECT_FALSE(row.help.empty()) << name;
        EXPECT_FALSE(row.doc.empty()) << name;
        EXPECT_TRUE(row.flag.empty() || row.flag.starts_with("--")) << name;
        EXPECT_TRUE(std::all_of(row.env.begin(), row.env.end(), [](unsigned char c) {
            return std::isupper(c) || std::isdigit(c) || c == '_';
        })) << name;
        const bool valueless = row.kind == Kind::toggle || row.kind == Kind::repeated;
        EXPECT_EQ(valueless, row.env.empty()) << name << ": only a flag may have no variable";
        EXPECT_TRUE(row.kind == Kind::toggle || !row.arg.empty()) << name << ": no arg";
        if (!row.key.empty()) {
            // The configuration file's rule: a variable's key is its name in lower case.
            std::string lower(row.env);
            std::transform(lower.begin(), lower.end(), lower.begin(),
                           [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
            EXPECT_EQ(row.key, lower) << name;
        }
    }
}

TEST(Settings, NoNameIsTakenTwice) {
    std::set<std::string_view> names;
    for (const Setting& row : kSensorSettings) {
        for (std::string_view name : {row.env, row.flag, row.key}) {
            EXPECT_TRUE(name.empty() || names.insert(name).second) << name;
        }
    }
}

TEST(Settings, AVariableWithoutAFlagHasAFileVariantWithOne) {
    for (const Setting& row : kSensorSettings) {
        if (!row.env.empty() && row.flag.empty()) {
            const Setting* file = find_setting(kSensorSettings, std::string(row.env) + "_FILE");
            ASSERT_NE(file, nullptr) << row.env;
            EXPECT_FALSE(file->flag.empty()) << file->env;
        }
    }
}

// The rows' defaults are what the parser uses; code that builds a Config itself gets the
// struct's, which must be the same.
TEST(Settings, TheDefaultsOfTheRowsAreThoseOfConfig) {
    const Config parsed = parse_config({}, [](const std::string&) -> std::optional<std::string> {
                              return std::nullopt;
                          }).config;
    const Config built;
    ASSERT_EQ(parsed.hosts.size(), 1U);
    EXPECT_EQ(parsed.hosts[0].uri, built.hosts[0].uri);
    EXPECT_EQ(parsed.hosts[0].pause, built.hosts[0].pause);
    EXPECT_EQ(parsed.pause, built.pause);
    EXPECT_EQ(parsed.kafka_bootstrap, built.kafka_bootstrap);
    EXPECT_EQ(parsed.kafka_topic, built.kafka_topic);
    EXPECT_EQ(parsed.gather_host_stats, built.gather_host_stats);
    EXPECT_EQ(parsed.debug, built.debug);
    EXPECT_EQ(parsed.rates, built.rates);
    EXPECT_EQ(parsed.spool_dir, built.spool_dir);
    EXPECT_EQ(parsed.spool_dir_explicit, built.spool_dir_explicit);
    EXPECT_EQ(parsed.spool_max_bytes, built.spool_max_bytes);
    EXPECT_EQ(parsed.shutdown_timeout, built.shutdown_timeout);
    EXPECT_EQ(parsed.metrics_addr, built.metrics_addr);
    EXPECT_EQ(parsed.health_delivery_timeout, built.health_delivery_timeout);
    EXPECT_EQ(parsed.format, built.format);
    EXPECT_EQ(parsed.cs_endpoint, built.cs_endpoint);
    EXPECT_EQ(parsed.volumes_update_interval, built.volumes_update_interval);
}

TEST(Settings, ErrorsNameAVariableAndItsFlag) {
    EXPECT_EQ(setting_name(sensor_setting("PAUSE")), "PAUSE (--pause)");
    EXPECT_EQ(setting_name(sensor_setting("CS_API_KEY")), "CS_API_KEY");
    EXPECT_EQ(setting_name(sensor_setting("--once")), "--once");
}

}  // namespace
}  // namespace pulse
