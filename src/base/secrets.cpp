// See secrets.hpp.
#include "pulse/base/secrets.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

namespace pulse {

std::string mask_value(std::string text, std::string_view secret) {
    for (auto at = secret.empty() ? std::string::npos : text.find(secret); at != std::string::npos;
         at = text.find(secret, at)) {
        text.replace(at, secret.size(), "***");
    }
    return text;
}

bool is_secret_property(std::string_view name) {
    std::string lower(name);
    std::transform(lower.begin(), lower.end(), lower.begin(),
                   [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
    // ssl.key.pem and ssl.certificate... hold key material inline; sasl.oauthbearer.config may
    // carry a client secret; sasl.jaas-style settings carry passwords.
    for (const char* word : {"password", "secret", "ssl.key.pem", "oauthbearer.config", "jaas"}) {
        if (lower.find(word) != std::string::npos) {
            return true;
        }
    }
    return false;
}

std::string describe_properties(const std::map<std::string, std::string>& properties) {
    std::string out;
    for (const auto& [key, value] : properties) {
        out += fmt::format("{}{}={}", out.empty() ? "" : ", ", key,
                           is_secret_property(key) ? "***" : value);
    }
    return out;
}

std::string mask_values(std::string text, const std::map<std::string, std::string>& properties) {
    for (const auto& [key, value] : properties) {
        text = mask_value(std::move(text), value);
    }
    return text;
}

std::string mask_secrets(std::string text, const std::map<std::string, std::string>& properties) {
    for (const auto& [key, value] : properties) {
        if (is_secret_property(key)) {
            text = mask_value(std::move(text), value);
        }
    }
    return text;
}

std::string mask_secret_arguments(std::string message, const std::vector<std::string>& args) {
    for (const std::string& arg : args) {
        std::size_t start = arg.find_first_not_of('-');
        for (auto eq = arg.find('='); start != std::string::npos && eq != std::string::npos;
             start = eq + 1, eq = arg.find('=', eq + 1)) {
            std::string_view value = std::string_view(arg).substr(eq + 1);
            if (!is_secret_property(arg.substr(start, eq - start)) || value.empty()) {
                continue;
            }
            message = mask_value(std::move(message), value);
            break;
        }
    }
    return message;
}

std::string mask_flag_value(std::string message, const std::vector<std::string>& args,
                            std::string_view flag) {
    const std::string with_equals = std::string(flag) + "=";
    for (std::size_t i = 0; i < args.size(); ++i) {
        if (args[i] == flag && i + 1 < args.size()) {
            message = mask_value(std::move(message), args[i + 1]);
        } else if (args[i].starts_with(with_equals)) {
            message = mask_value(std::move(message),
                                 std::string_view(args[i]).substr(with_equals.size()));
        }
    }
    return message;
}

}  // namespace pulse
