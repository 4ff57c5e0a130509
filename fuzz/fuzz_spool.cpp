// Fuzz target for the spool's reader: segment files and ack files from untrusted bytes.
//
// Input: a list of entries, each a kind byte and its data. The files are laid into an empty
// spool directory, which is then opened, read to the end, acknowledged, reopened, appended to
// and reopened again. The spool must never crash, hang, throw or report more than the files
// hold, and every record it hands out must be one that is really in a segment file, in place,
// with a valid checksum, under the number its position gives it.
//   kind % 4 == 0  the ack file:         u8 length, bytes
//   kind % 4 == 1  a segment:            u8 first record number, u16 length (LE), bytes
//   kind % 4 == 2  a segment:            20 bytes, each giving a digit of its name, u16, bytes
//   kind % 4 == 3  a well-formed record appended to the last segment: u8 key, u8 length, bytes
// Bit 0x10 of a segment's kind starts it with the magic, so most inputs get past it.
#include <spdlog/spdlog.h>
#include <stdlib.h>
#include <zlib.h>

#include <charconv>
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "fuzz_check.hpp"
#include "pulse/kafka/spool.hpp"

namespace {

namespace fs = std::filesystem;
using pulse::fuzz::check;

constexpr std::string_view kMagic = "PULSESP1";
constexpr std::uint64_t kMaxSeq = 1ULL << 62;  // as in spool.cpp

struct Input {
    std::string_view rest;
    bool take(std::size_t n, std::string_view& out) {
        if (rest.size() < n) {
            return false;
        }
        out = rest.substr(0, n);
        rest.remove_prefix(n);
        return true;
    }
    bool byte(std::uint8_t& out) {
        std::string_view b;
        if (!take(1, b)) {
            return false;
        }
        out = static_cast<std::uint8_t>(b[0]);
        return true;
    }
};

std::uint32_t get_u32(std::string_view s, std::size_t at) {
    auto b = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(s[at + i]));
    };
    return b(0) | b(1) << 8 | b(2) << 16 | b(3) << 24;
}

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}

std::string record_bytes(std::string_view topic, std::string_view key, std::string_view payload) {
    std::string body;
    body.push_back(static_cast<char>(topic.size() & 0xff));
    body.push_back(static_cast<char>(topic.size() >> 8));
    body.push_back(static_cast<char>(key.size() & 0xff));
    body.push_back(static_cast<char>(key.size() >> 8));
    body.append(topic).append(key).append(payload);
    std::string out;
    put_u32(out, static_cast<std::uint32_t>(body.size()));
    put_u32(out, static_cast<std::uint32_t>(crc32(0L, reinterpret_cast<const Bytef*>(body.data()),
                                                  static_cast<uInt>(body.size()))));
    return out + body;
}

// The files of one input, by name.
std::map<std::string, std::string> parse(Input in) {
    std::map<std::string, std::string> files;
    std::string last_segment;
    std::uint8_t kind = 0;
    while (in.byte(kind)) {
        std::string_view data;
        std::uint8_t a = 0;
        std::uint8_t b = 0;
        std::string name;
        switch (kind % 4) {
            case 0:
                if (!in.byte(a) || !in.take(a, data)) {
                    return files;
                }
                files["ack"] = std::string(data);
                continue;
            case 1:
                if (!in.byte(a)) {
                    return files;
                }
                name = fmt::format("{:020}.seg", static_cast<unsigned>(a));
                break;
            case 2: {
                std::string_view digits;
                if (!in.take(20, digits)) {
                    return files;
                }
                for (char c : digits) {
                    name.push_back(static_cast<char>('0' + static_cast<unsigned char>(c) % 10));
                }
                name += ".seg";
                break;
            }
            default:
                if (last_segment.empty() || !in.byte(a) || !in.byte(b) || !in.take(b, data)) {
                    return files;
                }
                files[last_segment] +=
                    record_bytes("t", std::string(1, static_cast<char>(a)), data);
                continue;
        }
        if (!in.byte(a) || !in.byte(b) || !in.take(a | (b << 8), data)) {
            return files;
        }
        files[name] =
            ((kind & 0x10) != 0 ? std::string(kMagic) : std::string()) + std::string(data);
        last_segment = name;
    }
    return files;
}

// What a segment file holds, walked by the length fields from the magic on: a record the spool
// hands out must be one of these, at the index its number gives it, with a valid checksum.
struct Chain {
    std::uint64_t first_seq = 0;
    std::vector<std::string> bodies;  // empty string: the checksum does not match
};

