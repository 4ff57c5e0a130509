// The spool: what is appended survives restarts until acknowledged, in order; a torn write is
// cut off; the bound drops the oldest; one process owns a spool at a time.
#include "pulse/kafka/spool.hpp"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <spdlog/sinks/ostream_sink.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

#include <cerrno>
#include <cstdlib>
#include <fstream>
#include <map>
#include <sstream>

#include "pulse/kafka/sink.hpp"

namespace pulse {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

struct TempDir {
    TempDir() {
        std::string tmpl = (fs::temp_directory_path() / "pulse-spool-XXXXXX").string();
        path = mkdtemp(tmpl.data());
    }
    ~TempDir() { fs::remove_all(path); }
    fs::path path;
};

std::vector<fs::path> segments(const fs::path& dir) {
    std::vector<fs::path> out;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == ".seg") {
            out.push_back(e.path());
        }
    }
    std::sort(out.begin(), out.end());
    return out;
}

// Takes every record there is, returning their payloads; acks them when `ack` is set.
std::vector<std::string> drain(Spool& spool, bool ack) {
    std::vector<std::string> payloads;
    while (const auto& r = spool.peek()) {
        payloads.push_back(r->payload);
        std::uint64_t seq = r->seq;
        spool.take();
        if (ack) {
            spool.ack(seq);
        }
    }
    return payloads;
}

std::string read_text(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream text;
    text << in.rdbuf();
    return text.str();
}

// The real system calls, except that the calls a test arms fail with the errno it names, the way
// a full disk or an exhausted descriptor table makes them fail.
class FaultySyscalls : public SpoolSyscalls {
  public:
    enum class Call { open, write, fsync, ftruncate, close, rename };

    // The next `times` calls of `call` on a file whose path ends in `suffix` fail with `error`.
    void fail(Call call, std::string suffix, int error, int times = 1) {
        faults_.push_back({call, std::move(suffix), error, times});
    }
    void heal() { faults_.clear(); }

    int open(const char* path, int flags, mode_t mode) override {
        if (int error = fault(Call::open, path); error != 0) {
            errno = error;
            return -1;
        }
        int fd = SpoolSyscalls::open(path, flags, mode);
        paths_[fd] = path;
        return fd;
    }
    // A full disk takes part of a write before it refuses the rest.
    ssize_t write(int fd, const void* data, std::size_t size) override {
        if (int error = fault(Call::write, paths_[fd]); error != 0) {
            if (size > 1 && SpoolSyscalls::write(fd, data, size / 2) < 0) {
                return -1;
            }
            errno = error;
            return -1;
        }
        return SpoolSyscalls::write(fd, data, size);
    }
    int ftruncate(int fd, off_t length) override {
        if (int error = fault(Call::ftruncate, paths_[fd]); error != 0) {
            errno = error;
            return -1;
        }
        return SpoolSyscalls::ftruncate(fd, length);
    }
    int fsync(int fd) override {
        if (int error = fault(Call::fsync, paths_[fd]); error != 0) {
            errno = error;
            return -1;
        }
        return SpoolSyscalls::fsync(fd);
    }
    int close(int fd) override {
        // The descriptor is closed either way, as close(2) does when it reports an error.
        int rc = SpoolSyscalls::close(fd);
        if (int error = fault(Call::close, paths_[fd]); error != 0) {
            errno = error;
            return -1;
        }
        return rc;
    }
    int rename(const char* from, const char* to) override {
        if (int error = fault(Call::rename, from); error != 0) {
            errno = error;
            return -1;
        }
        return SpoolSyscalls::rename(from, to);
    }

  private:
    struct Fault {
        Call call;
        std::string suffix;
        int error;
        int times;
    };
    int fault(Call call, const std::string& path) {
        for (Fault& f : faults_) {
            if (f.call == call && f.times > 0 && path.ends_with(f.suffix)) {
                --f.times;
                return f.error;
            }
        }
        return 0;
    }
    std::vector<Fault> faults_;
    std::map<int, std::string> paths_;
};

