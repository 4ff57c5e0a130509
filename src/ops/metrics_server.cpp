// The /metrics and /healthz listener; see metrics_server.hpp.
//
// The listener is a small HTTP/1.1 server of its own rather than cpp-httplib's, because its
// limits (one request per connection, a deadline per connection, a cap on connections) are
// what keeps /healthz answering while anything else reaches the port.
#include "pulse/ops/metrics_server.hpp"

#include <fmt/format.h>
#include <httplib.h>
#include <netdb.h>
#include <poll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstring>
#include <deque>
#include <vector>

#include "pulse/base/c_handle.hpp"

namespace pulse {
namespace {

using Clock = std::chrono::steady_clock;

// The content type Prometheus expects for the text format, version included.
constexpr const char* kExpositionType = "text/plain; version=0.0.4; charset=utf-8";

struct Answer {
    int status = 200;
    std::string content_type = "text/plain; charset=utf-8";
    std::string body;
};

std::string_view reason_phrase(int status) {
    switch (status) {
        case 200:
            return "OK";
        case 400:
            return "Bad Request";
        case 404:
            return "Not Found";
        case 405:
            return "Method Not Allowed";
        case 413:
            return "Content Too Large";
        case 431:
            return "Request Header Fields Too Large";
        case 503:
            return "Service Unavailable";
        default:
            return "Error";
    }
}

std::string response_bytes(const Answer& answer, bool head) {
    std::string out = fmt::format(
        "HTTP/1.1 {} {}\r\nContent-Type: {}\r\nContent-Length: {}\r\nConnection: close\r\n",
        answer.status, reason_phrase(answer.status), answer.content_type, answer.body.size());
    if (answer.status == 405) {
        out += "Allow: GET, HEAD\r\n";
    }
    out += "\r\n";
    if (!head) {
        out += answer.body;
    }
    return out;
}

bool iequals(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim(std::string_view text) {
    while (!text.empty() && (text.front() == ' ' || text.front() == '\t')) {
        text.remove_prefix(1);
    }
    while (!text.empty() && (text.back() == ' ' || text.back() == '\t' || text.back() == '\r')) {
        text.remove_suffix(1);
    }
    return text;
}

// A request head declares a body with a Content-Length other than 0 or any Transfer-Encoding.
bool declares_body(std::string_view headers) {
    while (!headers.empty()) {
        const auto eol = headers.find('\n');
        std::string_view line = headers.substr(0, eol);
        headers = eol == std::string_view::npos ? std::string_view{} : headers.substr(eol + 1);
        const auto colon = line.find(':');
        if (colon == std::string_view::npos) {
            continue;
        }
        const std::string_view name = trim(line.substr(0, colon));
        const std::string_view value = trim(line.substr(colon + 1));
        if (iequals(name, "transfer-encoding") ||
            (iequals(name, "content-length") && value != "0")) {
            return true;
        }
    }
    return false;
}

// One client: what it sent so far, then what it is owed, then, the answer written, a short
// drain of what it still sends so that closing does not reset the connection under an answer
// it has not read yet.
struct Connection {
    enum class State { reading, writing, draining };
    Connection(UniqueFd fd_, Clock::time_point deadline_)
        : fd(std::move(fd_)), deadline(deadline_) {}
    UniqueFd fd;
    Clock::time_point deadline;
    State state = State::reading;
    std::string head;
    std::string out;
    std::size_t sent = 0;
    std::size_t drained = 0;
};

// The method is known from the request line alone: anything but GET and HEAD is answered
// before its headers, let alone its body, are read. nullopt: read on.
std::optional<std::pair<Answer, bool>> answer_for(std::string_view head, const Metrics& metrics,
                                                  std::size_t max_head) {
    const auto line_end = head.find('\n');
    if (line_end == std::string_view::npos) {
        if (head.size() > max_head) {
            return std::pair{Answer{431, "text/plain; charset=utf-8", "request too large\n"},
                             false};
        }
        return std::nullopt;
    }
    const std::string_view line = trim(head.substr(0, line_end));
    const auto sp1 = line.find(' ');
    const auto sp2 = sp1 == std::string_view::npos ? sp1 : line.find(' ', sp1 + 1);
    if (sp2 == std::string_view::npos || !line.substr(sp2 + 1).starts_with("HTTP/1.")) {
        return std::pair{Answer{400, "text/plain; charset=utf-8", "bad request\n"}, false};
    }
    const std::string_view method = line.substr(0, sp1);
    const bool is_head = method == "HEAD";
    if (method != "GET" && !is_head) {
        return std::pair{Answer{405, "text/plain; charset=utf-8", "only GET and HEAD are served\n"},
                         false};
    }
    auto headers_end = head.find("\r\n\r\n");
    if (headers_end == std::string_view::npos) {
        headers_end = head.find("\n\n");
    }
    if (headers_end == std::string_view::npos) {
        if (head.size() > max_head) {
            return std::pair{Answer{431, "text/plain; charset=utf-8", "request too large\n"},
                             is_head};
        }
        return std::nullopt;
    }
    if (declares_body(head.substr(line_end + 1, headers_end - line_end))) {
        return std::pair{Answer{413, "text/plain; charset=utf-8", "no request body is accepted\n"},
                         is_head};
    }
    std::string_view target = line.substr(sp1 + 1, sp2 - sp1 - 1);
    target = target.substr(0, target.find('?'));
    if (target == "/metrics") {
        return std::pair{Answer{200, kExpositionType, metrics.render()}, is_head};
    }
    if (target == "/healthz") {
        Health health = metrics.health(SteadyClock::now());
        return std::pair{Answer{health.ok ? 200 : 503, "text/plain; charset=utf-8",
                                health.ok ? std::string("ok\n") : health.reason + "\n"},
                         is_head};
    }
    return std::pair{Answer{404, "text/plain; charset=utf-8", "not found\n"}, is_head};
}

// Reads what the client sent; false when the connection is finished with (closed, failed).
bool read_request(Connection& c, const Metrics& metrics, std::size_t max_head) {
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::recv(c.fd.get(), buffer, sizeof buffer, 0);
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
        if (n == 0) {
            return false;  // gone before asking anything
        }
        c.head.append(buffer, static_cast<std::size_t>(n));
        if (auto answer = answer_for(c.head, metrics, max_head)) {
            c.out = response_bytes(answer->first, answer->second);
            c.state = Connection::State::writing;
            c.head.clear();
            c.head.shrink_to_fit();
            return true;
        }
    }
}

// Linger after an answer: long enough for the answer to reach a client that keeps sending (a
// body it was told not to send), too short and too little to be worth abusing.
constexpr std::chrono::milliseconds kDrainTime{500};
constexpr std::size_t kMaxDrainBytes = 64 * 1024;

// Writes what the client is owed, then starts the drain; false when the client is gone.
bool write_answer(Connection& c) {
    while (c.sent < c.out.size()) {
        const ssize_t n =
            ::send(c.fd.get(), c.out.data() + c.sent, c.out.size() - c.sent, MSG_NOSIGNAL);
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
        c.sent += static_cast<std::size_t>(n);
    }
    c.out.clear();
    c.out.shrink_to_fit();
    ::shutdown(c.fd.get(), SHUT_WR);
    c.state = Connection::State::draining;
    c.deadline = std::min(c.deadline, Clock::now() + kDrainTime);
    return true;
}

// Discards what the client still sends; false at its end, or once enough was thrown away.
bool drain(Connection& c) {
    char buffer[4096];
    for (;;) {
        const ssize_t n = ::recv(c.fd.get(), buffer, sizeof buffer, 0);
        if (n < 0) {
            return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
        }
        c.drained += static_cast<std::size_t>(n);
        if (n == 0 || c.drained > kMaxDrainBytes) {
            return false;
        }
    }
}

// Moves a connection on as far as it can go now; false when it is finished with.
bool serve_connection(Connection& c, const Metrics& metrics, std::size_t max_head) {
    using State = Connection::State;
    if (c.state == State::reading && !read_request(c, metrics, max_head)) {
        return false;
    }
    if (c.state == State::writing && !write_answer(c)) {
        return false;
    }
    return c.state != State::draining || drain(c);
}

UniqueFd bind_listener(const std::string& host, std::uint16_t port, std::uint16_t& bound) {
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE;
    addrinfo* found = nullptr;
    const std::string service = std::to_string(port);
    if (int rc = ::getaddrinfo(host.c_str(), service.c_str(), &hints, &found); rc != 0) {
        throw MetricsServerError(fmt::format(
            "cannot listen on {}: {}", format_listen_address({host, port}), ::gai_strerror(rc)));
    }
    CHandle<addrinfo, ::freeaddrinfo> owned(found);
    int error = 0;
    for (addrinfo* ai = found; ai != nullptr; ai = ai->ai_next) {
        UniqueFd fd(::socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
                             ai->ai_protocol));
        if (!fd) {
            error = errno;
            continue;
        }
        // SO_REUSEADDR lets a restart bind while old connections linger in TIME_WAIT; no
        // SO_REUSEPORT, with which a second sensor on the same port would share it silently.
        int yes = 1;
        ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &yes, sizeof yes);
        if (::bind(fd.get(), ai->ai_addr, ai->ai_addrlen) != 0 ||
            ::listen(fd.get(), SOMAXCONN) != 0) {
            error = errno;
            continue;
        }
        sockaddr_storage addr{};
        socklen_t len = sizeof addr;
        ::getsockname(fd.get(), reinterpret_cast<sockaddr*>(&addr), &len);
        bound = ntohs(addr.ss_family == AF_INET6
                          ? reinterpret_cast<const sockaddr_in6*>(&addr)->sin6_port
                          : reinterpret_cast<const sockaddr_in*>(&addr)->sin_port);
        return fd;
    }
    throw MetricsServerError(
        fmt::format("cannot listen on {}: {}",
                    port == 0 ? host + " (any port)" : format_listen_address({host, port}),
                    std::strerror(error)));
}