std::vector<Chain> chains_of(const std::map<std::string, std::string>& files) {
    std::vector<Chain> chains;
    for (const auto& [name, content] : files) {
        if (name.size() != 24 || !name.ends_with(".seg")) {
            continue;
        }
        Chain chain;
        auto [end, error] = std::from_chars(name.data(), name.data() + 20, chain.first_seq);
        if (error != std::errc() || chain.first_seq > kMaxSeq || content.size() < kMagic.size() ||
            std::string_view(content).substr(0, kMagic.size()) != kMagic) {
            continue;  // ignored by the spool, or no records in it
        }
        std::size_t offset = kMagic.size();
        while (offset + 8 <= content.size()) {
            const std::uint32_t length = get_u32(content, offset);
            if (length > content.size() - offset - 8) {
                break;
            }
            std::string body = content.substr(offset + 8, length);
            const auto crc = static_cast<std::uint32_t>(crc32(
                0L, reinterpret_cast<const Bytef*>(body.data()), static_cast<uInt>(body.size())));
            chain.bodies.push_back(crc == get_u32(content, offset + 4) ? body : std::string());
            offset += 8 + length;
        }
        chains.push_back(std::move(chain));
    }
    return chains;
}

bool on_disk(const std::vector<Chain>& chains, const pulse::SpoolRecord& r) {
    for (const Chain& chain : chains) {
        if (r.seq < chain.first_seq || r.seq - chain.first_seq >= chain.bodies.size()) {
            continue;
        }
        const std::string& body = chain.bodies[r.seq - chain.first_seq];
        if (body.size() >= 4 && body.substr(4) == r.topic + r.key + r.payload &&
            static_cast<std::size_t>(static_cast<unsigned char>(body[0]) |
                                     static_cast<unsigned char>(body[1]) << 8) == r.topic.size() &&
            static_cast<std::size_t>(static_cast<unsigned char>(body[2]) |
                                     static_cast<unsigned char>(body[3]) << 8) == r.key.size()) {
            return true;
        }
    }
    return false;
}

fs::path scratch_dir() {
    static const fs::path dir = [] {
        std::string tmpl = (fs::temp_directory_path() / "fuzz_spool-XXXXXX").string();
        check(mkdtemp(tmpl.data()) != nullptr, "mkdtemp failed");
        return fs::path(tmpl);
    }();
    return dir;
}

// fsync() is what makes a run slow and is not what is tested here: skip it.
class NoSyncSyscalls : public pulse::SpoolSyscalls {
  public:
    int fsync(int) override { return 0; }
};

std::unique_ptr<pulse::Spool> open_spool(const fs::path& dir) {
    try {
        return std::make_unique<pulse::Spool>(
            pulse::SpoolOptions{dir, 256ULL << 20, 0, std::make_shared<NoSyncSyscalls>()});
    } catch (const pulse::SpoolError& e) {
        pulse::fuzz::finding("a spool directory with hostile files cannot be opened", e.what());
    }
}

// Reads, takes and acknowledges every record there is.
std::vector<pulse::SpoolRecord> drain(pulse::Spool& spool) {
    std::vector<pulse::SpoolRecord> records;
    while (const auto& r = spool.peek()) {
        records.push_back(*r);
        spool.take();
        spool.ack(records.back().seq);
    }
    return records;
}

}  // namespace

extern "C" int LLVMFuzzerInitialize(int*, char***) {
    spdlog::set_level(spdlog::level::off);
    return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const auto files = parse({std::string_view(reinterpret_cast<const char*>(data), size)});
    const fs::path root = scratch_dir();
    const fs::path dir = root / "spool";
    fs::remove_all(dir);
    fs::create_directory(dir);
    for (const auto& [name, content] : files) {
        std::ofstream(dir / name, std::ios::binary) << content;
    }
    const std::vector<Chain> chains = chains_of(files);
    std::uint64_t chained = 0;
    for (const Chain& chain : chains) {
        chained += chain.bodies.size();
    }

    {
        auto spool = open_spool(dir);
        check(spool->counters().recovered <= chained, "more records recovered than the files hold");
        const std::uint64_t pending = spool->pending();
        const auto records = drain(*spool);
        check(records.size() <= pending, "more records read than pending() said");
        for (std::size_t i = 0; i < records.size(); ++i) {
            check(i == 0 || records[i].seq > records[i - 1].seq, "record numbers do not grow");
            check(on_disk(chains, records[i]), "a record that is not in the files",
                  fmt::format("seq {}", records[i].seq));
        }
        check(spool->pending() == 0, "records pending after all were acknowledged");
        spool->sync();
    }
    {
        auto spool = open_spool(dir);
        check(spool->pending() == 0, "acknowledged records come back after a restart",
              fmt::format("{} pending", spool->pending()));
        spool->append("topic", "key", "probe");
        spool->sync();
    }
    {
        auto spool = open_spool(dir);
        const auto records = drain(*spool);
        check(records.size() == 1 && records[0].topic == "topic" && records[0].key == "key" &&
                  records[0].payload == "probe",
              "a record appended after recovery does not come back",
              fmt::format("{} record(s)", records.size()));
        spool->sync();
    }
    return 0;
}