// A record of "t", "k" and a 1000-byte payload takes 8 + 4 + 1 + 1 + 1000 bytes: segments of
// this size hold exactly four, so the fifth append rolls to 00000000000000000004.seg.
constexpr std::uint64_t kFourRecords = 8 + 4 * 1014;
std::string payload_of(int i) {
    std::string p = std::to_string(i);
    return p + std::string(1000 - p.size(), '.');
}

TEST(Spool, RecordsComeBackInOrderWithTopicAndKey) {
    TempDir dir;
    Spool spool({dir.path});
    spool.append("kvm-metrics", "uuid-1", "[1]");
    spool.append("kvm-metrics", "uuid-2", "[2]");
    const auto& first = spool.peek();
    ASSERT_TRUE(first);
    EXPECT_EQ(first->topic, "kvm-metrics");
    EXPECT_EQ(first->key, "uuid-1");
    EXPECT_EQ(first->payload, "[1]");
    EXPECT_EQ(drain(spool, true), (std::vector<std::string>{"[1]", "[2]"}));
    EXPECT_EQ(spool.pending(), 0u);
}

TEST(Spool, UnacknowledgedRecordsSurviveARestart) {
    TempDir dir;
    {
        Spool spool({dir.path});
        for (int i = 0; i < 5; ++i) {
            spool.append("t", "k", "[" + std::to_string(i) + "]");
        }
        // 0 and 1 acknowledged, 2 in flight, 3 and 4 never handed out.
        drain(spool, false);
        spool.ack(0);
        spool.ack(1);
        spool.sync();
    }
    Spool again({dir.path});
    EXPECT_EQ(again.counters().recovered, 3u);
    EXPECT_EQ(again.pending(), 3u);
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"[2]", "[3]", "[4]"}));
}

TEST(Spool, OutOfOrderAcksOnlyAdvanceOverAContiguousPrefix) {
    TempDir dir;
    {
        Spool spool({dir.path});
        for (int i = 0; i < 3; ++i) {
            spool.append("t", "k", std::to_string(i));
        }
        drain(spool, false);
        spool.ack(2);  // another partition answered first
        spool.ack(0);
        spool.sync();
        EXPECT_EQ(spool.pending(), 1u);
    }
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"1", "2"}))
        << "1 was never acknowledged, so it and everything after it is replayed";
}

TEST(Spool, ATornLastRecordIsCutOffAndTheRestKept) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "kept-1");
        spool.append("t", "k", "kept-2");
        spool.sync();
    }
    auto files = segments(dir.path);
    ASSERT_EQ(files.size(), 1u);
    auto size_before = fs::file_size(files[0]);
    {
        std::ofstream torn(files[0], std::ios::app | std::ios::binary);
        torn.write("\x40\x00\x00\x00\x12\x34", 6);  // a header cut short by a crash
    }
    Spool again({dir.path});
    EXPECT_EQ(fs::file_size(files[0]), size_before);
    again.append("t", "k", "after");
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"kept-1", "kept-2", "after"}));
}

TEST(Spool, ALastRecordWithABadChecksumIsCutOff) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "good");
        spool.append("t", "k", "damaged");
        spool.sync();
    }
    auto file = segments(dir.path).at(0);
    {
        std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
        f.seekp(-1, std::ios::end);
        f.put('X');
    }
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"good"}));
}

TEST(Spool, WhenFullTheOldestAreDroppedAndCounted) {
    TempDir dir;
    const std::uint64_t max = 64 * 1024;
    Spool spool({dir.path, max});
    const std::string payload(1000, 'x');
    for (int i = 0; i < 300; ++i) {
        spool.append("t", "k", payload + std::to_string(i));
        ASSERT_LE(spool.disk_bytes(), max);
    }
    EXPECT_GT(spool.counters().dropped, 0u);
    EXPECT_EQ(spool.pending() + spool.counters().dropped, 300u);
    auto kept = drain(spool, true);
    ASSERT_FALSE(kept.empty());
    EXPECT_EQ(kept.back(), payload + "299") << "the newest are kept";
    for (std::size_t i = 1; i < kept.size(); ++i) {
        EXPECT_LT(std::stoi(kept[i - 1].substr(1000)), std::stoi(kept[i].substr(1000)));
    }
    std::uint64_t on_disk = 0;
    for (const auto& f : segments(dir.path)) {
        on_disk += fs::file_size(f);
    }
    EXPECT_LE(on_disk, max);
}

