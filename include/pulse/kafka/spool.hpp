// The on-disk spool: every message bound for Kafka is appended here first and removed once the
// broker acknowledged it, so a broker outage, a slow broker or a restart of the sensor costs
// no data (a crash or SIGKILL loses at most the poll being written).
//
// Layout of SPOOL_DIR:
//   lock                    flock()ed by the one sensor that owns the spool
//   ack                     "pulse-spool-ack 1 <seq>\n": the first record not yet acknowledged,
//                           replaced atomically (write + rename) when it moved, at sync()
//   <first-seq>.seg         segment files, 20-digit first record number, rolled at
//                           segment_bytes; a segment starts with the magic "PULSESP1"
// A record is  u32 body length | u32 CRC-32 of the body | body  (little endian), and the body is
// u16 topic length | u16 key length | topic | key | payload. Records are numbered (seq) in
// append order; replay is in that order, so each key's messages stay in order.
//
// Durability: the segment being written is fsync()ed once per poll (sync()), not per record.
// On start the last segment is scanned and a torn or corrupt last record (a crash mid-write)
// is cut off and logged; a corrupt record inside an older segment ends that segment's
// replay and is logged with the number of bytes skipped. The ack file is written, fsync()ed and
// closed with every step checked before it replaces the old one: a short one would replay what
// was acknowledged, and a failure keeps the old one (records may then be sent again, never lost).
//
// Failures: when a new segment cannot be started (a full disk, no descriptor left), records go on
// into the current one and the next append tries again; the problem is logged once and counted.
// A file in SPOOL_DIR that only looks like a segment (a record number out of range, not a
// regular file) is logged and left alone.
//
// Bound: the segments' total size stays within max_bytes. When an append would exceed it, the
// oldest segments are deleted, and their records not yet acknowledged are counted dropped
// (those already handed to librdkafka may still arrive, without a guarantee).
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <deque>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "pulse/base/c_handle.hpp"
#include "pulse/base/log_once.hpp"

namespace pulse {

class SpoolError : public std::runtime_error {
  public:
    using std::runtime_error::runtime_error;
};

// The system calls through which the spool creates, writes and replaces its files. The default
// makes the real calls; a test hands in a subclass that fails a chosen call the way a full disk
// (ENOSPC) or an exhausted descriptor table (EMFILE) does, which no real disk does on cue.
class SpoolSyscalls {
  public:
    virtual ~SpoolSyscalls() = default;
    virtual int open(const char* path, int flags, mode_t mode);
    virtual ssize_t write(int fd, const void* data, std::size_t size);
    virtual int fsync(int fd);
    virtual int ftruncate(int fd, off_t length);
    virtual int close(int fd);
    virtual int rename(const char* from, const char* to);
};

struct SpoolOptions {
    std::filesystem::path dir;
    std::uint64_t max_bytes = 256ULL << 20;
    // 0: a quarter of max_bytes, between 4 KiB and 16 MiB, so dropping frees space in steps.
    std::uint64_t segment_bytes = 0;
    std::shared_ptr<SpoolSyscalls> syscalls = nullptr;  // null: the real system calls
};

struct SpoolRecord {
    std::uint64_t seq = 0;
    std::string topic;
    std::string key;
    std::string payload;
};

struct SpoolCounters {
    std::uint64_t appended = 0;      // this process
    std::uint64_t acked = 0;         // this process
    std::uint64_t dropped = 0;       // deleted unsent because the spool was full (this process)
    std::uint64_t corrupt = 0;       // records found damaged on disk and skipped
    std::uint64_t recovered = 0;     // records found from an earlier run at start
    std::uint64_t failed_rolls = 0;  // new segments that could not be started (tried again)
};

class Spool {
  public:
    // Opens (creating if needed), locks and recovers the spool. Throws SpoolError naming the
    // directory and the reason.
    explicit Spool(SpoolOptions options);
    ~Spool();
    Spool(const Spool&) = delete;
    Spool& operator=(const Spool&) = delete;

    // Appends one record. Throws SpoolError when the disk refuses it.
    void append(std::string_view topic, std::string_view key, std::string_view payload);

    // The next record not yet handed out, read from disk; nullopt when all are out.
    const std::optional<SpoolRecord>& peek();
    // Marks the peeked record as handed out (to Kafka).
    void take();
    // The broker acknowledged (or definitively refused) a handed-out record.
    void ack(std::uint64_t seq);

    // Once per poll: fsync what was appended, persist the ack point, delete segments that are
    // fully acknowledged.
    void sync();

    // Records appended and neither acknowledged nor dropped: what a restart would replay.
    std::uint64_t pending() const;
    std::uint64_t disk_bytes() const { return total_bytes_; }
    std::uint64_t max_bytes() const { return options_.max_bytes; }
    const SpoolCounters& counters() const { return counters_; }
    const std::filesystem::path& dir() const { return options_.dir; }

  private:
    struct Segment {
        std::uint64_t first_seq = 0;
        std::uint64_t records = 0;
        std::uint64_t bytes = 0;  // file size, magic included
        std::filesystem::path path;
    };
    struct InFlight {
        std::uint64_t seq;
        bool acked;
    };

    void recover();
    std::vector<std::uint64_t> list_segments() const;
    std::uint64_t scan_segment(Segment& segment, bool is_tail);
    void trim_overlaps();
    void position_read_cursor();
    void open_tail_for_append();
    bool create_segment(Segment& segment, UniqueFd& fd, std::string& why);
    bool roll_segment();
    bool repair_tail();
    void make_room(std::uint64_t record_bytes);
    void drop_oldest_segment();
    void start_reading_segment(std::size_t index);
    bool open_read_segment();
    bool read_record(SpoolRecord& out);
    std::uint64_t ack_point() const;
    void write_ack_file(std::uint64_t seq);
    std::uint64_t next_seq() const;
    SpoolSyscalls& sys() { return *options_.syscalls; }

    SpoolOptions options_;
    UniqueFd lock_fd_;
    UniqueFd tail_fd_;
    bool tail_dirty_ = false;
    // A failed write left bytes after the tail's last record that could not be cut off.
    bool tail_torn_ = false;
    std::deque<Segment> segments_;  // oldest first; the last one is written to
    std::uint64_t total_bytes_ = 0;

    // Read cursor: the next record to hand out.
    std::uint64_t read_seq_ = 0;
    std::size_t read_segment_ = 0;
    std::uint64_t read_offset_ = 0;
    UniqueFd read_fd_;
    std::size_t read_fd_segment_ = SIZE_MAX;
    std::optional<SpoolRecord> peeked_;

    std::deque<InFlight> in_flight_;
    std::uint64_t persisted_ack_ = UINT64_MAX;
    SpoolCounters counters_;
    ConditionLog problems_;  // failures that repeat at every append are logged once
};

}  // namespace pulse
