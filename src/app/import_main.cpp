// See import_main.hpp.
#include "import_main.hpp"

#include <spdlog/spdlog.h>

#include <csignal>
#include <cstdio>
#include <stdexcept>

#include "logging.hpp"
#include "pulse/base/signals.hpp"
#include "pulse/config/config.hpp"
#include "pulse/import/config.hpp"
#include "pulse/import/importer.hpp"

namespace pulse {

int import_main(const std::vector<std::string>& args) {
    ImportParseResult parsed;
    try {
        parsed = parse_import_config(args, process_env());
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "pulse-sensor import: %s\n", e.what());
        return 2;
    }
    if (parsed.outcome == ParseOutcome::exit_ok) {
        std::fputs(parsed.message.c_str(), stdout);
        return 0;
    }
    setup_logging("pulse-sensor-import", parsed.config.debug);
    // Before librdkafka's threads start, so that they inherit the blocked stop signals.
    StopSignals signals;
    std::signal(SIGPIPE, SIG_IGN);
    try {
        return run_import(parsed.config, signals);
    } catch (const std::invalid_argument& e) {
        spdlog::critical("{}", e.what());
        return 2;
    }
}

}  // namespace pulse
