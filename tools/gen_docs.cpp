// pulse_gen_docs: writes the documents that the table of settings (config/settings.hpp)
// generates, so that a setting is described in one place:
//
//   docs/configuration.md    the settings table, between its BEGIN/END GENERATED markers
//   packaging/pulse-sensor.env the example environment file (/etc/default/pulse-sensor)
//
// Usage: pulse_gen_docs [--check] SOURCE_DIR
// With --check nothing is written: the exit status is 1, with a line per stale file, when a
// checked-in document differs from what the rows say (a unit test runs it that way).
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <optional>
#include <span>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include "pulse/config/command_line.hpp"
#include "pulse/config/settings.hpp"

namespace {

using pulse::Setting;

constexpr std::string_view kBeginMarker = "<!-- BEGIN GENERATED: settings table";
constexpr std::string_view kEndMarker = "<!-- END GENERATED: settings table -->";

// ---- Markdown, as the rows' doc texts use it: `code`, **bold** and [text](target) ----------

enum class Span { text, code, bold, link };

struct Piece {
    Span span;
    std::string text;
    std::string target;  // a link's file (configuration.md for an anchor of its own page)
};

std::vector<Piece> parse_markdown(std::string_view md) {
    std::vector<Piece> pieces;
    auto add_text = [&](std::string_view text) {
        if (!pieces.empty() && pieces.back().span == Span::text) {
            pieces.back().text += text;
        } else {
            pieces.push_back({Span::text, std::string(text), {}});
        }
    };
    while (!md.empty()) {
        if (md.front() == '`') {
            const auto end = md.find('`', 1);
            pieces.push_back({Span::code, std::string(md.substr(1, end - 1)), {}});
            md.remove_prefix(end + 1);
        } else if (md.starts_with("**")) {
            const auto end = md.find("**", 2);
            pieces.push_back({Span::bold, std::string(md.substr(2, end - 2)), {}});
            md.remove_prefix(end + 2);
        } else if (md.front() == '[' && md.find("](") != std::string_view::npos) {
            const auto middle = md.find("](");
            const auto end = md.find(')', middle);
            std::string target(md.substr(middle + 2, end - middle - 2));
            target = target.substr(0, target.find('#'));
            pieces.push_back({Span::link, std::string(md.substr(1, middle - 1)),
                              target.empty() ? "configuration.md" : target});
            md.remove_prefix(end + 1);
        } else {
            const auto next = md.find_first_of("`*[", 1);
            add_text(md.substr(0, next));
            md.remove_prefix(next == std::string_view::npos ? md.size() : next);
        }
    }
    return pieces;
}

// Plain ASCII text, for the environment file: a link becomes "text in file".
std::string plain(std::string_view md) {
    std::string out;
    for (const Piece& piece : parse_markdown(md)) {
        std::string_view text = piece.text;
        while (!text.empty()) {
            if (text.starts_with("…")) {
                out += "...";
                text.remove_prefix(std::string_view("…").size());
            } else if (text.starts_with("–")) {
                out += "-";
                text.remove_prefix(std::string_view("–").size());
            } else {
                out += text.front();
                text.remove_prefix(1);
            }
        }
        if (piece.span == Span::link) {
            out += " in " + piece.target;
        }
    }
    return out;
}

// ---- docs/configuration.md ------------------------------------------------------------------

std::string code(std::string_view text) {
    return fmt::format("`{}`", text);
}

std::string settings_table() {
    std::string out = fmt::format(
        "{} (pulse_gen_docs, from the rows of include/pulse/config/settings.hpp: edit them "
        "there) -->\n"
        "| variable | flag | default | meaning |\n"
        "|---|---|---|---|\n",
        kBeginMarker);
    for (const Setting& row : pulse::kSensorSettings) {
        std::string default_text;
        if (!row.env.empty()) {
            default_text = row.default_value.empty() ? "unset" : code(row.default_value);
        }
        const std::string cells[] = {row.env.empty() ? "" : code(row.env),
                                     row.flag.empty() ? "none" : code(row.flag), default_text,
                                     std::string(row.doc)};
        out += '|';
        for (const std::string& cell : cells) {
            out += cell.empty() ? " |" : fmt::format(" {} |", cell);
        }
        out += '\n';
    }
    out += kEndMarker;
    out += '\n';
    return out;
}

// The file with its generated region replaced, or std::nullopt when it has no such region.
std::optional<std::string> with_settings_table(const std::string& text) {
    const auto begin = text.find(kBeginMarker);
    const auto end = text.find(kEndMarker, begin);
    if (begin == std::string::npos || end == std::string::npos) {
        return std::nullopt;
    }
    const auto after = text.find('\n', end);
    return text.substr(0, begin) + settings_table() +
           (after == std::string::npos ? std::string() : text.substr(after + 1));
}

// ---- packaging/pulse-sensor.env -------------------------------------------------------------

// What an operator of the systemd unit should know besides what the setting means.
const std::map<std::string_view, std::string_view> kUnitNotes = {
    {"KVM_HOST", "qemu+ssh uses root's key and known_hosts in /root/.ssh."},
    {"KAFKA_BOOTSTRAP", "The unit's stdout is the journal."},
    {"KAFKA_PROPERTIES_FILE",
     "Keep it readable by root only (chmod 600) when it holds a password."},
    {"SPOOL_DIR", "The unit sets it to its state directory."},
    {"SHUTDOWN_TIMEOUT", "Keep it well below the unit's TimeoutStopSec (30 s)."},
    {"METRICS_ADDR", "Keep it on loopback or a management network: it has no auth."},
    {"CS_ENDPOINT",
     "The keys are secrets: keep this file readable by root only, or put each key in a file of "
     "its own (*_FILE)."},
    {"CONFIG_FILE",
     "A variable set here wins over the file. Example: "
     "/usr/share/doc/pulse-sensor/pulse-sensor.toml"},
};

std::string environment_file() {
    std::string out =
        "# Settings of pulse-sensor.service, read by systemd (EnvironmentFile=): VARIABLE=value, "
        "one a\n"
        "# line, no spaces around '=', '#' starts a comment. Every variable is optional; the "
        "first value\n"
        "# shown is the default (empty: unset), a second one an example. pulse-sensor(8) and\n"
        "# /usr/share/doc/pulse-sensor/docs/ say more. After a change: systemctl restart "
        "pulse-sensor;\n"
        "# to test the settings first:\n"
        "#   set -a; . /etc/default/pulse-sensor; set +a; pulse-sensor --check\n";
    for (const Setting& row : pulse::kSensorSettings) {
        if (row.env.empty()) {
            continue;
        }
        std::string comment = plain(row.doc) + ".";
        if (auto note = kUnitNotes.find(row.env); note != kUnitNotes.end()) {
            comment += fmt::format(" {}", note->second);
        }
        out += fmt::format("\n# {}\n", pulse::wrap(comment, 93, "# "));
        out += fmt::format("#{}={}\n", row.env, row.default_value);
        if (!row.example.empty()) {
            out += fmt::format("#{}={}\n", row.env, row.example);
        }
    }
    return out;
}

// ---- main -----------------------------------------------------------------------------------

std::optional<std::string> read(const std::filesystem::path& path) {
    std::ifstream in(path, std::ios::binary);
    if (!in) {
        return std::nullopt;
    }
    std::ostringstream text;
    text << in.rdbuf();
    return text.str();
}

}  // namespace

