// The InfluxDB write client; see influx_client.hpp.
#include "pulse/import/influx_client.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <nlohmann/json.hpp>

namespace pulse {
namespace {

// InfluxDB 1.x answers errors with {"error":"…"}; anything else is shown as it came, shortened.
std::string error_text(const httplib::Response& response) {
    auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (body.is_object() && body.contains("error") && body["error"].is_string()) {
        return fmt::format("HTTP {}: {}", response.status, body["error"].get<std::string>());
    }
    std::string text = response.body.substr(0, 200);
    while (!text.empty() && (text.back() == '\n' || text.back() == '\r')) {
        text.pop_back();
    }
    return fmt::format("HTTP {}{}{}", response.status, text.empty() ? "" : ": ", text);
}

}  // namespace

WriteStatus classify_write_status(int http_status) {
    if (http_status >= 200 && http_status < 300) {
        return WriteStatus::written;
    }
    // 401/403: credentials, 404: no such database, 408/429: slow down. None is about the points.
    if (http_status == 401 || http_status == 403 || http_status == 404 || http_status == 408 ||
        http_status == 429) {
        return WriteStatus::unavailable;
    }
    if (http_status >= 400 && http_status < 500) {
        return WriteStatus::refused;
    }
    return WriteStatus::unavailable;
}

InfluxClient::InfluxClient(InfluxSettings settings)
    : settings_(std::move(settings)),
      path_(
          httplib::append_query_params("/write", {{"db", settings_.database}, {"precision", "s"}})),
      http_(std::make_unique<httplib::Client>(settings_.url)) {
    http_->set_connection_timeout(settings_.connect_timeout);
    http_->set_read_timeout(settings_.io_timeout);
    http_->set_write_timeout(settings_.io_timeout);
    http_->set_keep_alive(true);
    if (!settings_.user.empty()) {
        http_->set_basic_auth(settings_.user, settings_.password);
    }
}

InfluxClient::~InfluxClient() = default;

WriteResult InfluxClient::write(std::string_view lines) {
    auto response = http_->Post(path_, lines.data(), lines.size(), "text/plain; charset=utf-8");
    if (!response) {
        return {WriteStatus::unavailable,
                fmt::format("no answer from {} (httplib: {})", settings_.url,
                            httplib::to_string(response.error()))};
    }
    WriteStatus status = classify_write_status(response->status);
    if (status == WriteStatus::written) {
        return {status, {}};
    }
    return {status, error_text(*response)};
}

}  // namespace pulse
