// CloudStack's signed API requests and its list commands; see api.hpp.
#include "pulse/cloudstack/api.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <nlohmann/json.hpp>

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>

namespace pulse {
namespace {

bool java_unreserved(unsigned char c) {
    return std::isalnum(c) || c == '.' || c == '-' || c == '*' || c == '_';
}

std::string lower(std::string text) {
    std::transform(text.begin(), text.end(), text.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    return text;
}

// "name=value&…" over the sorted parameters, values encoded.
std::string encoded_query(const CloudStackParams& params) {
    std::string out;
    for (const auto& [name, value] : params) {
        if (!out.empty()) {
            out += '&';
        }
        out += name;
        out += '=';
        out += cloudstack_encode(value);
    }
    return out;
}

std::string base64(const unsigned char* data, std::size_t size) {
    std::string out(4 * ((size + 2) / 3), '\0');
    const int written =
        EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), data, static_cast<int>(size));
    out.resize(static_cast<std::size_t>(std::max(written, 0)));
    return out;
}

std::string string_of(const nlohmann::json& value) {
    if (value.is_string()) {
        return value.get<std::string>();
    }
    if (value.is_number() || value.is_boolean()) {
        return value.dump();
    }
    return {};
}

}  // namespace

std::optional<CloudStackEndpoint> parse_cloudstack_endpoint(std::string_view text) {
    CloudStackEndpoint endpoint;
    std::string_view rest;
    if (text.starts_with("http://")) {
        rest = text.substr(7);
    } else if (text.starts_with("https://")) {
        rest = text.substr(8);
        endpoint.https = true;
    } else {
        return std::nullopt;
    }
    const auto slash = rest.find('/');
    const std::string_view authority = rest.substr(0, slash);
    const std::string_view path = slash == std::string_view::npos ? "" : rest.substr(slash);
    if (authority.empty() || authority.find_first_of("@ \t?#") != std::string_view::npos ||
        path.find_first_of("?# \t") != std::string_view::npos) {
        return std::nullopt;
    }
    // host, host:port, [v6]:port
    std::string_view host = authority;
    if (auto colon = authority.rfind(':');
        colon != std::string_view::npos && authority.find(']', colon) == std::string_view::npos) {
        const std::string_view port = authority.substr(colon + 1);
        unsigned number = 0;
        auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), number);
        if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || number == 0 ||
            number > 65535) {
            return std::nullopt;
        }
        host = authority.substr(0, colon);
    }
    if (host.empty() || (host.front() == '[') != (host.back() == ']') ||
        (host.front() != '[' && host.find(':') != std::string_view::npos)) {
        return std::nullopt;
    }
    endpoint.origin = fmt::format("{}://{}", endpoint.https ? "https" : "http", authority);
    endpoint.path = path.empty() || path == "/" ? "/client/api" : std::string(path);
    return endpoint;
}

bool cloudstack_https_supported() {
#ifdef CPPHTTPLIB_OPENSSL_SUPPORT
    return true;
#else
    return false;
#endif
}

std::string cloudstack_encode(std::string_view value) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    out.reserve(value.size());
    for (unsigned char c : value) {
        if (java_unreserved(c)) {
            out += static_cast<char>(c);
        } else {
            // URLEncoder turns a space into '+', which CloudStack's signing replaces by %20.
            out += '%';
            out += kHex[c >> 4];
            out += kHex[c & 0x0F];
        }
    }
    return out;
}

std::string cloudstack_signature(const CloudStackParams& params, std::string_view secret_key) {
    const std::string unsigned_request = lower(encoded_query(params));
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int digest_size = 0;
    HMAC(EVP_sha1(), secret_key.data(), static_cast<int>(secret_key.size()),
         reinterpret_cast<const unsigned char*>(unsigned_request.data()), unsigned_request.size(),
         digest.data(), &digest_size);
    return base64(digest.data(), digest_size);
}

std::string cloudstack_signed_query(CloudStackParams params, std::string_view api_key,
                                    std::string_view secret_key) {
    params["apikey"] = std::string(api_key);
    const std::string signature = cloudstack_signature(params, secret_key);
    return fmt::format("{}&signature={}", encoded_query(params), cloudstack_encode(signature));
}

