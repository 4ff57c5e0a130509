// The TOML configuration file: every key read as its variable's text, and one clear error with
// the file, line and key for an unknown key, a wrong type or a TOML syntax error.
#include "pulse/config/config_file.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "pulse/config/config.hpp"

namespace pulse {
namespace {

using ::testing::HasSubstr;

std::string error_of(std::string_view text) {
    try {
        parse_config_file(text, "/etc/pulse-sensor.toml");
    } catch (const ConfigError& e) {
        return e.what();
    }
    ADD_FAILURE() << "no ConfigError for: " << text;
    return {};
}

TEST(ConfigFile, ValuesBecomeTheTextOfTheirVariables) {
    ConfigFile f = parse_config_file(
        "# comment\n"
        "kvm_host = [\"qemu:///system\", \"qemu+ssh://root@hv1/system\"]\n"
        "pause = 30\n"
        "kafka_bootstrap = \"kafka1:9092,kafka2:9092\"\n"
        "gather_host_stats = true\n"
        "debug = false\n"
        "spool_max_bytes = \"512M\"\n"
        "shutdown_timeout = 9\n",
        "f.toml");
    ASSERT_NE(f.find("kvm_host"), nullptr);
    EXPECT_EQ(f.find("kvm_host")->text, "qemu:///system,qemu+ssh://root@hv1/system");
    EXPECT_EQ(f.find("kvm_host")->line, 2U);
    EXPECT_EQ(f.find("pause")->text, "30");
    EXPECT_EQ(f.find("pause")->line, 3U);
    EXPECT_EQ(f.find("kafka_bootstrap")->text, "kafka1:9092,kafka2:9092");
    EXPECT_EQ(f.find("gather_host_stats")->text, "true");
    EXPECT_EQ(f.find("debug")->text, "false");
    EXPECT_EQ(f.find("spool_max_bytes")->text, "512M");
    EXPECT_EQ(f.find("shutdown_timeout")->text, "9");
    EXPECT_EQ(f.find("kafka_topic"), nullptr);
}

TEST(ConfigFile, SpoolMaxBytesTakesAnIntegerToo) {
    EXPECT_EQ(parse_config_file("spool_max_bytes = 1048576\n", "f").find("spool_max_bytes")->text,
              "1048576");
}

TEST(ConfigFile, HostTablesKeepTheirOrderAndLines) {
    ConfigFile f = parse_config_file(
        "[[host]]\n"
        "uri = \"qemu+ssh://root@hv1/system\"\n"
        "pause = 30\n"
        "gather_host_stats = true\n"
        "\n"
        "[[host]]\n"
        "uri = \"qemu+ssh://root@hv2/system\"\n",
        "f");
    ASSERT_EQ(f.hosts.size(), 2U);
    EXPECT_EQ(f.hosts[0].uri.text, "qemu+ssh://root@hv1/system");
    EXPECT_EQ(f.hosts[0].uri.line, 2U);
    ASSERT_TRUE(f.hosts[0].pause);
    EXPECT_EQ(f.hosts[0].pause->text, "30");
    ASSERT_TRUE(f.hosts[0].gather_host_stats);
    EXPECT_EQ(f.hosts[0].gather_host_stats->text, "true");
    EXPECT_EQ(f.hosts[1].uri.text, "qemu+ssh://root@hv2/system");
    EXPECT_FALSE(f.hosts[1].pause);
    EXPECT_FALSE(f.hosts[1].gather_host_stats);
}

TEST(ConfigFile, KafkaPropertiesTakeStringsNumbersAndBooleans) {
    ConfigFile f = parse_config_file(
        "[kafka_properties]\n"
        "\"security.protocol\" = \"SASL_SSL\"\n"
        "\"linger.ms\" = 20\n"
        "\"enable.idempotence\" = true\n",
        "f");
    ASSERT_EQ(f.kafka_properties.size(), 3U);
    std::map<std::string, std::string> got;
    for (const auto& [key, value] : f.kafka_properties) {
        got[key] = value.text;
    }
    EXPECT_EQ(got["security.protocol"], "SASL_SSL");
    EXPECT_EQ(got["linger.ms"], "20");
    EXPECT_EQ(got["enable.idempotence"], "true");
}

TEST(ConfigFile, AnUnknownKeyIsAnErrorWithFileLineAndKey) {
    std::string message = error_of("pause = 10\nkvm_hosts = \"qemu:///system\"\n");
    EXPECT_THAT(message, HasSubstr("'/etc/pulse-sensor.toml' line 2, key kvm_hosts"));
    EXPECT_THAT(message, HasSubstr("unknown key"));
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
}

TEST(ConfigFile, AnUnknownKeyInAHostTableIsAnError) {
    EXPECT_THAT(error_of("[[host]]\nuri = \"qemu:///system\"\nport = 22\n"),
                HasSubstr("line 3, key host.port: unknown key"));
}

TEST(ConfigFile, AWrongTypeIsAnErrorWithFileLineKeyAndTheExpectedType) {
    EXPECT_THAT(error_of("pause = \"10\"\n"), HasSubstr("line 1, key pause: expected an integer"));
    EXPECT_THAT(error_of("\n\ndebug = \"yes\"\n"),
                HasSubstr("line 3, key debug: expected true or false"));
    EXPECT_THAT(error_of("kvm_host = 5\n"),
                HasSubstr("key kvm_host: expected a string or an array of strings"));
    EXPECT_THAT(error_of("kvm_host = [\"qemu:///system\", 5]\n"),
                HasSubstr("key kvm_host: expected a string or an array of strings"));
    EXPECT_THAT(error_of("kafka_topic = [\"a\"]\n"),
                HasSubstr("key kafka_topic: expected a string"));
    EXPECT_THAT(error_of("[[host]]\nuri = \"qemu:///system\"\npause = 1.5\n"),
                HasSubstr("line 3, key host.pause: expected an integer"));
    EXPECT_THAT(error_of("host = \"qemu:///system\"\n"), HasSubstr("key host: expected [[host]]"));
    EXPECT_THAT(error_of("kafka_properties = 1\n"),
                HasSubstr("key kafka_properties: expected a [kafka_properties] table"));
}

TEST(ConfigFile, AHostTableWithoutUriIsAnError) {
    EXPECT_THAT(error_of("[[host]]\npause = 5\n"), HasSubstr("key host.uri: missing"));
}

TEST(ConfigFile, KvmHostAndHostTablesTogetherAreAnError) {
    EXPECT_THAT(error_of("kvm_host = \"qemu:///system\"\n[[host]]\nuri = \"test:///x\"\n"),
                HasSubstr("line 1, key kvm_host: give the hypervisors either"));
}

TEST(ConfigFile, ATomlSyntaxErrorNamesTheFileAndLine) {
    std::string message = error_of("pause = 10\n\npause = 11\n");
    EXPECT_THAT(message, HasSubstr("'/etc/pulse-sensor.toml' line 3"));
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
    EXPECT_THAT(error_of("kafka_topic = \"unterminated\n"), HasSubstr("line 1"));
}

TEST(ConfigFile, AWrongTypeOfASecretPropertyDoesNotShowItsValue) {
    std::string message = error_of("[kafka_properties]\n\"sasl.password\" = [\"Zq9-S3CRET\"]\n");
    EXPECT_THAT(message, HasSubstr("key kafka_properties.sasl.password"));
    EXPECT_EQ(message.find("Zq9-S3CRET"), std::string::npos);
}

}  // namespace
}  // namespace pulse