TEST(Spool, AcknowledgedSegmentsAreDeleted) {
    TempDir dir;
    Spool spool({dir.path, 64 * 1024});
    const std::string payload(1000, 'y');
    for (int i = 0; i < 40; ++i) {
        spool.append("t", "k", payload);
    }
    EXPECT_GT(segments(dir.path).size(), 1u);
    drain(spool, true);
    spool.sync();
    EXPECT_EQ(segments(dir.path).size(), 1u) << "only the segment being written stays";
}

TEST(Spool, OneProcessOwnsASpool) {
    TempDir dir;
    Spool first({dir.path});
    try {
        Spool second({dir.path});
        FAIL() << "two owners";
    } catch (const SpoolError& e) {
        EXPECT_THAT(e.what(), HasSubstr("in use"));
    }
}

TEST(Spool, AnUnusableDirectoryIsAnErrorNamingIt) {
    TempDir dir;
    std::ofstream(dir.path / "file") << "x";
    try {
        Spool spool({dir.path / "file" / "spool"});
        FAIL() << "opened";
    } catch (const SpoolError& e) {
        EXPECT_THAT(e.what(), HasSubstr((dir.path / "file").string()));
    }
}

TEST(Spool, DroppingASegmentWhoseRecordsWereAllTakenKeepsTheNextSegmentReadable) {
    TempDir dir;
    Spool spool({dir.path, 64 * 1024});
    const std::string payload(1000, 'x');
    int appended = 0;
    auto append = [&] { spool.append("t", "k", payload + std::to_string(appended++)); };
    while (appended < 20) {
        append();
    }
    const auto files = segments(dir.path);
    ASSERT_GE(files.size(), 2u);
    // The window takes exactly the first segment's records, unacknowledged.
    const auto second_first = static_cast<int>(std::stoull(files[1].stem().string()));
    for (int i = 0; i < second_first; ++i) {
        ASSERT_TRUE(spool.peek());
        spool.take();
    }
    // Fill the spool until its bound drops that first segment.
    while (segments(dir.path).front() == files[0] && appended < 1000) {
        append();
    }
    const auto kept = drain(spool, true);
    EXPECT_EQ(spool.counters().corrupt, 0u);
    ASSERT_EQ(kept.size(), static_cast<std::size_t>(appended - second_first))
        << "every record not yet taken is still there";
    EXPECT_EQ(kept.front(), payload + std::to_string(second_first));
}

TEST(Spool, AFailedRollOnAFullDiskKeepsTheRecordAndLaterAppends) {
    TempDir dir;
    {
        Spool spool({dir.path, 64 * 1024, kFourRecords});
        for (int i = 0; i < 4; ++i) {
            spool.append("t", "k", payload_of(i));
        }
        // The next segment's name leads to a device that is always full: the roll fails.
        const fs::path next = dir.path / "00000000000000000004.seg";
        fs::create_symlink("/dev/full", next);
        EXPECT_NO_THROW(spool.append("t", "k", payload_of(4)));
        std::error_code ec;
        fs::remove(next, ec);  // space is free again
        for (int i = 5; i < 10; ++i) {
            EXPECT_NO_THROW(spool.append("t", "k", payload_of(i))) << i;
        }
        EXPECT_NO_THROW(spool.sync());
    }
    Spool again({dir.path, 64 * 1024, kFourRecords});
    const auto kept = drain(again, true);
    ASSERT_EQ(kept.size(), 10u);
    EXPECT_EQ(kept[4], payload_of(4));
    EXPECT_EQ(kept[9], payload_of(9));
    EXPECT_EQ(again.counters().corrupt, 0u);
}

