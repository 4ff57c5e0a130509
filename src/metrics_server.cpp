// The /metrics and /healthz listener and the --healthcheck client; see metrics_server.hpp.
#include "pulse/metrics_server.hpp"

#include <fmt/format.h>
#include <httplib.h>

#include <sys/socket.h>
#include <algorithm>
#include <atomic>
#include <cctype>
#include <charconv>
#include <chrono>

#include "pulse/config.hpp"

namespace pulse {
namespace {

// The content type Prometheus expects for the text format, version included.
constexpr const char* kExpositionType = "text/plain; version=0.0.4; charset=utf-8";

// Two workers: a scrape and a health check at the same moment need not wait for each other,
// and more would only be idle threads.
constexpr std::size_t kWorkers = 2;

// A client that stops reading must not hold a worker for long.
constexpr int kTimeoutS = 5;

std::string describe(const ListenAddress& address) {
    const bool v6 = address.host.find(':') != std::string::npos;
    return fmt::format("{}{}{}:{}", v6 ? "[" : "", address.host, v6 ? "]" : "", address.port);
}

}  // namespace

std::optional<ListenAddress> parse_listen_address(std::string_view text) {
    const auto colon = text.rfind(':');
    if (colon == std::string_view::npos) {
        return std::nullopt;
    }
    std::string_view host = text.substr(0, colon);
    std::string_view port_text = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
        if (host.empty()) {
            return std::nullopt;
        }
    } else if (host.find_first_of(":[]") != std::string_view::npos) {
        return std::nullopt;  // an IPv6 address needs its brackets
    }
    const bool clean = std::all_of(host.begin(), host.end(), [](unsigned char c) {
        return std::isalnum(c) || c == '.' || c == '-' || c == ':' || c == '%' || c == '_';
    });
    unsigned port = 0;
    auto [end, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
    if (!clean || port_text.empty() || ec != std::errc{} ||
        end != port_text.data() + port_text.size() || port < 1 || port > 65535) {
        return std::nullopt;
    }
    return ListenAddress{std::string(host), static_cast<std::uint16_t>(port)};
}

MetricsServer::MetricsServer(const Metrics& metrics, const ListenAddress& address)
    : server_(std::make_unique<httplib::Server>()) {
    server_->new_task_queue = [] { return new httplib::ThreadPool(kWorkers); };
    // httplib's default sets SO_REUSEPORT, with which a second sensor on the same port would
    // share it silently instead of failing. SO_REUSEADDR alone still allows a quick restart
    // while old connections linger in TIME_WAIT.
    server_->set_socket_options([](int sock) {
        int yes = 1;
        ::setsockopt(sock, SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
    });
    server_->set_read_timeout(kTimeoutS, 0);
    server_->set_write_timeout(kTimeoutS, 0);
    server_->Get("/metrics", [&metrics](const httplib::Request&, httplib::Response& res) {
        res.set_content(metrics.render(), kExpositionType);
    });
    server_->Get("/healthz", [&metrics](const httplib::Request&, httplib::Response& res) {
        Health health = metrics.health(SteadyClock::now());
        res.status = health.ok ? 200 : 503;
        res.set_content(health.ok ? std::string("ok\n") : health.reason + "\n",
                        "text/plain; charset=utf-8");
    });
    // httplib reads "0.0.0.0" and "::" as the wildcard; an empty host means every interface.
    const std::string host = address.host.empty() ? "0.0.0.0" : address.host;
    if (address.port == 0) {
        const int port = server_->bind_to_any_port(host);
        if (port < 0) {
            throw MetricsServerError(fmt::format("cannot listen on {} (any port)", host));
        }
        port_ = static_cast<std::uint16_t>(port);
    } else {
        if (!server_->bind_to_port(host, address.port)) {
            throw MetricsServerError(
                fmt::format("cannot listen on {}: address in use, not local or not allowed",
                            describe({host, address.port})));
        }
        port_ = address.port;
    }
    auto finished = std::make_shared<std::atomic<bool>>(false);
    thread_ = std::thread([this, finished] {
        server_->listen_after_bind();
        finished->store(true);
    });
    // httplib's stop() does nothing before the accept loop has started, and a destructor
    // that ran then would wait for ever: start only once it runs.
    while (!server_->is_running() && !finished->load()) {
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
}

MetricsServer::~MetricsServer() {
    server_->stop();
    if (thread_.joinable()) {
        thread_.join();
    }
}

int run_healthcheck(const Config& config, std::FILE* out) {
    if (config.metrics_addr.empty()) {
        std::fputs("ok: METRICS_ADDR is not set, nothing to check\n", out);
        return 0;
    }
    std::optional<ListenAddress> address = parse_listen_address(config.metrics_addr);
    if (!address) {
        std::fprintf(out, "FAIL: invalid METRICS_ADDR\n");
        return 1;
    }
    // A wildcard listener answers on loopback.
    std::string host = address->host;
    if (host.empty() || host == "0.0.0.0") {
        host = "127.0.0.1";
    } else if (host == "::") {
        host = "::1";
    }
    httplib::Client client(host, address->port);
    client.set_connection_timeout(kTimeoutS, 0);
    client.set_read_timeout(kTimeoutS, 0);
    httplib::Result res = client.Get("/healthz");
    if (!res) {
        std::fprintf(out, "FAIL: %s: %s\n", describe({host, address->port}).c_str(),
                     httplib::to_string(res.error()).c_str());
        return 1;
    }
    std::string body = res->body;
    while (!body.empty() && (body.back() == '\n' || body.back() == '\r')) {
        body.pop_back();
    }
    std::fprintf(out, "%s: %d %s\n", res->status == 200 ? "ok" : "FAIL", res->status, body.c_str());
    return res->status == 200 ? 0 : 1;
}

}  // namespace pulse
