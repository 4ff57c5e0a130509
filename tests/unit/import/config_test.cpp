// The importer's settings: defaults, required values, flags over environment, and errors that
// name the setting without repeating a password.
#include "pulse/import/config.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <map>

#include "env_lookup.hpp"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

constexpr const char* kSecret = "Zq9-distinctive-S3CRET-value";

using testing::env_of;

const std::map<std::string, std::string> kMinimal = {{"KAFKA_BOOTSTRAP", "k:9092"},
                                                     {"INFLUXDB_DB", "kvm"}};

std::string error_of(std::vector<std::string> args, std::map<std::string, std::string> env) {
    try {
        parse_import_config(args, env_of(std::move(env)));
    } catch (const ConfigError& e) {
        return e.what();
    }
    return "no error";
}

TEST(ImportConfig, DefaultsNeedOnlyTheBrokersAndTheDatabase) {
    ImportConfig c = parse_import_config({}, env_of(kMinimal)).config;
    EXPECT_EQ(c.kafka_bootstrap, std::vector<std::string>{"k:9092"});
    EXPECT_EQ(c.kafka_topic, "kvm-metrics");
    EXPECT_EQ(c.kafka_group, "pulse-importer");
    EXPECT_EQ(c.influxdb_url, "http://localhost:8086");
    EXPECT_EQ(c.influxdb_db, "kvm");
    EXPECT_EQ(c.batch_lines, 5000u);
    EXPECT_EQ(c.batch_wait, std::chrono::milliseconds(1000));
    EXPECT_TRUE(c.influxdb_user.empty());
}

TEST(ImportConfig, FlagsWinOverTheEnvironment) {
    auto env = kMinimal;
    env["KAFKA_GROUP"] = "from-env";
    env["INFLUXDB_URL"] = "http://env:8086";
    ImportConfig c =
        parse_import_config(
            {"--kafka-group", "from-flag", "--influxdb-url", "http://flag:1/", "--batch-lines",
             "10", "--batch-wait-ms", "0", "--kafka-property", "fetch.wait.max.ms=50"},
            env_of(env))
            .config;
    EXPECT_EQ(c.kafka_group, "from-flag");
    EXPECT_EQ(c.influxdb_url, "http://flag:1");
    EXPECT_EQ(c.batch_lines, 10u);
    EXPECT_EQ(c.batch_wait, std::chrono::milliseconds(0));
    EXPECT_EQ(c.kafka_properties.at("fetch.wait.max.ms"), "50");
}

TEST(ImportConfig, MissingBrokersOrDatabaseNameTheirSetting) {
    EXPECT_THAT(error_of({}, {{"INFLUXDB_DB", "kvm"}}),
                HasSubstr("KAFKA_BOOTSTRAP (--kafka-bootstrap)"));
    EXPECT_THAT(error_of({}, {{"KAFKA_BOOTSTRAP", "k:9092"}}),
                HasSubstr("INFLUXDB_DB (--influxdb-db)"));
}

TEST(ImportConfig, BadValuesNameTheVariableAndTheFlag) {
    auto with = [](const char* name, const char* value) {
        auto env = kMinimal;
        env[name] = value;
        return env;
    };
    EXPECT_THAT(error_of({}, with("INFLUXDB_URL", "influx:8086")),
                HasSubstr("INFLUXDB_URL (--influxdb-url)"));
    EXPECT_THAT(error_of({}, with("INFLUXDB_URL", "http://h:8086/write?db=x")),
                HasSubstr("INFLUXDB_URL"));
    EXPECT_THAT(error_of({}, with("IMPORT_BATCH_LINES", "0")), HasSubstr("IMPORT_BATCH_LINES"));
    EXPECT_THAT(error_of({}, with("IMPORT_BATCH_WAIT_MS", "-1")),
                HasSubstr("IMPORT_BATCH_WAIT_MS (--batch-wait-ms)"));
    EXPECT_THAT(error_of({}, with("KAFKA_GROUP", "a b")), HasSubstr("KAFKA_GROUP"));
    EXPECT_THAT(error_of({}, with("KAFKA_TOPIC", "a/b")), HasSubstr("KAFKA_TOPIC"));
    EXPECT_THAT(error_of({}, with("DEBUG", "maybe")), HasSubstr("DEBUG"));
}

TEST(ImportConfig, APasswordNeedsAUserAndIsNeverRepeatedInAnError) {
    auto env = kMinimal;
    env["INFLUXDB_PASSWORD"] = kSecret;
    std::string error = error_of({}, env);
    EXPECT_THAT(error, HasSubstr("INFLUXDB_USER"));
    EXPECT_THAT(error, Not(HasSubstr(kSecret)));
    EXPECT_THAT(error_of({"--influxdb-password", kSecret, "--no-such-flag"}, kMinimal),
                Not(HasSubstr(kSecret)));
    EXPECT_THAT(error_of({std::string("--influxdb-password=") + kSecret, "stray"}, kMinimal),
                Not(HasSubstr(kSecret)));
}

TEST(ImportConfig, TheRowsItSharesAreTheSensors) {
    for (const Setting& row : import_settings()) {
        EXPECT_FALSE(row.help.empty()) << setting_name(row);
        EXPECT_FALSE(row.doc.empty()) << setting_name(row);
        EXPECT_TRUE(row.key.empty()) << setting_name(row) << ": the importer reads no file";
        const Setting* shared = find_setting(kSensorSettings, row.env.empty() ? row.flag : row.env);
        if (shared) {
            EXPECT_EQ(row.flag, shared->flag) << row.env;
            EXPECT_EQ(row.kind, shared->kind) << row.env;
        }
    }
}

TEST(ImportConfig, HelpIsAnExitNotAnError) {
    ImportParseResult r = parse_import_config({"--help"}, env_of({}));
    EXPECT_EQ(r.outcome, ParseOutcome::exit_ok);
    EXPECT_THAT(r.message, HasSubstr("INFLUXDB_URL"));
}

}  // namespace
}  // namespace pulse
