// Time formatting for points: the contract's UTC "YYYY-MM-DDTHH:MM:SSZ", and reading it back.
//
// Done by hand with the C++20 calendar types: it runs for every point, and fmt 9 formats
// time_points in local time, which would silently shift every timestamp on a non-UTC host.
#include "pulse/points/point.hpp"

namespace pulse {
namespace {

char* put_digits(char* p, unsigned value, int width) {
    for (int i = width - 1; i >= 0; --i) {
        p[i] = static_cast<char>('0' + value % 10);
        value /= 10;
    }
    return p + width;
}

}  // namespace

void write_time(char* out, Timestamp time) {
    using namespace std::chrono;
    const auto day = floor<days>(time);
    const year_month_day ymd{day};
    const hh_mm_ss hms{time - day};
    char* p = out;
    p = put_digits(p, static_cast<unsigned>(static_cast<int>(ymd.year())), 4);
    *p++ = '-';
    p = put_digits(p, static_cast<unsigned>(ymd.month()), 2);
    *p++ = '-';
    p = put_digits(p, static_cast<unsigned>(ymd.day()), 2);
    *p++ = 'T';
    p = put_digits(p, static_cast<unsigned>(hms.hours().count()), 2);
    *p++ = ':';
    p = put_digits(p, static_cast<unsigned>(hms.minutes().count()), 2);
    *p++ = ':';
    p = put_digits(p, static_cast<unsigned>(hms.seconds().count()), 2);
    *p = 'Z';
}

void append_time(std::string& out, Timestamp time) {
    char buf[kTimeLength];
    write_time(buf, time);
    out.append(buf, kTimeLength);
}

std::optional<Timestamp> parse_time(std::string_view text) {
    using namespace std::chrono;
    if (text.size() != kTimeLength) {
        return std::nullopt;
    }
    // Digits where write_time puts digits, its separators everywhere else.
    constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:ddZ";
    for (std::size_t i = 0; i < kTimeLength; ++i) {
        bool digit = text[i] >= '0' && text[i] <= '9';
        if (kShape[i] == 'd' ? !digit : text[i] != kShape[i]) {
            return std::nullopt;
        }
    }
    auto number = [&](std::size_t at, std::size_t width) {
        unsigned value = 0;
        for (std::size_t i = at; i < at + width; ++i) {
            value = value * 10 + static_cast<unsigned>(text[i] - '0');
        }
        return value;
    };
    const year_month_day ymd{year{static_cast<int>(number(0, 4))}, month{number(5, 2)},
                             day{number(8, 2)}};
    unsigned h = number(11, 2), m = number(14, 2), s = number(17, 2);
    if (!ymd.ok() || h > 23 || m > 59 || s > 59) {
        return std::nullopt;
    }
    return sys_days{ymd} + hours{h} + minutes{m} + seconds{s};
}

std::string format_time(Timestamp time) {
    std::string out;
    append_time(out, time);
    return out;
}

}  // namespace pulse