TEST(Spool, NoSpaceForTheMagicOfANewSegmentLosesNothing) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    {
        Spool spool({dir.path, 64 * 1024, kFourRecords, sys});
        for (int i = 0; i < 4; ++i) {
            spool.append("t", "k", payload_of(i));
        }
        // One write fails: the magic of 00000000000000000004.seg.
        sys->fail(FaultySyscalls::Call::write, "00000000000000000004.seg", ENOSPC);
        EXPECT_NO_THROW(spool.append("t", "k", payload_of(4)));
        for (int i = 5; i < 10; ++i) {
            spool.append("t", "k", payload_of(i));
        }
        spool.sync();
    }
    Spool again({dir.path, 64 * 1024, kFourRecords});
    const auto kept = drain(again, true);
    EXPECT_EQ(again.counters().corrupt, 0u);
    ASSERT_EQ(kept.size(), 10u) << "what append() and sync() accepted survives a restart";
    EXPECT_EQ(kept[9], payload_of(9));
    for (const auto& file : segments(dir.path)) {
        EXPECT_EQ(read_text(file).substr(0, 8), "PULSESP1") << file;
    }
}

TEST(Spool, NoDescriptorForANewSegmentIsRetriedAtTheNextAppend) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    {
        Spool spool({dir.path, 64 * 1024, kFourRecords, sys});
        for (int i = 0; i < 4; ++i) {
            spool.append("t", "k", payload_of(i));
        }
        sys->fail(FaultySyscalls::Call::open, "00000000000000000004.seg", EMFILE);
        EXPECT_NO_THROW(spool.append("t", "k", payload_of(4)));
        for (int i = 5; i < 10; ++i) {
            EXPECT_NO_THROW(spool.append("t", "k", payload_of(i))) << i;
        }
        spool.sync();
        EXPECT_GE(segments(dir.path).size(), 2u) << "the roll was retried";
    }
    Spool again({dir.path, 64 * 1024, kFourRecords});
    EXPECT_EQ(drain(again, true).size(), 10u);
}

// The default logger's lines while it lives.
struct CapturedLog {
    CapturedLog()
        : previous(spdlog::default_logger()),
          logger(std::make_shared<spdlog::logger>(
              "test", std::make_shared<spdlog::sinks::ostream_sink_st>(text))) {
        spdlog::set_default_logger(logger);
    }
    ~CapturedLog() { spdlog::set_default_logger(previous); }
    std::size_t count(std::string_view what) const {
        std::size_t n = 0;
        const std::string all = text.str();
        for (auto at = all.find(what); at != std::string::npos; at = all.find(what, at + 1)) {
            ++n;
        }
        return n;
    }
    std::ostringstream text;
    std::shared_ptr<spdlog::logger> previous;
    std::shared_ptr<spdlog::logger> logger;
};

TEST(Spool, ARollThatKeepsFailingIsCountedAndLoggedOnce) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    CapturedLog log;
    Spool spool({dir.path, 64 * 1024, kFourRecords, sys});
    for (int i = 0; i < 4; ++i) {
        spool.append("t", "k", payload_of(i));
    }
    sys->fail(FaultySyscalls::Call::open, ".seg", EMFILE, 5);
    for (int i = 4; i < 10; ++i) {
        ASSERT_NO_THROW(spool.append("t", "k", payload_of(i))) << i;
    }
    EXPECT_EQ(spool.counters().failed_rolls, 5u);
    EXPECT_EQ(log.count("Too many open files"), 1u) << log.text.str();
    EXPECT_EQ(log.count("new segments again"), 1u) << log.text.str();
    EXPECT_EQ(drain(spool, true).size(), 10u);
}

TEST(Spool, ARollThatCannotHappenStopsAtTheBoundInsteadOfGrowingPastIt) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    const std::uint64_t max = 64 * 1024;
    Spool spool({dir.path, max, kFourRecords, sys});
    sys->fail(FaultySyscalls::Call::open, ".seg", EMFILE, 1000);
    int accepted = 0;
    for (int i = 0; i < 100; ++i) {
        try {
            spool.append("t", "k", payload_of(i));
            ++accepted;
        } catch (const SpoolError& e) {
            EXPECT_THAT(e.what(), HasSubstr("no new segment"));
        }
        ASSERT_LE(spool.disk_bytes(), max);
    }
    EXPECT_GT(accepted, 0);
    sys->heal();
    EXPECT_EQ(drain(spool, true).size(), static_cast<std::size_t>(accepted));
}

