// See encoding.hpp.
#include "pulse/format/encoding.hpp"

#include "pulse/format/json.hpp"
#include "pulse/format/line_protocol.hpp"

namespace pulse {

std::string_view Encoder::encode(std::span<const Point> points) {
    buffer_.clear();
    switch (encoding_) {
        case Encoding::json:
            serialize_json(points, buffer_);
            break;
        case Encoding::json_pretty:
            buffer_ = serialize_json_pretty(points);
            break;
        case Encoding::line_protocol:
            skipped_fields_ += serialize_line_protocol(points, buffer_).fields;
            break;
    }
    return buffer_;
}

}  // namespace pulse
