// The command line; see command_line.hpp.
#include "pulse/config/command_line.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <stdexcept>

#include "pulse/base/secrets.hpp"

namespace pulse {
namespace {

// CLI11 starts descriptions at column 30.
constexpr std::size_t kDescriptionWidth = 70;

// How --help shows the value a flag takes.
std::string value_synopsis(const Setting& row) {
    switch (row.kind) {
        case Kind::toggle:
            return {};
        case Kind::boolean:
            return fmt::format("[{}]", row.arg);
        case Kind::repeated:
            return fmt::format("{} ...", row.arg);
        default:
            return std::string(row.arg);
    }
}

std::string default_text(const Setting& row) {
    if (row.required) {
        return "required";
    }
    return row.default_value.empty() ? "unset" : std::string(row.default_value);
}

}  // namespace

std::string wrap(std::string_view text, std::size_t width, std::string_view indent) {
    std::string out;
    std::size_t line = 0;
    while (!text.empty()) {
        const std::size_t space = text.find(' ');
        const std::string_view word = text.substr(0, space);
        if (line > 0 && line + 1 + word.size() > width) {
            out += '\n';
            out += indent;
            line = indent.size();
        } else if (line > 0) {
            out += ' ';
            ++line;
        }
        out += word;
        line += word.size();
        text.remove_prefix(space == std::string_view::npos ? text.size() : space + 1);
    }
    return out;
}

std::string environment_help(std::span<const Setting> rows, std::string_view heading) {
    constexpr std::size_t kEnvWidth = 25;
    constexpr std::size_t kFlagWidth = 27;
    const std::string indent(2 + kEnvWidth, ' ');
    std::string out = wrap(heading, 2 + kEnvWidth + kFlagWidth + 40);
    out +=
        fmt::format("\n  {:<{}}{:<{}}{}\n", "VARIABLE", kEnvWidth, "FLAG", kFlagWidth, "DEFAULT");
    for (const Setting& row : rows) {
        if (row.env.empty()) {
            continue;
        }
        out += fmt::format("  {:<{}}{:<{}}{}\n", row.env, kEnvWidth,
                           row.flag.empty() ? "none: ps would show it" : row.flag, kFlagWidth,
                           default_text(row));
        if (row.flag.empty()) {
            out += indent + wrap(row.help, kDescriptionWidth, indent) + "\n";
        }
    }
    return out;
}

struct Flags::Given {
    std::optional<std::string> text;
    std::vector<std::string> items;
    bool on = false;
};

Flags::Flags(CLI::App& app, std::span<const Setting> rows)
    : rows_(rows), given_(std::make_unique<Given[]>(rows.size())) {
    for (std::size_t i = 0; i < rows.size(); ++i) {
        const Setting& row = rows[i];
        if (row.flag.empty()) {
            continue;
        }
        const std::string flag(row.flag);
        const std::string help = wrap(
            row.env.empty() ? std::string(row.help) : fmt::format("{} ({})", row.help, row.env),
            kDescriptionWidth);
        Given& given = given_[i];
        switch (row.kind) {
            case Kind::toggle:
                app.add_flag(flag, given.on, help);
                break;
            case Kind::repeated:
                // No default_str or check that could echo a value: some are passwords.
                app.add_option(flag, given.items, help)
                    ->allow_extra_args(false)
                    ->option_text(value_synopsis(row));
                break;
            case Kind::boolean:
                app.add_option(flag, given.text, help)
                    ->expected(0, 1)
                    ->default_str("true")
                    ->option_text(value_synopsis(row));
                break;
            default:
                app.add_option(flag, given.text, help)->option_text(value_synopsis(row));
                break;
        }
    }
}

Flags::~Flags() = default;

const Flags::Given& Flags::given(const Setting& row) const {
    for (std::size_t i = 0; i < rows_.size(); ++i) {
        if (&rows_[i] == &row) {
            return given_[i];
        }
    }
    throw std::logic_error(fmt::format("{} is not a row of this table", setting_name(row)));
}

std::optional<std::string> Flags::value(const Setting& row) const {
    const std::optional<std::string>& text = given(row).text;
    if (row.kind == Kind::boolean && text && text->empty()) {
        return "true";
    }
    return text;
}

const std::vector<std::string>& Flags::values(const Setting& row) const {
    return given(row).items;
}

bool Flags::on(const Setting& row) const {
    return given(row).on;
}

std::string describe_parse_error(const std::string& message, const std::vector<std::string>& args) {
    return fmt::format("{} (see --help)", mask_secret_arguments(message, args));
}

}  // namespace pulse
