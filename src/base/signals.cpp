// See signals.hpp.
#include "pulse/base/signals.hpp"

#include <pthread.h>

#include <cerrno>
#include <ctime>

namespace pulse {

StopSignals::StopSignals() {
    sigemptyset(&stop_set_);
    sigaddset(&stop_set_, SIGTERM);
    sigaddset(&stop_set_, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop_set_, &previous_);
}

StopSignals::~StopSignals() {
    pthread_sigmask(SIG_SETMASK, &previous_, nullptr);
}

bool StopSignals::wait_until(SteadyTime deadline) {
    while (signal_ == 0) {
        auto left = deadline - std::chrono::steady_clock::now();
        if (left <= std::chrono::nanoseconds::zero()) {
            return stop_requested();
        }
        auto secs = std::chrono::duration_cast<std::chrono::seconds>(left);
        timespec timeout{static_cast<time_t>(secs.count()),
                         static_cast<long>((left - secs) / std::chrono::nanoseconds(1))};
        int sig = sigtimedwait(&stop_set_, nullptr, &timeout);
        if (sig > 0) {
            signal_ = sig;
        }
        // EAGAIN (timed out) and EINTR (another signal) both just re-check the deadline.
    }
    return true;
}

bool StopSignals::stop_requested() {
    if (signal_ == 0) {
        timespec zero{0, 0};
        int sig = sigtimedwait(&stop_set_, nullptr, &zero);
        if (sig > 0) {
            signal_ = sig;
        }
    }
    return signal_ != 0;
}

}  // namespace pulse
