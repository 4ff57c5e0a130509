// Counter deltas over monotonic intervals; see rates.hpp for when an interval gives no rate.
//
// Rates are floats whatever their value: InfluxDB fixes a field's type at its first write, and
// a first 0 written as an integer would make every later 12.5 a rejected write.
#include "pulse/points/rates.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cstdint>
#include <optional>

#include "pulse/libvirt/disk_source.hpp"
#include "pulse/points/contract.hpp"

namespace pulse {
namespace {

// No counter advances by half its range in one poll; a value read as -1 or garbage does.
constexpr std::uint64_t kImplausibleStep = 1ULL << 63;

// The fields of one rate point, or why the interval gave none.
class RateFields {
  public:
    explicit RateFields(double seconds) : seconds_(seconds) {}

    // `counter` names the libvirt counter in a skip note. A counter missing from either sample
    // gives no field, as the contract's points leave out what libvirt did not report.
    void add(const char* field, const char* counter, const Counter& before, const Counter& now,
             double scale = 1.0) {
        if (!before || !now || broken_) {
            return;
        }
        if (*now < *before) {
            broken_ = fmt::format("{} went down from {} to {}", counter, *before, *now);
        } else if (*now - *before > kImplausibleStep) {
            broken_ = fmt::format("{} jumped from {} to {}", counter, *before, *now);
        } else {
            fields_.emplace_back(field, static_cast<double>(*now - *before) / seconds_ * scale);
        }
    }

    const std::optional<std::string>& broken() const { return broken_; }
    bool empty() const { return fields_.empty(); }

    // The point, its fields (the rates and `interval`) in alphabetical order.
    Point point(const char* measurement, Timestamp time) && {
        Point p;
        p.measurement = measurement;
        p.time = time;
        fields_.emplace_back("interval", seconds_);
        std::sort(fields_.begin(), fields_.end());
        p.fields.reserve(fields_.size());
        for (auto& [key, value] : fields_) {
            p.field(std::move(key), value);
        }
        return p;
    }

