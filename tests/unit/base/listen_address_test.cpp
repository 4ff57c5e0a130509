#include "pulse/base/listen_address.hpp"

#include <gtest/gtest.h>

namespace pulse {
namespace {

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

}  // namespace
}  // namespace pulse
