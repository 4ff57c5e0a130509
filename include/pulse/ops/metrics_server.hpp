// The HTTP listener for the sensor's own metrics (METRICS_ADDR), on a thread of its own.
//
//   GET /metrics   the Prometheus text exposition format 0.0.4 (Metrics::render)
//   GET /healthz   200 "ok", or 503 with a one-line reason (Metrics::health)
//
// The server only reads the registry, never a sink or a poller, so a scrape cannot disturb a
// poll. It binds in the constructor, so a busy port is a start-up error, not a log line later.
//
// The listener may face anything that can reach its port, so everything it spends is bounded:
// one thread multiplexes every connection with poll(), so a slow client never holds a worker
// that /healthz needs; at most kMaxConnections are open, and a new one closes the oldest; each
// connection gets kRequestDeadline from accept to its last response byte, however it trickles;
// a request head is at most kMaxRequestHead bytes; only GET and HEAD without a body are served,
// anything else is answered (405, 413) as soon as its head shows it, without reading a body;
// every answer closes the connection. cpp-httplib (Debian's 0.11) could give none of the first
// three: its read timeout is per read, its thread pool queues every accepted socket without
// limit, and its TaskQueue::enqueue cannot refuse one.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

#include "pulse/base/listen_address.hpp"
#include "pulse/kafka/spool.hpp"
#include "pulse/ops/self_metrics.hpp"

namespace pulse {

class MetricsServerError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

class MetricsServer {
  public:
    // Scrapers and health checks are a handful; more open connections than this are an abuse.
    static constexpr std::size_t kMaxConnections = 16;
    // From accept to the last byte of the answer: a scrape takes milliseconds on any network a
    // listener without authentication should be on.
    static constexpr std::chrono::milliseconds kRequestDeadline{5000};
    // The request line and headers; a scraper's are a few hundred bytes.
    static constexpr std::size_t kMaxRequestHead = 8192;

    // Binds `address` (port 0: any free port, for tests) and starts serving. Throws
    // MetricsServerError naming the address when it cannot be bound.
    MetricsServer(const Metrics& metrics, const ListenAddress& address);
    // Stops accepting, closes every connection and joins the thread.
    ~MetricsServer();
    MetricsServer(const MetricsServer&) = delete;
    MetricsServer& operator=(const MetricsServer&) = delete;

    std::uint16_t port() const { return port_; }

  private:
    void serve();

    const Metrics& metrics_;
    UniqueFd listener_;
    UniqueFd wake_;  // an eventfd: the destructor's stop
    std::uint16_t port_ = 0;
    std::thread thread_;
};

}  // namespace pulse
