// Time formatting for points: the contract's UTC "YYYY-MM-DDTHH:MM:SSZ".
//
// Done by hand with the C++20 calendar types: it runs for every point, and fmt 9 formats
// time_points in local time, which would silently shift every timestamp on a non-UTC host.
#include "pulse/point.hpp"

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

std::string format_time(Timestamp time) {
    std::string out;
    append_time(out, time);
    return out;
}

}  // namespace pulse
