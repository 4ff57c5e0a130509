// RAII ownership of libvirt's C handles, its error reporting, and its event loop.
//
// Every virConnectPtr, virDomainPtr and stats-record array the sensor touches is owned by one of
// these types, so no error path can leak a handle or free one twice. Errors are read from
// libvirt's thread-local "last error" right after the failing call and carried in LibvirtError.
#pragma once

#include <libvirt/libvirt.h>
#include <libvirt/virterror.h>

#include <atomic>
#include <memory>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "pulse/base/c_handle.hpp"

namespace pulse::libvirt {

using ConnectPtr = CHandle<virConnect, virConnectClose>;
using DomainPtr = CHandle<virDomain, virDomainFree>;

// A libvirt failure with the library's error code, domain and message.
class LibvirtError : public std::runtime_error {
  public:
    LibvirtError(std::string what, int code, int domain)
        : std::runtime_error(std::move(what)), code_(code), domain_(domain) {}
    int code() const { return code_; }
    int error_domain() const { return domain_; }
    // The connection itself is unusable (daemon gone, ssh dropped): reconnect.
    bool connection_lost() const;
    // The driver cannot do what was asked (e.g. the test driver and bulk stats).
    bool unsupported() const;
    // The domain went away between listing and asking about it.
    bool no_domain() const;

  private:
    int code_;
    int domain_;
};

// Builds a LibvirtError from libvirt's last error, prefixed with what we were doing.
LibvirtError last_error(std::string_view doing);

// Initialises libxml2 and libvirt. Call once from the main thread before any other thread uses
// either, as both libraries ask; throws LibvirtError when libvirt cannot start.
void initialize();

// Stops libvirt from printing errors to stderr itself; we report them through our log.
void silence_default_error_handler();

// The result of virConnectGetAllDomainStats: a NULL-terminated array libvirt allocated.
class StatsRecords {
  public:
    StatsRecords() = default;
    StatsRecords(virDomainStatsRecordPtr* records, int count) : records_(records), count_(count) {}
    std::span<virDomainStatsRecordPtr> records() const {
        return {records_.get(), static_cast<std::size_t>(count_)};
    }

  private:
    CHandle<virDomainStatsRecordPtr, virDomainStatsRecordListFree> records_;
    int count_ = 0;
};

// The domain's UUID as text; empty when libvirt cannot give it. Reads the local object only.
std::string uuid_of(virDomainPtr domain);

// Every active domain (any state) from virConnectListAllDomains, each domain owned.
std::vector<DomainPtr> list_active_domains(virConnectPtr conn);

// libvirt's default event loop on a thread of its own. Keepalive and close callbacks need a
// running event loop; without one a dead ssh link would only show up as a hung RPC.
class EventLoop {
  public:
    EventLoop();
    ~EventLoop();
    EventLoop(const EventLoop&) = delete;
    EventLoop& operator=(const EventLoop&) = delete;

  private:
    std::atomic<bool> stop_{false};
    int wake_timer_ = -1;
    std::thread thread_;
};

// A connection to one hypervisor with keepalive on and a flag raised when libvirt closes it.
class Connection {
  public:
    // Opens `uri` read-only: statistics need no write access, and the read-only socket lets the
    // sensor run unprivileged where the host allows it. Throws LibvirtError.
    explicit Connection(const std::string& uri);
    ~Connection();
    Connection(const Connection&) = delete;
    Connection& operator=(const Connection&) = delete;

    virConnectPtr get() const { return conn_.get(); }
    // False once libvirt reported the connection closed or keepalive timed out.
    bool alive() const;

  private:
    static void on_close(virConnectPtr, int reason, void* opaque);
    ConnectPtr conn_;
    // Written by libvirt's event thread, read by the poller.
    std::atomic<bool> closed_{false};
    bool close_callback_registered_ = false;
};

}  // namespace pulse::libvirt