int poll_timeout_ms(const std::deque<Connection>& connections) {
    if (connections.empty()) {
        return -1;
    }
    const auto first =
        std::min_element(connections.begin(), connections.end(), [](const auto& a, const auto& b) {
            return a.deadline < b.deadline;
        })->deadline;
    const auto left = std::chrono::ceil<std::chrono::milliseconds>(first - Clock::now());
    return static_cast<int>(std::max<std::int64_t>(left.count(), 0));
}

}  // namespace

MetricsServer::MetricsServer(const Metrics& metrics, const ListenAddress& address)
    : metrics_(metrics) {
    // An empty host means every interface.
    const std::string host = address.host.empty() ? "0.0.0.0" : address.host;
    listener_ = bind_listener(host, address.port, port_);
    wake_ = UniqueFd(::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
    if (!wake_) {
        throw MetricsServerError(fmt::format("cannot listen on {}: eventfd: {}",
                                             format_listen_address({host, port_}),
                                             std::strerror(errno)));
    }
    thread_ = std::thread([this] { serve(); });
}

MetricsServer::~MetricsServer() {
    const std::uint64_t one = 1;
    [[maybe_unused]] ssize_t n = ::write(wake_.get(), &one, sizeof one);
    if (thread_.joinable()) {
        thread_.join();
    }
}

void MetricsServer::serve() {
    // In accept order, so the front is the oldest: the one a new client displaces when full.
    std::deque<Connection> connections;
    std::vector<pollfd> fds;
    Clock::time_point accept_again{};
    for (;;) {
        fds.clear();
        fds.push_back({wake_.get(), POLLIN, 0});
        // Out of descriptors, accept() fails while the listener stays readable: look again
        // a little later instead of spinning.
        const bool accepting = Clock::now() >= accept_again;
        fds.push_back({listener_.get(), static_cast<short>(accepting ? POLLIN : 0), 0});
        for (const Connection& c : connections) {
            const bool writing = c.state == Connection::State::writing;
            fds.push_back({c.fd.get(), static_cast<short>(writing ? POLLOUT : POLLIN), 0});
        }
        int timeout_ms = poll_timeout_ms(connections);
        if (!accepting && (timeout_ms < 0 || timeout_ms > 100)) {
            timeout_ms = 100;
        }
        if (::poll(fds.data(), fds.size(), timeout_ms) < 0 && errno != EINTR) {
            return;  // only EFAULT or ENOMEM: nothing better to do than stop serving
        }
        if (fds[0].revents != 0) {
            return;
        }
        // Serve the connections polled, then drop the finished and the late ones.
        const auto now = Clock::now();
        std::size_t i = 2;
        for (auto it = connections.begin(); it != connections.end(); ++i) {
            bool keep = true;
            if (fds[i].revents != 0) {
                keep = serve_connection(*it, metrics_, kMaxRequestHead);
            }
            it = keep && now < it->deadline ? std::next(it) : connections.erase(it);
        }
        if ((fds[1].revents & POLLIN) == 0) {
            continue;
        }
        for (std::size_t accepted = 0; accepted < kMaxConnections; ++accepted) {
            UniqueFd fd(::accept4(listener_.get(), nullptr, nullptr, SOCK_NONBLOCK | SOCK_CLOEXEC));
            if (!fd) {
                if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                    accept_again = now + std::chrono::milliseconds(100);
                }
                break;  // EAGAIN, or a client gone already: at the next readiness
            }
            if (connections.size() >= kMaxConnections) {
                connections.pop_front();
            }
            connections.emplace_back(std::move(fd), now + kRequestDeadline);
            // A client usually sends its request with the connection: answer it at once, so
            // that a flood of new connections cannot displace it before its turn comes.
            Connection& c = connections.back();
            if (!serve_connection(c, metrics_, kMaxRequestHead)) {
                connections.pop_back();
            }
        }
    }
}

}  // namespace pulse
