// Names a disk for the `image` and `pool` tags.
//
// CloudStack lays file disks out as /mnt/<pool-uuid>/<image-uuid>, LVM as /dev/<vg>/<lv> and
// RBD as <pool>/<image>; the tags are the last two components. Other layouts get the best names
// we can derive, never an exception.
#pragma once

#include <optional>
#include <string>

#include "pulse/libvirt/domain_xml.hpp"

namespace pulse {

struct DiskNames {
    std::string image;
    std::string pool;
};

// std::nullopt for a disk with no source at all (an empty drive): it is not reported.
std::optional<DiskNames> disk_names(const DiskDevice& disk);

}  // namespace pulse
