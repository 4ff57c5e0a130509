// pulse_gen_docs: writes the documents that the tables of settings (config/settings.hpp, the
// importer's in import/config.cpp) generate, so that a setting is described in one place:
//
//   docs/configuration.md    the settings table, between its BEGIN/END GENERATED markers
//   packaging/pulse-sensor.8 the manual page
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
#include "pulse/import/config.hpp"

namespace {

using pulse::Kind;
using pulse::Setting;

constexpr std::string_view kBeginMarker = "<!-- BEGIN GENERATED: settings table";
constexpr std::string_view kEndMarker = "<!-- END GENERATED: settings table -->";

// Where the installed documentation is; a link of the settings' Markdown names a file there.
constexpr std::string_view kDocDir = "/usr/share/doc/pulse-sensor";

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

// roff: hyphens of options are minus signs, a few characters need their escapes.
std::string roff_escape(std::string_view text, bool code) {
    std::string out;
    for (std::size_t i = 0; i < text.size(); ++i) {
        const std::string_view rest = text.substr(i);
        if (rest.front() == '\\') {
            out += "\\e";
        } else if (rest.front() == '-' &&
                   (code || rest.starts_with("--") || (i > 0 && text[i - 1] == '-'))) {
            out += "\\-";
        } else if (rest.starts_with("…")) {
            out += "...";
            i += std::string_view("…").size() - 1;
        } else if (rest.starts_with("–")) {
            out += "\\(en";
            i += std::string_view("–").size() - 1;
        } else {
            out += rest.front();
        }
    }
    return out;
}

std::string roff(std::string_view md) {
    std::string out;
    for (const Piece& piece : parse_markdown(md)) {
        switch (piece.span) {
            case Span::text:
                out += roff_escape(piece.text, false);
                break;
            case Span::code:
            case Span::bold:
                out += "\\fB" + roff_escape(piece.text, piece.span == Span::code) + "\\fR";
                break;
            case Span::link:
                out += "\\fI" + roff_escape(piece.text, false) + "\\fR in " + piece.target;
                break;
        }
    }
    // A line starting with a dot or an apostrophe would be a request.
    if (!out.empty() && (out.front() == '.' || out.front() == '\'')) {
        out.insert(0, "\\&");
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

// ---- packaging/pulse-sensor.8 ---------------------------------------------------------------

std::string roff_flag(const Setting& row) {
    std::string out = fmt::format("\\fB{}\\fR", roff_escape(row.flag, true));
    switch (row.kind) {
        case Kind::toggle:
            break;
        case Kind::boolean:
            out += fmt::format(" [\\fI{}\\fR]", row.arg);
            break;
        default:
            out += fmt::format(" \\fI{}\\fR", roff_escape(row.arg, false));
            break;
    }
    return out;
}

// "Variable PAUSE, file key pause, default 10."
std::string roff_facts(const Setting& row, bool with_variable) {
    std::vector<std::string> facts;
    if (with_variable && !row.env.empty()) {
        facts.push_back(fmt::format("variable \\fB{}\\fR", row.env));
    }
    if (!row.key.empty()) {
        facts.push_back(fmt::format("file key \\fB{}\\fR", row.key));
    }
    if (row.required) {
        facts.emplace_back("required");
    } else if (!row.default_value.empty()) {
        facts.push_back(fmt::format("default \\fB{}\\fR", roff_escape(row.default_value, true)));
    } else if (!row.env.empty()) {
        facts.emplace_back("unset by default");
    }
    if (facts.empty()) {
        return {};
    }
    std::string out = fmt::format("{}", fmt::join(facts, ", "));
    out[0] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[0])));
    return out + ".";
}

std::string roff_options(std::span<const Setting> rows) {
    std::string out;
    for (const Setting& row : rows) {
        if (row.flag.empty()) {
            continue;
        }
        out += fmt::format(".TP\n{}\n{}.\n", roff_flag(row), roff(row.doc));
        if (std::string facts = roff_facts(row, true); !facts.empty()) {
            out += facts + "\n";
        }
    }
    return out;
}

