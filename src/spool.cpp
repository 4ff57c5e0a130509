// The on-disk spool; see spool.hpp for the format, the durability rules and the bound.
#include "pulse/spool.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

namespace pulse {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "PULSESP1";
constexpr std::size_t kHeaderBytes = 8;  // u32 length + u32 CRC
// A sanity bound for a record's length field: a larger one can only be damage.
constexpr std::uint32_t kMaxBodyBytes = 64U << 20;

std::string errno_text() {
    return std::strerror(errno);
}

std::uint32_t crc_of(const char* data, std::size_t size) {
    return static_cast<std::uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(data), static_cast<uInt>(size)));
}

void put_u32(std::string& out, std::uint32_t v) {
    for (int i = 0; i < 4; ++i) {
        out.push_back(static_cast<char>((v >> (8 * i)) & 0xff));
    }
}
void put_u16(std::string& out, std::uint16_t v) {
    out.push_back(static_cast<char>(v & 0xff));
    out.push_back(static_cast<char>(v >> 8));
}
std::uint32_t get_u32(const unsigned char* p) {
    return static_cast<std::uint32_t>(p[0]) | static_cast<std::uint32_t>(p[1]) << 8 |
           static_cast<std::uint32_t>(p[2]) << 16 | static_cast<std::uint32_t>(p[3]) << 24;
}
std::uint16_t get_u16(const unsigned char* p) {
    return static_cast<std::uint16_t>(p[0] | p[1] << 8);
}

bool read_exact(int fd, void* buf, std::size_t size, std::uint64_t offset) {
    auto* p = static_cast<char*>(buf);
    while (size > 0) {
        ssize_t n = pread(fd, p, size, static_cast<off_t>(offset));
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        p += n;
        size -= static_cast<std::size_t>(n);
        offset += static_cast<std::uint64_t>(n);
    }
    return true;
}

bool write_all(SpoolSyscalls& sys, int fd, const char* data, std::size_t size) {
    while (size > 0) {
        ssize_t n = sys.write(fd, data, size);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return false;
        }
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

std::string segment_name(std::uint64_t first_seq) {
    return fmt::format("{:020}.seg", first_seq);
}

// Decodes a body into a record; false when the lengths inside do not add up.
bool decode_body(const std::string& body, SpoolRecord& out) {
    if (body.size() < 4) {
        return false;
    }
    auto* p = reinterpret_cast<const unsigned char*>(body.data());
    std::size_t topic_len = get_u16(p);
    std::size_t key_len = get_u16(p + 2);
    if (4 + topic_len + key_len > body.size()) {
        return false;
    }
    out.topic.assign(body, 4, topic_len);
    out.key.assign(body, 4 + topic_len, key_len);
    out.payload.assign(body, 4 + topic_len + key_len);
    return true;
}

}  // namespace

int SpoolSyscalls::open(const char* path, int flags, mode_t mode) {
    return ::open(path, flags, mode);
}
ssize_t SpoolSyscalls::write(int fd, const void* data, std::size_t size) {
    return ::write(fd, data, size);
}
int SpoolSyscalls::fsync(int fd) {
    return ::fsync(fd);
}
int SpoolSyscalls::ftruncate(int fd, off_t length) {
    return ::ftruncate(fd, length);
}
int SpoolSyscalls::close(int fd) {
    return ::close(fd);
}
int SpoolSyscalls::rename(const char* from, const char* to) {
    return std::rename(from, to);
}

UniqueFd& UniqueFd::operator=(UniqueFd&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) {
            close(fd_);
        }
        fd_ = std::exchange(other.fd_, -1);
    }
    return *this;
}

UniqueFd::~UniqueFd() {
    if (fd_ >= 0) {
        close(fd_);
    }
}

