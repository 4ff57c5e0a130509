// Helpers shared by the benchmark programs: CPU clocks of this process and of another one
// (libvirtd, a peer), medians, a generated test-driver host, and the allocation counter.
//
// Another process's CPU time is read from /proc/<pid>/task/*/sched (se.sum_exec_runtime,
// milliseconds with microsecond digits) because /proc/<pid>/stat counts in 10 ms ticks, too
// coarse for a poll that costs a millisecond. Kernels without that file fall back to the ticks.
#pragma once

#include <libvirt/libvirt.h>

#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace pulse::bench {

// user+sys of this process, all threads, in nanoseconds (getrusage).
std::uint64_t self_cpu_ns();
// The same for another process, summed over its threads; 0 when it is gone.
std::uint64_t process_cpu_ns(int pid);
// CPU time of every thread of some processes, ns, by thread id (se.sum_exec_runtime).
using ThreadTimes = std::unordered_map<int, std::uint64_t>;
ThreadTimes thread_times(const std::vector<int>& pids);
// CPU used between two snapshots. A plain sum over a process's threads goes down when a thread
// exits (QEMU's I/O workers leave after 10 s idle), so: a thread in both counts its increase,
// one born since counts all it used, one gone since counts nothing (what it used after
// `before` went with it; little, for a thread that was about to exit).
std::uint64_t cpu_between(const ThreadTimes& before, const ThreadTimes& after);
// "12,34" -> {12, 34}.
std::vector<int> parse_pids(const std::string& list);
// Peak resident set of this process, KiB (getrusage ru_maxrss).
long peak_rss_kib();
// Current resident set of this process, KiB (/proc/self/statm).
long current_rss_kib();

double median(std::vector<double> values);

// The collector's steady-state calls with nothing done with their results: the floor. One bulk
// call with its groups, then one virDomainGetInfo per domain. Returns the number of
// domains, -1 on error.
int bulk_call(virConnectPtr conn);
// One bulk call with these statistics groups (VIR_DOMAIN_STATS_*) and the sensor's flags.
int bulk_call(virConnectPtr conn, unsigned groups);
// The same, timed: wall milliseconds.
double time_bulk_call_ms(virConnectPtr conn);

// A libvirt test-driver host (`test:///<path>`) with `domains` running domains, each with
// `disks` CloudStack file disks (vda, vdb, …) and `nics` bridged NICs, as one <node> document.
std::string test_node_xml(int domains, int disks, int nics);
// Writes it to a temporary file and returns the file's absolute path.
std::string write_test_node(int domains, int disks, int nics);

// Allocations made through operator new since the program started (alloc_counter.cpp).
std::uint64_t allocations();

}  // namespace pulse::bench
