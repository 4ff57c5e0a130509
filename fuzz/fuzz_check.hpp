// Shared by the fuzz targets: how a harness reports a finding that is not a crash.
//
// libFuzzer treats an abort as a crash and saves the input, so a broken invariant (invalid
// JSON, an unexpected exception type) becomes a reproducible artifact like any sanitizer report.
#pragma once

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace pulse::fuzz {

[[noreturn]] inline void finding(std::string_view what, std::string_view detail = {}) {
    std::fprintf(stderr, "FINDING: %.*s\n", static_cast<int>(what.size()), what.data());
    if (!detail.empty()) {
        std::fprintf(stderr, "%.*s\n", static_cast<int>(detail.size()), detail.data());
    }
    std::abort();
}

inline void check(bool ok, std::string_view what, std::string_view detail = {}) {
    if (!ok) {
        finding(what, detail);
    }
}

}  // namespace pulse::fuzz
