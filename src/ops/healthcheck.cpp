// See healthcheck.hpp.
#include "pulse/ops/healthcheck.hpp"

#include <httplib.h>

#include <optional>
#include <string>

#include "pulse/base/listen_address.hpp"

namespace pulse {
namespace {

// The connect and read timeouts.
constexpr int kTimeoutS = 5;

}  // namespace

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
        std::fprintf(out, "FAIL: %s: %s\n", format_listen_address({host, address->port}).c_str(),
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
