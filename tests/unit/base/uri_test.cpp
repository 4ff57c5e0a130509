// A password in KVM_HOST's userinfo: gone from the URI as shown, and from messages quoting it.
#include "pulse/base/uri.hpp"

#include <gtest/gtest.h>

namespace pulse {
namespace {

TEST(Uri, ThePasswordLeavesTheUserinfoAndNothingElseChanges) {
    EXPECT_EQ(uri_without_password("qemu+ssh://root:s3cret@hv1:2222/system?keyfile=/k"),
              "qemu+ssh://root@hv1:2222/system?keyfile=/k");
    EXPECT_EQ(uri_without_password("qemu+tcp://u:p@ss@hv1/system"), "qemu+tcp://u@hv1/system");
    EXPECT_EQ(uri_without_password("qemu+tcp://:pw@hv1/system"), "qemu+tcp://@hv1/system");
    EXPECT_EQ(uri_without_password("qemu+tcp://u:p%40ss@[::1]:16509/system"),
              "qemu+tcp://u@[::1]:16509/system");
}

TEST(Uri, AUriWithoutAPasswordIsUnchanged) {
    for (const char* uri :
         {"qemu+ssh://root@hv1/system", "qemu+tcp://hv1:16509/system", "qemu:///system",
          "test:///path/with@sign:x", "qemu+tcp://[::1]:16509/system", "qemu+ssh://root@[::1]/x",
          "not a uri", "", "qemu+tcp://", "qemu+ssh://a@b/system?keyfile=/k:x@y"}) {
        EXPECT_EQ(uri_without_password(uri), uri);
    }
}

TEST(Uri, AMessageQuotingTheUriOrItsUserinfoLosesThePassword) {
    const std::string uri = "nosuch://admin:Zq9%2DS3CRET@hv1/system";
    EXPECT_EQ(hide_uri_password("no connection driver available for " + uri, uri),
              "no connection driver available for nosuch://admin@hv1/system");
    EXPECT_EQ(hide_uri_password("user 'admin:Zq9%2DS3CRET' and 'admin:Zq9-S3CRET' refused", uri),
              "user 'admin' and 'admin' refused");
    EXPECT_EQ(hide_uri_password("nothing to hide", "qemu:///system"), "nothing to hide");
}

}  // namespace
}  // namespace pulse
