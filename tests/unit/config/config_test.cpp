// Configuration: defaults, environment, flags over environment, and one clear error per bad value.
#include "pulse/config/config.hpp"
#include "pulse/config/values.hpp"

#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <map>

#include "env_lookup.hpp"

namespace pulse {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

// A value no message may contain: if it shows up anywhere, a secret leaked.
constexpr const char* kSecret = "Zq9-distinctive-S3CRET-value";

std::string write_file(const std::string& name, const std::string& text) {
    std::string path = ::testing::TempDir() + name;
    std::ofstream(path) << text;
    return path;
}

using testing::env_of;

Config parse(std::vector<std::string> args, std::map<std::string, std::string> env = {}) {
    ParseResult r = parse_config(args, env_of(std::move(env)));
    EXPECT_EQ(r.outcome, ParseOutcome::run);
    return r.config;
}

std::string error_of(std::vector<std::string> args, std::map<std::string, std::string> env) {
    try {
        parse_config(args, env_of(std::move(env)));
    } catch (const ConfigError& e) {
        return e.what();
    }
    ADD_FAILURE() << "no ConfigError";
    return {};
}

TEST(Config, DefaultsMatchTheContract) {
    Config c = parse({});
    ASSERT_EQ(c.hosts.size(), 1U);
    EXPECT_EQ(c.hosts[0].uri, "qemu:///system");
    EXPECT_EQ(c.hosts[0].pause, std::chrono::seconds(10));
    EXPECT_EQ(c.pause, std::chrono::seconds(10));
    EXPECT_TRUE(c.kafka_bootstrap.empty());
    EXPECT_FALSE(c.use_kafka());
    EXPECT_EQ(c.kafka_topic, "kvm-metrics");
    EXPECT_FALSE(c.gather_host_stats);
    EXPECT_FALSE(c.debug);
    EXPECT_FALSE(c.once);
}

TEST(Config, EveryVariableIsReadFromTheEnvironment) {
    Config c = parse({}, {{"KVM_HOST", "qemu+ssh://root@10.252.1.11/system"},
                          {"PAUSE", "30"},
                          {"KAFKA_BOOTSTRAP", "kafka1:9092, kafka2:9093"},
                          {"KAFKA_TOPIC", "metrics.kvm_v2"},
                          {"GATHER_HOST_STATS", "true"},
                          {"DEBUG", "yes"}});
    ASSERT_EQ(c.hosts.size(), 1U);
    EXPECT_EQ(c.hosts[0].uri, "qemu+ssh://root@10.252.1.11/system");
    EXPECT_EQ(c.hosts[0].pause, std::chrono::seconds(30));
    EXPECT_TRUE(c.hosts[0].gather_host_stats);
    EXPECT_EQ(c.pause, std::chrono::seconds(30));
    EXPECT_EQ(c.kafka_bootstrap, (std::vector<std::string>{"kafka1:9092", "kafka2:9093"}));
    EXPECT_EQ(c.bootstrap_servers(), "kafka1:9092,kafka2:9093");
    EXPECT_EQ(c.kafka_topic, "metrics.kvm_v2");
    EXPECT_TRUE(c.gather_host_stats);
    EXPECT_TRUE(c.debug);
}

TEST(Config, AFlagWinsOverItsVariable) {
    Config c =
        parse({"--kvm-host", "test:///default", "--pause=5", "--kafka-bootstrap", "127.0.0.1:9092",
               "--kafka-topic", "t", "--gather-host-stats", "false", "--debug", "0", "--once"},
              {{"KVM_HOST", "qemu:///system"},
               {"PAUSE", "60"},
               {"KAFKA_BOOTSTRAP", "other:1"},
               {"KAFKA_TOPIC", "u"},
               {"GATHER_HOST_STATS", "true"},
               {"DEBUG", "true"}});
    ASSERT_EQ(c.hosts.size(), 1U);
    EXPECT_EQ(c.hosts[0].uri, "test:///default");
    EXPECT_EQ(c.pause, std::chrono::seconds(5));
    EXPECT_EQ(c.bootstrap_servers(), "127.0.0.1:9092");
    EXPECT_EQ(c.kafka_topic, "t");
    EXPECT_FALSE(c.gather_host_stats);
    EXPECT_FALSE(c.debug);
    EXPECT_TRUE(c.once);
}

TEST(Config, ABareBooleanFlagMeansTrue) {
    Config c = parse({"--debug", "--gather-host-stats"}, {{"DEBUG", "false"}});
    EXPECT_TRUE(c.debug);
    EXPECT_TRUE(c.gather_host_stats);
}

TEST(Config, BooleansAcceptTheDocumentedSpellingsInAnyCase) {
    for (const char* yes : {"true", "TRUE", "True", "1", "yes", "YES", "on"}) {
        EXPECT_TRUE(parse({}, {{"GATHER_HOST_STATS", yes}}).gather_host_stats) << yes;
    }
    for (const char* no : {"false", "FALSE", "0", "no", "No", "off"}) {
        EXPECT_FALSE(parse({}, {{"GATHER_HOST_STATS", no}}).gather_host_stats) << no;
    }
}

TEST(Config, RatesAreOffUnlessAskedForByVariableOrFlag) {
    EXPECT_FALSE(parse({}).rates);
    EXPECT_TRUE(parse({}, {{"RATES", "true"}}).rates);
    EXPECT_TRUE(parse({"--rates"}, {{"RATES", "no"}}).rates);
    EXPECT_FALSE(parse({"--rates", "off"}, {{"RATES", "yes"}}).rates);
}

TEST(Config, AnEmptyBootstrapMeansStdout) {
    EXPECT_FALSE(parse({}, {{"KAFKA_BOOTSTRAP", ""}}).use_kafka());
    EXPECT_FALSE(parse({}, {{"KAFKA_BOOTSTRAP", "  "}}).use_kafka());
}

TEST(Config, BrokersMayBeIpv6OrCarryAProtocol) {
    Config c = parse({}, {{"KAFKA_BOOTSTRAP", "[::1]:9092,SSL://kafka:9093"}});
    EXPECT_EQ(c.bootstrap_servers(), "[::1]:9092,SSL://kafka:9093");
}

struct BadValue {
    const char* variable;
    const char* value;
    const char* accepted;  // part of the message listing the accepted values
};

class ConfigRejects : public ::testing::TestWithParam<BadValue> {};

TEST_P(ConfigRejects, NamingTheVariableTheFlagAndTheAcceptedValues) {
    const BadValue& bad = GetParam();
    std::string message = error_of({}, {{bad.variable, bad.value}});
    EXPECT_THAT(message, HasSubstr(bad.variable));
    EXPECT_THAT(message, HasSubstr("--"));
    EXPECT_THAT(message, HasSubstr(std::string("'") + bad.value + "'"));
    EXPECT_THAT(message, HasSubstr(bad.accepted));
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
}

INSTANTIATE_TEST_SUITE_P(
    EveryBadValue, ConfigRejects,
    ::testing::Values(
        BadValue{"KVM_HOST", "", "libvirt URI"}, BadValue{"KVM_HOST", "no uri here", "libvirt URI"},
        BadValue{"KVM_HOST", "hostname-only", "libvirt URI"},
        BadValue{"KVM_HOST", "qemu:///system,,test:///default", "no empty item"},
        BadValue{"KVM_HOST", "qemu:///system,", "no empty item"},
        BadValue{"KVM_HOST", "qemu:///system, qemu:///system", "listed twice"},
        BadValue{"KVM_HOST", "qemu:///system,hostname-only", "libvirt URI"},
        BadValue{"PAUSE", "0", "whole seconds from 1 to 86400"},
        BadValue{"PAUSE", "-5", "whole seconds"}, BadValue{"PAUSE", "ten", "whole seconds"},
        BadValue{"PAUSE", "1.5", "whole seconds"}, BadValue{"PAUSE", "86401", "whole seconds"},
        BadValue{"PAUSE", "", "whole seconds"},
        BadValue{"PAUSE", "99999999999999999999", "whole seconds"},
        BadValue{"KAFKA_BOOTSTRAP", "kafka", "host:port"},
        BadValue{"KAFKA_BOOTSTRAP", "kafka:0", "host:port"},
        BadValue{"KAFKA_BOOTSTRAP", "kafka:65536", "host:port"},
        BadValue{"KAFKA_BOOTSTRAP", "kafka:port", "host:port"},
        BadValue{"KAFKA_BOOTSTRAP", "a:1,,b:2", "host:port"},
        BadValue{"KAFKA_BOOTSTRAP", "::1:9092", "host:port"},
        BadValue{"KAFKA_TOPIC", "", "a-z A-Z 0-9 . _ -"},
        BadValue{"KAFKA_TOPIC", "kvm metrics", "a-z A-Z 0-9 . _ -"},
        BadValue{"KAFKA_TOPIC", "..", "a-z A-Z 0-9 . _ -"},
        BadValue{"KAFKA_TOPIC", "kvm/metrics", "a-z A-Z 0-9 . _ -"},
        BadValue{"GATHER_HOST_STATS", "maybe", "true/false, 1/0, yes/no"},
        BadValue{"GATHER_HOST_STATS", "", "true/false"},
        BadValue{"DEBUG", "verbose", "true/false, 1/0, yes/no"},
        BadValue{"DEBUG", "2", "true/false"},
        BadValue{"RATES", "sometimes", "true/false, 1/0, yes/no"},
        BadValue{"CS_ENDPOINT", "cloudstack:8080", "http://host[:port][/path]"},
        BadValue{"CS_ENDPOINT", "ftp://cloudstack/client/api", "http://host[:port][/path]"},
        BadValue{"CS_ENDPOINT", "http://cs:8080/client/api?x=1", "http://host[:port][/path]"},
        BadValue{"VOLUMES_UPDATE_INTERVAL", "0", "whole seconds from 1 to 86400"},
        BadValue{"VOLUMES_UPDATE_INTERVAL", "10m", "whole seconds"},
        BadValue{"FLEET_GROUP", "rack a", "printable ASCII characters without spaces"},
        BadValue{"FLEET_TOPIC", "a b", "a-z A-Z 0-9 . _ -"},
        BadValue{"FLEET_TOPIC", "", "a-z A-Z 0-9 . _ -"},
        BadValue{"FLEET_PARTITIONS", "0", "a whole number from 1 to 10000"},
        BadValue{"FLEET_PARTITIONS", "10001", "a whole number from 1 to 10000"},
        BadValue{"FLEET_PARTITIONS", "x", "a whole number from 1 to 10000"},
        BadValue{"FLEET_PARTITIONS", "", "a whole number from 1 to 10000"},
        BadValue{"FLEET_SESSION_TIMEOUT", "0", "whole seconds from 1 to 3600"},
        BadValue{"FLEET_SESSION_TIMEOUT", "3601", "whole seconds from 1 to 3600"}));

TEST(Config, AKvmHostErrorQuotesTheUrisWithoutTheirPasswords) {
    for (const char* value :
         {"qemu+tcp://admin:Zq9-S3CRET@hv1/system, qemu+tcp://admin:Zq9-S3CRET@hv1/system",
          "qemu+tcp://admin:Zq9-S3CRET@hv1/system,,qemu:///system",
          "qemu+tcp://admin:Zq9-S3CRET@hv1/system,no uri"}) {
        const std::string error = error_of({}, {{"KVM_HOST", value}});
        EXPECT_THAT(error, HasSubstr("qemu+tcp://admin@hv1/system")) << value;
        EXPECT_THAT(error, Not(HasSubstr("Zq9-S3CRET"))) << error;
    }
}

TEST(Config, SpoolSettings) {
    Config d = parse({});
    EXPECT_EQ(d.spool_dir, "/var/lib/pulse-sensor/spool");
    EXPECT_FALSE(d.spool_dir_explicit);
    EXPECT_EQ(d.spool_max_bytes, 256u << 20);
    EXPECT_EQ(d.shutdown_timeout, std::chrono::seconds(5));
    Config c =
        parse({"--shutdown-timeout", "0"},
              {{"SPOOL_DIR", "/srv/spool"}, {"SPOOL_MAX_BYTES", "2G"}, {"SHUTDOWN_TIMEOUT", "9"}});
    EXPECT_EQ(c.spool_dir, "/srv/spool");
    EXPECT_TRUE(c.spool_dir_explicit);
    EXPECT_EQ(c.spool_max_bytes, 2ULL << 30);
    EXPECT_EQ(c.shutdown_timeout, std::chrono::seconds(0));
    EXPECT_EQ(parse({}, {{"SPOOL_DIR", "off"}}).spool_dir, "");
}

TEST(Config, WholeNumbersAreDigitsWithinTheirRange) {
    EXPECT_EQ(parse_whole("1", 1, 65535), 1);
    EXPECT_EQ(parse_whole("65535", 1, 65535), 65535);
    EXPECT_EQ(parse_whole("0", 0, 10), 0);
    EXPECT_FALSE(parse_whole("0", 1, 65535));
    EXPECT_FALSE(parse_whole("65536", 1, 65535));
    EXPECT_FALSE(parse_whole("", 0, 10));
    EXPECT_FALSE(parse_whole("-1", 0, 10));
    EXPECT_FALSE(parse_whole("+1", 0, 10));
    EXPECT_FALSE(parse_whole(" 1", 0, 10));
    EXPECT_FALSE(parse_whole("1.5", 0, 10));
    EXPECT_FALSE(parse_whole("99999999999999999999", 0, 10));
}

TEST(Config, SizesTakeBinarySuffixes) {
    EXPECT_EQ(parse_size("65536"), 65536u);
    EXPECT_EQ(parse_size("64K"), 65536u);
    EXPECT_EQ(parse_size("64kib"), 65536u);
    EXPECT_EQ(parse_size("300M"), 300ULL << 20);
    EXPECT_EQ(parse_size("1GB"), 1ULL << 30);
    EXPECT_FALSE(parse_size(""));
    EXPECT_FALSE(parse_size("M"));
    EXPECT_FALSE(parse_size("12 M"));
    EXPECT_FALSE(parse_size("99999999999999999999G"));
}

TEST(Config, ATopicLongerThanKafkaAllowsIsRejected) {
    EXPECT_THAT(error_of({}, {{"KAFKA_TOPIC", std::string(250, 'a')}}), HasSubstr("KAFKA_TOPIC"));
    EXPECT_EQ(parse({}, {{"KAFKA_TOPIC", std::string(249, 'a')}}).kafka_topic.size(), 249u);
}

TEST(Config, ABadFlagValueNamesTheSameSetting) {
    EXPECT_THAT(error_of({"--pause", "never"}, {}), HasSubstr("PAUSE (--pause) 'never'"));
}

TEST(Config, AnUnknownFlagIsAnError) {
    EXPECT_THAT(error_of({"--frobnicate"}, {}), HasSubstr("--frobnicate"));
}

TEST(Config, HelpListsEveryVariable) {
    ParseResult r = parse_config({"--help"}, env_of({}));
    EXPECT_EQ(r.outcome, ParseOutcome::exit_ok);
    for (const char* name : {"KVM_HOST", "PAUSE", "KAFKA_BOOTSTRAP", "KAFKA_TOPIC",
                             "GATHER_HOST_STATS", "DEBUG", "--once", "Exit status"}) {
        EXPECT_THAT(r.message, HasSubstr(name));
    }
}

TEST(Config, KafkaPropertiesComeFromTheFileThenTheFlags) {
    std::string path = write_file("kafka.properties",
                                  "# SASL over TLS\n"
                                  "\n"
                                  "security.protocol = SASL_SSL\n"
                                  "  sasl.mechanism=SCRAM-SHA-512\r\n"
                                  "sasl.password=" +
                                      std::string(kSecret) + "=with=equals\n" + "linger.ms=5");
    Config c = parse({"--kafka-property", "linger.ms=50", "--kafka-property=acks=1"},
                     {{"KAFKA_PROPERTIES_FILE", path}});
    EXPECT_EQ(c.kafka_properties, (std::map<std::string, std::string>{
                                      {"security.protocol", "SASL_SSL"},
                                      {"sasl.mechanism", "SCRAM-SHA-512"},
                                      {"sasl.password", std::string(kSecret) + "=with=equals"},
                                      {"linger.ms", "50"},
                                      {"acks", "1"}}));
    EXPECT_EQ(parse({"--kafka-properties-file", path}).kafka_properties.at("linger.ms"), "5");
    EXPECT_TRUE(parse({}).kafka_properties.empty());
}

TEST(Config, PropertyErrorsNameThePlaceButNeverTheValue) {
    std::string file =
        write_file("bad.properties", "acks=all\nsasl.password " + std::string(kSecret) + "\n");
    std::vector<std::pair<std::vector<std::string>, std::map<std::string, std::string>>> cases = {
        {{}, {{"KAFKA_PROPERTIES_FILE", file}}},
        {{"--kafka-property", std::string("sasl.password ") + kSecret}, {}},
        {{"--kafka-property", std::string("bad name=") + kSecret}, {}},
        // The flag forgotten before the second property: CLI11 quotes the stray argument.
        {{"--kafka-property", "acks=all", std::string("sasl.password=") + kSecret}, {}},
        {{"--kafka-property", "acks=all", std::string("--ssl.key.password=") + kSecret}, {}},
    };
    for (const auto& [args, env] : cases) {
        std::string message = error_of(args, env);
        EXPECT_THAT(message, Not(HasSubstr(kSecret)));
        EXPECT_THAT(message, Not(HasSubstr("S3CRET")));
        EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
    }
    EXPECT_THAT(error_of({}, {{"KAFKA_PROPERTIES_FILE", file}}),
                HasSubstr("KAFKA_PROPERTIES_FILE (--kafka-properties-file) '" + file + "' line 2"));
    EXPECT_THAT(error_of({"--kafka-property", "novalue"}, {}), HasSubstr("--kafka-property"));
}

TEST(Config, AMissingPropertiesFileIsNamed) {
    EXPECT_THAT(error_of({"--kafka-properties-file", "/nonexistent/kafka.properties"}, {}),
                HasSubstr("KAFKA_PROPERTIES_FILE (--kafka-properties-file) "
                          "'/nonexistent/kafka.properties'"));
    EXPECT_THAT(error_of({}, {{"KAFKA_PROPERTIES_FILE", "/dev/zero"}}),
                HasSubstr("KAFKA_PROPERTIES_FILE"));
}

TEST(Config, HelpShowsNoPropertyValue) {
    ParseResult r = parse_config(
        {"--kafka-property", std::string("sasl.password=") + kSecret, "--help"}, env_of({}));
    EXPECT_EQ(r.outcome, ParseOutcome::exit_ok);
    EXPECT_THAT(r.message, HasSubstr("--kafka-property"));
    EXPECT_THAT(r.message, HasSubstr("KAFKA_PROPERTIES_FILE"));
    EXPECT_THAT(r.message, HasSubstr("--check"));
    EXPECT_THAT(r.message, Not(HasSubstr(kSecret)));
}

TEST(Config, CheckIsAFlag) {
    EXPECT_TRUE(parse({"--check"}).check);
    EXPECT_FALSE(parse({}).check);
}

TEST(Config, VersionPrintsTheVersion) {
    ParseResult r = parse_config({"--version"}, env_of({}));
    EXPECT_EQ(r.outcome, ParseOutcome::exit_ok);
    EXPECT_THAT(r.message, HasSubstr(PULSE_VERSION));
}

TEST(Config, KvmHostTakesACommaSeparatedListWithSpacesTrimmed) {
    Config c = parse({}, {{"KVM_HOST", " qemu:///system , qemu+ssh://root@hv1/system,test:///x "},
                          {"PAUSE", "20"},
                          {"GATHER_HOST_STATS", "yes"}});
    ASSERT_EQ(c.hosts.size(), 3U);
    EXPECT_EQ(c.hosts[0].uri, "qemu:///system");
    EXPECT_EQ(c.hosts[1].uri, "qemu+ssh://root@hv1/system");
    EXPECT_EQ(c.hosts[2].uri, "test:///x");
    for (const HostConfig& host : c.hosts) {
        EXPECT_EQ(host.pause, std::chrono::seconds(20)) << host.uri;
        EXPECT_TRUE(host.gather_host_stats) << host.uri;
    }
    EXPECT_EQ(c.host_uris(), "qemu:///system, qemu+ssh://root@hv1/system, test:///x");
}

TEST(Config, ABadItemInTheFlagsListNamesTheFlag) {
    std::string message = error_of({"--kvm-host", "qemu:///system,,test:///x"}, {});
    EXPECT_THAT(message, HasSubstr("KVM_HOST (--kvm-host)"));
    EXPECT_THAT(message, HasSubstr("'qemu:///system,,test:///x'"));
}

// The layers of precedence, each given a different value, one setting at a time.
TEST(Config, AFlagWinsOverTheEnvironmentWhichWinsOverTheFileWhichWinsOverTheDefault) {
    std::string file = write_file("precedence.toml",
                                  "pause = 30\n"
                                  "kafka_topic = \"from-file\"\n"
                                  "kafka_bootstrap = [\"file1:9092\", \"file2:9092\"]\n"
                                  "debug = true\n"
                                  "shutdown_timeout = 7\n");
    Config from_file = parse({"--config", file});
    EXPECT_EQ(from_file.pause, std::chrono::seconds(30));
    EXPECT_EQ(from_file.hosts[0].pause, std::chrono::seconds(30));
    EXPECT_EQ(from_file.kafka_topic, "from-file");
    EXPECT_EQ(from_file.bootstrap_servers(), "file1:9092,file2:9092");
    EXPECT_TRUE(from_file.debug);
    EXPECT_EQ(from_file.shutdown_timeout, std::chrono::seconds(7));
    EXPECT_EQ(from_file.spool_max_bytes, 256ULL << 20) << "not in the file: the default";

    Config env_over_file =
        parse({}, {{"CONFIG_FILE", file}, {"PAUSE", "40"}, {"KAFKA_TOPIC", "from-env"}});
    EXPECT_EQ(env_over_file.pause, std::chrono::seconds(40));
    EXPECT_EQ(env_over_file.kafka_topic, "from-env");
    EXPECT_EQ(env_over_file.bootstrap_servers(), "file1:9092,file2:9092");

    Config flag_over_env =
        parse({"--config", file, "--pause", "50"}, {{"PAUSE", "40"}, {"KAFKA_TOPIC", "from-env"}});
    EXPECT_EQ(flag_over_env.pause, std::chrono::seconds(50));
    EXPECT_EQ(flag_over_env.kafka_topic, "from-env");
}

TEST(Config, RatesFromTheFileReachEveryHost) {
    std::string file = write_file("rates.toml",
                                  "rates = true\n"
                                  "[[host]]\n"
                                  "uri = \"qemu+ssh://root@hv1/system\"\n"
                                  "[[host]]\n"
                                  "uri = \"qemu+ssh://root@hv2/system\"\n");
    Config c = parse({"--config", file});
    EXPECT_TRUE(c.rates);
    ASSERT_EQ(c.hosts.size(), 2U);
    for (const HostConfig& host : c.hosts) {
        EXPECT_TRUE(host.rates) << host.uri;
    }
    EXPECT_FALSE(parse({"--config", file}, {{"RATES", "false"}}).hosts[1].rates);
}

TEST(Config, TheConfigFlagWinsOverConfigFile) {
    std::string a = write_file("a.toml", "kafka_topic = \"a\"\n");
    std::string b = write_file("b.toml", "kafka_topic = \"b\"\n");
    EXPECT_EQ(parse({"--config", a}, {{"CONFIG_FILE", b}}).kafka_topic, "a");
    EXPECT_EQ(parse({}, {{"CONFIG_FILE", b}}).kafka_topic, "b");
}

TEST(Config, HostTablesKeepTheirOwnPauseAndHostStatsOverTheGlobalOnes) {
    std::string file = write_file("hosts.toml",
                                  "pause = 15\n"
                                  "[[host]]\n"
                                  "uri = \"qemu+ssh://root@hv1/system\"\n"
                                  "pause = 30\n"
                                  "gather_host_stats = true\n"
                                  "[[host]]\n"
                                  "uri = \"qemu+ssh://root@hv2/system\"\n");
    Config c = parse({"--config", file}, {{"PAUSE", "20"}});
    ASSERT_EQ(c.hosts.size(), 2U);
    EXPECT_EQ(c.hosts[0].uri, "qemu+ssh://root@hv1/system");
    EXPECT_EQ(c.hosts[0].pause, std::chrono::seconds(30));
    EXPECT_TRUE(c.hosts[0].gather_host_stats);
    EXPECT_EQ(c.hosts[1].uri, "qemu+ssh://root@hv2/system");
    EXPECT_EQ(c.hosts[1].pause, std::chrono::seconds(20)) << "PAUSE over the file's pause";
    EXPECT_FALSE(c.hosts[1].gather_host_stats);
}

TEST(Config, KvmHostReplacesTheFilesHostTablesAsAWhole) {
    std::string file = write_file("replaced.toml",
                                  "[[host]]\n"
                                  "uri = \"qemu+ssh://root@hv1/system\"\n"
                                  "pause = 30\n");
    Config c = parse({"--config", file}, {{"KVM_HOST", "test:///a,test:///b"}, {"PAUSE", "5"}});
    ASSERT_EQ(c.hosts.size(), 2U);
    EXPECT_EQ(c.hosts[0].uri, "test:///a");
    EXPECT_EQ(c.hosts[1].uri, "test:///b");
    EXPECT_EQ(c.hosts[0].pause, std::chrono::seconds(5));
}

TEST(Config, PropertiesOfTheFileComeBeforeThePropertiesFileAndTheFlags) {
    std::string file = write_file("props.toml",
                                  "[kafka_properties]\n"
                                  "\"security.protocol\" = \"SASL_SSL\"\n"
                                  "\"linger.ms\" = 20\n"
                                  "\"sasl.username\" = \"from-file\"\n");
    std::string properties = write_file("props.properties", "sasl.username=from-properties\n");
    Config c = parse({"--config", file, "--kafka-property", "linger.ms=5"},
                     {{"KAFKA_PROPERTIES_FILE", properties}});
    EXPECT_EQ(c.kafka_properties.at("security.protocol"), "SASL_SSL");
    EXPECT_EQ(c.kafka_properties.at("sasl.username"), "from-properties");
    EXPECT_EQ(c.kafka_properties.at("linger.ms"), "5");
}

TEST(Config, ABadValueInTheFileNamesTheFileTheLineAndTheKey) {
    std::string file = write_file("bad-value.toml",
                                  "kafka_topic = \"ok\"\n"
                                  "pause = 0\n");
    std::string message = error_of({"--config", file}, {});
    EXPECT_THAT(message, HasSubstr(file));
    EXPECT_THAT(message, HasSubstr("line 2"));
    EXPECT_THAT(message, HasSubstr("key pause"));
    EXPECT_THAT(message, HasSubstr("whole seconds from 1 to 86400"));
    EXPECT_EQ(message.find('\n'), std::string::npos) << "one line";
    // The same value from the environment wins and is valid: the file's is never looked at.
    EXPECT_EQ(parse({"--config", file}, {{"PAUSE", "3"}}).pause, std::chrono::seconds(3));
}

TEST(Config, ABadHostInTheFileNamesItsLine) {
    std::string file = write_file("bad-host.toml",
                                  "[[host]]\n"
                                  "uri = \"qemu:///system\"\n"
                                  "[[host]]\n"
                                  "uri = \"qemu:///system\"\n");
    std::string message = error_of({"--config", file}, {});
    EXPECT_THAT(message, HasSubstr("line 4, key host.uri"));
    EXPECT_THAT(message, HasSubstr("each URI once"));
}

TEST(Config, AMissingConfigFileNamesTheVariableAndTheFlag) {
    EXPECT_THAT(error_of({}, {{"CONFIG_FILE", "/nonexistent/pulse-sensor.toml"}}),
                HasSubstr("CONFIG_FILE (--config) '/nonexistent/pulse-sensor.toml'"));
}

TEST(Config, TheExampleConfigFileIsValid) {
    Config c = parse({"--config", PULSE_SOURCE_DIR "/packaging/pulse-sensor.toml"});
    EXPECT_GE(c.hosts.size(), 2U);
    EXPECT_TRUE(c.use_kafka());
}

TEST(Config, MetricsListenerIsOffUnlessAnAddressIsGiven) {
    EXPECT_EQ(parse({}).metrics_addr, "");
    EXPECT_EQ(parse({}, {{"METRICS_ADDR", ""}}).metrics_addr, "");
    EXPECT_EQ(parse({}, {{"METRICS_ADDR", "off"}}).metrics_addr, "");
    EXPECT_EQ(parse({}, {{"METRICS_ADDR", ":9464"}}).metrics_addr, ":9464");
    EXPECT_EQ(parse({"--metrics-addr", "127.0.0.1:9465"}, {{"METRICS_ADDR", ":9464"}}).metrics_addr,
              "127.0.0.1:9465");
    EXPECT_EQ(parse({}, {{"METRICS_ADDR", "[::1]:9464"}}).metrics_addr, "[::1]:9464");
}

TEST(Config, ABadMetricsAddressNamesTheVariableAndTheFlag) {
    for (const char* bad :
         {"9464", "127.0.0.1", "127.0.0.1:0", "host:99999", "::1:9464", "a b:9464", "host:port"}) {
        std::string message = error_of({}, {{"METRICS_ADDR", bad}});
        EXPECT_THAT(message, HasSubstr("METRICS_ADDR (--metrics-addr)")) << bad;
        EXPECT_THAT(message, HasSubstr(bad));
    }
}

TEST(Config, HealthDeliveryTimeoutDefaultsToFiveMinutes) {
    EXPECT_EQ(parse({}).health_delivery_timeout, std::chrono::seconds(300));
    EXPECT_EQ(parse({"--health-delivery-timeout", "20"}).health_delivery_timeout,
              std::chrono::seconds(20));
    EXPECT_THAT(error_of({}, {{"HEALTH_DELIVERY_TIMEOUT", "0"}}),
                HasSubstr("HEALTH_DELIVERY_TIMEOUT (--health-delivery-timeout)"));
}

TEST(Config, HealthcheckReadsOnlyTheMetricsAddress) {
    EXPECT_FALSE(parse({}).healthcheck);
    Config c = parse({"--healthcheck"}, {{"KVM_HOST", ""}, {"METRICS_ADDR", ":9464"}});
    EXPECT_TRUE(c.healthcheck);
    EXPECT_EQ(c.metrics_addr, ":9464");
    EXPECT_THAT(error_of({"--healthcheck"}, {{"METRICS_ADDR", "nonsense"}}),
                HasSubstr("METRICS_ADDR"));
}

TEST(Config, FormatIsJsonByDefaultAndInfluxOnRequest) {
    EXPECT_EQ(parse({}).format, Encoding::json);
    EXPECT_EQ(parse({}, {{"FORMAT", "influx"}}).format, Encoding::line_protocol);
    EXPECT_EQ(parse({"--format", "json"}, {{"FORMAT", "influx"}}).format, Encoding::json);
    EXPECT_THAT(error_of({}, {{"FORMAT", "xml"}}), HasSubstr("FORMAT (--format) 'xml'"));
}

TEST(Config, ImportHandsEveryLaterArgumentToTheImporterAndSkipsTheSensorsSettings) {
    ParseResult r = parse_config({"import", "--influxdb-db", "kvm", "--batch-lines", "5"},
                                 env_of({{"PAUSE", "not a number"}}));
    EXPECT_EQ(r.outcome, ParseOutcome::import);
    EXPECT_EQ(r.rest, (std::vector<std::string>{"--influxdb-db", "kvm", "--batch-lines", "5"}));
    EXPECT_EQ(parse_config({"import", "--help"}, env_of({})).rest,
              std::vector<std::string>{"--help"});
}

}  // namespace
}  // namespace pulse

