// The spellings of the values settings share, whichever setting they belong to.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

// `text` without the spaces, tabs and line ends around it, as every setting is read.
std::string trim(std::string_view text);

// The items of a comma-separated list as they stand, untrimmed: "a, ,b" has three, " " one.
std::vector<std::string_view> split_list(std::string_view text);

// The accepted spellings of a boolean setting: true/false, 1/0, yes/no, on/off, any case.
std::optional<bool> parse_bool(std::string_view text);

// A whole number from `min` to `max`, nothing around it (no spaces, '+' or fraction).
std::optional<long> parse_whole(std::string_view text, long min, long max);

// A size in bytes: digits with an optional K, M or G (powers of 1024, "KiB"/"MB" spellings too).
std::optional<std::uint64_t> parse_size(std::string_view text);

}  // namespace pulse
