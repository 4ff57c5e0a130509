// UTF-8 as both encodings need it: JSON writes ill-formed text as \ufffd escapes, line
// protocol as U+FFFD, one per maximal ill-formed subsequence.
#pragma once

#include <cstddef>
#include <string_view>

namespace pulse {

// The UTF-8 sequence at the start of a text: its length and code point when it is well formed
// (RFC 3629: no overlong forms, no surrogates, nothing past U+10FFFF). When it is not, `length`
// is its maximal well-formed prefix (at least 1 byte), which becomes one U+FFFD: Unicode's
// recommended practice, and what Python's bytes.decode('utf-8', 'replace') does.
struct Utf8Sequence {
    std::size_t length = 1;
    bool valid = false;
    char32_t code_point = 0xFFFD;
};
Utf8Sequence utf8_sequence(std::string_view text);

}  // namespace pulse
