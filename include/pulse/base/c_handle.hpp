// Ownership of C libraries' handles and of file descriptors: one idiom for each.
//
// A pointer a C library hands out is a CHandle<T, free_function>, a std::unique_ptr whose
// deleter calls that library's own free function, so no error path leaks a handle or frees one
// twice. A file descriptor is a UniqueFd.
#pragma once

#include <memory>
#include <utility>

namespace pulse {

template <auto Free>
struct CFree {
    template <class T>
    void operator()(T* handle) const noexcept {
        Free(handle);
    }
};

template <class T, auto Free>
using CHandle = std::unique_ptr<T, CFree<Free>>;

class UniqueFd {
  public:
    UniqueFd() = default;
    explicit UniqueFd(int fd) : fd_(fd) {}
    UniqueFd(UniqueFd&& other) noexcept : fd_(std::exchange(other.fd_, -1)) {}
    UniqueFd& operator=(UniqueFd&& other) noexcept;
    UniqueFd(const UniqueFd&) = delete;
    UniqueFd& operator=(const UniqueFd&) = delete;
    ~UniqueFd();
    int get() const { return fd_; }
    // Gives up ownership, for a caller that closes the descriptor itself and checks the result.
    int release() { return std::exchange(fd_, -1); }
    explicit operator bool() const { return fd_ >= 0; }

  private:
    int fd_ = -1;
};

}  // namespace pulse
