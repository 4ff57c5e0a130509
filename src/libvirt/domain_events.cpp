// Domain event subscriptions; see domain_events.hpp.
#include "pulse/libvirt/domain_events.hpp"

#include <array>

#include "pulse/libvirt/handles.hpp"

namespace pulse {
namespace {

using Stale = DomainEvents::Stale;

Stale& stale_of(void* opaque) {
    return **static_cast<std::shared_ptr<Stale>*>(opaque);
}

void free_opaque(void* opaque) {
    delete static_cast<std::shared_ptr<Stale>*>(opaque);
}

void on_lifecycle(virConnectPtr, virDomainPtr domain, int event, int, void* opaque) {
    // A stop needs nothing: the domain leaves the poll and its cache entry with it.
    if (event == VIR_DOMAIN_EVENT_STARTED) {
        stale_of(opaque).mark(domain);
    }
}

void on_device(virConnectPtr, virDomainPtr domain, const char*, void* opaque) {
    stale_of(opaque).mark(domain);
}

void on_block_job(virConnectPtr, virDomainPtr domain, const char*, int, int status, void* opaque) {
    // A finished copy or commit may have moved the disk to another file: new image and pool.
    if (status == VIR_DOMAIN_BLOCK_JOB_COMPLETED) {
        stale_of(opaque).mark(domain);
    }
}

void on_disk_change(virConnectPtr, virDomainPtr domain, const char*, const char*, const char*, int,
                    void* opaque) {
    stale_of(opaque).mark(domain);
}

struct Subscription {
    int id;
    virConnectDomainEventGenericCallback callback;
};

const std::array<Subscription, 5>& subscriptions() {
    static const std::array<Subscription, 5> all{{
        {VIR_DOMAIN_EVENT_ID_LIFECYCLE, VIR_DOMAIN_EVENT_CALLBACK(on_lifecycle)},
        {VIR_DOMAIN_EVENT_ID_DEVICE_ADDED, VIR_DOMAIN_EVENT_CALLBACK(on_device)},
        {VIR_DOMAIN_EVENT_ID_DEVICE_REMOVED, VIR_DOMAIN_EVENT_CALLBACK(on_device)},
        {VIR_DOMAIN_EVENT_ID_BLOCK_JOB_2, VIR_DOMAIN_EVENT_CALLBACK(on_block_job)},
        {VIR_DOMAIN_EVENT_ID_DISK_CHANGE, VIR_DOMAIN_EVENT_CALLBACK(on_disk_change)},
    }};
    return all;
}

}  // namespace

void DomainEvents::Stale::mark(virDomainPtr domain) {
    std::string uuid = libvirt::uuid_of(domain);
    if (uuid.empty()) {
        return;
    }
    std::lock_guard lock(mutex);
    uuids.insert(std::move(uuid));
}

DomainEvents::DomainEvents(virConnectPtr conn) : conn_(conn), stale_(std::make_shared<Stale>()) {
    for (const Subscription& s : subscriptions()) {
        auto* opaque = new std::shared_ptr<Stale>(stale_);
        int id =
            virConnectDomainEventRegisterAny(conn_, nullptr, s.id, s.callback, opaque, free_opaque);
        if (id < 0) {
            delete opaque;  // libvirt calls the free callback only for a registration it kept
            why_not_ = libvirt::last_error("subscribing to domain events").what();
            break;
        }
        callback_ids_.push_back(id);
    }
    subscribed_ = why_not_.empty();
}

DomainEvents::~DomainEvents() {
    for (int id : callback_ids_) {
        if (virConnectDomainEventDeregisterAny(conn_, id) < 0) {
            virResetLastError();  // a dead connection has already dropped them
        }
    }
}

std::vector<std::string> DomainEvents::take_stale() {
    std::unordered_set<std::string> taken;
    {
        std::lock_guard lock(stale_->mutex);
        taken.swap(stale_->uuids);
    }
    return {taken.begin(), taken.end()};
}

}  // namespace pulse