  private:
    double seconds_;
    std::vector<std::pair<std::string, double>> fields_;
    std::optional<std::string> broken_;
};

using Tags = std::vector<std::pair<std::string, std::string>>;

// The tags of the contract point a rate belongs with: its own (`mac`; `image`, `pool`), then
// the domain's, in the same alphabetical order.
Tags tags_of(const DomainStats& s, const std::string& vm_host, Tags own = {}) {
    own.emplace_back("vmHost", vm_host);
    own.emplace_back("vmId", s.name);
    own.emplace_back("vmUuid", s.uuid);
    return own;
}

// The point `f` makes, or why the interval gave none (`what` names the device), into `out`.
void emit(RateFields&& f, const char* measurement, Timestamp time, Tags tags,
          const std::string& what, DomainRates& out) {
    if (f.broken()) {
        out.skipped.push_back(fmt::format("{}: {}", what, *f.broken()));
        return;
    }
    if (f.empty()) {
        return;  // a point of `interval` alone says nothing
    }
    Point p = std::move(f).point(measurement, time);
    p.tags = std::move(tags);
    out.points.push_back(std::move(p));
}

double to_seconds(std::chrono::nanoseconds d) {
    return std::chrono::duration<double>(d).count();
}

// The disk names of a block device that gets a contract `disk` point, else nothing.
std::optional<DiskNames> reported_disk(const DomainDevices& devices, const BlockStats& b) {
    const DiskDevice* disk = find_disk(devices, b.name);
    if (disk == nullptr || disk->device != "disk") {
        return std::nullopt;
    }
    return disk_names(*disk);
}

}  // namespace

RateTracker::RateTracker(std::chrono::nanoseconds period)
    : min_interval_(period / 2), max_interval_(period + period / 2) {}

DomainRates RateTracker::update(const DomainStats& s, const DomainDevices& devices,
                                const std::string& vm_host, Timestamp time,
                                MonotonicTime collected_at) {
    DomainRates out;
    auto [it, first] = domains_.try_emplace(s.uuid);
    DomainBase& base = it->second;
    const auto elapsed = collected_at - base.at;
    if (first) {
        // nothing to compare with yet
    } else if (base.id != s.id) {
        out.skipped.push_back(
            fmt::format("domain {}: restarted (id {} became {}); no rates for this interval",
                        s.name, base.id, s.id));
    } else if (elapsed < min_interval_ || elapsed > max_interval_) {
        out.skipped.push_back(fmt::format(
            "domain {}: {:.3f} s since its previous sample, outside {:.3f}-{:.3f} s; no rates "
            "for this interval",
            s.name, to_seconds(elapsed), to_seconds(min_interval_), to_seconds(max_interval_)));
    } else {
        const double seconds = to_seconds(elapsed);
        cpu_rate(base, s, vm_host, time, seconds, out);
        nic_rates(base, s, devices, vm_host, time, seconds, out);
        disk_rates(base, s, devices, vm_host, time, seconds, out);
    }
    base = sample(s, devices, collected_at);
    return out;
}

RateTracker::DomainBase RateTracker::sample(const DomainStats& s, const DomainDevices& devices,
                                            MonotonicTime at) {
    DomainBase next;
    next.id = s.id;
    next.at = at;
    next.cpu_time_ns = s.cpu_time_ns;
    for (const NetStats& n : s.nets) {
        if (const NicDevice* nic = find_nic(devices, n.name)) {
            next.nics.push_back({n.name, nic->mac, n.rx_bytes, n.rx_pkts, n.tx_bytes, n.tx_pkts});
        }
    }
    for (const BlockStats& b : s.blocks) {
        if (reported_disk(devices, b)) {
            next.disks.push_back({b.name, b.path, b.rd_reqs, b.rd_bytes, b.wr_reqs, b.wr_bytes});
        }
    }
    return next;
}

void RateTracker::cpu_rate(const DomainBase& base, const DomainStats& s, const std::string& vm_host,
                           Timestamp time, double seconds, DomainRates& out) {
    if (!s.vcpus || *s.vcpus == 0) {
        return;
    }
    // Nanoseconds of CPU time per second, as a percentage of all vCPUs' seconds.
    RateFields f(seconds);
    f.add("cpuPercent", "cpu.time", base.cpu_time_ns, s.cpu_time_ns,
          100.0 / 1e9 / static_cast<double>(*s.vcpus));
    emit(std::move(f), "cpuRate", time, tags_of(s, vm_host), fmt::format("domain {}", s.name), out);
}

void RateTracker::nic_rates(const DomainBase& base, const DomainStats& s,
                            const DomainDevices& devices, const std::string& vm_host,
                            Timestamp time, double seconds, DomainRates& out) {
    for (const NetStats& n : s.nets) {
        const NicDevice* nic = find_nic(devices, n.name);
        if (nic == nullptr) {
            continue;
        }
        auto was = std::find_if(base.nics.begin(), base.nics.end(), [&](const NicBase& b) {
            return b.name == n.name && b.mac == nic->mac;
        });
        if (was == base.nics.end()) {
            continue;  // new, or back after an unplug: this sample is its base
        }
        RateFields f(seconds);
        f.add("readBytesPerSecond", "rx.bytes", was->rx_bytes, n.rx_bytes);
        f.add("readPacketsPerSecond", "rx.pkts", was->rx_pkts, n.rx_pkts);
        f.add("writeBytesPerSecond", "tx.bytes", was->tx_bytes, n.tx_bytes);
        f.add("writePacketsPerSecond", "tx.pkts", was->tx_pkts, n.tx_pkts);
        emit(std::move(f), "networkInterfaceRate", time, tags_of(s, vm_host, {{"mac", nic->mac}}),
             fmt::format("domain {} interface {}", s.name, n.name), out);
    }
}

void RateTracker::disk_rates(const DomainBase& base, const DomainStats& s,
                             const DomainDevices& devices, const std::string& vm_host,
                             Timestamp time, double seconds, DomainRates& out) {
    for (const BlockStats& b : s.blocks) {
        auto names = reported_disk(devices, b);
        if (!names) {
            continue;
        }
        auto was = std::find_if(base.disks.begin(), base.disks.end(), [&](const DiskBase& d) {
            return d.name == b.name && d.path == b.path;
        });
        if (was == base.disks.end()) {
            continue;
        }
        RateFields f(seconds);
        f.add("readBytesPerSecond", "rd.bytes", was->rd_bytes, b.rd_bytes);
        f.add("readRequestsPerSecond", "rd.reqs", was->rd_reqs, b.rd_reqs);
        f.add("writeBytesPerSecond", "wr.bytes", was->wr_bytes, b.wr_bytes);
        f.add("writeRequestsPerSecond", "wr.reqs", was->wr_reqs, b.wr_reqs);
        emit(std::move(f), "diskRate", time,
             tags_of(s, vm_host, {{"image", names->image}, {"pool", names->pool}}),
             fmt::format("domain {} disk {}", s.name, b.name), out);
    }
}

void RateTracker::forget_stale(MonotonicTime now) {
    std::erase_if(domains_,
                  [&](const auto& entry) { return now - entry.second.at > max_interval_; });
}

}  // namespace pulse
