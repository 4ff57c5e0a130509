# Install-time step (install(SCRIPT)): installs pulse-sensor.service with ExecStart= pointing at
# the binary under the prefix actually installed to. CPack installs with its own prefix (/usr
# for the .deb), so the path cannot be fixed when CMake configures the build.
# Expects PULSE_UNIT_SOURCE, PULSE_UNIT_STAGING and PULSE_BINDIR (relative to the prefix).
file(READ "${PULSE_UNIT_SOURCE}" unit)
string(REPLACE "ExecStart=/usr/bin/pulse-sensor"
               "ExecStart=${CMAKE_INSTALL_PREFIX}/${PULSE_BINDIR}/pulse-sensor" unit "${unit}")
file(WRITE "${PULSE_UNIT_STAGING}/pulse-sensor.service" "${unit}")
file(INSTALL "${PULSE_UNIT_STAGING}/pulse-sensor.service"
     DESTINATION "${CMAKE_INSTALL_PREFIX}/lib/systemd/system")