Spool::Spool(SpoolOptions options) : options_(std::move(options)) {
    if (!options_.syscalls) {
        options_.syscalls = std::make_shared<SpoolSyscalls>();
    }
    if (options_.segment_bytes == 0) {
        options_.segment_bytes = std::clamp<std::uint64_t>(options_.max_bytes / 4, 4096, 16U << 20);
    }
    std::error_code ec;
    fs::create_directories(options_.dir, ec);
    if (ec) {
        throw SpoolError(fmt::format("cannot create {}: {}", options_.dir.string(), ec.message()));
    }
    lock_fd_ = UniqueFd(open((options_.dir / "lock").c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
    if (!lock_fd_) {
        throw SpoolError(
            fmt::format("cannot open {}: {}", (options_.dir / "lock").string(), errno_text()));
    }
    if (flock(lock_fd_.get(), LOCK_EX | LOCK_NB) != 0) {
        throw SpoolError(
            fmt::format("{} is in use by another pulse-sensor", options_.dir.string()));
    }
    recover();
}

Spool::~Spool() {
    try {
        sync();
    } catch (const std::exception& e) {
        spdlog::error("spool {}: {}", options_.dir.string(), e.what());
    }
}

void Spool::recover() {
    std::vector<std::uint64_t> firsts;
    for (const auto& entry : fs::directory_iterator(options_.dir)) {
        const std::string name = entry.path().filename().string();
        if (name.size() == 24 && name.ends_with(".seg") &&
            std::all_of(name.begin(), name.begin() + 20, ::isdigit)) {
            firsts.push_back(std::stoull(name.substr(0, 20)));
        }
    }
    std::sort(firsts.begin(), firsts.end());
    for (std::size_t i = 0; i < firsts.size(); ++i) {
        Segment s;
        s.first_seq = firsts[i];
        s.path = options_.dir / segment_name(firsts[i]);
        scan_segment(s, i + 1 == firsts.size());
        total_bytes_ += s.bytes;
        segments_.push_back(std::move(s));
    }

    std::uint64_t acked = 0;
    if (std::ifstream in(options_.dir / "ack"); in) {
        std::string word;
        int version = 0;
        in >> word >> version >> acked;
        if (!in || word != "pulse-spool-ack" || version != 1) {
            spdlog::warn("spool {}: unreadable ack file; replaying every record in the spool",
                         options_.dir.string());
            acked = 0;
        }
    }
    // Start reading at the ack point, or at the oldest record still on disk.
    read_seq_ = segments_.empty() ? acked : std::max(acked, segments_.front().first_seq);
    read_seq_ = std::min(read_seq_, next_seq());
    if (segments_.empty()) {
        Segment s;
        s.first_seq = read_seq_;
        s.path = options_.dir / segment_name(s.first_seq);
        segments_.push_back(std::move(s));
    }
    // Position the cursor on read_seq_ by walking the record headers of its segment.
    read_segment_ = 0;
    while (read_segment_ + 1 < segments_.size() &&
           segments_[read_segment_ + 1].first_seq <= read_seq_) {
        ++read_segment_;
    }
    read_offset_ = kMagic.size();
    std::uint64_t skip = read_seq_ - segments_[read_segment_].first_seq;
    if (skip > 0) {
        UniqueFd fd(open(segments_[read_segment_].path.c_str(), O_RDONLY | O_CLOEXEC));
        for (std::uint64_t i = 0; i < skip && fd; ++i) {
            std::array<unsigned char, kHeaderBytes> header{};
            if (!read_exact(fd.get(), header.data(), header.size(), read_offset_)) {
                break;
            }
            read_offset_ += kHeaderBytes + get_u32(header.data());
        }
    }
    counters_.recovered = pending();
    persisted_ack_ = read_seq_;
    open_tail_for_append();
    if (counters_.recovered > 0) {
        spdlog::info("spool {}: {} message(s) from an earlier run to deliver",
                     options_.dir.string(), counters_.recovered);
    }
}

// Counts the records of a segment and checks them; cuts a torn tail off the last segment.
std::uint64_t Spool::scan_segment(Segment& segment, bool is_tail) {
    UniqueFd fd(open(segment.path.c_str(), O_RDWR | O_CLOEXEC));
    if (!fd) {
        throw SpoolError(fmt::format("cannot open {}: {}", segment.path.string(), errno_text()));
    }
    const auto size = static_cast<std::uint64_t>(lseek(fd.get(), 0, SEEK_END));
    std::array<char, 8> magic{};
    std::uint64_t offset = kMagic.size();
    std::uint64_t good_end = offset;
    if (size < kMagic.size() || !read_exact(fd.get(), magic.data(), magic.size(), 0) ||
        std::string_view(magic.data(), magic.size()) != kMagic) {
        good_end = 0;  // not even the magic: an empty segment from a crash during creation
    } else {
        std::string body;
        while (offset + kHeaderBytes <= size) {
            std::array<unsigned char, kHeaderBytes> header{};
            if (!read_exact(fd.get(), header.data(), header.size(), offset)) {
                break;
            }
            std::uint32_t length = get_u32(header.data());
            if (length > kMaxBodyBytes || offset + kHeaderBytes + length > size) {
                break;
            }
            // Checksums are verified for the tail only, where a crash can tear a record; older
            // segments are verified record by record when they are read.
            if (is_tail) {
                body.resize(length);
                if (!read_exact(fd.get(), body.data(), length, offset + kHeaderBytes) ||
                    crc_of(body.data(), length) != get_u32(header.data() + 4)) {
                    break;
                }
            }
            offset += kHeaderBytes + length;
            good_end = offset;
            ++segment.records;
        }
    }
    if (good_end < size) {
        if (is_tail) {
            spdlog::warn("spool: cut a torn record ({} bytes) off the end of {}", size - good_end,
                         segment.path.string());
            if (good_end == 0) {
                // Rewrite the magic so the segment can be appended to.
                if (sys().ftruncate(fd.get(), 0) != 0 ||
                    !write_all(sys(), fd.get(), kMagic.data(), kMagic.size())) {
                    throw SpoolError(
                        fmt::format("cannot repair {}: {}", segment.path.string(), errno_text()));
                }
                good_end = kMagic.size();
            } else if (sys().ftruncate(fd.get(), static_cast<off_t>(good_end)) != 0) {
                throw SpoolError(
                    fmt::format("cannot repair {}: {}", segment.path.string(), errno_text()));
            }
        } else {
            spdlog::error("spool: {} bytes of {} are damaged and will not be sent", size - good_end,
                          segment.path.string());
            ++counters_.corrupt;
        }
    }
    segment.bytes = is_tail ? good_end : size;
    return segment.records;
}

void Spool::open_tail_for_append() {
    Segment& tail = segments_.back();
    bool fresh = !fs::exists(tail.path);
    tail_fd_ =
        UniqueFd(sys().open(tail.path.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
    if (!tail_fd_) {
        throw SpoolError(fmt::format("cannot open {}: {}", tail.path.string(), errno_text()));
    }
    if (fresh || tail.bytes == 0) {
        if (!write_all(sys(), tail_fd_.get(), kMagic.data(), kMagic.size())) {
            throw SpoolError(fmt::format("cannot write {}: {}", tail.path.string(), errno_text()));
        }
        tail.bytes = kMagic.size();
        total_bytes_ += kMagic.size();
        // The new file's name must survive a crash as well as its contents.
        UniqueFd dir(open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        if (dir) {
            sys().fsync(dir.get());
        }
    }
}

std::uint64_t Spool::next_seq() const {
    if (segments_.empty()) {
        return read_seq_;
    }
    return segments_.back().first_seq + segments_.back().records;
}

void Spool::roll_segment() {
    if (tail_dirty_) {
        sys().fsync(tail_fd_.get());
        tail_dirty_ = false;
    }
    Segment s;
    s.first_seq = next_seq();
    s.path = options_.dir / segment_name(s.first_seq);
    segments_.push_back(std::move(s));
    open_tail_for_append();
}

void Spool::drop_oldest_segment() {
    Segment& oldest = segments_.front();
    const std::uint64_t end_seq = oldest.first_seq + oldest.records;
    // Records of this segment still in flight lose their durable copy: count them dropped too
    // (librdkafka may yet deliver them, but nothing guarantees it any more).
    while (!in_flight_.empty() && in_flight_.front().seq < end_seq) {
        counters_.dropped += in_flight_.front().acked ? 0 : 1;
        in_flight_.pop_front();
    }
    const std::uint64_t first_unsent = peeked_ ? peeked_->seq : read_seq_;
    if (first_unsent < end_seq) {
        // Not yet handed to Kafka: these are lost, and counted.
        counters_.dropped += end_seq - first_unsent;
        read_seq_ = end_seq;
        read_offset_ = kMagic.size();
        peeked_.reset();
    }
    std::error_code ec;
    fs::remove(oldest.path, ec);
    total_bytes_ -= oldest.bytes;
    segments_.pop_front();
    read_segment_ = read_segment_ > 0 ? read_segment_ - 1 : 0;
    read_fd_ = UniqueFd();
    read_fd_segment_ = SIZE_MAX;
}

void Spool::make_room(std::uint64_t record_bytes) {
    if (segments_.back().bytes + record_bytes > options_.segment_bytes &&
        segments_.back().records > 0) {
        roll_segment();
    }
    while (total_bytes_ + record_bytes > options_.max_bytes && segments_.size() > 1) {
        drop_oldest_segment();
    }
}

void Spool::append(std::string_view topic, std::string_view key, std::string_view payload) {
    if (topic.size() > UINT16_MAX || key.size() > UINT16_MAX ||
        payload.size() > kMaxBodyBytes - 4 - topic.size() - key.size()) {
        throw SpoolError("message too large for the spool");
    }
    std::string record;
    const std::size_t body_len = 4 + topic.size() + key.size() + payload.size();
    record.reserve(kHeaderBytes + body_len);
    put_u32(record, static_cast<std::uint32_t>(body_len));
    put_u32(record, 0);  // CRC, filled in below
    put_u16(record, static_cast<std::uint16_t>(topic.size()));
    put_u16(record, static_cast<std::uint16_t>(key.size()));
    record.append(topic);
    record.append(key);
    record.append(payload);
    std::uint32_t crc = crc_of(record.data() + kHeaderBytes, body_len);
    for (int i = 0; i < 4; ++i) {
        record[4 + i] = static_cast<char>((crc >> (8 * i)) & 0xff);
    }

    make_room(record.size());
    Segment& tail = segments_.back();
    if (!write_all(sys(), tail_fd_.get(), record.data(), record.size())) {
        std::string why = errno_text();
        // Cut off whatever part was written, so the segment stays readable.
        if (sys().ftruncate(tail_fd_.get(), static_cast<off_t>(tail.bytes)) != 0) {
            why += " (and the partial record could not be removed)";
        }
        throw SpoolError(fmt::format("cannot write {}: {}", tail.path.string(), why));
    }
    tail.bytes += record.size();
    total_bytes_ += record.size();
    ++tail.records;
    ++counters_.appended;
    tail_dirty_ = true;
}

bool Spool::read_record(SpoolRecord& out) {
    while (read_segment_ < segments_.size()) {
        Segment& seg = segments_[read_segment_];
        if (read_seq_ >= seg.first_seq + seg.records) {
            if (read_segment_ + 1 == segments_.size()) {
                return false;  // everything written has been handed out
            }
            ++read_segment_;
            read_offset_ = kMagic.size();
            read_seq_ = segments_[read_segment_].first_seq;
            continue;
        }
        if (read_fd_segment_ != read_segment_) {
            read_fd_ = UniqueFd(sys().open(seg.path.c_str(), O_RDONLY | O_CLOEXEC, 0));
            read_fd_segment_ = read_segment_;
        }
        std::array<unsigned char, kHeaderBytes> header{};
        std::string body;
        bool ok =
            read_fd_ && read_exact(read_fd_.get(), header.data(), header.size(), read_offset_);
        std::uint32_t length = ok ? get_u32(header.data()) : 0;
        ok = ok && length <= kMaxBodyBytes;
        if (ok) {
            body.resize(length);
            ok = read_exact(read_fd_.get(), body.data(), length, read_offset_ + kHeaderBytes) &&
                 crc_of(body.data(), length) == get_u32(header.data() + 4) &&
                 decode_body(body, out);
        }
        if (!ok) {
            // Damage inside a segment: nothing after it in this segment can be located.
            std::uint64_t lost = seg.first_seq + seg.records - read_seq_;
            spdlog::error("spool: {} is damaged at byte {}; skipping its last {} record(s)",
                          seg.path.string(), read_offset_, lost);
            counters_.corrupt += lost;
            read_seq_ = seg.first_seq + seg.records;
            continue;
        }
        out.seq = read_seq_;
        read_offset_ += kHeaderBytes + length;
        ++read_seq_;
        return true;
    }
    return false;
}

const std::optional<SpoolRecord>& Spool::peek() {
    if (!peeked_) {
        SpoolRecord record;
        if (read_record(record)) {
            peeked_ = std::move(record);
        }
    }
    return peeked_;
}

void Spool::take() {
    if (peeked_) {
        in_flight_.push_back({peeked_->seq, false});
        peeked_.reset();
    }
}

void Spool::ack(std::uint64_t seq) {
    auto it = std::lower_bound(in_flight_.begin(), in_flight_.end(), seq,
                               [](const InFlight& f, std::uint64_t s) { return f.seq < s; });
    if (it == in_flight_.end() || it->seq != seq || it->acked) {
        return;
    }
    it->acked = true;
    ++counters_.acked;
    while (!in_flight_.empty() && in_flight_.front().acked) {
        in_flight_.pop_front();
    }
}

std::uint64_t Spool::ack_point() const {
    if (!in_flight_.empty()) {
        return in_flight_.front().seq;
    }
    // Nothing in flight: everything before the peeked or next unread record is done.
    return peeked_ ? peeked_->seq : read_seq_;
}

std::uint64_t Spool::pending() const {
    std::uint64_t unacked = 0;
    for (const InFlight& f : in_flight_) {
        unacked += f.acked ? 0 : 1;
    }
    const std::uint64_t unread = next_seq() - (peeked_ ? peeked_->seq : read_seq_);
    return unacked + unread;
}

void Spool::write_ack_file(std::uint64_t seq) {
    const fs::path tmp = options_.dir / "ack.tmp";
    {
        std::ofstream out(tmp, std::ios::trunc);
        out << "pulse-spool-ack 1 " << seq << "\n";
        if (!out) {
            throw SpoolError(fmt::format("cannot write {}", tmp.string()));
        }
    }
    std::error_code ec;
    fs::rename(tmp, options_.dir / "ack", ec);
    if (ec) {
        throw SpoolError(
            fmt::format("cannot replace {}: {}", (options_.dir / "ack").string(), ec.message()));
    }
}

void Spool::sync() {
    if (tail_dirty_) {
        if (sys().fsync(tail_fd_.get()) != 0) {
            throw SpoolError(
                fmt::format("cannot fsync {}: {}", segments_.back().path.string(), errno_text()));
        }
        tail_dirty_ = false;
    }
    const std::uint64_t acked = ack_point();
    if (acked != persisted_ack_) {
        write_ack_file(acked);
        persisted_ack_ = acked;
    }
    // Segments whose every record is acknowledged are no longer needed.
    while (segments_.size() > 1 && segments_[1].first_seq <= acked && read_segment_ > 0) {
        std::error_code ec;
        fs::remove(segments_.front().path, ec);
        total_bytes_ -= segments_.front().bytes;
        segments_.pop_front();
        --read_segment_;
        read_fd_segment_ =
            read_fd_segment_ == 0 || read_fd_segment_ == SIZE_MAX ? SIZE_MAX : read_fd_segment_ - 1;
    }
}

}  // namespace pulse
