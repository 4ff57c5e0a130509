// InfluxDB 1.x's HTTP write API (POST /write?db=…&precision=s), through cpp-httplib.
//
// It classifies each answer for the importer: 204 is stored; 400-class answers about the
// points are refused for good; everything an operator can fix without touching the data
// (server errors, no answer, a wrong password, a missing database) is "unavailable", so the
// importer keeps the batch and tries again instead of dropping it.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "pulse/import/batch.hpp"

namespace httplib {
class Client;
}

namespace pulse {

struct InfluxSettings {
    std::string url;  // http://host:port
    std::string database;
    std::string user;      // empty: no authentication
    std::string password;  // never logged
    std::chrono::seconds connect_timeout{5};
    std::chrono::seconds io_timeout{30};
};

class InfluxClient : public LineWriter {
  public:
    explicit InfluxClient(InfluxSettings settings);
    ~InfluxClient() override;
    WriteResult write(std::string_view lines) override;

  private:
    InfluxSettings settings_;
    std::string path_;  // /write?db=…&precision=s
    std::unique_ptr<httplib::Client> http_;
};

// What a write's HTTP status means to the importer (a pure function, for the tests).
WriteStatus classify_write_status(int http_status);

}  // namespace pulse