namespace pulse {
namespace {

TEST(Config, WithoutCsEndpointThereIsNoCloudStackAndTheKeysAreNotRead) {
    Config c = parse({}, {{"CS_API_KEY", "k"}, {"CS_SECRET_KEY_FILE", "/nonexistent"}});
    EXPECT_FALSE(c.use_cloudstack());
    EXPECT_TRUE(c.cs_secret_key.empty());
    EXPECT_EQ(c.volumes_update_interval, std::chrono::seconds(600));
}

TEST(Config, CloudStackTakesTheOldSensorsVariables) {
    Config c = parse({}, {{"CS_ENDPOINT", "http://cs:8080/client/api"},
                          {"CS_API_KEY", "api-key"},
                          {"CS_SECRET_KEY", kSecret},
                          {"VOLUMES_UPDATE_INTERVAL", "120"}});
    EXPECT_TRUE(c.use_cloudstack());
    EXPECT_EQ(c.cs_endpoint, "http://cs:8080/client/api");
    EXPECT_EQ(c.cs_api_key, "api-key");
    EXPECT_EQ(c.cs_secret_key, kSecret);
    EXPECT_EQ(c.volumes_update_interval, std::chrono::seconds(120));
}

TEST(Config, CloudStackKeysComeFromFilesWithTheirNewlineTrimmed) {
    const std::string api = write_file("cs-api-key", "api-key\n");
    const std::string secret = write_file("cs-secret-key", std::string(kSecret) + "\n");
    Config c =
        parse({"--cs-endpoint", "https://cs.example/client/api", "--cs-secret-key-file", secret},
              {{"CS_API_KEY_FILE", api}});
    EXPECT_EQ(c.cs_api_key, "api-key");
    EXPECT_EQ(c.cs_secret_key, kSecret);
}

TEST(Config, CloudStackSettingsComeFromTheConfigurationFile) {
    const std::string path = write_file("cs.toml", fmt::format(R"(cs_endpoint = "http://cs:8080"
cs_api_key = "api-key"
cs_secret_key = "{}"
volumes_update_interval = 30
)",
                                                               kSecret));
    Config c = parse({"--config", path});
    EXPECT_EQ(c.cs_endpoint, "http://cs:8080");
    EXPECT_EQ(c.cs_secret_key, kSecret);
    EXPECT_EQ(c.volumes_update_interval, std::chrono::seconds(30));
}

TEST(Config, CsEndpointWithoutAKeyNamesTheMissingOne) {
    EXPECT_EQ(error_of({}, {{"CS_ENDPOINT", "http://cs/client/api"}, {"CS_API_KEY", "k"}}),
              "CS_ENDPOINT (--cs-endpoint) is set but CS_SECRET_KEY is not (nor "
              "CS_SECRET_KEY_FILE)");
}

TEST(Config, ABadCsEndpointOrIntervalNamesTheSetting) {
    std::map<std::string, std::string> keys{{"CS_API_KEY", "k"}, {"CS_SECRET_KEY", kSecret}};
    auto env = keys;
    env["CS_ENDPOINT"] = "cs:8080/client/api";
    EXPECT_THAT(error_of({}, env), HasSubstr("invalid CS_ENDPOINT (--cs-endpoint) "
                                             "'cs:8080/client/api': expected http://"));
    env["CS_ENDPOINT"] = "http://admin:pw@cs/client/api";
    EXPECT_THAT(error_of({}, env), Not(HasSubstr("pw")));
    env = keys;
    env["CS_ENDPOINT"] = "http://cs";
    env["VOLUMES_UPDATE_INTERVAL"] = "10m";
    EXPECT_THAT(error_of({}, env), HasSubstr("invalid VOLUMES_UPDATE_INTERVAL "
                                             "(--volumes-update-interval) '10m': expected whole "
                                             "seconds"));
}

TEST(Config, CloudStackKeyErrorsNeverShowTheKey) {
    const std::string secret = write_file("cs-bad-secret", std::string(kSecret) + " two words\n");
    std::string error = error_of(
        {}, {{"CS_ENDPOINT", "http://cs"}, {"CS_API_KEY", "k"}, {"CS_SECRET_KEY_FILE", secret}});
    EXPECT_THAT(error, HasSubstr("invalid CS_SECRET_KEY_FILE (--cs-secret-key-file)"));
    EXPECT_THAT(error, Not(HasSubstr(kSecret)));
    error = error_of({}, {{"CS_ENDPOINT", "http://cs"},
                          {"CS_API_KEY", "k"},
                          {"CS_SECRET_KEY", kSecret},
                          {"CS_SECRET_KEY_FILE", secret}});
    EXPECT_EQ(error,
              "CS_SECRET_KEY and CS_SECRET_KEY_FILE (--cs-secret-key-file) are both set: give the "
              "key one way");
}

TEST(Config, TheCloudStackKeysHaveNoFlagAndHelpShowsNoKey) {
    for (std::vector<std::string> args :
         {std::vector<std::string>{"--cs-secret-key", kSecret},
          std::vector<std::string>{std::string("--cs-api-key=") + kSecret}}) {
        const std::string error = error_of(args, {});
        EXPECT_THAT(error, Not(HasSubstr(kSecret)));
        EXPECT_THAT(error, HasSubstr("_FILE"));
    }
    ParseResult r = parse_config({"--help"}, env_of({{"CS_SECRET_KEY", kSecret}}));
    for (const char* name : {"CS_ENDPOINT", "CS_API_KEY", "CS_SECRET_KEY_FILE",
                             "VOLUMES_UPDATE_INTERVAL", "--cs-secret-key-file"}) {
        EXPECT_THAT(r.message, HasSubstr(name));
    }
    EXPECT_THAT(r.message, Not(HasSubstr(kSecret)));
}

TEST(Config, WithoutFleetGroupThereIsNoFleet) {
    for (const Config& c : {parse({}), parse({}, {{"FLEET_GROUP", ""}}),
                            parse({}, {{"FLEET_GROUP", "  "}, {"FLEET_PARTITIONS", "12"}})}) {
        EXPECT_FALSE(c.fleet.enabled());
        EXPECT_EQ(c.fleet.group, "");
    }
    // Nor does it need Kafka, or refuse --once.
    EXPECT_FALSE(parse({"--once"}).fleet.enabled());
}

TEST(Config, FleetDefaults) {
    Config c = parse({}, {{"KAFKA_BOOTSTRAP", "kafka1:9092"}, {"FLEET_GROUP", "rack-a"}});
    EXPECT_TRUE(c.fleet.enabled());
    EXPECT_EQ(c.fleet.group, "rack-a");
    EXPECT_EQ(c.fleet.topic, "kvm-metrics.fleet");
    EXPECT_EQ(c.fleet.partitions, 64);
    EXPECT_EQ(c.fleet.session_timeout, std::chrono::seconds(10));
}

TEST(Config, TheFleetTopicDefaultsToTheKafkaTopicWithFleetAppended) {
    const std::map<std::string, std::string> fleet{{"KAFKA_BOOTSTRAP", "kafka1:9092"},
                                                   {"FLEET_GROUP", "rack-a"}};
    auto env = fleet;
    env["KAFKA_TOPIC"] = "metrics.kvm_v2";
    EXPECT_EQ(parse({}, env).fleet.topic, "metrics.kvm_v2.fleet");
    EXPECT_EQ(parse({"--kafka-topic", "from-flag"}, env).fleet.topic, "from-flag.fleet");
    env["FLEET_TOPIC"] = " pulse-coordination ";
    EXPECT_EQ(parse({}, env).fleet.topic, "pulse-coordination");
    EXPECT_EQ(parse({"--fleet-topic", "t2"}, env).fleet.topic, "t2");
}

TEST(Config, FleetSettingsComeFromTheEnvironmentAndTheFlags) {
    const std::map<std::string, std::string> env{{"KAFKA_BOOTSTRAP", "kafka1:9092"},
                                                 {"FLEET_GROUP", " rack-a "},
                                                 {"FLEET_PARTITIONS", "12"},
                                                 {"FLEET_SESSION_TIMEOUT", "30"}};
    Config c = parse({}, env);
    EXPECT_EQ(c.fleet.group, "rack-a");
    EXPECT_EQ(c.fleet.partitions, 12);
    EXPECT_EQ(c.fleet.session_timeout, std::chrono::seconds(30));
    Config f = parse(
        {"--fleet-group", "rack-b", "--fleet-partitions", "10000", "--fleet-session-timeout=3600"},
        env);
    EXPECT_EQ(f.fleet.group, "rack-b");
    EXPECT_EQ(f.fleet.partitions, 10000);
    EXPECT_EQ(f.fleet.session_timeout, std::chrono::seconds(3600));
    EXPECT_EQ(parse({"--fleet-partitions", "1"}, env).fleet.partitions, 1);
}

TEST(Config, ABadFleetValueNamesTheVariableAndTheFlag) {
    const std::map<std::string, std::string> fleet{{"KAFKA_BOOTSTRAP", "kafka1:9092"},
                                                   {"FLEET_GROUP", "rack-a"}};
    struct Case {
        const char* variable;
        const char* value;
        const char* named;
    };
    for (const Case& bad :
         {Case{"FLEET_PARTITIONS", "0", "FLEET_PARTITIONS (--fleet-partitions)"},
          Case{"FLEET_PARTITIONS", "10001", "FLEET_PARTITIONS (--fleet-partitions)"},
          Case{"FLEET_PARTITIONS", "x", "FLEET_PARTITIONS (--fleet-partitions)"},
          Case{"FLEET_SESSION_TIMEOUT", "0", "FLEET_SESSION_TIMEOUT (--fleet-session-timeout)"},
          Case{"FLEET_TOPIC", "a b", "FLEET_TOPIC (--fleet-topic)"},
          Case{"FLEET_GROUP", "rack a", "FLEET_GROUP (--fleet-group)"}}) {
        auto env = fleet;
        env[bad.variable] = bad.value;
        EXPECT_THAT(error_of({}, env),
                    HasSubstr(fmt::format("invalid {} '{}': expected", bad.named, bad.value)));
    }
    EXPECT_THAT(error_of({"--fleet-partitions", "0"}, fleet),
                HasSubstr("FLEET_PARTITIONS (--fleet-partitions) '0'"));
    EXPECT_THAT(
        error_of({}, {{"KAFKA_BOOTSTRAP", "kafka1:9092"}, {"FLEET_GROUP", std::string(250, 'g')}}),
        HasSubstr("FLEET_GROUP (--fleet-group)"));
    EXPECT_EQ(
        parse({}, {{"KAFKA_BOOTSTRAP", "kafka1:9092"}, {"FLEET_GROUP", std::string(249, 'g')}})
            .fleet.group.size(),
        249u);
}

TEST(Config, AFleetGroupNeedsKafka) {
    const std::string error = error_of({}, {{"FLEET_GROUP", "rack-a"}});
    EXPECT_THAT(error, HasSubstr("FLEET_GROUP (--fleet-group)"));
    EXPECT_THAT(error, HasSubstr("KAFKA_BOOTSTRAP (--kafka-bootstrap)"));
    EXPECT_THAT(error_of({"--fleet-group", "rack-a"}, {}), HasSubstr("KAFKA_BOOTSTRAP"));
}

TEST(Config, AFleetGroupRefusesOnce) {
    const std::string error =
        error_of({"--once"}, {{"KAFKA_BOOTSTRAP", "kafka1:9092"}, {"FLEET_GROUP", "rack-a"}});
    EXPECT_THAT(error, HasSubstr("--once"));
    EXPECT_THAT(error, HasSubstr("FLEET_GROUP (--fleet-group)"));
}

// Kafka takes topic names of up to 249 characters: the default fleet topic, KAFKA_TOPIC with
// ".fleet" appended, may be longer than a KAFKA_TOPIC that is not.
TEST(Config, AFleetTopicDefaultTooLongForKafkaIsRefusedUntilFleetTopicIsSet) {
    const std::map<std::string, std::string> fleet{{"KAFKA_BOOTSTRAP", "kafka1:9092"},
                                                   {"FLEET_GROUP", "rack-a"}};
    auto env = fleet;
    env["KAFKA_TOPIC"] = std::string(243, 't');
    EXPECT_EQ(parse({}, env).fleet.topic.size(), 249u);
    env["KAFKA_TOPIC"] = std::string(244, 't');
    const std::string error = error_of({}, env);
    EXPECT_THAT(error, HasSubstr("FLEET_TOPIC (--fleet-topic)"));
    EXPECT_THAT(error, HasSubstr("KAFKA_TOPIC"));
    env["FLEET_TOPIC"] = "pulse.fleet";
    EXPECT_EQ(parse({}, env).fleet.topic, "pulse.fleet");
    // Without a fleet the topic is not used, and KAFKA_TOPIC may take all 249 characters.
    EXPECT_EQ(
        parse({}, {{"KAFKA_BOOTSTRAP", "kafka1:9092"}, {"KAFKA_TOPIC", std::string(249, 't')}})
            .kafka_topic.size(),
        249u);
}

TEST(Config, FleetSettingsComeFromTheConfigurationFile) {
    const std::string file = write_file("fleet.toml",
                                        "kafka_bootstrap = \"kafka1:9092\"\n"
                                        "fleet_group = \"rack-a\"\n"
                                        "fleet_topic = \"pulse.fleet\"\n"
                                        "fleet_partitions = 12\n"
                                        "fleet_session_timeout = 30\n");
    Config c = parse({"--config", file});
    EXPECT_EQ(c.fleet.group, "rack-a");
    EXPECT_EQ(c.fleet.topic, "pulse.fleet");
    EXPECT_EQ(c.fleet.partitions, 12);
    EXPECT_EQ(c.fleet.session_timeout, std::chrono::seconds(30));
    Config env_over_file = parse({"--config", file}, {{"FLEET_PARTITIONS", "16"}});
    EXPECT_EQ(env_over_file.fleet.partitions, 16);
    EXPECT_EQ(env_over_file.fleet.group, "rack-a");
    EXPECT_THAT(error_of({"--config", write_file("fleet-bad.toml", "fleet_partitions = 0\n")}, {}),
                HasSubstr("fleet_partitions"));
}

}  // namespace
}  // namespace pulse
