// The HTTP listener for the sensor's own metrics (METRICS_ADDR), on a thread of its own.
//
//   GET /metrics   the Prometheus text exposition format 0.0.4 (Metrics::render)
//   GET /healthz   200 "ok", or 503 with a one-line reason (Metrics::health)
//
// The server only reads the registry, never a sink or a poller, so a scrape cannot disturb a
// poll. It binds in the constructor, so a busy port is a start-up error, not a log line later.
// It is built on cpp-httplib with a small thread pool: scrapes are rare and cheap.
#pragma once

#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "pulse/metrics.hpp"

namespace httplib {
class Server;
}

namespace pulse {

struct Config;

struct ListenAddress {
    std::string host;  // as given; "" (from ":9464") means every interface
    std::uint16_t port = 0;
};

// "127.0.0.1:9464", ":9464", "[::1]:9464", "localhost:9464"; port 1-65535. nullopt otherwise.
std::optional<ListenAddress> parse_listen_address(std::string_view text);

class MetricsServerError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class MetricsServer {
  public:
    // Binds `address` (port 0: any free port, for tests) and starts serving. Throws
    // MetricsServerError naming the address when it cannot be bound.
    MetricsServer(const Metrics& metrics, const ListenAddress& address);
    // Stops accepting, finishes the requests being served and joins the thread.
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    std::uint16_t port() const { return port_; }

  private:
    std::unique_ptr<httplib::Server> server_;
    std::uint16_t port_ = 0;
    std::thread thread_;
};

// pulse-sensor --healthcheck: GET /healthz from the listener METRICS_ADDR names (a wildcard
// address is asked on loopback), print the answer on `out`, return 0 for 200 and 1 otherwise.
// Without METRICS_ADDR there is nothing to ask and the answer is 0, so a container
// HEALTHCHECK can always run it.
int run_healthcheck(const Config& config, std::FILE* out);

}  // namespace pulse
