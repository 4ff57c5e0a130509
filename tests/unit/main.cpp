// The unit tests' main(): set up the process as the sensor's main() does (libvirt and libxml2
// initialised before any test's threads open connections; libvirt errors come back as
// exceptions and go to our log, libvirt does not print them itself), then run.
#include <gtest/gtest.h>

#include "pulse/libvirt/handles.hpp"

int main(int argc, char** argv) {
    pulse::libvirt::initialize();
    pulse::libvirt::silence_default_error_handler();
    ::testing::InitGoogleTest(&argc, argv);
    return RUN_ALL_TESTS();
}
