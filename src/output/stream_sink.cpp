// One message per line on stdout; see byte_sink.hpp.
#include "pulse/output/byte_sink.hpp"

namespace pulse {

void StreamSink::publish(std::string_view, std::string_view payload) {
    ++counters_.produced;
    // One message per line: a reader can split the stream without parsing JSON.
    if (std::fwrite(payload.data(), 1, payload.size(), stream_) != payload.size() ||
        std::fputc('\n', stream_) == EOF) {
        ++counters_.failed;
        return;
    }
    ++counters_.delivered;
}

bool StreamSink::flush(std::chrono::milliseconds) {
    return std::fflush(stream_) == 0;
}

}  // namespace pulse
