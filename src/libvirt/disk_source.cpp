// Disk source → image/pool tags; see disk_source.hpp for the layouts this follows.
#include "pulse/libvirt/disk_source.hpp"

#include <string_view>
#include <vector>

namespace pulse {
namespace {

std::vector<std::string_view> components(std::string_view path) {
    std::vector<std::string_view> parts;
    while (!path.empty()) {
        auto slash = path.find('/');
        auto part = path.substr(0, slash);
        if (!part.empty() && part != ".") {
            parts.push_back(part);
        }
        if (slash == std::string_view::npos) {
            break;
        }
        path.remove_prefix(slash + 1);
    }
    return parts;
}

// A path: the last component is the image, the one before it the pool ("/" at the top).
DiskNames from_path(std::string_view path) {
    auto parts = components(path);
    if (parts.empty()) {
        return {std::string(path), "/"};
    }
    std::string pool = parts.size() >= 2 ? std::string(parts[parts.size() - 2]) : "/";
    return {std::string(parts.back()), std::move(pool)};
}

// A network disk: RBD names are <pool>/<image> (or <pool>/<namespace>/<image>), so the pool is
// the first component; a bare name lives in a pool named after the protocol.
DiskNames from_network(const DiskDevice& disk) {
    std::string protocol = disk.protocol.empty() ? "network" : disk.protocol;
    auto parts = components(disk.source);
    if (parts.empty()) {
        // e.g. an NBD export with no name: the server is the best name there is.
        return {disk.host.empty() ? disk.target : disk.host, protocol};
    }
    if (parts.size() == 1) {
        return {std::string(parts.front()), protocol};
    }
    return {std::string(parts.back()), std::string(parts.front())};
}

}  // namespace

std::optional<DiskNames> disk_names(const DiskDevice& disk) {
    if (disk.type == "network") {
        if (disk.source.empty() && disk.host.empty()) {
            return std::nullopt;
        }
        return from_network(disk);
    }
    if (disk.type == "volume") {
        if (disk.source.empty()) {
            return std::nullopt;
        }
        return DiskNames{disk.source, disk.pool.empty() ? "volume" : disk.pool};
    }
    if (disk.type == "nvme") {
        // The source is a PCI address, not a name; the target is stable and readable.
        return DiskNames{disk.target, "nvme"};
    }
    if (disk.source.empty()) {
        return std::nullopt;  // an empty drive
    }
    return from_path(disk.source);
}

}  // namespace pulse