int main(int argc, char** argv) {
    const std::vector<std::string_view> args(argv + 1, argv + argc);
    const bool check = !args.empty() && args.front() == "--check";
    if (args.size() != (check ? 2U : 1U)) {
        std::cerr << "usage: pulse_gen_docs [--check] SOURCE_DIR\n";
        return 2;
    }
    const std::filesystem::path source(args.back());

    const std::filesystem::path docs = source / "docs/configuration.md";
    const std::optional<std::string> docs_text = read(docs);
    const std::optional<std::string> table =
        docs_text ? with_settings_table(*docs_text) : std::nullopt;
    if (!table) {
        std::cerr << "pulse_gen_docs: " << docs.string() << " has no " << kBeginMarker << " ... "
                  << kEndMarker << " region\n";
        return 2;
    }
    const std::pair<std::filesystem::path, std::string> outputs[] = {
        {docs, *table},
        {source / "packaging/pulse-sensor.env", environment_file()},
    };
    int stale = 0;
    for (const auto& [path, text] : outputs) {
        if (read(path) == text) {
            continue;
        }
        if (check) {
            std::cerr << "pulse_gen_docs: " << path.string()
                      << " is stale: edit the rows of the table of settings, not the file, and "
                         "run pulse_gen_docs SOURCE_DIR\n";
            ++stale;
        } else {
            std::ofstream(path, std::ios::binary) << text;
            std::cout << "wrote " << path.string() << "\n";
        }
    }
    return stale > 0 ? 1 : 0;
}
