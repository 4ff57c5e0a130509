// libvirt handles, errors and the event loop; see handles.hpp.
#include "pulse/libvirt/handles.hpp"

#include <fmt/format.h>
#include <libxml/parser.h>
#include <spdlog/spdlog.h>

#include <array>

#include "pulse/base/uri.hpp"

namespace pulse::libvirt {
namespace {

// libvirt prints every error to stderr unless given a handler; ours discards it because each
// error is read back with virGetLastError() and logged once, with context, by the caller.
void discard_error(void*, virErrorPtr) {}

void ignore_timer(int, void*) {}

}  // namespace

bool LibvirtError::connection_lost() const {
    switch (code_) {
        case VIR_ERR_SYSTEM_ERROR:
        case VIR_ERR_RPC:
        case VIR_ERR_NO_CONNECT:
        case VIR_ERR_INVALID_CONN:
        case VIR_ERR_AUTH_FAILED:
        case VIR_ERR_AUTH_CANCELLED:
            return true;
        default:
            return domain_ == VIR_FROM_RPC || domain_ == VIR_FROM_REMOTE;
    }
}

bool LibvirtError::unsupported() const {
    return code_ == VIR_ERR_NO_SUPPORT || code_ == VIR_ERR_ARGUMENT_UNSUPPORTED;
}

bool LibvirtError::no_domain() const {
    // A domain that stopped after we listed it answers "operation invalid: domain is not running".
    return code_ == VIR_ERR_NO_DOMAIN || code_ == VIR_ERR_OPERATION_INVALID;
}

LibvirtError last_error(std::string_view doing) {
    virErrorPtr error = virGetLastError();
    if (error == nullptr) {
        return LibvirtError(fmt::format("{}: unknown libvirt error", doing), VIR_ERR_INTERNAL_ERROR,
                            VIR_FROM_NONE);
    }
    std::string message = error->message != nullptr ? error->message : "no message";
    LibvirtError result(fmt::format("{}: {}", doing, message), error->code, error->domain);
    virResetLastError();
    return result;
}

void initialize() {
    // Both libraries set up their globals (libxml2's mutexes, libvirt's drivers) on first use;
    // two threads making that first use at once race, and libxml2 then leaks a mutex.
    xmlInitParser();
    if (virInitialize() != 0) {
        throw last_error("initialising libvirt");
    }
}

void silence_default_error_handler() {
    virSetErrorFunc(nullptr, discard_error);
}

std::string uuid_of(virDomainPtr domain) {
    std::array<char, VIR_UUID_STRING_BUFLEN> buf{};
    if (virDomainGetUUIDString(domain, buf.data()) < 0) {
        virResetLastError();
        return {};
    }
    return buf.data();
}

std::vector<DomainPtr> list_active_domains(virConnectPtr conn) {
    virDomainPtr* raw = nullptr;
    int n = virConnectListAllDomains(conn, &raw, VIR_CONNECT_LIST_DOMAINS_ACTIVE);
    if (n < 0) {
        throw last_error("listing domains");
    }
    // Take ownership of every element before anything can throw, then free the array itself.
    std::vector<DomainPtr> domains;
    domains.reserve(static_cast<std::size_t>(n));
    for (int i = 0; i < n; ++i) {
        domains.emplace_back(raw[i]);
    }
    free(raw);  // NOLINT: libvirt allocated the array with malloc
    return domains;
}

EventLoop::EventLoop() {
    if (virEventRegisterDefaultImpl() < 0) {
        throw last_error("starting the libvirt event loop");
    }
    // A disabled timer we can arm from the destructor to wake the loop up for shutdown.
    wake_timer_ = virEventAddTimeout(-1, ignore_timer, nullptr, nullptr);
    thread_ = std::thread([this] {
        while (!stop_.load()) {
            if (virEventRunDefaultImpl() < 0) {
                spdlog::warn("libvirt event loop: {}", last_error("running events").what());
            }
        }
    });
}

EventLoop::~EventLoop() {
    stop_.store(true);
    if (wake_timer_ >= 0) {
        virEventUpdateTimeout(wake_timer_, 0);
    }
    thread_.join();
    if (wake_timer_ >= 0) {
        virEventRemoveTimeout(wake_timer_);
    }
}

Connection::Connection(const std::string& uri) {
    conn_.reset(virConnectOpenReadOnly(uri.c_str()));
    if (!conn_) {
        // The one place that has the password; libvirt may quote the URI in its message.
        LibvirtError error = last_error(fmt::format("connecting to {}", uri_without_password(uri)));
        throw LibvirtError(hide_uri_password(error.what(), uri), error.code(),
                           error.error_domain());
    }
    // Probe every 5 s, give up after 3 unanswered probes: a dead link is noticed in ~20 s
    // rather than when TCP eventually times out. Local drivers answer 1 (not needed): fine.
    if (virConnectSetKeepAlive(conn_.get(), 5, 3) < 0) {
        spdlog::debug(
            "{}",
            last_error(fmt::format("enabling keepalive on {}", uri_without_password(uri))).what());
    }
    if (virConnectRegisterCloseCallback(conn_.get(), on_close, this, nullptr) == 0) {
        close_callback_registered_ = true;
    } else {
        virResetLastError();  // local drivers have no close callback; alive() falls back
    }
}

Connection::~Connection() {
    if (close_callback_registered_) {
        virConnectUnregisterCloseCallback(conn_.get(), on_close);
    }
}

void Connection::on_close(virConnectPtr, int reason, void* opaque) {
    static_cast<Connection*>(opaque)->closed_.store(true);
    spdlog::debug("libvirt closed the connection (reason {})", reason);
}

bool Connection::alive() const {
    return !closed_.load() && virConnectIsAlive(conn_.get()) == 1;
}

}  // namespace pulse::libvirt
