// The importer's pure core: Kafka messages in, line protocol batches out, and which offsets a
// batch may commit once InfluxDB has stored it.
//
// At-least-once: a batch's offsets are committed only after InfluxDB accepted every line of it
// (or refused a message for good); until then nothing is committed and a restart reads the
// same messages again. Writing a point twice is harmless, since InfluxDB keys a point by its
// series and time. The Kafka consumer and the HTTP client sit behind this class (import_command
// and influx_client), so the decisions here are tested with a writer the test controls.
#pragma once

#include <cstddef>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace pulse {

struct ConsumedMessage {
    std::string topic;
    std::int32_t partition = 0;
    std::int64_t offset = 0;
    std::string payload;
};

// "topic/partition/offset", how the logs name a message.
std::string describe_message(const ConsumedMessage& message);

// A message's points as line protocol: a JSON message (it starts with '[') is converted, a line
// protocol message is checked line by line and passed on without its blank and comment lines.
// Throws MessageError (json.hpp) for a malformed one.
std::string message_to_lines(std::string_view payload);

// What InfluxDB made of a write.
enum class WriteStatus {
    written,      // stored (204)
    refused,      // the points themselves are wrong (400, 413...): writing them again won't help
    unavailable,  // down, overloaded, unreachable or misconfigured (5xx, no answer, 401/403/404)
};

struct WriteResult {
    WriteStatus status = WriteStatus::written;
    std::string error;  // InfluxDB's message or the connection error
};

class LineWriter {
  public:
    virtual ~LineWriter() = default;
    virtual WriteResult write(std::string_view lines) = 0;
};

using TopicPartition = std::pair<std::string, std::int32_t>;

struct Refusal {
    std::string message;  // describe_message()
    std::string error;
};

struct FlushResult {
    bool done = false;  // false: InfluxDB was unavailable, keep the batch and retry it
    std::string error;  // why not, when !done
    std::vector<Refusal> refused;
    // The next offset to read, per partition: what to commit when done.
    std::map<TopicPartition, std::int64_t> commit;
};

class ImportBatch {
  public:
    explicit ImportBatch(std::size_t max_lines) : max_lines_(max_lines) {}

    // Takes a message's lines. A malformed message only takes its offset along, so that it is
    // committed with the batch; the return value then says what is wrong with it.
    std::optional<std::string> add(const ConsumedMessage& message);

    // Writes the batch in one request; when InfluxDB refuses it, writes it again message by
    // message to find the ones it refuses, so that one bad point does not drop the rest.
    // The batch is kept either way: clear() it once the commit is done.
    FlushResult flush(LineWriter& writer) const;
    void clear();

    bool empty() const { return next_offsets_.empty(); }
    bool full() const { return lines_ >= max_lines_; }
    std::size_t lines() const { return lines_; }
    std::size_t messages() const { return entries_.size(); }

  private:
    struct Entry {
        std::string message;  // describe_message()
        std::size_t begin = 0;
        std::size_t end = 0;  // [begin, end) of body_
    };
    std::size_t max_lines_;
    std::string body_;
    std::vector<Entry> entries_;  // messages with lines only
    std::size_t lines_ = 0;
    std::map<TopicPartition, std::int64_t> next_offsets_;
};

}  // namespace pulse
