// pulse_bench_hot_path: Google Benchmark of the per-poll hot path, without libvirt or Kafka.
//
// Input is what virConnectGetAllDomainStats returns for one CloudStack-like QEMU domain (the
// keys of tests/fixtures/domstats-qemu-sample.txt, repeated per disk and NIC), as a
// virTypedParameter array. The stages: parse_stats_params (records → DomainStats),
// domain_points (→ points), serialize_json (→ bytes), and the three in a row. Each reports
// points per second (items_per_second) and allocations per point, counted by the replaced
// operator new in alloc_counter.cpp.
#include <benchmark/benchmark.h>
#include <fmt/format.h>

#include <chrono>
#include <map>
#include <memory>

#include "bench_util.hpp"
#include "pulse/format/json.hpp"
#include "pulse/libvirt/stats.hpp"
#include "pulse/points/contract.hpp"
#include "typed_params.hpp"

namespace {

using pulse::testing::TypedParams;

struct Domain {
    TypedParams params;
    pulse::DomainDevices devices;
    std::string name = "i-376-1733-VM";
    std::string uuid = "12805898-0fda-4fa6-9f18-fac64f673679";
    std::string vm_host = "qemu+ssh://root@10.252.1.33/system";
    pulse::Timestamp time{std::chrono::seconds(1534496435)};
};

// The keys and values of a real `virsh domstats --raw` record, for `disks` disks and `nics`
// NICs.
std::string domstats_text(int disks, int nics) {
    std::string t =
        "  state.state=1\n  state.reason=5\n  cpu.time=28510000000\n  cpu.user=25830000000\n"
        "  cpu.system=2680000000\n  cpu.cache.monitor.count=0\n  cpu.haltpoll.success.time=0\n"
        "  cpu.haltpoll.fail.time=0\n  balloon.current=65536\n  balloon.maximum=65536\n"
        "  balloon.last-update=0\n  balloon.rss=42732\n  vcpu.current=1\n  vcpu.maximum=1\n"
        "  vcpu.0.state=1\n  vcpu.0.time=22420000000\n  vcpu.0.wait=0\n"
        "  vcpu.0.delay=2041114766\n";
    auto out = std::back_inserter(t);
    fmt::format_to(out, "  net.count={}\n", nics);
    for (int i = 0; i < nics; ++i) {
        fmt::format_to(out,
                       "  net.{0}.name=vnet{0}\n  net.{0}.rx.bytes=9000{0}\n  net.{0}.rx.pkts=17\n"
                       "  net.{0}.rx.errs=0\n  net.{0}.rx.drop=0\n  net.{0}.tx.bytes=123456\n"
                       "  net.{0}.tx.pkts=99\n  net.{0}.tx.errs=0\n  net.{0}.tx.drop=0\n",
                       i);
    }
    fmt::format_to(out, "  block.count={}\n", disks);
    for (int i = 0; i < disks; ++i) {
        fmt::format_to(
            out,
            "  block.{0}.name=vd{1}\n"
            "  block.{0}.path=/mnt/b13cb3c0-c84d-334c-9fc3-4826ae58d984/"
            "cc8121ef-2029-4f4f-826e-00000000000{0}\n"
            "  block.{0}.backingIndex=1\n  block.{0}.rd.reqs=4821\n  block.{0}.rd.bytes=81920512\n"
            "  block.{0}.rd.times=94190\n  block.{0}.wr.reqs=1033\n  block.{0}.wr.bytes=5242880\n"
            "  block.{0}.wr.times=0\n  block.{0}.fl.reqs=0\n  block.{0}.fl.times=0\n"
            "  block.{0}.allocation=2147483648\n  block.{0}.capacity=21474836480\n"
            "  block.{0}.physical=2148532224\n",
            i, static_cast<char>('a' + i));
    }
    return t;
}

Domain make_domain(int disks, int nics) {
    Domain d{TypedParams::from_domstats(domstats_text(disks, nics)), {}};
    for (int i = 0; i < disks; ++i) {
        pulse::DiskDevice disk;
        disk.target = fmt::format("vd{}", static_cast<char>('a' + i));
        disk.device = "disk";
        disk.type = "file";
        disk.source = fmt::format(
            "/mnt/b13cb3c0-c84d-334c-9fc3-4826ae58d984/cc8121ef-2029-4f4f-826e-00000000000{}", i);
        d.devices.disks.push_back(disk);
    }
    for (int i = 0; i < nics; ++i) {
        d.devices.nics.push_back(
            {fmt::format("vnet{}", i), fmt::format("06:f2:64:00:01:{:02x}", i)});
    }
    return d;
}

std::span<const virTypedParameter> params_of(const Domain& d) {
    return d.params.span();
}

void report(benchmark::State& state, std::size_t points_per_domain, std::uint64_t allocs0) {
    const auto points = static_cast<double>(state.iterations() * points_per_domain);
    state.SetItemsProcessed(static_cast<std::int64_t>(points));
    state.counters["points"] = static_cast<double>(points_per_domain);
    state.counters["allocs/point"] =
        static_cast<double>(pulse::bench::allocations() - allocs0) / points;
}

const Domain& domain_for(const benchmark::State& state) {
    static std::map<std::pair<std::int64_t, std::int64_t>, std::unique_ptr<Domain>> cache;
    auto& d = cache[{state.range(0), state.range(1)}];
    if (!d) {
        d = std::make_unique<Domain>(
            make_domain(static_cast<int>(state.range(0)), static_cast<int>(state.range(1))));
    }
    return *d;
}

void BM_ParseStats(benchmark::State& state) {
    const Domain& d = domain_for(state);
    const std::size_t points = 2 + d.devices.disks.size() + d.devices.nics.size();
    const std::uint64_t a0 = pulse::bench::allocations();
    for (auto _ : state) {
        pulse::DomainStats s = pulse::parse_stats_params(d.name, d.uuid, params_of(d));
        benchmark::DoNotOptimize(s);
    }
    report(state, points, a0);
}

void BM_DomainPoints(benchmark::State& state) {
    const Domain& d = domain_for(state);
    const pulse::DomainStats s = pulse::parse_stats_params(d.name, d.uuid, params_of(d));
    const std::size_t points = pulse::domain_points(s, d.devices, d.vm_host, d.time).points.size();
    const std::uint64_t a0 = pulse::bench::allocations();
    for (auto _ : state) {
        pulse::DomainPoints p = pulse::domain_points(s, d.devices, d.vm_host, d.time);
        benchmark::DoNotOptimize(p);
    }
    report(state, points, a0);
}

void BM_SerializeJson(benchmark::State& state) {
    const Domain& d = domain_for(state);
    const pulse::DomainStats s = pulse::parse_stats_params(d.name, d.uuid, params_of(d));
    const pulse::DomainPoints p = pulse::domain_points(s, d.devices, d.vm_host, d.time);
    std::string buffer;  // reused, as Outputs reuses its buffer between messages
    const std::uint64_t a0 = pulse::bench::allocations();
    std::size_t bytes = 0;
    for (auto _ : state) {
        buffer.clear();
        pulse::serialize_json(p.points, buffer);
        bytes += buffer.size();
        benchmark::DoNotOptimize(buffer.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(bytes));
    report(state, p.points.size(), a0);
}

void BM_StatsToJson(benchmark::State& state) {
    const Domain& d = domain_for(state);
    std::string buffer;
    std::size_t points = 0;
    const std::uint64_t a0 = pulse::bench::allocations();
    for (auto _ : state) {
        pulse::DomainStats s = pulse::parse_stats_params(d.name, d.uuid, params_of(d));
        pulse::DomainPoints p = pulse::domain_points(s, d.devices, d.vm_host, d.time);
        buffer.clear();
        pulse::serialize_json(p.points, buffer);
        points = p.points.size();
        benchmark::DoNotOptimize(buffer.data());
    }
    report(state, points, a0);
}

// {disks, NICs}: a typical CloudStack VM (root + data disk, one NIC) and a larger one.
void domain_shapes(benchmark::internal::Benchmark* b) {
    b->Args({2, 1})->Args({4, 2})->ArgNames({"disks", "nics"});
}

BENCHMARK(BM_ParseStats)->Apply(domain_shapes);
BENCHMARK(BM_DomainPoints)->Apply(domain_shapes);
BENCHMARK(BM_SerializeJson)->Apply(domain_shapes);
BENCHMARK(BM_StatsToJson)->Apply(domain_shapes);

}  // namespace

BENCHMARK_MAIN();
