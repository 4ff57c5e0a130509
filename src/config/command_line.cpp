// The command line; see command_line.hpp.
#include "pulse/config/command_line.hpp"

#include <fmt/format.h>
#include <CLI/CLI.hpp>

#include <stdexcept>

#include "pulse/base/secrets.hpp"

namespace pulse {

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
        std::string help(row.help);
        if (!row.env.empty()) {
            help += fmt::format(" ({})", row.env);
        }
        Given& given = given_[i];
        switch (row.kind) {
            case Kind::toggle:
                app.add_flag(flag, given.on, help);
                break;
            case Kind::repeated:
                // No default_str or check that could echo a value: some are passwords.
                app.add_option(flag, given.items, help)->allow_extra_args(false);
                break;
            case Kind::boolean:
                app.add_option(flag, given.text, help)->expected(0, 1)->default_str("true");
                break;
            default:
                app.add_option(flag, given.text, help);
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
