// The command line as CLI11 parses it, for the sensor and the importer alike: the flags of a
// table of settings (settings.hpp) and what --help says about them.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/config/settings.hpp"

namespace CLI {
class App;
}

namespace pulse {

// One CLI11 option per row with a flag, registered on construction in the rows' order and
// described by the row's help and variable; read after CLI::App::parse.
class Flags {
  public:
    Flags(CLI::App& app, std::span<const Setting> rows);
    Flags(const Flags&) = delete;
    Flags& operator=(const Flags&) = delete;
    ~Flags();

    // The value given to the row's flag, std::nullopt when it was not given; a bare boolean
    // flag ("--debug") is "true".
    std::optional<std::string> value(const Setting& row) const;
    // Every value of a Kind::repeated flag, in order.
    const std::vector<std::string>& values(const Setting& row) const;
    // Whether a Kind::toggle flag was given.
    bool on(const Setting& row) const;

  private:
    struct Given;
    const Given& given(const Setting& row) const;

    std::span<const Setting> rows_;
    std::unique_ptr<Given[]> given_;  // one per row; CLI11 writes into them
};

// The environment section of --help: each variable of `rows` with its flag and default (and
// its help when it has no flag, the options list having none), under `heading`.
std::string environment_help(std::span<const Setting> rows, std::string_view heading);

// `text` in lines of at most `width` characters (a longer word stands alone), each after the
// first starting with `indent`.
std::string wrap(std::string_view text, std::size_t width, std::string_view indent = {});

// CLI11's message for a bad command line, with any secret value masked.
std::string describe_parse_error(const std::string& message, const std::vector<std::string>& args);

}  // namespace pulse
