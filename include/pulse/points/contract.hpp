// Turns libvirt statistics into the contract's points (cpuTime, rss, networkInterface, disk,
// nodeInfo), converting units on the way: nanoseconds to seconds, bytes to whole GiB or MiB.
//
// Pure functions: no libvirt calls, no clock. Tags and fields are added in alphabetical order so
// the serialized JSON matches the old sensor's byte for byte.
#pragma once

#include <string>
#include <vector>

#include "pulse/libvirt/domain_xml.hpp"
#include "pulse/libvirt/stats.hpp"
#include "pulse/points/point.hpp"

namespace pulse {

// Something in the stats the points could not use, for the caller to log once.
struct Anomaly {
    std::string key;      // stable identity of the condition, for once-only logging
    std::string message;  // one line naming the domain and the object
};

struct DomainPoints {
    std::vector<Point> points;
    std::vector<Anomaly> anomalies;
    // Devices in the stats that `devices` lacks: the cached XML may be stale.
    std::vector<std::string> unknown_devices;
};

// The points of one domain: cpuTime, rss, one networkInterface per NIC, one disk per disk.
// CD-ROMs, floppies and empty drives are left out.
DomainPoints domain_points(const DomainStats& stats, const DomainDevices& devices,
                           const std::string& vm_host, Timestamp time);

// The device of the domain XML that a NetStats (by host-side device or MAC) or a BlockStats
// (by target) entry names; nullptr when the XML lacks it.
const NicDevice* find_nic(const DomainDevices& devices, const std::string& name);
const DiskDevice* find_disk(const DomainDevices& devices, const std::string& name);

// The nodeInfo point.
Point host_point(const HostStats& stats, const std::string& vm_host, Timestamp time);

}  // namespace pulse
