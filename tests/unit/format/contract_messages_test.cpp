// The contract's messages byte for byte: contract points from a real QEMU domain's statistics
// and from a host's, serialized as the old sensor's consumers read them.
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "fixtures.hpp"
#include "pulse/format/json.hpp"
#include "pulse/points/contract.hpp"
#include "qemu_sample.hpp"

namespace pulse {
namespace {

using namespace std::chrono;
using pulse::testing::read_fixture;

const Timestamp kTime = pulse::testing::kSampleTime;
const std::string& kHost = pulse::testing::kSampleHost;
using pulse::testing::sample_devices;
using pulse::testing::sample_stats;

TEST(ContractMessages, ARealQemuDomainGivesTheExpectedMessage) {
    DomainPoints out = domain_points(sample_stats(), sample_devices(), kHost, kTime);
    EXPECT_TRUE(out.anomalies.empty());
    EXPECT_TRUE(out.unknown_devices.empty());
    EXPECT_EQ(nlohmann::json::parse(serialize_json_pretty(out.points)),
              nlohmann::json::parse(read_fixture("expected-i-2-1-VM.json")));
}

TEST(ContractMessages, HostPointUsesTheContractsUnits) {
    HostStats h;
    h.cpu_user_ns = 6416940ULL * 1'000'000'000 + 999'999'999;  // rounds down
    h.cpu_kernel_ns = 1198652ULL * 1'000'000'000;
    h.cpu_idle_ns = 120492574ULL * 1'000'000'000;
    h.cpu_iowait_ns = 39380ULL * 1'000'000'000;
    h.memory_total_kib = 128850ULL * 1024;
    h.memory_free_bytes = 80558ULL * 1024 * 1024;
    Point p = host_point(h, "qemu+ssh://root@10.252.1.33/system",
                         sys_days{year{2018} / 8 / 17} + hours{9} + seconds{35});
    std::string out;
    serialize_json({&p, 1}, out);
    EXPECT_EQ(out, nlohmann::json::parse(read_fixture("sample-host-message.json")).dump());
}

}  // namespace
}  // namespace pulse
