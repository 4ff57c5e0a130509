// See bench_util.hpp.
#include "bench_util.hpp"

#include "pulse/libvirt/collector.hpp"

#include <dirent.h>
#include <fmt/format.h>
#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>

namespace pulse::bench {
namespace {

std::uint64_t timeval_ns(const timeval& tv) {
    return static_cast<std::uint64_t>(tv.tv_sec) * 1'000'000'000ULL +
           static_cast<std::uint64_t>(tv.tv_usec) * 1'000ULL;
}

// se.sum_exec_runtime of one task, ns; false when the kernel has no such line.
bool task_runtime_ns(const std::string& path, std::uint64_t& ns) {
    std::ifstream in(path);
    std::string line;
    while (std::getline(in, line)) {
        if (line.rfind("se.sum_exec_runtime", 0) == 0) {
            auto colon = line.find(':');
            ns = static_cast<std::uint64_t>(std::stod(line.substr(colon + 1)) * 1e6);
            return true;
        }
    }
    return false;
}

std::uint64_t stat_ticks_ns(int pid) {
    std::ifstream in(fmt::format("/proc/{}/stat", pid));
    std::string text((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    auto close = text.rfind(')');
    if (close == std::string::npos) {
        return 0;
    }
    std::istringstream rest(text.substr(close + 2));
    std::string field;
    std::uint64_t utime = 0, stime = 0;
    for (int i = 3; i <= 15 && rest >> field; ++i) {
        if (i == 14)
            utime = std::stoull(field);
        if (i == 15)
            stime = std::stoull(field);
    }
    return (utime + stime) * (1'000'000'000ULL / static_cast<std::uint64_t>(sysconf(_SC_CLK_TCK)));
}

}  // namespace

std::uint64_t self_cpu_ns() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return timeval_ns(ru.ru_utime) + timeval_ns(ru.ru_stime);
}

std::uint64_t process_cpu_ns(int pid) {
    const std::string tasks = fmt::format("/proc/{}/task", pid);
    DIR* dir = opendir(tasks.c_str());
    if (dir == nullptr) {
        return 0;
    }
    std::uint64_t total = 0;
    bool have_sched = true;
    while (dirent* entry = readdir(dir)) {
        if (entry->d_name[0] == '.') {
            continue;
        }
        std::uint64_t ns = 0;
        if (!task_runtime_ns(fmt::format("{}/{}/sched", tasks, entry->d_name), ns)) {
            have_sched = false;
            break;
        }
        total += ns;
    }
    closedir(dir);
    return have_sched ? total : stat_ticks_ns(pid);
}

ThreadTimes thread_times(const std::vector<int>& pids) {
    ThreadTimes times;
    for (int pid : pids) {
        const std::string tasks = fmt::format("/proc/{}/task", pid);
        DIR* dir = opendir(tasks.c_str());
        if (dir == nullptr) {
            continue;
        }
        while (dirent* entry = readdir(dir)) {
            std::uint64_t ns = 0;
            if (entry->d_name[0] != '.' &&
                task_runtime_ns(fmt::format("{}/{}/sched", tasks, entry->d_name), ns)) {
                times[std::atoi(entry->d_name)] = ns;
            }
        }
        closedir(dir);
    }
    return times;
}

std::uint64_t cpu_between(const ThreadTimes& before, const ThreadTimes& after) {
    std::uint64_t total = 0;
    for (const auto& [tid, ns] : after) {
        auto it = before.find(tid);
        if (it == before.end()) {
            total += ns;
        } else if (ns > it->second) {
            total += ns - it->second;
        }
    }
    return total;
}

std::vector<int> parse_pids(const std::string& list) {
    std::vector<int> pids;
    std::istringstream in(list);
    std::string pid;
    while (std::getline(in, pid, ',')) {
        if (!pid.empty())
            pids.push_back(std::stoi(pid));
    }
    return pids;
}

long peak_rss_kib() {
    rusage ru{};
    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

long current_rss_kib() {
    std::ifstream in("/proc/self/statm");
    long size = 0, resident = 0;
    in >> size >> resident;
    return resident * (sysconf(_SC_PAGESIZE) / 1024);
}

double median(std::vector<double> values) {
    if (values.empty()) {
        return 0;
    }
    std::sort(values.begin(), values.end());
    const std::size_t mid = values.size() / 2;
    return values.size() % 2 == 1 ? values[mid] : (values[mid - 1] + values[mid]) / 2;
}

int bulk_call(virConnectPtr conn) {
    // The collector's steady-state calls: the bulk call, then each domain's info.
    virDomainStatsRecordPtr* records = nullptr;
    const int n = virConnectGetAllDomainStats(conn, kBulkStatsGroups, &records, kBulkStatsFlags);
    if (n < 0) {
        return n;
    }
    for (int i = 0; i < n; ++i) {
        virDomainInfo info{};
        virDomainGetInfo(records[i]->dom, &info);
    }
    virDomainStatsRecordListFree(records);
    return n;
}

int bulk_call(virConnectPtr conn, unsigned groups) {
    virDomainStatsRecordPtr* records = nullptr;
    const int n = virConnectGetAllDomainStats(conn, groups, &records, kBulkStatsFlags);
    if (n >= 0) {
        virDomainStatsRecordListFree(records);
    }
    return n;
}

double time_bulk_call_ms(virConnectPtr conn) {
    const auto t0 = std::chrono::steady_clock::now();
    bulk_call(conn);
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

std::string test_node_xml(int domains, int disks, int nics) {
    std::string xml =
        "<node>\n  <cpu><mhz>2400</mhz><model>x86_64</model><active>64</active><nodes>1</nodes>"
        "<sockets>2</sockets><cores>16</cores><threads>2</threads></cpu>\n"
        "  <memory>1073741824</memory>\n";
    auto out = std::back_inserter(xml);
    for (int d = 0; d < domains; ++d) {
        // CloudStack names and UUID-named pool/image paths, like the real thing.
        fmt::format_to(out,
                       "  <domain type='test'>\n    <name>i-{}-{}-VM</name>\n"
                       "    <uuid>5b1d0c6e-2f1a-4c3e-9a52-{:012x}</uuid>\n"
                       "    <memory unit='KiB'>2097152</memory>\n"
                       "    <currentMemory unit='KiB'>2097152</currentMemory>\n"
                       "    <vcpu>2</vcpu>\n    <os><type>hvm</type></os>\n    <devices>\n",
                       2 + d % 50, 1000 + d, d);
        for (int k = 0; k < disks; ++k) {
            fmt::format_to(out,
                           "      <disk type='file' device='disk'>\n"
                           "        <source file='/mnt/b13cb3c0-c84d-334c-9fc3-{:012x}/"
                           "cc8121ef-2029-4f4f-826e-{:08x}{:04x}'/>\n"
                           "        <target dev='vd{}' bus='virtio'/>\n      </disk>\n",
                           k, d, k, static_cast<char>('a' + k));
        }
        for (int k = 0; k < nics; ++k) {
            fmt::format_to(out,
                           "      <interface type='bridge'>\n"
                           "        <mac address='06:f2:{:02x}:{:02x}:{:02x}:{:02x}'/>\n"
                           "        <source bridge='cloudbr{}'/>\n      </interface>\n",
                           (d >> 16) & 0xff, (d >> 8) & 0xff, d & 0xff, k, k);
        }
        xml += "      <memballoon model='virtio'/>\n    </devices>\n  </domain>\n";
    }
    xml += "</node>\n";
    return xml;
}

std::string write_test_node(int domains, int disks, int nics) {
    char path[] = "/tmp/pulse-bench-node-XXXXXX";
    int fd = mkstemp(path);
    if (fd < 0) {
        throw std::runtime_error("cannot create a temporary file in /tmp");
    }
    const std::string xml = test_node_xml(domains, disks, nics);
    FILE* f = fdopen(fd, "w");
    std::fwrite(xml.data(), 1, xml.size(), f);
    std::fclose(f);
    return path;
}

}  // namespace pulse::bench