TEST(Spool, APartialRecordThatCannotBeCutOffAtOnceCostsNoLaterRecord) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    {
        Spool spool({dir.path, 64 * 1024, 0, sys});
        spool.append("t", "k", "before");
        sys->fail(FaultySyscalls::Call::write, ".seg", ENOSPC);
        sys->fail(FaultySyscalls::Call::ftruncate, ".seg", EIO);
        EXPECT_THROW(spool.append("t", "k", "refused"), SpoolError);
        spool.append("t", "k", "after");
        spool.sync();
        EXPECT_EQ(drain(spool, false), (std::vector<std::string>{"before", "after"}));
        EXPECT_EQ(spool.counters().corrupt, 0u);
    }
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"before", "after"}));
}

TEST(Spool, NoDescriptorToReadASegmentSkipsNothing) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    Spool spool({dir.path, 64 * 1024, 0, sys});
    for (int i = 0; i < 3; ++i) {
        spool.append("t", "k", std::to_string(i));
    }
    sys->fail(FaultySyscalls::Call::open, ".seg", EMFILE);
    spool.peek();  // cannot open the segment to read it: nothing to hand out yet
    EXPECT_EQ(drain(spool, true), (std::vector<std::string>{"0", "1", "2"}));
    EXPECT_EQ(spool.counters().corrupt, 0u);
}

TEST(Spool, AnAckFileThatCannotBeWrittenKeepsTheOldOne) {
    TempDir dir;
    {
        Spool spool({dir.path});
        for (int i = 0; i < 5; ++i) {
            spool.append("t", "k", std::to_string(i));
        }
        drain(spool, false);
        spool.ack(0);
        spool.ack(1);
        spool.sync();
        ASSERT_EQ(read_text(dir.path / "ack"), "pulse-spool-ack 1 2\n");
        // The new ack file lands on a device that is always full.
        fs::create_symlink("/dev/full", dir.path / "ack.tmp");
        spool.ack(2);
        spool.ack(3);
        EXPECT_THROW(spool.sync(), SpoolError);
        // (Reading an ack file that leads to /dev/full would never end.)
        ASSERT_FALSE(fs::is_symlink(dir.path / "ack"));
        EXPECT_EQ(read_text(dir.path / "ack"), "pulse-spool-ack 1 2\n");
    }
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"4"}))
        << "the acknowledged records are not sent again";
}

TEST(Spool, AnAckFileWhoseFsyncOrCloseFailsIsNotInstalled) {
    for (auto call : {FaultySyscalls::Call::write, FaultySyscalls::Call::fsync,
                      FaultySyscalls::Call::close, FaultySyscalls::Call::rename}) {
        TempDir dir;
        auto sys = std::make_shared<FaultySyscalls>();
        Spool spool({dir.path, 64 * 1024, 0, sys});
        for (int i = 0; i < 3; ++i) {
            spool.append("t", "k", std::to_string(i));
        }
        drain(spool, false);
        spool.ack(0);
        spool.sync();
        const std::string before = read_text(dir.path / "ack");
        sys->fail(call, "ack.tmp", ENOSPC);
        spool.ack(1);
        EXPECT_THROW(spool.sync(), SpoolError) << static_cast<int>(call);
        EXPECT_EQ(read_text(dir.path / "ack"), before) << static_cast<int>(call);
        EXPECT_NO_THROW(spool.sync()) << "the next sync() tries again";
        EXPECT_EQ(read_text(dir.path / "ack"), "pulse-spool-ack 1 2\n");
    }
}

TEST(Spool, ASegmentNameBeyondTheRangeOfRecordNumbersIsIgnored) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "kept");
        spool.sync();
    }
    std::ofstream(dir.path / "99999999999999999999.seg") << "PULSESP1";
    std::ofstream(dir.path / "18446744073709551615.seg") << "PULSESP1";
    std::unique_ptr<Spool> again;
    ASSERT_NO_THROW(again = std::make_unique<Spool>(SpoolOptions{dir.path}));
    EXPECT_EQ(drain(*again, true), (std::vector<std::string>{"kept"}));
    again->append("t", "k", "after");
    EXPECT_EQ(drain(*again, true), (std::vector<std::string>{"after"}));
}

