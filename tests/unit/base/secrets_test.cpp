#include "pulse/base/secrets.hpp"

#include <gtest/gtest.h>

namespace pulse {
namespace {

constexpr const char* kSecret = "Zq9-distinctive-S3CRET-value";

TEST(Secrets, SecretPropertiesAreRecognisedByName) {
    for (const char* name : {"sasl.password", "ssl.key.password", "ssl.keystore.password",
                             "sasl.oauthbearer.client.secret", "ssl.key.pem", "My.Password"}) {
        EXPECT_TRUE(is_secret_property(name)) << name;
    }
    for (const char* name : {"sasl.username", "security.protocol", "ssl.ca.location", "acks"}) {
        EXPECT_FALSE(is_secret_property(name)) << name;
    }
}

TEST(Secrets, DescribingPropertiesMasksEverySecretValue) {
    std::string text = describe_properties(
        {{"sasl.username", "pulse"}, {"sasl.password", kSecret}, {"ssl.key.password", kSecret}});
    EXPECT_EQ(text, "sasl.password=***, sasl.username=pulse, ssl.key.password=***");
}

TEST(Secrets, MaskingReplacesEveryValue) {
    EXPECT_EQ(mask_values("bad 'pw1' and pw1 again, ''", {{"a", "pw1"}, {"b", ""}}),
              "bad '***' and *** again, ''");
}

TEST(Secrets, OnlySecretValuesAreMaskedInLibrdkafkasText) {
    const std::map<std::string, std::string> properties = {{"sasl.username", "pulse"},
                                                           {"sasl.password", "pw1"},
                                                           {"ssl.ca.location", "/etc/ca.pem"},
                                                           {"ssl.key.password", "kp2"}};
    EXPECT_EQ(mask_secrets("user pulse, pw1, kp2, CA /etc/ca.pem", properties),
              "user pulse, ***, ***, CA /etc/ca.pem");
}

TEST(Secrets, AFlagsValueIsMaskedInEitherSpelling) {
    EXPECT_EQ(
        mask_flag_value("bad pw1 and pw2", {"--password", "pw1", "--password=pw2"}, "--password"),
        "bad *** and ***");
    EXPECT_EQ(mask_flag_value("bad pw1", {"--password"}, "--password"), "bad pw1");
}

}  // namespace
}  // namespace pulse
