// Test helpers: fixture files under tests/fixtures.
#pragma once

#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>

namespace pulse::testing {

inline std::string fixture_path(const std::string& name) {
    return std::string(PULSE_FIXTURES) + "/" + name;
}

inline std::string read_fixture(const std::string& name) {
    std::ifstream in(fixture_path(name));
    if (!in) {
        throw std::runtime_error("missing fixture " + name);
    }
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// A libvirt test-driver URI for a node fixture (the driver wants an absolute path).
inline std::string test_uri(const std::string& name) {
    return "test://" + fixture_path(name);
}

}  // namespace pulse::testing
