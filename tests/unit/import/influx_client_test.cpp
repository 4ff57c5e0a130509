// The InfluxDB write client against a small HTTP server in this process: the request it sends
// and how it reads each kind of answer.
#include "pulse/import/influx_client.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <httplib.h>

#include <mutex>
#include <thread>

namespace pulse {
namespace {

using ::testing::HasSubstr;

// An InfluxDB stand-in answering /write with a status and body the test sets.
class FakeInflux {
  public:
    FakeInflux() {
        server_.Post("/write", [this](const httplib::Request& req, httplib::Response& res) {
            std::lock_guard lock(mutex_);
            db = req.get_param_value("db");
            precision = req.get_param_value("precision");
            body = req.body;
            authorization = req.get_header_value("Authorization");
            res.status = status;
            if (!answer.empty()) {
                res.set_content(answer, "application/json");
            }
        });
        // Listening from here on: a request waits in the backlog until the thread accepts it.
        port = server_.bind_to_any_port("127.0.0.1");
        thread_ = std::thread([this] { server_.listen_after_bind(); });
        // stop() before the accept loop runs would leave it running: wait for it.
        while (!server_.is_running()) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
    }
    ~FakeInflux() {
        server_.stop();
        thread_.join();
    }
    std::string url() const { return "http://127.0.0.1:" + std::to_string(port); }

    int port = 0;
    int status = 204;
    std::string answer;
    std::string db, precision, body, authorization;

  private:
    std::mutex mutex_;
    httplib::Server server_;
    std::thread thread_;
};

TEST(InfluxClient, PostsTheLinesToWriteWithTheDatabaseAndSecondPrecision) {
    FakeInflux influx;
    InfluxClient client({influx.url(), "kvm metrics", "", ""});
    WriteResult r = client.write("m f=1i 10\nm f=2i 20");
    EXPECT_EQ(r.status, WriteStatus::written) << r.error;
    EXPECT_EQ(influx.db, "kvm metrics");
    EXPECT_EQ(influx.precision, "s");
    EXPECT_EQ(influx.body, "m f=1i 10\nm f=2i 20");
    EXPECT_EQ(influx.authorization, "");
}

TEST(InfluxClient, SendsBasicAuthWhenAUserIsSet) {
    FakeInflux influx;
    InfluxClient client({influx.url(), "kvm", "importer", "pw"});
    client.write("m f=1i 10");
    EXPECT_EQ(influx.authorization, "Basic aW1wb3J0ZXI6cHc=");  // importer:pw
}

TEST(InfluxClient, ABadRequestIsRefusedWithInfluxDbsOwnMessage) {
    FakeInflux influx;
    influx.status = 400;
    influx.answer = R"({"error":"partial write: field type conflict dropped=1"})";
    InfluxClient client({influx.url(), "kvm", "", ""});
    WriteResult r = client.write("m f=1i 10");
    EXPECT_EQ(r.status, WriteStatus::refused);
    EXPECT_EQ(r.error, "HTTP 400: partial write: field type conflict dropped=1");
}

TEST(InfluxClient, ServerErrorsAndAMissingDatabaseAreWorthRetrying) {
    FakeInflux influx;
    InfluxClient client({influx.url(), "kvm", "", ""});
    for (int status : {500, 503, 404, 401}) {
        influx.status = status;
        WriteResult r = client.write("m f=1i 10");
        EXPECT_EQ(r.status, WriteStatus::unavailable) << status;
        EXPECT_THAT(r.error, HasSubstr(std::to_string(status)));
    }
}

TEST(InfluxClient, NoServerIsUnavailableNamingTheUrl) {
    int port = 0;
    {
        FakeInflux gone;
        port = gone.port;
    }
    std::string url = "http://127.0.0.1:" + std::to_string(port);
    InfluxClient client({url, "kvm", "", "", std::chrono::seconds(2), std::chrono::seconds(2)});
    WriteResult r = client.write("m f=1i 10");
    EXPECT_EQ(r.status, WriteStatus::unavailable);
    EXPECT_THAT(r.error, HasSubstr(url));
}

TEST(InfluxClient, StatusesAreClassifiedForRetryOrSkip) {
    EXPECT_EQ(classify_write_status(204), WriteStatus::written);
    EXPECT_EQ(classify_write_status(400), WriteStatus::refused);
    EXPECT_EQ(classify_write_status(413), WriteStatus::refused);
    EXPECT_EQ(classify_write_status(403), WriteStatus::unavailable);
    EXPECT_EQ(classify_write_status(429), WriteStatus::unavailable);
    EXPECT_EQ(classify_write_status(502), WriteStatus::unavailable);
}

}  // namespace
}  // namespace pulse
