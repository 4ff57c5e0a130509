// The HTTP listener on an ephemeral loopback port, scraped with httplib's client, and the
// --healthcheck client against it.
#include "pulse/metrics_server.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <cstdio>

#include "pulse/config.hpp"
#include "pulse/poller.hpp"

namespace pulse {
namespace {

using namespace std::chrono;
using ::testing::HasSubstr;
using ::testing::StartsWith;

const Timestamp kTime = sys_days{year{2026} / 11 / 25} + hours{12};

std::string read_all(std::FILE* f) {
    std::rewind(f);
    std::string text;
    char buffer[256];
    while (std::fgets(buffer, sizeof buffer, f) != nullptr) {
        text += buffer;
    }
    return text;
}

TEST(ListenAddress, AcceptsHostPortForms) {
    auto a = parse_listen_address("127.0.0.1:9464");
    ASSERT_TRUE(a);
    EXPECT_EQ(a->host, "127.0.0.1");
    EXPECT_EQ(a->port, 9464);
    EXPECT_EQ(parse_listen_address(":9464")->host, "");
    EXPECT_EQ(parse_listen_address("[::1]:80")->host, "::1");
    EXPECT_EQ(parse_listen_address("metrics.local:65535")->port, 65535);
}

TEST(ListenAddress, RejectsWhatCannotBeBound) {
    for (const char* bad : {"", "9464", ":", ":0", ":65536", "host:", "::1:9464", "[]:80", "a b:80",
                            "host:9464x", "host:-1"}) {
        EXPECT_FALSE(parse_listen_address(bad)) << bad;
    }
}

class Served : public ::testing::Test {
  protected:
    Served() : host(metrics.add_host("qemu+ssh://root:pw@hv1/system")) {}
    Metrics metrics;
    HostMetrics& host;
};

TEST_F(Served, MetricsAreServedInTheTextFormatWithItsContentType) {
    PollReport report;
    report.connected = true;
    report.domains = 3;
    host.record_poll(report, kTime);
    MetricsServer server(metrics, {"127.0.0.1", 0});
    ASSERT_GT(server.port(), 0);
    httplib::Client client("127.0.0.1", server.port());
    auto res = client.Get("/metrics");
    ASSERT_TRUE(res) << httplib::to_string(res.error());
    EXPECT_EQ(res->status, 200);
    EXPECT_EQ(res->get_header_value("Content-Type"), "text/plain; version=0.0.4; charset=utf-8");
    EXPECT_EQ(res->body, metrics.render());
    EXPECT_THAT(res->body, HasSubstr("pulse_domains{host=\"qemu+ssh://root@hv1/system\"} 3\n"));
    EXPECT_EQ(client.Get("/nothing-here")->status, 404);
}

TEST_F(Served, HealthzSays200OkThen503WithTheReason) {
    MetricsServer server(metrics, {"127.0.0.1", 0});
    httplib::Client client("127.0.0.1", server.port());
    auto ok = client.Get("/healthz");
    ASSERT_TRUE(ok);
    EXPECT_EQ(ok->status, 200);
    EXPECT_EQ(ok->body, "ok\n");
    host.record_poll(PollReport{}, kTime);
    auto down = client.Get("/healthz");
    ASSERT_TRUE(down);
    EXPECT_EQ(down->status, 503);
    EXPECT_EQ(down->body, "hypervisor unreachable: qemu+ssh://root@hv1/system\n");
}

TEST_F(Served, ABusyPortIsAnErrorAtStartNamingTheAddress) {
    MetricsServer first(metrics, {"127.0.0.1", 0});
    try {
        MetricsServer second(metrics, {"127.0.0.1", first.port()});
        FAIL() << "bound a port already in use";
    } catch (const MetricsServerError& e) {
        EXPECT_THAT(e.what(), HasSubstr("127.0.0.1:" + std::to_string(first.port())));
    }
}

TEST_F(Served, StoppingTheServerClosesThePort) {
    std::uint16_t port = 0;
    {
        MetricsServer server(metrics, {"127.0.0.1", 0});
        port = server.port();
    }
    httplib::Client client("127.0.0.1", port);
    client.set_connection_timeout(1, 0);
    EXPECT_FALSE(client.Get("/healthz"));
    // And the port is free again for the next start.
    MetricsServer again(metrics, {"127.0.0.1", port});
}

TEST_F(Served, HealthcheckExitsZeroOnlyFor200) {
    MetricsServer server(metrics, {"", 0});  // every interface: asked on loopback
    Config config;
    config.metrics_addr = ":" + std::to_string(server.port());
    std::FILE* out = std::tmpfile();
    ASSERT_NE(out, nullptr);
    EXPECT_EQ(run_healthcheck(config, out), 0);
    host.record_poll(PollReport{}, kTime);
    EXPECT_EQ(run_healthcheck(config, out), 1);
    std::string text = read_all(out);
    std::fclose(out);
    EXPECT_THAT(text, StartsWith("ok: 200 ok\n"));
    EXPECT_THAT(text, HasSubstr("FAIL: 503 hypervisor unreachable"));
}

TEST(Healthcheck, WithoutAListenerConfiguredThereIsNothingToCheck) {
    std::FILE* out = std::tmpfile();
    EXPECT_EQ(run_healthcheck(Config{}, out), 0);
    EXPECT_THAT(read_all(out), HasSubstr("METRICS_ADDR is not set"));
    std::fclose(out);
}

TEST(Healthcheck, NoAnswerIsAFailure) {
    Metrics metrics;
    std::uint16_t port = 0;
    {
        MetricsServer server(metrics, {"127.0.0.1", 0});
        port = server.port();
    }
    Config config;
    config.metrics_addr = "127.0.0.1:" + std::to_string(port);
    std::FILE* out = std::tmpfile();
    EXPECT_EQ(run_healthcheck(config, out), 1);
    EXPECT_THAT(read_all(out), StartsWith("FAIL: 127.0.0.1:" + std::to_string(port)));
    std::fclose(out);
}

}  // namespace
}  // namespace pulse
