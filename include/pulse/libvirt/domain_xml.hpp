// The parts of a domain's XML description that statistics do not carry: which block devices
// are real disks (not CD-ROMs), where each disk's data lives, and each NIC's guest MAC.
//
// Parsed when a domain is first seen, and again when it changed or a minute has passed (see
// collector.hpp); cached by the collector in between.
#pragma once

#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace pulse {

struct DiskDevice {
    std::string target;    // <target dev='vda'>
    std::string device;    // disk, cdrom, floppy, lun
    std::string type;      // file, block, network, volume, dir, nvme, vhostuser
    std::string source;    // file or dev path, network name ("pool/image"), volume name
    std::string pool;      // <source pool='…'> of a volume disk
    std::string protocol;  // rbd, nbd, iscsi, gluster … of a network disk
    std::string host;      // first <host name='…'> of a network disk
    std::string format;    // <driver type='qcow2'>: raw, qcow2 … (empty when not given)
};

struct NicDevice {
    std::string target;  // host-side device (<target dev='vnet9'>), empty when libvirt chose none
    std::string mac;
};

struct DomainDevices {
    std::vector<DiskDevice> disks;
    std::vector<NicDevice> nics;
};

class DomainXmlError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// Throws DomainXmlError when the text is not a <domain> document.
DomainDevices parse_domain_xml(std::string_view xml);

}  // namespace pulse
