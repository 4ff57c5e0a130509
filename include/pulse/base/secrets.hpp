// Secrets never reach a log line, an error message, a metric or `ps`: the rules for recognising
// them and the masks applied to any text that may quote one (librdkafka's messages, CLI11's
// parse errors, the log's list of Kafka properties). URI passwords are uri.hpp's.
#pragma once

#include <map>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

// `text` with every occurrence of `secret` replaced by ***. An empty secret changes nothing.
std::string mask_value(std::string text, std::string_view secret);

// Whether a librdkafka property holds a secret (a password, a private key, an OAuth client
// secret): its value is never printed, not even masked in part.
bool is_secret_property(std::string_view name);

// "key=value, key=value" for the log, every secret value shown as ***.
std::string describe_properties(const std::map<std::string, std::string>& properties);

// `text` with every non-empty value of `properties` replaced by ***: for librdkafka's messages,
// which may quote a value, and a value may be a password.
std::string mask_values(std::string text, const std::map<std::string, std::string>& properties);

// `text` with the value of every secret property (is_secret_property) replaced by ***: for
// librdkafka's logs and errors, which must show the other values (a CA path, a user name).
std::string mask_secrets(std::string text, const std::map<std::string, std::string>& properties);

// CLI11 quotes arguments it did not expect ("sasl.password=…" without its --kafka-property):
// `message` with the value of every secret key=value in `args` masked.
std::string mask_secret_arguments(std::string message, const std::vector<std::string>& args);

// `message` with the value given to `flag` in `args` ("--flag value" or "--flag=value") masked.
std::string mask_flag_value(std::string message, const std::vector<std::string>& args,
                            std::string_view flag);

}  // namespace pulse
