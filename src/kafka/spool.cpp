// The on-disk spool; see spool.hpp for the format, the durability rules and the bound.
#include "pulse/kafka/spool.hpp"

#include <fcntl.h>
#include <fmt/format.h>
#include <spdlog/spdlog.h>
#include <sys/file.h>
#include <unistd.h>
#include <zlib.h>

#include <sys/stat.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstdio>
#include <cstring>
#include <sstream>

namespace pulse {
namespace {

namespace fs = std::filesystem;

constexpr std::string_view kMagic = "PULSESP1";
constexpr std::size_t kHeaderBytes = 8;  // u32 length + u32 CRC
// A sanity bound for a record's length field: a larger one can only be damage.
constexpr std::uint32_t kMaxBodyBytes = 64U << 20;
// A body holds at least the topic and key lengths (u16 each); a shorter one is damage, even
// with a matching CRC (eight zero bytes, as a crash can leave, are a "record" of length 0).
constexpr std::uint32_t kMinBodyBytes = 4;
// More records than a sensor writes in 100,000 years at a million a second. A larger number in
// a segment's name or the ack file was not written by a spool, and the bound keeps first_seq +
// records far from overflowing.
constexpr std::uint64_t kMaxSeq = 1ULL << 62;

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

// The start of a small file, nullopt when there is none. The read is bounded and does not wait:
// whatever the file is (a link to /dev/zero, a FIFO), it must not take the sensor's memory or
// stop its start.
std::optional<std::string> read_head(const fs::path& path) {
    UniqueFd fd(open(path.c_str(), O_RDONLY | O_NONBLOCK | O_CLOEXEC));
    if (!fd) {
        return std::nullopt;
    }
    std::array<char, 64> buf{};
    ssize_t n = 0;
    do {
        n = read(fd.get(), buf.data(), buf.size());
    } while (n < 0 && errno == EINTR);
    return std::string(buf.data(), n > 0 ? static_cast<std::size_t>(n) : 0);
}

// The record number a segment's file name stands for: 20 digits and ".seg", within kMaxSeq.
std::optional<std::uint64_t> segment_number(std::string_view name) {
    if (name.size() != 24 || !name.ends_with(".seg")) {
        return std::nullopt;
    }
    std::uint64_t value = 0;
    auto [end, error] = std::from_chars(name.data(), name.data() + 20, value);
    if (error != std::errc() || end != name.data() + 20 || value > kMaxSeq) {
        return std::nullopt;
    }
    return value;
}

bool looks_like_segment(std::string_view name) {
    return name.size() == 24 && name.ends_with(".seg") &&
           std::all_of(name.begin(), name.begin() + 20,
                       [](char c) { return c >= '0' && c <= '9'; });
}

// Decodes a body into a record; false when the lengths inside do not add up.
bool decode_body(const std::string& body, SpoolRecord& out) {
    if (body.size() < kMinBodyBytes) {
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

// The first record numbers of the segment files, sorted. A name that only looks like a segment's
// is logged and left alone: a stray file must not stop the sensor (under systemd that would be a
// restart loop), and it is not ours to delete.
std::vector<std::uint64_t> Spool::list_segments() const {
    std::vector<std::uint64_t> firsts;
    std::error_code ec;
    for (fs::directory_iterator it(options_.dir, ec), end; !ec && it != end; it.increment(ec)) {
        const std::string name = it->path().filename().string();
        if (!looks_like_segment(name)) {
            continue;
        }
        std::error_code type_ec;
        const auto number = segment_number(name);
        if (!number) {
            spdlog::warn("spool: ignoring {}: its number is beyond any record number",
                         it->path().string());
        } else if (!fs::is_regular_file(it->path(), type_ec)) {
            spdlog::warn("spool: ignoring {}: not a regular file", it->path().string());
        } else {
            firsts.push_back(*number);
        }
    }
    if (ec) {
        throw SpoolError(fmt::format("cannot list {}: {}", options_.dir.string(), ec.message()));
    }
    std::sort(firsts.begin(), firsts.end());
    return firsts;
}

void Spool::recover() {
    const std::vector<std::uint64_t> firsts = list_segments();
    for (std::size_t i = 0; i < firsts.size(); ++i) {
        Segment s;
        s.first_seq = firsts[i];
        s.path = options_.dir / segment_name(firsts[i]);
        scan_segment(s, i + 1 == firsts.size());
        total_bytes_ += s.bytes;
        segments_.push_back(std::move(s));
    }
    trim_overlaps();

    std::uint64_t acked = 0;
    if (auto text = read_head(options_.dir / "ack")) {
        std::istringstream in(*text);
        std::string word;
        int version = 0;
        in >> word >> version >> acked;
        if (!in || word != "pulse-spool-ack" || version != 1 || acked > kMaxSeq) {
            spdlog::warn("spool {}: unreadable ack file; replaying every record in the spool",
                         options_.dir.string());
            acked = 0;
        }
    }
    // An ack point beyond the records on disk (an empty spool, segments deleted or lost): new
    // records are numbered from it on, in a new segment. Numbers below it would count as
    // acknowledged at the next start, and those records would never be sent.
    if (segments_.empty() || acked > next_seq()) {
        Segment s;
        s.first_seq = acked;
        s.path = options_.dir / segment_name(s.first_seq);
        segments_.push_back(std::move(s));
    }
    // Start reading at the ack point, or at the oldest record still on disk.
    read_seq_ = std::max(acked, segments_.front().first_seq);
    position_read_cursor();
    counters_.recovered = pending();
    persisted_ack_ = read_seq_;
    open_tail_for_append();
    if (counters_.recovered > 0) {
        spdlog::info("spool {}: {} message(s) from an earlier run to deliver",
                     options_.dir.string(), counters_.recovered);
    }
}

// Record numbers must only grow from one segment to the next. An older segment that seems to
// hold records numbered like the next segment's first ones has damage after its real records
// (the bytes a failed write left): they end where the next segment begins.
void Spool::trim_overlaps() {
    for (std::size_t i = 1; i < segments_.size(); ++i) {
        Segment& older = segments_[i - 1];
        const std::uint64_t room = segments_[i].first_seq - older.first_seq;
        if (older.records > room) {
            spdlog::error(
                "spool: {} seems to hold {} record(s) more than fit before {}; they "
                "are damage and will not be sent",
                older.path.string(), older.records - room, segments_[i].path.string());
            ++counters_.corrupt;
            older.records = room;
        }
    }
}

// Puts the read cursor on read_seq_ by walking the record headers of its segment.
void Spool::position_read_cursor() {
    read_segment_ = 0;
    while (read_segment_ + 1 < segments_.size() &&
           segments_[read_segment_ + 1].first_seq <= read_seq_) {
        ++read_segment_;
    }
    const Segment& seg = segments_[read_segment_];
    read_offset_ = kMagic.size();
    // Past the segment's last record (the ack file points into a gap), read_record moves on.
    const std::uint64_t skip = std::min(read_seq_ - seg.first_seq, seg.records);
    if (skip > 0) {
        UniqueFd fd(open(seg.path.c_str(), O_RDONLY | O_CLOEXEC));
        for (std::uint64_t i = 0; i < skip && fd; ++i) {
            std::array<unsigned char, kHeaderBytes> header{};
            if (!read_exact(fd.get(), header.data(), header.size(), read_offset_)) {
                break;
            }
            read_offset_ += kHeaderBytes + get_u32(header.data());
        }
    }
}

// Counts the records of a segment and checks them; cuts a torn tail off the last segment.
std::uint64_t Spool::scan_segment(Segment& segment, bool is_tail) {
    UniqueFd fd(open(segment.path.c_str(), O_RDWR | O_CLOEXEC));
    struct stat st {};
    if (!fd || fstat(fd.get(), &st) != 0) {
        throw SpoolError(fmt::format("cannot open {}: {}", segment.path.string(), errno_text()));
    }
    const auto size = static_cast<std::uint64_t>(st.st_size);
    std::array<char, 8> magic{};
    std::uint64_t offset = kMagic.size();
    std::uint64_t good_end = offset;
    if (size < kMagic.size() || !read_exact(fd.get(), magic.data(), magic.size(), 0) ||
        std::string_view(magic.data(), magic.size()) != kMagic) {
        good_end = 0;  // not even the magic: an empty segment from a crash during creation
    } else {
        std::string body;
        SpoolRecord record;
        while (offset + kHeaderBytes <= size) {
            std::array<unsigned char, kHeaderBytes> header{};
            if (!read_exact(fd.get(), header.data(), header.size(), offset)) {
                break;
            }
            std::uint32_t length = get_u32(header.data());
            if (length < kMinBodyBytes || length > kMaxBodyBytes ||
                offset + kHeaderBytes + length > size) {
                break;
            }
            // Checksums are verified for the tail only, where a crash can tear a record; older
            // segments are verified record by record when they are read.
            if (is_tail) {
                body.resize(length);
                if (!read_exact(fd.get(), body.data(), length, offset + kHeaderBytes) ||
                    crc_of(body.data(), length) != get_u32(header.data() + 4) ||
                    !decode_body(body, record)) {
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
                // Rewrite the magic so the segment can be appended to. At offset 0: fstat left
                // the file offset alone, but write() would not write at the start after a seek.
                if (sys().ftruncate(fd.get(), 0) != 0 || lseek(fd.get(), 0, SEEK_SET) != 0 ||
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

// At start: the last segment found, or a new one when there was none.
void Spool::open_tail_for_append() {
    Segment& tail = segments_.back();
    if (tail.bytes == 0) {
        std::string why;
        if (!create_segment(tail, tail_fd_, why)) {
            throw SpoolError(fmt::format("cannot create {}: {}", tail.path.string(), why));
        }
        total_bytes_ += tail.bytes;
        return;
    }
    tail_fd_ = UniqueFd(sys().open(tail.path.c_str(), O_WRONLY | O_APPEND | O_CLOEXEC, 0600));
    if (!tail_fd_) {
        throw SpoolError(fmt::format("cannot open {}: {}", tail.path.string(), errno_text()));
    }
}

// Creates the file of `segment` with its magic and makes its name durable. On failure removes
// what it created, so that no segment without a magic is ever written to, and says why.
bool Spool::create_segment(Segment& segment, UniqueFd& fd, std::string& why) {
    UniqueFd created(sys().open(segment.path.c_str(),
                                O_WRONLY | O_CREAT | O_TRUNC | O_APPEND | O_CLOEXEC, 0600));
    if (!created) {
        why = errno_text();
        return false;
    }
    bool ok = write_all(sys(), created.get(), kMagic.data(), kMagic.size());
    if (ok) {
        // The new file's name must survive a crash as well as its contents.
        UniqueFd dir(open(options_.dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
        ok = dir && sys().fsync(dir.get()) == 0;
    }
    if (!ok) {
        why = errno_text();
        unlink(segment.path.c_str());
        return false;
    }
    segment.records = 0;
    segment.bytes = kMagic.size();
    fd = std::move(created);
    return true;
}

std::uint64_t Spool::next_seq() const {
    if (segments_.empty()) {
        return read_seq_;
    }
    return segments_.back().first_seq + segments_.back().records;
}

// Starts a new segment for the next record. False when it cannot (a full disk, no descriptor
// left): the current segment is still intact and takes the record, and the next append tries
// again. Logged once until a roll works again.
bool Spool::roll_segment() {
    Segment s;
    s.first_seq = next_seq();
    s.path = options_.dir / segment_name(s.first_seq);
    UniqueFd fd;
    std::string why;
    // The current segment's records must be on disk before its descriptor is let go: sync()
    // only fsyncs the segment being written.
    if (tail_dirty_ && sys().fsync(tail_fd_.get()) != 0) {
        why = fmt::format("cannot fsync {}: {}", segments_.back().path.string(), errno_text());
    } else {
        tail_dirty_ = false;
        if (!create_segment(s, fd, why)) {
            why = fmt::format("cannot create {}: {}", s.path.string(), why);
        }
    }
    if (!fd) {
        ++counters_.failed_rolls;
        problems_.report("roll", spdlog::level::err,
                         fmt::format("spool: {}; appending to {} meanwhile", why,
                                     segments_.back().path.string()));
        return false;
    }
    if (problems_.active("roll")) {
        problems_.resolve("roll", fmt::format("spool: new segments again, from {} on ({} failed "
                                              "attempt(s))",
                                              s.path.string(), counters_.failed_rolls));
    }
    total_bytes_ += s.bytes;
    segments_.push_back(std::move(s));
    tail_fd_ = std::move(fd);
    return true;
}

// After a failed write whose partial record could not be cut off: cut it now, or leave it behind
// in a finished segment. Appending after it would make the records that follow unreadable.
bool Spool::repair_tail() {
    const Segment& tail = segments_.back();
    if (sys().ftruncate(tail_fd_.get(), static_cast<off_t>(tail.bytes)) == 0 ||
        (tail.records > 0 && roll_segment())) {
        tail_torn_ = false;
    }
    return !tail_torn_;
}

void Spool::make_room(std::uint64_t record_bytes) {
    if (tail_torn_ && !repair_tail()) {
        throw SpoolError(
            fmt::format("cannot cut a partial record off {}", segments_.back().path.string()));
    }
    const Segment& tail = segments_.back();
    const bool roll_due = tail.bytes + record_bytes > options_.segment_bytes && tail.records > 0;
    const bool rolled = roll_due && roll_segment();
    while (total_bytes_ + record_bytes > options_.max_bytes && segments_.size() > 1) {
        drop_oldest_segment();
    }
    // Without a new segment the current one cannot be dropped: refuse rather than grow past the
    // bound.
    if (roll_due && !rolled && total_bytes_ + record_bytes > options_.max_bytes) {
        throw SpoolError(fmt::format("spool full ({} bytes) and no new segment can be started",
                                     options_.max_bytes));
    }
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
        peeked_.reset();
    }
    std::error_code ec;
    fs::remove(oldest.path, ec);
    total_bytes_ -= oldest.bytes;
    segments_.pop_front();
    read_fd_ = UniqueFd();
    read_fd_segment_ = SIZE_MAX;
    // The cursor was in the dropped segment (possibly at its end, with every record taken): it
    // moves to the start of the next one. Its offset belonged to the dropped file.
    if (read_segment_ == 0) {
        start_reading_segment(0);
    } else {
        --read_segment_;
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
            tail_torn_ = true;
            why += " (and the partial record could not be removed yet)";
        }
        throw SpoolError(fmt::format("cannot write {}: {}", tail.path.string(), why));
    }
    tail.bytes += record.size();
    total_bytes_ += record.size();
    ++tail.records;
    ++counters_.appended;
    tail_dirty_ = true;
}

void Spool::start_reading_segment(std::size_t index) {
    read_segment_ = index;
    read_seq_ = segments_[index].first_seq;
    read_offset_ = kMagic.size();
}

// Opens the segment under the read cursor. A missing file is damage (its records are gone); any
// other failure (no descriptor left) passes: the records stay and the next peek() tries again.
bool Spool::open_read_segment() {
    const Segment& seg = segments_[read_segment_];
    UniqueFd fd(sys().open(seg.path.c_str(), O_RDONLY | O_CLOEXEC, 0));
    if (!fd && errno != ENOENT) {
        problems_.report("read", spdlog::level::err,
                         fmt::format("spool: cannot open {} to send its records: {}; trying again",
                                     seg.path.string(), errno_text()));
        return false;
    }
    if (fd && problems_.active("read")) {
        problems_.resolve("read", fmt::format("spool: reading {} again", seg.path.string()));
    }
    read_fd_ = std::move(fd);
    read_fd_segment_ = read_segment_;
    return true;
}

bool Spool::read_record(SpoolRecord& out) {
    while (read_segment_ < segments_.size()) {
        Segment& seg = segments_[read_segment_];
        if (read_seq_ >= seg.first_seq + seg.records) {
            if (read_segment_ + 1 == segments_.size()) {
                return false;  // everything written has been handed out
            }
            start_reading_segment(read_segment_ + 1);
            continue;
        }
        if (read_fd_segment_ != read_segment_ && !open_read_segment()) {
            return false;
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

// Counted segment by segment from the read cursor on: record numbers may have gaps (a damaged
// segment's lost end, a segment deleted by hand), and a gap holds nothing to replay.
std::uint64_t Spool::pending() const {
    std::uint64_t unacked = 0;
    for (const InFlight& f : in_flight_) {
        unacked += f.acked ? 0 : 1;
    }
    std::uint64_t unread = peeked_ ? 1 : 0;
    for (std::size_t i = read_segment_; i < segments_.size(); ++i) {
        const Segment& s = segments_[i];
        const std::uint64_t from = std::max(read_seq_, s.first_seq);
        const std::uint64_t end = s.first_seq + s.records;
        unread += end > from ? end - from : 0;
    }
    return unacked + unread;
}

// Every step is checked: renaming a short or empty file over the old one would make the next
// start replay everything acknowledged. On failure the old ack file stays, and the next sync()
// tries again.
void Spool::write_ack_file(std::uint64_t seq) {
    const fs::path tmp = options_.dir / "ack.tmp";
    const fs::path ack = options_.dir / "ack";
    const std::string text = fmt::format("pulse-spool-ack 1 {}\n", seq);
    UniqueFd fd(sys().open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600));
    if (!fd) {
        throw SpoolError(fmt::format("cannot create {}: {}", tmp.string(), errno_text()));
    }
    bool ok = write_all(sys(), fd.get(), text.data(), text.size()) && sys().fsync(fd.get()) == 0;
    std::string why = ok ? std::string() : errno_text();
    if (sys().close(fd.release()) != 0 && ok) {
        ok = false;
        why = errno_text();
    }
    if (ok && sys().rename(tmp.c_str(), ack.c_str()) != 0) {
        ok = false;
        why = errno_text();
    }
    if (!ok) {
        unlink(tmp.c_str());
        throw SpoolError(
            fmt::format("cannot replace {}: {}; the previous one stays", ack.string(), why));
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
