// Domain events through libvirt's test driver and its real event loop.
#include "pulse/libvirt/domain_events.hpp"

#include <gtest/gtest.h>

#include <chrono>
#include <thread>

#include "pulse/libvirt/handles.hpp"

namespace pulse {
namespace {

using namespace std::chrono_literals;

// One loop for the process: libvirt keeps its event implementation once registered.
void ensure_event_loop() {
    static libvirt::EventLoop loop;
}

class DomainEventsOnTestHost : public ::testing::Test {
  protected:
    void SetUp() override {
        libvirt::silence_default_error_handler();
        ensure_event_loop();
        admin.reset(virConnectOpen("test:///default"));
        ASSERT_TRUE(admin);
    }

    libvirt::DomainPtr start(const std::string& name) {
        std::string xml = "<domain type='test'><name>" + name +
                          "</name><memory>65536</memory><os><type>hvm</type></os></domain>";
        libvirt::DomainPtr d(virDomainCreateXML(admin.get(), xml.c_str(), 0));
        EXPECT_TRUE(d) << libvirt::last_error("create").what();
        return d;
    }

    static std::string uuid(virDomainPtr d) {
        char buf[VIR_UUID_STRING_BUFLEN] = {};
        virDomainGetUUIDString(d, buf);
        return buf;
    }

    // Events arrive on the loop's thread; wait (bounded) until `want` is among them.
    std::vector<std::string> wait_for(DomainEvents& events, const std::string& want) {
        std::vector<std::string> seen;
        for (auto deadline = std::chrono::steady_clock::now() + 10s;
             std::chrono::steady_clock::now() < deadline; std::this_thread::sleep_for(10ms)) {
            for (std::string& u : events.take_stale()) {
                seen.push_back(std::move(u));
            }
            if (std::find(seen.begin(), seen.end(), want) != seen.end()) {
                break;
            }
        }
        return seen;
    }

    libvirt::ConnectPtr admin;
    libvirt::Connection conn{"test:///default"};
};

TEST_F(DomainEventsOnTestHost, ADomainThatStartsIsStaleOnceAndPauseResumeIsNot) {
    DomainEvents events(conn.get());
    ASSERT_TRUE(events.subscribed()) << events.why_not();

    auto first = start("i-9-101-VM");
    EXPECT_EQ(wait_for(events, uuid(first.get())), std::vector<std::string>{uuid(first.get())});

    // Events are delivered in order: once the second start is seen, the suspend and resume of
    // the first have been too, and they did not make it stale.
    ASSERT_EQ(virDomainSuspend(first.get()), 0);
    ASSERT_EQ(virDomainResume(first.get()), 0);
    auto second = start("i-9-102-VM");
    EXPECT_EQ(wait_for(events, uuid(second.get())), std::vector<std::string>{uuid(second.get())});
    EXPECT_TRUE(events.take_stale().empty());

    virDomainDestroy(first.get());
    virDomainDestroy(second.get());
}

TEST_F(DomainEventsOnTestHost, ASubscriptionCanEndWhileItsEventsAreInFlight) {
    auto events = std::make_unique<DomainEvents>(conn.get());
    ASSERT_TRUE(events->subscribed());
    auto vm = start("i-9-103-VM");
    // The start's event may be queued or running right now: the callback's state is shared
    // with libvirt, which frees it only when the callback is done (ASan checks this).
    events.reset();
    DomainEvents later(conn.get());
    auto other = start("i-9-104-VM");
    EXPECT_EQ(wait_for(later, uuid(other.get())), std::vector<std::string>{uuid(other.get())});
    virDomainDestroy(vm.get());
    virDomainDestroy(other.get());
}

}  // namespace
}  // namespace pulse
