// Fuzz target for the bulk-stats path: a virTypedParameter array → parse_stats_params →
// domain_points → serialize_json.
//
// Input: text in the shape of `virsh domstats --raw`, so a real record is a seed as it is:
//   Domain: 'NAME'        sets the domain name
//   [T:]key=value         one parameter; T picks its type (i int, u uint, l llong, U ullong,
//                         d double, b boolean, s string, x an unknown type code), otherwise digits
//                         make a ULLONG, a leading '-' an LLONG, anything else a STRING.
// Keys are cut at libvirt's 79-byte field limit. The array is built by hand (no libvirt
// allocation), so duplicate keys and odd types that a broken reply could carry are reachable.
// Strings are made valid UTF-8 (each byte of a malformed sequence becomes U+FFFD): libvirt only
// hands out names and paths that went through its XML parser, which rejects anything else, and
// fuzz_domain_xml covers that parser with raw bytes.
// Every block and net device the record names also gets a device in the "XML", the kinds
// cycling through file, block, network, volume and nvme disks, so the names reach the tags.
#include <libvirt/libvirt.h>

#include <array>
#include <charconv>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <deque>
#include <string>
#include <string_view>
#include <vector>

#include "check_message.hpp"
#include "pulse/libvirt/stats.hpp"
#include "pulse/points/contract.hpp"

namespace {

// The length of the well-formed UTF-8 sequence at the start of `text` (RFC 3629: no overlong
// forms, no surrogates, nothing past U+10FFFF), or 0 when it is malformed.
std::size_t utf8_sequence(std::string_view text) {
    auto byte = [&](std::size_t i) { return static_cast<unsigned char>(text[i]); };
    unsigned char lead = byte(0);
    if (lead < 0x80) {
        return 1;
    }
    std::size_t length = lead >= 0xC2 && lead <= 0xDF   ? 2
                         : lead >= 0xE0 && lead <= 0xEF ? 3
                         : lead >= 0xF0 && lead <= 0xF4 ? 4
                                                        : 0;
    if (length == 0 || text.size() < length) {
        return 0;
    }
    for (std::size_t i = 1; i < length; ++i) {
        if ((byte(i) & 0xC0) != 0x80) {
            return 0;
        }
    }
    unsigned char second = byte(1);
    bool in_range = !(lead == 0xE0 && second < 0xA0) && !(lead == 0xED && second > 0x9F) &&
                    !(lead == 0xF0 && second < 0x90) && !(lead == 0xF4 && second > 0x8F);
    return in_range ? length : 0;
}

std::string as_utf8(std::string_view text) {
    std::string out;
    while (!text.empty()) {
        std::size_t n = utf8_sequence(text);
        if (n == 0) {
            out += "\xEF\xBF\xBD";  // U+FFFD
            n = 1;
        } else {
            out.append(text.substr(0, n));
        }
        text.remove_prefix(n);
    }
    return out;
}

// A hand-built parameter array. STRING values point into `strings_`, which owns them (a deque,
// so adding one never moves the others); nothing here is allocated by libvirt.
class ParamArray {
  public:
    void add(std::string_view key, int type, std::string_view value) {
        virTypedParameter p{};
        std::size_t n =
            std::min(key.size(), static_cast<std::size_t>(VIR_TYPED_PARAM_FIELD_LENGTH - 1));
        std::memcpy(p.field, key.data(), n);
        p.type = type;
        switch (type) {
            case VIR_TYPED_PARAM_INT:
                p.value.i = number<int>(value);
                break;
            case VIR_TYPED_PARAM_UINT:
                p.value.ui = number<unsigned>(value);
                break;
            case VIR_TYPED_PARAM_LLONG:
                p.value.l = number<long long>(value);
                break;
            case VIR_TYPED_PARAM_ULLONG:
                p.value.ul = number<unsigned long long>(value);
                break;
            case VIR_TYPED_PARAM_DOUBLE:
                p.value.d = number<double>(value);
                break;
            case VIR_TYPED_PARAM_BOOLEAN:
                p.value.b = static_cast<char>(!value.empty() && value != "0");
                break;
            case VIR_TYPED_PARAM_STRING:
                // C strings end at the first NUL, as libvirt's would.
                p.value.s =
                    strings_.emplace_back(as_utf8(value.substr(0, value.find('\0')))).data();
                break;
            default:
                p.value.ul = number<unsigned long long>(value);  // an unknown type: junk bits
        }
        params_.push_back(p);
    }
    std::span<const virTypedParameter> span() const { return params_; }