std::string manual_page() {
    std::string out = fmt::format(
        ".\\\" Generated by pulse_gen_docs from the tables of settings\n"
        ".\\\" (include/pulse/config/settings.hpp, src/import/config.cpp): edit the rows there.\n"
        ".TH PULSE-SENSOR 8 \"\" \"pulse-sensor\" \"System Administration\"\n"
        ".\\\" Values and paths are not to be hyphenated, nor spread over a justified line.\n"
        ".nh\n"
        ".ad l\n"
        ".SH NAME\n"
        "pulse-sensor \\- {}\n"
        ".SH SYNOPSIS\n"
        ".B pulse-sensor\n"
        "[\\fIOPTION\\fR]...\n"
        ".br\n"
        ".B pulse-sensor import\n"
        "[\\fIOPTION\\fR]...\n"
        ".SH DESCRIPTION\n"
        ".B pulse-sensor\n"
        "watches libvirt/KVM hypervisors and streams their host and virtual-machine resource usage "
        "to Apache Kafka as InfluxDB-style points: every \\fBPAUSE\\fR seconds it reads, for every "
        "active domain, CPU time, memory, each disk's IO counters and sizes and each NIC's traffic "
        "counters, and produces one message per domain.\n"
        ".PP\n"
        "Every setting is an environment variable, a flag of the same meaning, and a key of the "
        "TOML configuration file that \\fBCONFIG_FILE\\fR names (the variable's name in lower "
        "case); {}. {} An invalid value stops the sensor before it does anything, with one line "
        "naming the variable, its flag and the accepted values.\n"
        ".SH OPTIONS\n"
        ".TP\n"
        "\\fB\\-h\\fR, \\fB\\-\\-help\\fR\n"
        "Print the options, the variables and their defaults, and exit.\n"
        ".TP\n"
        "\\fB\\-\\-version\\fR\n"
        "Print the version and exit.\n",
        pulse::kSensorSummary, pulse::kPrecedence, pulse::kBooleans);
    out += roff_options(pulse::kSensorSettings);
    out += ".SH ENVIRONMENT\n";
    for (const Setting& row : pulse::kSensorSettings) {
        if (row.env.empty()) {
            continue;
        }
        out += fmt::format(".TP\n.B {}\n", row.env);
        if (row.flag.empty()) {
            out += fmt::format("{}.\n{}\n", roff(row.doc), roff_facts(row, false));
        } else {
            out += fmt::format("As \\fB{}\\fR.\n", roff_escape(row.flag, true));
        }
    }
    out += fmt::format(
        ".SH IMPORTER\n"
        ".B pulse-sensor import\n"
        "{}. {} A flag wins over its variable; there is no configuration file.\n"
        ".PP\n"
        "Exit status: {}\n"
        ".SS Options\n",
        pulse::kImportSummary, roff_escape(pulse::kImportFormats, false),
        roff_escape(pulse::kImportExitStatus, false));
    out += roff_options(pulse::import_settings());
    out += fmt::format(
        ".SH FILES\n"
        ".TP\n"
        ".I /etc/default/pulse\\-sensor\n"
        "The settings of pulse\\-sensor.service (its EnvironmentFile=): every variable, commented "
        "out, with its default.\n"
        ".TP\n"
        ".I /usr/lib/systemd/system/pulse\\-sensor.service\n"
        "The systemd unit.\n"
        ".TP\n"
        ".I {}\n"
        "The default \\fBSPOOL_DIR\\fR.\n"
        ".TP\n"
        ".I {}/pulse\\-sensor.toml\n"
        "An example configuration file.\n"
        ".TP\n"
        ".I {}/docs/\n"
        "The documentation: configuration.md, operations.md, messages.md, influxdb.md.\n"
        ".SH EXIT STATUS\n"
        "{}\n"
        ".SH SEE ALSO\n"
        ".BR virsh (1),\n"
        ".BR systemctl (1),\n"
        ".BR systemd.exec (5),\n"
        "and {}/README.md.\n",
        roff_escape(pulse::sensor_setting("SPOOL_DIR").default_value, true),
        roff_escape(kDocDir, true), roff_escape(kDocDir, true),
        roff_escape(pulse::kExitStatus, false), roff_escape(kDocDir, true));
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
        {source / "packaging/pulse-sensor.8", manual_page()},
        {source / "packaging/pulse-sensor.env", environment_file()},
    };
    int stale = 0;
    for (const auto& [path, text] : outputs) {
        if (read(path) == text) {
            continue;
        }
        if (check) {
            std::cerr << "pulse_gen_docs: " << path.string()
                      << " is stale: edit the rows of the tables of settings, not the file, and "
                         "run pulse_gen_docs SOURCE_DIR\n";
            ++stale;
        } else {
            std::ofstream(path, std::ios::binary) << text;
            std::cout << "wrote " << path.string() << "\n";
        }
    }
    return stale > 0 ? 1 : 0;
}
