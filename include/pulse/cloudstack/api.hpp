// CloudStack's API, as far as the volume-id mapping needs it: signed GET requests, and
// listVolumes (with listProjects, for the volumes that live in projects) read page by page.
//
// Signing follows CloudStack's ApiServer.verifyRequest: the parameters other than `signature`,
// sorted by name, each value encoded as Java's URLEncoder does (letters, digits and ". - * _"
// kept, a space as %20, everything else %XX), joined with '&', the whole string lower-cased,
// then HMAC-SHA1 with the secret key and base64. The same encoding builds the query that is
// sent, so what the server decodes and re-encodes is exactly what was signed.
//
// The API key, the secret key and any URL that carries them (a signed URL holds the API key and
// the signature) never leave this file: errors name the endpoint and the command only.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

// CS_ENDPOINT split the way the HTTP client wants it.
struct CloudStackEndpoint {
    std::string origin;  // "http://host:8080", "https://cloud.example"
    std::string path;    // "/client/api"
    bool https = false;
};

// http(s)://host[:port][/path]; std::nullopt for anything else (no host, another scheme, a
// query or fragment, a userinfo). An empty path is CloudStack's default, /client/api.
std::optional<CloudStackEndpoint> parse_cloudstack_endpoint(std::string_view text);

// Whether this build's HTTP client speaks TLS (Debian's cpp-httplib is built with OpenSSL).
bool cloudstack_https_supported();

// A value encoded as java.net.URLEncoder does, with '+' for a space replaced by %20.
std::string cloudstack_encode(std::string_view value);

// Parameters by name. Names are kept as given; callers use lower case, as CloudStack's
// examples do, so that the client's sort and the server's agree.
using CloudStackParams = std::map<std::string, std::string>;

// The base64 HMAC-SHA1 signature of `params` (without apikey's special treatment: pass it in
// `params`), not yet URL-encoded.
std::string cloudstack_signature(const CloudStackParams& params, std::string_view secret_key);

// The query string to send: `params` plus apikey, sorted and encoded, then &signature=…
std::string cloudstack_signed_query(CloudStackParams params, std::string_view api_key,
                                    std::string_view secret_key);

struct CloudStackVolume {
    std::string id;
    std::string path;
};

// One page of a list command's JSON answer: `items` from the array named `array`
// ("volume", "project") and the total `count` CloudStack reports. Throws CloudStackError when
// the body is not such an answer.
struct CloudStackPage {
    std::vector<std::map<std::string, std::string>> items;  // string members of each item
    std::uint64_t count = 0;
};
CloudStackPage parse_cloudstack_page(std::string_view body, std::string_view command,
                                     std::string_view array);

class CloudStackError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

struct CloudStackSettings {
    CloudStackEndpoint endpoint;
    std::string api_key;
    std::string secret_key;
    std::chrono::seconds connect_timeout{5};
    std::chrono::seconds io_timeout{30};
    // CloudStack refuses a pagesize above its default.page.size, 500 unless changed.
    std::uint32_t page_size = 500;
};

class CloudStackClient {
  public:
    explicit CloudStackClient(CloudStackSettings settings);
    ~CloudStackClient();
    CloudStackClient(const CloudStackClient&) = delete;
    CloudStackClient& operator=(const CloudStackClient&) = delete;

    // Every volume the account can see, as the old sensor asked: listVolumes listall=true in
    // the account's scope, then in each project listProjects returns. All pages of each.
    // Throws CloudStackError (no answer, an HTTP error with CloudStack's errortext, a body that
    // is not a listing); the message names the endpoint, never a key or a signed URL.
    std::vector<CloudStackVolume> list_volumes();

    // One request, listVolumes listall=true pagesize=1: the volume count CloudStack reports in
    // the account's scope. --check uses it to see that the endpoint answers and accepts the
    // signature. Throws CloudStackError as list_volumes does.
    std::uint64_t count_volumes();

    // Aborts a request in progress from another thread (a stop while CloudStack is slow).
    void stop();

    // "http://host:8080/client/api", for messages.
    std::string where() const;

  private:
    // Every item of `command` over all its pages.
    std::vector<std::map<std::string, std::string>> list_all(const std::string& command,
                                                             const std::string& array,
                                                             CloudStackParams params);
    std::string get(const CloudStackParams& params);

    struct Http;
    CloudStackSettings settings_;
    std::unique_ptr<Http> http_;
};

}  // namespace pulse
