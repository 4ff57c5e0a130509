// Passwords out of libvirt URIs; see uri.hpp.
#include "pulse/base/uri.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <optional>

namespace pulse {
namespace {

struct Userinfo {
    std::size_t begin = 0;  // first character after "://"
    std::size_t colon = 0;  // the ':' between user and password
    std::size_t at = 0;     // the '@' that ends the userinfo
};

// Where the userinfo with a password sits in `uri`, if it has one.
std::optional<Userinfo> userinfo_with_password(std::string_view uri) {
    const auto scheme = uri.find("://");
    if (scheme == std::string_view::npos) {
        return std::nullopt;
    }
    const std::size_t authority = scheme + 3;
    const std::size_t authority_end = std::min(uri.find_first_of("/?#", authority), uri.size());
    if (authority_end == authority) {
        return std::nullopt;
    }
    // The last '@' ends the userinfo (a password may itself contain '@' when not encoded).
    const std::size_t at = uri.rfind('@', authority_end - 1);
    if (at == std::string_view::npos || at < authority) {
        return std::nullopt;
    }
    const std::size_t colon = uri.find(':', authority);
    if (colon == std::string_view::npos || colon > at) {
        return std::nullopt;  // a user name only: no secret
    }
    return Userinfo{authority, colon, at};
}

int hex_digit(char c) {
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

std::string percent_decoded(std::string_view text) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '%' && i + 2 < text.size() && hex_digit(text[i + 1]) >= 0 &&
            hex_digit(text[i + 2]) >= 0) {
            out.push_back(static_cast<char>(hex_digit(text[i + 1]) * 16 + hex_digit(text[i + 2])));
            i += 2;
        } else {
            out.push_back(text[i]);
        }
    }
    return out;
}

void replace_all(std::string& text, std::string_view from, std::string_view to) {
    if (from.empty()) {
        return;
    }
    for (std::size_t at = text.find(from); at != std::string::npos;
         at = text.find(from, at + to.size())) {
        text.replace(at, from.size(), to);
    }
}

}  // namespace

std::string uri_without_password(std::string_view uri) {
    const auto info = userinfo_with_password(uri);
    if (!info) {
        return std::string(uri);
    }
    return fmt::format("{}{}", uri.substr(0, info->colon), uri.substr(info->at));
}

std::string hide_uri_password(std::string text, std::string_view uri) {
    const auto info = userinfo_with_password(uri);
    if (!info) {
        return text;
    }
    replace_all(text, uri, uri_without_password(uri));
    // libvirt takes the whole userinfo for the user name and may quote it, as written or
    // decoded.
    const std::string_view user = uri.substr(info->begin, info->colon - info->begin);
    const std::string_view userinfo = uri.substr(info->begin, info->at - info->begin);
    replace_all(text, userinfo, user);
    replace_all(text, percent_decoded(userinfo), percent_decoded(user));
    return text;
}

}  // namespace pulse
