// pulse-sensor's entry point: parse the command line, then hand over to the sensor or to the
// importer (`pulse-sensor import`). Nothing else happens here.
#include <cstdio>

#include "import_main.hpp"
#include "pulse/config/config.hpp"
#include "sensor_main.hpp"

using namespace pulse;

int main(int argc, char** argv) {
    ParseResult parsed;
    try {
        parsed = parse_config({argv + 1, argv + argc}, process_env());
    } catch (const ConfigError& e) {
        std::fprintf(stderr, "pulse-sensor: %s\n", e.what());
        return 2;
    }
    if (parsed.outcome == ParseOutcome::exit_ok) {
        std::fputs(parsed.message.c_str(), stdout);
        return 0;
    }
    if (parsed.outcome == ParseOutcome::import) {
        return import_main(parsed.rest);
    }
    return sensor_main(parsed.config);
}
