// The HTTP listener on an ephemeral loopback port, scraped with httplib's client, and the
// --healthcheck client against it; then abused over raw sockets (slow clients, held
// connections, a huge POST) while /healthz must still answer promptly.
#include "pulse/ops/metrics_server.hpp"
#include "pulse/ops/healthcheck.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <thread>
#include <vector>

#include "pulse/config/config.hpp"
#include "pulse/ops/poll_report.hpp"

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

// A client socket of our own, to misbehave with.
class RawClient {
  public:
    explicit RawClient(std::uint16_t port) : fd_(::socket(AF_INET, SOCK_STREAM, 0)) {
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_port = htons(port);
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        connected_ = ::connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    ~RawClient() { ::close(fd_); }
    RawClient(const RawClient&) = delete;
    RawClient& operator=(const RawClient&) = delete;

    bool connected() const { return connected_; }
    // False once the server has closed or reset the connection.
    bool send(std::string_view bytes) {
        while (!bytes.empty()) {
            const ssize_t n = ::send(fd_, bytes.data(), bytes.size(), MSG_NOSIGNAL);
            if (n <= 0) {
                return false;
            }
            bytes.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }
    // Everything the server sends until it closes, or what came before `timeout`.
    std::string read_until_closed(milliseconds timeout) {
        std::string text;
        const auto deadline = steady_clock::now() + timeout;
        for (;;) {
            const auto left = duration_cast<milliseconds>(deadline - steady_clock::now()).count();
            pollfd p{fd_, POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(std::max<std::int64_t>(left, 0))) <= 0) {
                closed_ = false;
                return text;
            }
            char buffer[4096];
            const ssize_t n = ::recv(fd_, buffer, sizeof buffer, 0);
            if (n <= 0) {
                closed_ = true;
                return text;
            }
            text.append(buffer, static_cast<std::size_t>(n));
        }
    }
    // Whether the server closed the connection: it becomes readable with nothing to read.
    bool closed_by_server(milliseconds wait) {
        read_until_closed(wait);
        return closed_;
    }

  private:
    int fd_;
    bool connected_ = false;
    bool closed_ = false;
};

// GET /healthz over a fresh connection; the status line, or "" when none came in `timeout`.
std::string healthz_status(std::uint16_t port, milliseconds timeout) {
    RawClient client(port);
    if (!client.connected() ||
        !client.send("GET /healthz HTTP/1.1\r\nHost: sensor\r\nConnection: close\r\n\r\n")) {
        return "";
    }
    const std::string answer = client.read_until_closed(timeout);
    return answer.substr(0, answer.find("\r\n"));
}

std::size_t open_fds() {
    std::size_t n = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    while (::readdir(dir) != nullptr) {
        ++n;
    }
    ::closedir(dir);
    return n;
}

long rss_kib() {
    std::ifstream status("/proc/self/status");
    std::string line;
    while (std::getline(status, line)) {
        if (line.starts_with("VmRSS:")) {
            return std::stol(line.substr(6));
        }
    }
    return -1;
}

TEST_F(Served, HealthzAnswersPromptlyWhileSlowClientsTrickleTheirRequests) {
    MetricsServer server(metrics, {"127.0.0.1", 0});
    // More slow clients than the two workers cpp-httplib was given, each a byte at a time.
    std::vector<std::unique_ptr<RawClient>> slow;
    for (int i = 0; i < 4; ++i) {
        slow.push_back(std::make_unique<RawClient>(server.port()));
        ASSERT_TRUE(slow.back()->send("G"));
    }
    for (const char* byte : {"E", "T", " "}) {
        const auto asked = steady_clock::now();
        EXPECT_EQ(healthz_status(server.port(), 2s), "HTTP/1.1 200 OK");
        EXPECT_LT(steady_clock::now() - asked, 1s);
        for (auto& client : slow) {
            client->send(byte);
        }
    }
}

TEST_F(Served, AClientTricklingItsRequestIsCutOffAtTheDeadlineForTheWholeRequest) {
    MetricsServer server(metrics, {"127.0.0.1", 0});
    RawClient slow(server.port());
    const auto started = steady_clock::now();
    const std::string request = "GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(200, 'a');
    bool cut_off = false;
    // A byte every 100 ms: no single read ever waits long, only the whole request does.
    for (char byte : request) {
        if (!slow.send(std::string(1, byte)) || slow.closed_by_server(100ms)) {
            cut_off = true;
            break;
        }
    }
    EXPECT_TRUE(cut_off) << "still connected after " << request.size() << " bytes in "
                         << duration_cast<milliseconds>(steady_clock::now() - started).count()
                         << " ms";
    EXPECT_LT(steady_clock::now() - started, 7s);
}

TEST_F(Served, HeldConnectionsAreCappedAndHealthzStillAnswers) {
    MetricsServer server(metrics, {"127.0.0.1", 0});
    const std::size_t fds_before = open_fds();
    std::vector<std::unique_ptr<RawClient>> held;
    for (int i = 0; i < 200; ++i) {
        held.push_back(std::make_unique<RawClient>(server.port()));
    }
    EXPECT_EQ(healthz_status(server.port(), 2s), "HTTP/1.1 200 OK");
    // Our own 200 sockets stay open; what is beyond them is the server's.
    std::size_t server_fds = 0;
    for (auto deadline = steady_clock::now() + 2s; steady_clock::now() < deadline;) {
        server_fds = open_fds() - fds_before - held.size();
        if (server_fds <= 20) {
            break;
        }
        std::this_thread::sleep_for(20ms);
    }
    EXPECT_LE(server_fds, 20u) << "the server keeps a descriptor for every held connection";
    std::size_t closed = 0;
    for (auto& client : held) {
        closed += client->closed_by_server(1ms) ? 1 : 0;
    }
    EXPECT_GE(closed, 180u);
}

TEST_F(Served, AHugePostIsRefusedWithoutReadingItsBody) {
    MetricsServer server(metrics, {"127.0.0.1", 0});
    const long rss_before = rss_kib();
    RawClient client(server.port());
    ASSERT_TRUE(client.send("POST /metrics HTTP/1.1\r\nHost: sensor\r\nContent-Length: " +
                            std::to_string(400 << 20) + "\r\n\r\n"));
    const std::string mebibyte(1 << 20, 'x');
    for (int i = 0; i < 128 && client.send(mebibyte); ++i) {
    }
    const std::string answer = client.read_until_closed(2s);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 405 "));
    EXPECT_THAT(answer, HasSubstr("Allow: GET, HEAD\r\n"));
    EXPECT_LT(rss_kib() - rss_before, 32 * 1024) << "KiB of memory grown by the POST";
    EXPECT_EQ(healthz_status(server.port(), 2s), "HTTP/1.1 200 OK");
}

TEST_F(Served, AGetDeclaringABodyIsRefusedAtOnce) {
    MetricsServer server(metrics, {"127.0.0.1", 0});
    RawClient client(server.port());
    ASSERT_TRUE(client.send("GET /metrics HTTP/1.1\r\nContent-Length: 100000000\r\n\r\n"));
    EXPECT_THAT(client.read_until_closed(2s), StartsWith("HTTP/1.1 413 "));
}

TEST_F(Served, HeadAnswersTheHeadersOnly) {
    MetricsServer server(metrics, {"127.0.0.1", 0});
    RawClient client(server.port());
    ASSERT_TRUE(client.send("HEAD /healthz HTTP/1.1\r\nHost: sensor\r\n\r\n"));
    const std::string answer = client.read_until_closed(2s);
    EXPECT_THAT(answer, StartsWith("HTTP/1.1 200 OK\r\n"));
    EXPECT_THAT(answer, HasSubstr("Content-Length: 3\r\n"));
    EXPECT_EQ(answer.substr(answer.find("\r\n\r\n") + 4), "");
}

TEST_F(Served, AnOversizedRequestHeadIsRefused) {
    MetricsServer server(metrics, {"127.0.0.1", 0});
    RawClient client(server.port());
    client.send("GET /metrics HTTP/1.1\r\nX-Padding: " + std::string(64 * 1024, 'a'));
    EXPECT_THAT(client.read_until_closed(2s), StartsWith("HTTP/1.1 431 "));
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