CloudStackPage parse_cloudstack_page(std::string_view body, std::string_view command,
                                     std::string_view array) {
    auto json = nlohmann::json::parse(body, nullptr, false);
    const std::string response = lower(std::string(command)) + "response";
    if (!json.is_object() || !json.contains(response) || !json[response].is_object()) {
        throw CloudStackError(fmt::format("{}: the answer is not a {} object", command, response));
    }
    const nlohmann::json& listing = json[response];
    CloudStackPage page;
    if (listing.contains("count") && listing["count"].is_number_unsigned()) {
        page.count = listing["count"].get<std::uint64_t>();
    }
    // CloudStack leaves the array out when there is nothing to list.
    if (!listing.contains(array)) {
        return page;
    }
    if (!listing[array].is_array()) {
        throw CloudStackError(fmt::format("{}: {} is not an array", command, array));
    }
    for (const nlohmann::json& item : listing[array]) {
        if (!item.is_object()) {
            continue;
        }
        auto& out = page.items.emplace_back();
        for (const auto& [key, value] : item.items()) {
            if (auto text = string_of(value); !text.empty()) {
                out.emplace(key, std::move(text));
            }
        }
    }
    return page;
}

struct CloudStackClient::Http {
    explicit Http(const std::string& origin) : client(origin) {}
    httplib::Client client;
};

CloudStackClient::CloudStackClient(CloudStackSettings settings)
    : settings_(std::move(settings)), http_(std::make_unique<Http>(settings_.endpoint.origin)) {
    auto& c = http_->client;
    c.set_connection_timeout(settings_.connect_timeout);
    c.set_read_timeout(settings_.io_timeout);
    c.set_write_timeout(settings_.io_timeout);
    // The signature is a password for one request: never follow it to another host.
    c.set_follow_location(false);
}

CloudStackClient::~CloudStackClient() = default;

std::string CloudStackClient::where() const {
    return settings_.endpoint.origin + settings_.endpoint.path;
}

void CloudStackClient::stop() {
    http_->client.stop();
}

std::string CloudStackClient::get(const CloudStackParams& params) {
    const std::string& command = params.at("command");
    const std::string target =
        fmt::format("{}?{}", settings_.endpoint.path,
                    cloudstack_signed_query(params, settings_.api_key, settings_.secret_key));
    auto result = http_->client.Get(target);
    if (!result) {
        std::string why = httplib::to_string(result.error());
        if (result.error() == httplib::Error::SSLServerVerification) {
            why += ": the server's certificate is not trusted (SSL_CERT_FILE may name its CA)";
        }
        throw CloudStackError(fmt::format("{} at {}: no answer ({})", command, where(), why));
    }
    if (result->status != 200) {
        // CloudStack's errors are {"<command>response": {"errorcode": …, "errortext": …}}.
        std::string text;
        auto json = nlohmann::json::parse(result->body, nullptr, false);
        if (json.is_object()) {
            for (const auto& [key, value] : json.items()) {
                if (value.is_object() && value.contains("errortext")) {
                    text = string_of(value["errortext"]);
                }
            }
        }
        if (text.empty()) {
            text = result->body.substr(0, 200);
        }
        throw CloudStackError(
            fmt::format("{} at {}: HTTP {}: {}", command, where(), result->status, text));
    }
    return std::move(result->body);
}

std::vector<std::map<std::string, std::string>> CloudStackClient::list_all(
    const std::string& command, const std::string& array, CloudStackParams params) {
    params["command"] = command;
    params["listall"] = "true";
    params["response"] = "json";
    params["pagesize"] = std::to_string(settings_.page_size);
    std::vector<std::map<std::string, std::string>> items;
    // The bound is only there so that a server that keeps answering full pages cannot hold
    // the refresh forever.
    for (std::uint64_t page = 1; page <= 100000; ++page) {
        params["page"] = std::to_string(page);
        CloudStackPage answer = parse_cloudstack_page(get(params), command, array);
        const std::size_t received = answer.items.size();
        std::move(answer.items.begin(), answer.items.end(), std::back_inserter(items));
        if (received < settings_.page_size || items.size() >= answer.count) {
            break;
        }
    }
    return items;
}

std::uint64_t CloudStackClient::count_volumes() {
    CloudStackParams params{{"command", "listVolumes"},
                            {"listall", "true"},
                            {"page", "1"},
                            {"pagesize", "1"},
                            {"response", "json"}};
    return parse_cloudstack_page(get(params), "listVolumes", "volume").count;
}

std::vector<CloudStackVolume> CloudStackClient::list_volumes() {
    std::vector<CloudStackVolume> volumes;
    auto add = [&](const std::vector<std::map<std::string, std::string>>& items) {
        for (const auto& item : items) {
            auto id = item.find("id");
            auto path = item.find("path");
            if (id != item.end() && path != item.end()) {
                volumes.push_back({id->second, path->second});
            }
        }
    };
    add(list_all("listVolumes", "volume", {}));
    for (const auto& project : list_all("listProjects", "project", {})) {
        if (auto id = project.find("id"); id != project.end()) {
            add(list_all("listVolumes", "volume", {{"projectid", id->second}}));
        }
    }
    return volumes;
}

}  // namespace pulse