TEST(Spool, ADirectoryWithASegmentNameIsIgnored) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "kept");
        spool.sync();
    }
    fs::create_directory(dir.path / "00000000000000000007.seg");
    std::unique_ptr<Spool> again;
    ASSERT_NO_THROW(again = std::make_unique<Spool>(SpoolOptions{dir.path}));
    EXPECT_EQ(drain(*again, true), (std::vector<std::string>{"kept"}));
}

TEST(Spool, AnAckFileWithoutEndIsReadOnlyAsFarAsAnAckFileGoes) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "kept");
        spool.sync();
    }
    fs::create_symlink("/dev/zero", dir.path / "ack");
    rusage before{};
    getrusage(RUSAGE_SELF, &before);
    std::unique_ptr<Spool> again;
    ASSERT_NO_THROW(again = std::make_unique<Spool>(SpoolOptions{dir.path}));
    rusage after{};
    getrusage(RUSAGE_SELF, &after);
    EXPECT_LT(after.ru_maxrss - before.ru_maxrss, 64 * 1024) << "KiB taken to read the ack file";
    EXPECT_EQ(drain(*again, true), (std::vector<std::string>{"kept"}));
}

TEST(Spool, ASegmentCutShortWhileBeingCreatedTakesNewRecordsAfterItsRepair) {
    TempDir dir;
    std::ofstream(dir.path / "00000000000000000000.seg") << "PUL";  // a crash mid-magic
    {
        Spool spool({dir.path});
        spool.append("t", "k", "after");
        spool.sync();
    }
    EXPECT_EQ(read_text(dir.path / "00000000000000000000.seg").substr(0, 8), "PULSESP1");
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"after"}));
}

TEST(Spool, AnAckPointBeyondTheRecordsOnDiskDoesNotSwallowNewRecords) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "old");
        spool.sync();
    }
    // Records 1 to 17 were acknowledged, and their segments are gone.
    std::ofstream(dir.path / "ack") << "pulse-spool-ack 1 18\n";
    {
        Spool spool({dir.path});
        EXPECT_EQ(spool.pending(), 0u);
        spool.append("t", "k", "new");
        spool.sync();
    }
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"new"}));
}

TEST(Spool, AGapInRecordNumbersIsNotCountedAsPending) {
    TempDir dir;
    {
        Spool spool({dir.path});
        spool.append("t", "k", "a");
        spool.sync();
    }
    // The segments between were deleted by hand.
    fs::copy_file(dir.path / "00000000000000000000.seg", dir.path / "00000000000000001000.seg");
    Spool again({dir.path});
    EXPECT_EQ(again.counters().recovered, 2u);
    EXPECT_EQ(again.pending(), 2u);
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"a", "a"}));
}

TEST(Spool, RecordNumbersOnlyGrowWhenSegmentsOverlap) {
    TempDir dir;
    {
        Spool spool({dir.path});
        for (const char* p : {"a", "b", "c"}) {
            spool.append("t", "k", p);
        }
        spool.sync();
    }
    // A segment that claims to hold records 0..2 next to one that starts at 1: the older one's
    // records from 1 on cannot be told from damage.
    fs::copy_file(dir.path / "00000000000000000000.seg", dir.path / "00000000000000000001.seg");
    Spool again({dir.path});
    const std::uint64_t pending = again.pending();
    std::vector<std::uint64_t> seqs;
    while (const auto& r = again.peek()) {
        seqs.push_back(r->seq);
        again.take();
        again.ack(seqs.back());
    }
    EXPECT_EQ(seqs, (std::vector<std::uint64_t>{0, 1, 2, 3}));
    EXPECT_EQ(pending, seqs.size());
    EXPECT_EQ(again.pending(), 0u);
}

