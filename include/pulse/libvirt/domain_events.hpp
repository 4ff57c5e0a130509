// Which domains' cached XML went stale, as libvirt's domain events tell it.
//
// The collector caches each domain's XML (disks, NICs) and reads it again when something
// changed. libvirt says when: a domain started (restore, migration, snapshot
// revert included), a device was added or removed (disks, NICs, and vCPUs that are devices),
// a block job such as a live storage migration pivoted a disk to a new source, or a disk lost
// its source. The callbacks run on libvirt's event loop thread and only record the domain's
// UUID; the poller's thread takes the set at the start of each poll.
//
// Events need libvirt's event loop (libvirt::EventLoop) and a driver that has them. Without
// them subscribed() is false and the collector falls back to what polling alone can see.
#pragma once

#include <libvirt/libvirt.h>

#include <memory>
#include <mutex>
#include <string>
#include <unordered_set>
#include <vector>

namespace pulse {

class DomainEvents {
  public:
    // Subscribes on `conn`, which must outlive this object. Never throws for want of events.
    explicit DomainEvents(virConnectPtr conn);
    ~DomainEvents();
    DomainEvents(const DomainEvents&) = delete;
    DomainEvents& operator=(const DomainEvents&) = delete;

    // True when every event the cache depends on is subscribed.
    bool subscribed() const { return subscribed_; }
    // Why not, for the log; empty when subscribed.
    const std::string& why_not() const { return why_not_; }

    // UUIDs of domains whose XML changed since the last call.
    std::vector<std::string> take_stale();

    // Shared with libvirt, which may still hold it while a callback runs after deregistration.
    struct Stale {
        std::mutex mutex;
        std::unordered_set<std::string> uuids;
        void mark(virDomainPtr domain);
    };

  private:
    virConnectPtr conn_;
    std::shared_ptr<Stale> stale_;
    std::vector<int> callback_ids_;
    bool subscribed_ = false;
    std::string why_not_;
};

}  // namespace pulse
