// Small files that settings name; see setting_file.hpp.
#include "pulse/config/setting_file.hpp"

#include <fmt/format.h>

#include <cerrno>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "pulse/config/error.hpp"

namespace pulse {
namespace {

// A properties or configuration file is a handful of lines; anything larger is not one (or is
// /dev/zero).
constexpr std::uintmax_t kMaxSettingFileBytes = 1U << 20;

}  // namespace

std::string read_setting_file(const std::string& path, const std::string& setting) {
    auto bad = [&](const std::string& why) {
        return ConfigError(fmt::format("invalid {} '{}': {}", setting, path, why));
    };
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
        throw bad(ec ? ec.message() : "not a regular file");
    }
    if (std::filesystem::file_size(path, ec) > kMaxSettingFileBytes) {
        throw bad("larger than 1 MiB");
    }
    std::ifstream in(path, std::ios::binary);
    std::ostringstream text;
    text << in.rdbuf();
    if (!in) {
        throw bad(std::strerror(errno));
    }
    return text.str();
}

}  // namespace pulse
