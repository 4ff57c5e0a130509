// Parsing of virConnectGetAllDomainStats records.
//
// Keys look like "cpu.time", "balloon.rss", "net.0.rx.bytes", "block.1.capacity". Per-device keys
// carry an index; the matching "*.count" key is not trusted to arrive first, so devices are grown
// on demand by index. libvirt documents the types (ullong for counters) but drivers differ, so any
// integer type is accepted.
#include "pulse/libvirt/stats.hpp"

#include <charconv>
#include <string_view>

namespace pulse {
namespace {

std::optional<std::uint64_t> as_unsigned(const virTypedParameter& p) {
    switch (p.type) {
        case VIR_TYPED_PARAM_ULLONG:
            return p.value.ul;
        case VIR_TYPED_PARAM_UINT:
            return p.value.ui;
        case VIR_TYPED_PARAM_LLONG:
            if (p.value.l >= 0) {
                return static_cast<std::uint64_t>(p.value.l);
            }
            return std::nullopt;
        case VIR_TYPED_PARAM_INT:
            if (p.value.i >= 0) {
                return static_cast<std::uint64_t>(p.value.i);
            }
            return std::nullopt;
        default:
            return std::nullopt;
    }
}

std::optional<std::int64_t> as_signed(const virTypedParameter& p) {
    switch (p.type) {
        case VIR_TYPED_PARAM_LLONG:
            return p.value.l;
        case VIR_TYPED_PARAM_INT:
            return p.value.i;
        case VIR_TYPED_PARAM_UINT:
            return p.value.ui;
        case VIR_TYPED_PARAM_ULLONG:
            if (p.value.ul <= static_cast<unsigned long long>(INT64_MAX)) {
                return static_cast<std::int64_t>(p.value.ul);
            }
            return std::nullopt;
        default:
            return std::nullopt;
    }
}

std::string as_string(const virTypedParameter& p) {
    if (p.type == VIR_TYPED_PARAM_STRING && p.value.s != nullptr) {
        return p.value.s;
    }
    return {};
}

// Splits "<index>.<rest>" off `key`. False when there is no index.
bool split_index(std::string_view key, std::size_t& index, std::string_view& rest) {
    auto dot = key.find('.');
    if (dot == std::string_view::npos) {
        return false;
    }
    auto [end, ec] = std::from_chars(key.data(), key.data() + dot, index);
    // A runaway index from a broken reply must not make us allocate gigabytes.
    constexpr std::size_t kMaxDevices = 4096;
    if (ec != std::errc{} || end != key.data() + dot || index >= kMaxDevices) {
        return false;
    }
    rest = key.substr(dot + 1);
    return true;
}

template <typename T>
T& device_at(std::vector<T>& devices, std::size_t index) {
    if (devices.size() <= index) {
        devices.resize(index + 1);
    }
    return devices[index];
}

void parse_block(std::string_view key, const virTypedParameter& p, std::vector<BlockStats>& out) {
    std::size_t index = 0;
    std::string_view field;
    if (!split_index(key, index, field)) {
        return;
    }
    BlockStats& b = device_at(out, index);
    if (field == "name")
        b.name = as_string(p);
    else if (field == "path")
        b.path = as_string(p);
    else if (field == "rd.reqs")
        b.rd_reqs = as_unsigned(p);
    else if (field == "rd.bytes")
        b.rd_bytes = as_unsigned(p);
    else if (field == "wr.reqs")
        b.wr_reqs = as_unsigned(p);
    else if (field == "wr.bytes")
        b.wr_bytes = as_unsigned(p);
    else if (field == "errors")
        b.errors = as_signed(p);
    else if (field == "capacity")
        b.capacity_bytes = as_unsigned(p);
    else if (field == "allocation")
        b.allocation_bytes = as_unsigned(p);
    else if (field == "physical")
        b.physical_bytes = as_unsigned(p);
}

void parse_net(std::string_view key, const virTypedParameter& p, std::vector<NetStats>& out) {
    std::size_t index = 0;
    std::string_view field;
    if (!split_index(key, index, field)) {
        return;
    }
    NetStats& n = device_at(out, index);
    if (field == "name")
        n.name = as_string(p);
    else if (field == "rx.bytes")
        n.rx_bytes = as_unsigned(p);
    else if (field == "rx.pkts")
        n.rx_pkts = as_unsigned(p);
    else if (field == "rx.errs")
        n.rx_errs = as_unsigned(p);
    else if (field == "rx.drop")
        n.rx_drop = as_unsigned(p);
    else if (field == "tx.bytes")
        n.tx_bytes = as_unsigned(p);
    else if (field == "tx.pkts")
        n.tx_pkts = as_unsigned(p);
    else if (field == "tx.errs")
        n.tx_errs = as_unsigned(p);
    else if (field == "tx.drop")
        n.tx_drop = as_unsigned(p);
}

bool consume_prefix(std::string_view& key, std::string_view prefix) {
    if (key.starts_with(prefix)) {
        key.remove_prefix(prefix.size());
        return true;
    }
    return false;
}

}  // namespace

Counter block_info_allocation(const BlockStats& block, const DiskDevice& disk) {
    if (!block.physical_bytes) {
        return std::nullopt;
    }
    const bool file = disk.type == "file";
    const bool qcow2 = disk.format == "qcow2";
    const bool written = block.allocation_bytes && *block.allocation_bytes != 0;
    if (written) {
        if (disk.type == "volume" && qcow2) {
            return std::nullopt;  // a file would take actual-size, a block device the offset
        }
        return file && qcow2 ? block.physical_bytes : block.allocation_bytes;
    }
    // Nothing written: actual-size, if physical holds it. An image format's header always
    // occupies blocks; a raw file's stand-in length is its capacity.
    const bool image_format = !disk.format.empty() && disk.format != "raw";
    if (file && (image_format || block.physical_bytes != block.capacity_bytes)) {
        return block.physical_bytes;
    }
    return std::nullopt;
}

DomainStats parse_stats_params(std::string name, std::string uuid,
                               std::span<const virTypedParameter> params) {
    DomainStats s;
    s.name = std::move(name);
    s.uuid = std::move(uuid);
    for (const virTypedParameter& p : params) {
        std::string_view key(p.field);
        if (consume_prefix(key, "block.")) {
            parse_block(key, p, s.blocks);
        } else if (consume_prefix(key, "net.")) {
            parse_net(key, p, s.nets);
        } else if (key == "cpu.time") {
            s.cpu_time_ns = as_unsigned(p);
        } else if (key == "balloon.current") {
            s.balloon_current_kib = as_unsigned(p);
        } else if (key == "balloon.maximum") {
            s.balloon_maximum_kib = as_unsigned(p);
        } else if (key == "balloon.rss") {
            s.rss_kib = as_unsigned(p);
        } else if (key == "vcpu.current") {
            s.vcpus = as_unsigned(p);
        } else if (key == "state.state") {
            s.state = static_cast<int>(as_signed(p).value_or(0));
        }
    }
    // Indexes libvirt skipped leave nameless entries behind; they name no device.
    std::erase_if(s.blocks, [](const BlockStats& b) { return b.name.empty(); });
    std::erase_if(s.nets, [](const NetStats& n) { return n.name.empty(); });
    return s;
}

}  // namespace pulse