TEST(KafkaSinkWithSpool, MessagesTheBrokerNeverAcknowledgedStayForTheNextStart) {
    TempDir dir;
    {
        // Port 9 on loopback: nothing listens, so nothing can be acknowledged.
        KafkaSink sink({"127.0.0.1:9", "kvm-metrics", {}},
                       std::make_unique<Spool>(SpoolOptions{dir.path}));
        for (int i = 0; i < 10; ++i) {
            sink.publish("uuid", "[" + std::to_string(i) + "]");
        }
        EXPECT_FALSE(sink.flush(std::chrono::milliseconds(300)));
        EXPECT_EQ(sink.counters().produced, 10u);
        EXPECT_EQ(sink.counters().pending, 10u);
        EXPECT_EQ(sink.counters().failed, 0u);
    }
    Spool again({dir.path});
    EXPECT_EQ(again.pending(), 10u);
    EXPECT_EQ(drain(again, true).front(), "[0]");
}

// Every append fails as on a full disk, so every message goes to librdkafka without a spool
// record; the broker (port 9 on loopback) never answers.
TEST(KafkaSinkWithSpool, FlushIsNotDoneWhileMessagesTheSpoolRefusedAreUndelivered) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    KafkaSink sink({"127.0.0.1:9", "kvm-metrics", {}},
                   std::make_unique<Spool>(SpoolOptions{dir.path, 64 * 1024, 0, sys}));
    sys->fail(FaultySyscalls::Call::write, ".seg", ENOSPC, 1000);
    for (int i = 0; i < 3; ++i) {
        sink.publish("uuid", "[" + std::to_string(i) + "]");
    }
    EXPECT_FALSE(sink.flush(std::chrono::milliseconds(300)));
    EXPECT_EQ(sink.counters().pending, 3u);
}

TEST(KafkaSinkWithSpool, MessagesTheSpoolRefusedThatNoBrokerTookAreDroppedLoudlyAtExit) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    {
        CapturedLog log;
        {
            KafkaSink sink({"127.0.0.1:9", "kvm-metrics", {}},
                           std::make_unique<Spool>(SpoolOptions{dir.path, 64 * 1024, 0, sys}));
            sink.publish("uuid", "[0]");
            sys->fail(FaultySyscalls::Call::write, ".seg", ENOSPC, 3);
            for (int i = 1; i < 5; ++i) {
                sink.publish("uuid", "[" + std::to_string(i) + "]");
            }
            EXPECT_FALSE(sink.flush(std::chrono::milliseconds(300)));
            EXPECT_EQ(sink.counters().pending, 5u);
            sink.close();
            EXPECT_EQ(sink.counters().dropped, 3u);
            EXPECT_EQ(sink.counters().spool.value().records, 2u);
            EXPECT_EQ(sink.counters().pending, 2u);
        }
        EXPECT_EQ(log.count("3 message(s) outside the spool"), 1u) << log.text.str();
    }
    Spool again({dir.path});
    EXPECT_EQ(drain(again, true), (std::vector<std::string>{"[0]", "[4]"}));
}

// librdkafka's in-process mock cluster stands in for a broker that accepts everything.
TEST(KafkaSinkWithSpool, FlushWaitsForAMessageTheSpoolRefusedUntilTheBrokerHasIt) {
    TempDir dir;
    auto sys = std::make_shared<FaultySyscalls>();
    CapturedLog log;
    KafkaSink sink({"127.0.0.1:9", "kvm-metrics", {{"test.mock.num.brokers", "1"}}},
                   std::make_unique<Spool>(SpoolOptions{dir.path, 64 * 1024, 0, sys}));
    sys->fail(FaultySyscalls::Call::write, ".seg", ENOSPC);
    sink.publish("uuid", "[0]");
    sink.publish("uuid", "[1]");
    EXPECT_TRUE(sink.flush(std::chrono::seconds(20)));
    EXPECT_EQ(sink.counters().delivered, 2u);
    EXPECT_EQ(sink.counters().pending, 0u);
    sink.close();
    EXPECT_EQ(sink.counters().dropped, 0u);
    EXPECT_EQ(log.count("were not delivered"), 0u) << log.text.str();
}

}  // namespace
}  // namespace pulse