  private:
    template <typename T>
    static T number(std::string_view text) {
        T value{};
        std::from_chars(text.data(), text.data() + text.size(), value);
        return value;
    }
    std::vector<virTypedParameter> params_;
    std::deque<std::string> strings_;
};

int type_of(char tag) {
    switch (tag) {
        case 'i':
            return VIR_TYPED_PARAM_INT;
        case 'u':
            return VIR_TYPED_PARAM_UINT;
        case 'l':
            return VIR_TYPED_PARAM_LLONG;
        case 'U':
            return VIR_TYPED_PARAM_ULLONG;
        case 'd':
            return VIR_TYPED_PARAM_DOUBLE;
        case 'b':
            return VIR_TYPED_PARAM_BOOLEAN;
        case 's':
            return VIR_TYPED_PARAM_STRING;
        default:
            return 0;  // not a type libvirt defines
    }
}

int inferred_type(std::string_view value) {
    auto digits = [](std::string_view v) {
        return !v.empty() && v.find_first_not_of("0123456789") == std::string_view::npos;
    };
    if (digits(value)) {
        return VIR_TYPED_PARAM_ULLONG;
    }
    if (value.starts_with('-') && digits(value.substr(1))) {
        return VIR_TYPED_PARAM_LLONG;
    }
    return VIR_TYPED_PARAM_STRING;
}

std::string_view trim_left(std::string_view text) {
    auto start = text.find_first_not_of(' ');
    return start == std::string_view::npos ? std::string_view{} : text.substr(start);
}

// The devices the domain XML would list for the stats' devices.
pulse::DomainDevices devices_for(const pulse::DomainStats& s) {
    static constexpr std::array<const char*, 5> kKinds{"file", "block", "network", "volume",
                                                       "nvme"};
    pulse::DomainDevices devices;
    for (std::size_t i = 0; i < s.blocks.size(); ++i) {
        pulse::DiskDevice disk;
        disk.target = s.blocks[i].name;
        disk.device = i % 7 == 6 ? "cdrom" : "disk";
        disk.type = kKinds[i % kKinds.size()];
        disk.source = s.blocks[i].path;
        disk.protocol = i % 2 == 0 ? "rbd" : "";
        disk.pool = s.blocks[i].path.empty() ? "" : "pool-of-" + s.blocks[i].name;
        disk.host = s.blocks[i].name;
        devices.disks.push_back(std::move(disk));
    }
    for (std::size_t i = 0; i < s.nets.size(); ++i) {
        // Half are found by host-side device, half by MAC, as the collector matches them.
        pulse::NicDevice nic;
        nic.mac = s.nets[i].name;
        nic.target = i % 2 == 0 ? s.nets[i].name : "";
        devices.nics.push_back(std::move(nic));
    }
    return devices;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    // libvirt's thread-local error state exists only once libvirt is initialized; the harness
    // allocates nothing through libvirt, but the parser must work in a process where it is.
    virInitialize();
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view input(reinterpret_cast<const char*>(data), size);
    std::string name = "i-2-1-VM";
    ParamArray params;
    while (!input.empty()) {
        auto newline = input.find('\n');
        std::string_view line = trim_left(input.substr(0, newline));
        input.remove_prefix(newline == std::string_view::npos ? input.size() : newline + 1);
        if (line.starts_with("Domain: '")) {
            line.remove_prefix(9);
            name = as_utf8(line.substr(0, line.rfind('\'')));
            continue;
        }
        auto eq = line.find('=');
        if (eq == std::string_view::npos) {
            continue;
        }
        std::string_view key = line.substr(0, eq);
        std::string_view value = line.substr(eq + 1);
        int type = inferred_type(value);
        if (key.size() >= 2 && key[1] == ':') {
            type = type_of(key[0]);
            key.remove_prefix(2);
        }
        params.add(key, type, value);
    }
    pulse::DomainStats stats =
        pulse::parse_stats_params(name, "5e4b0c3a-9d1f-4b7e-8a2c-3f6d1e0b9a87", params.span());
    for (const pulse::BlockStats& b : stats.blocks) {
        pulse::fuzz::check(!b.name.empty(), "a nameless block device survived parsing");
    }
    for (const pulse::NetStats& n : stats.nets) {
        pulse::fuzz::check(!n.name.empty(), "a nameless interface survived parsing");
    }
    const pulse::Timestamp time{std::chrono::seconds{1795600800}};  // 2026-11-25T10:00:00Z
    pulse::DomainPoints out =
        pulse::domain_points(stats, devices_for(stats), "qemu:///system", time);
    pulse::fuzz::check(out.unknown_devices.empty(),
                       "a device with a matching XML entry is unknown");
    pulse::fuzz::check_message(out.points);
    return 0;
}
