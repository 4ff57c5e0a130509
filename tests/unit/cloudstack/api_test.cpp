// CloudStack's request signing, its list answers and CS_ENDPOINT parsing.
#include "pulse/cloudstack/api.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

namespace pulse {
namespace {

using ::testing::EndsWith;
using ::testing::HasSubstr;

// The example of CloudStack's Programmer Guide, "How to sign an API call with Python"
// (apache/cloudstack-documentation, source/developersguide/dev.rst):
//   request['command']='listUsers'; request['response']='json'
//   request['apikey']='plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg'
//   secretkey='VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ'
//   sig_str:
//   'apikey=plgwjfzk4gys3momtvmjuvg-x-jlwlnfauj9gabbbf9edm-kaymmailqzzq1elzlyq_u38zcm0bewzgudp66mg&command=listusers&response=json'
//   sig: 'TTpdDq/7j/J58XCRHomKoQXEQds='
//   req:
//   'http://localhost:8080/client/api?apikey=plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg&command=listUsers&response=json&signature=TTpdDq%2F7j%2FJ58XCRHomKoQXEQds%3D'
constexpr const char* kDocApiKey =
    "plgWJfZK4gyS3mOMTVmjUVg-X-jlWlnfaUJ9GAbBbf9EdM-kAYMmAiLqzzq1ElZLYq_u38zCm0bewzGUdP66mg";
constexpr const char* kDocSecretKey =
    "VDaACYb0LV9eNjTetIOElcVQkvJck_J_QljX_FcHRj87ZKiy0z0ty0ZsYBkoXkY9b7eq1EhwJaw7FF3akA3KBQ";

TEST(CloudStackSigning, TheDocumentedListUsersExampleGivesTheDocumentedSignature) {
    CloudStackParams params{{"command", "listUsers"}, {"response", "json"}, {"apikey", kDocApiKey}};
    EXPECT_EQ(cloudstack_signature(params, kDocSecretKey), "TTpdDq/7j/J58XCRHomKoQXEQds=");
}

TEST(CloudStackSigning, TheSignedQueryIsTheDocumentedOne) {
    EXPECT_EQ(cloudstack_signed_query({{"command", "listUsers"}, {"response", "json"}}, kDocApiKey,
                                      kDocSecretKey),
              std::string("apikey=") + kDocApiKey +
                  "&command=listUsers&response=json&signature=TTpdDq%2F7j%2FJ58XCRHomKoQXEQds%3D");
}

TEST(CloudStackSigning, ADifferentSecretGivesADifferentSignature) {
    CloudStackParams params{{"command", "listUsers"}, {"response", "json"}, {"apikey", kDocApiKey}};
    EXPECT_NE(cloudstack_signature(params, "another secret"), "TTpdDq/7j/J58XCRHomKoQXEQds=");
}

TEST(CloudStackSigning, ValuesAreEncodedAsJavasUrlEncoderWithSpacesAsPercent20) {
    EXPECT_EQ(cloudstack_encode("abc-XYZ_0.9*"), "abc-XYZ_0.9*");
    EXPECT_EQ(cloudstack_encode("a b"), "a%20b");
    EXPECT_EQ(cloudstack_encode("~/+=&"), "%7E%2F%2B%3D%26");
    EXPECT_EQ(cloudstack_encode("\xc3\xa9"), "%C3%A9");
}

TEST(CloudStackEndpoint, HttpAndHttpsUrlsSplitIntoOriginAndPath) {
    auto e = parse_cloudstack_endpoint("http://cs.example:8080/client/api");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->origin, "http://cs.example:8080");
    EXPECT_EQ(e->path, "/client/api");
    EXPECT_FALSE(e->https);
    e = parse_cloudstack_endpoint("https://cs.example");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->origin, "https://cs.example");
    EXPECT_EQ(e->path, "/client/api");
    EXPECT_TRUE(e->https);
    e = parse_cloudstack_endpoint("http://[::1]:8080/api");
    ASSERT_TRUE(e);
    EXPECT_EQ(e->origin, "http://[::1]:8080");
}

TEST(CloudStackEndpoint, AnythingElseIsRefused) {
    for (const char* bad :
         {"", "cs:8080/client/api", "ftp://cs/client/api", "http://", "http://:8080/x",
          "http://cs:0/x", "http://cs:99999/x", "http://cs:port/x", "http://u:pw@cs/client/api",
          "http://cs/client/api?command=x", "http://a:b:c/x"}) {
        EXPECT_FALSE(parse_cloudstack_endpoint(bad)) << bad;
    }
}

TEST(CloudStackEndpoint, DebiansHttpClientSpeaksTls) {
    EXPECT_TRUE(cloudstack_https_supported());
}

TEST(CloudStackPage, AListVolumesAnswerGivesItsItemsAndCount) {
    CloudStackPage page = parse_cloudstack_page(
        R"({"listvolumesresponse":{"count":3,"volume":[
             {"id":"v1","path":"p1","size":10,"name":"ROOT-1"},{"id":"v2","path":"p2"}]}})",
        "listVolumes", "volume");
    EXPECT_EQ(page.count, 3U);
    ASSERT_EQ(page.items.size(), 2U);
    EXPECT_EQ(page.items[0].at("id"), "v1");
    EXPECT_EQ(page.items[0].at("path"), "p1");
    EXPECT_EQ(page.items[0].at("size"), "10");
    EXPECT_EQ(page.items[1].at("path"), "p2");
}

TEST(CloudStackPage, AnEmptyListingHasNoArray) {
    CloudStackPage page =
        parse_cloudstack_page(R"({"listvolumesresponse":{}})", "listVolumes", "volume");
    EXPECT_EQ(page.count, 0U);
    EXPECT_TRUE(page.items.empty());
}

TEST(CloudStackPage, SomethingElseIsAnErrorNamingTheCommand) {
    for (const char* body : {"<html>login</html>", R"({"listprojectsresponse":{}})",
                             R"({"listvolumesresponse":{"volume":{}}})"}) {
        try {
            parse_cloudstack_page(body, "listVolumes", "volume");
            ADD_FAILURE() << body;
        } catch (const CloudStackError& e) {
            EXPECT_THAT(e.what(), HasSubstr("listVolumes")) << body;
        }
    }
}

TEST(CloudStackClient, NoAnswerNamesTheEndpointButNeverTheKeysOrTheSignedUrl) {
    // Port 1 on loopback: nothing listens, the connection is refused at once.
    CloudStackClient client({*parse_cloudstack_endpoint("http://127.0.0.1:1/client/api"),
                             "Api-KEY-value", "Secret-KEY-value", std::chrono::seconds(2),
                             std::chrono::seconds(2)});
    try {
        client.list_volumes();
        ADD_FAILURE() << "no error";
    } catch (const CloudStackError& e) {
        const std::string what = e.what();
        EXPECT_THAT(what, HasSubstr("listVolumes at http://127.0.0.1:1/client/api: no answer"));
        EXPECT_THAT(what, ::testing::Not(HasSubstr("KEY-value")));
        EXPECT_THAT(what, ::testing::Not(HasSubstr("signature")));
    }
}

}  // namespace
}  // namespace pulse
