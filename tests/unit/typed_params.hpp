// Test helper: turns `virsh domstats --raw` text into the virTypedParameter array that
// virConnectGetAllDomainStats would have returned for that domain.
#pragma once

#include <libvirt/libvirt.h>

#include <cctype>
#include <sstream>
#include <stdexcept>
#include <string>

namespace pulse::testing {

class TypedParams {
  public:
    // virTypedParamsAdd* reset libvirt's thread-local error, which only exists once libvirt is
    // initialized; connections do that implicitly, these helpers do not.
    TypedParams() { virInitialize(); }
    // Lines "  key=value"; a value of digits becomes ULLONG, anything else STRING.
    static TypedParams from_domstats(const std::string& text) {
        TypedParams p;
        std::istringstream lines(text);
        std::string line;
        while (std::getline(lines, line)) {
            auto start = line.find_first_not_of(' ');
            auto eq = line.find('=');
            if (start == std::string::npos || eq == std::string::npos ||
                line.rfind("Domain:", 0) == 0) {
                continue;
            }
            std::string key = line.substr(start, eq - start);
            std::string value = line.substr(eq + 1);
            bool digits =
                !value.empty() && value.find_first_not_of("0123456789") == std::string::npos;
            if (digits) {
                p.add_ullong(key, std::stoull(value));
            } else {
                p.add_string(key, value);
            }
        }
        return p;
    }
    TypedParams(TypedParams&& other) noexcept
        : params_(other.params_), n_(other.n_), max_(other.max_) {
        other.params_ = nullptr;
        other.n_ = other.max_ = 0;
    }
    TypedParams(const TypedParams&) = delete;
    TypedParams& operator=(const TypedParams&) = delete;
    TypedParams& operator=(TypedParams&&) = delete;
    ~TypedParams() { virTypedParamsFree(params_, n_); }

    void add_ullong(const std::string& key, unsigned long long value) {
        check(virTypedParamsAddULLong(&params_, &n_, &max_, key.c_str(), value));
    }
    void add_uint(const std::string& key, unsigned value) {
        check(virTypedParamsAddUInt(&params_, &n_, &max_, key.c_str(), value));
    }
    void add_llong(const std::string& key, long long value) {
        check(virTypedParamsAddLLong(&params_, &n_, &max_, key.c_str(), value));
    }
    void add_string(const std::string& key, const std::string& value) {
        check(virTypedParamsAddString(&params_, &n_, &max_, key.c_str(), value.c_str()));
    }
    std::span<const virTypedParameter> span() const {
        return {params_, static_cast<std::size_t>(n_)};
    }

  private:
    static void check(int rc) {
        if (rc < 0) {
            throw std::runtime_error("virTypedParamsAdd failed");
        }
    }
    virTypedParameterPtr params_ = nullptr;
    int n_ = 0;
    int max_ = 0;
};

}  // namespace pulse::testing
