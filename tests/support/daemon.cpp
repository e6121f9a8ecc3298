// daemon.cpp — TestDaemon (see daemon.h): config file, fork+exec of RINGPROBE_BIN, readiness
// polling over the unix socket, SIGTERM/SIGKILL teardown.
#include "support/daemon.h"

#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

extern char** environ;

namespace rp::test {
namespace {

using Clock = std::chrono::steady_clock;

void replace_all(std::string& s, std::string_view from, std::string_view to) {
    for (size_t pos = 0; (pos = s.find(from, pos)) != std::string::npos; pos += to.size())
        s.replace(pos, from.size(), to);
}

// TOML basic-string escaping for a path.
std::string toml_quote(std::string_view s) {
    std::string out = "\"";
    for (char c : s) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    return out + "\"";
}

// True for a line that opens the [system_probe_config] table itself (not a sub-table).
bool opens_system_probe_config(std::string_view line) {
    std::string compact;
    for (char c : line) {
        if (c == '#') break;
        if (c != ' ' && c != '\t' && c != '\r') compact += c;
    }
    return compact == "[system_probe_config]";
}

// Inherited variables that would silently override the generated config (daemon.h).
bool hermetic_drop(std::string_view entry) {
    return entry.starts_with("DD_") || entry.starts_with("LOG_LEVEL=");
}

int status_to_code(int status) {
    if (WIFEXITED(status)) return WEXITSTATUS(status);
    if (WIFSIGNALED(status)) return 128 + WTERMSIG(status);
    return -1;
}

}  // namespace

std::string build_config(const DaemonOptions& opts, const std::string& dir,
                         const std::string& socket, int port) {
    std::string toml = opts.toml;
    replace_all(toml, "{socket}", socket);
    replace_all(toml, "{port}", std::to_string(port));
    replace_all(toml, "{dir}", dir);
    if (!opts.write_listen_keys) return toml;

    const std::string keys = "sysprobe_socket = " + toml_quote(socket) + "\n" +
                             "debug_port = " + std::to_string(port) + "\n";
    // Inside the test's own [system_probe_config] table when it has one (TOML forbids a second
    // definition of that table); otherwise as top-level dotted keys before anything else, which
    // leaves top-level keys and [system_probe_config.*] sub-tables of the test valid.
    std::string out;
    std::istringstream in(toml);
    bool inserted = false;
    for (std::string line; std::getline(in, line);) {
        out += line + "\n";
        if (!inserted && opens_system_probe_config(line)) {
            out += keys;
            inserted = true;
        }
    }
    if (inserted) return out;
    return "system_probe_config.sysprobe_socket = " + toml_quote(socket) + "\n" +
           "system_probe_config.debug_port = " + std::to_string(port) + "\n" + toml;
}

TestDaemon::TestDaemon(DaemonOptions opts) : opts_(std::move(opts)) {
    dir_ = make_temp_dir();
    socket_ = dir_ + "/sysprobe.sock";
    config_ = dir_ + "/ringprobe.toml";
    log_path_ = dir_ + "/ringprobe.log";
    port_ = free_port();

    {
        std::ofstream cfg(config_);
        cfg << build_config(opts_, dir_, socket_, port_);
    }

    // Everything the child needs is prepared before fork(): only async-signal-safe calls after.
    const std::string binary = opts_.binary.empty() ? std::string(RINGPROBE_BIN) : opts_.binary;
    std::vector<std::string> args = {binary, "--config", config_};
    args.insert(args.end(), opts_.extra_args.begin(), opts_.extra_args.end());
    std::vector<std::string> env;
    for (char** e = environ; *e != nullptr; ++e) {
        std::string_view entry = *e;
        if (hermetic_drop(entry)) continue;
        std::string_view name = entry.substr(0, entry.find('='));
        if (opts_.env.contains(std::string(name))) continue;
        env.emplace_back(entry);
    }
    for (const auto& [k, v] : opts_.env) env.push_back(k + "=" + v);
    std::vector<char*> argv, envp;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    for (auto& e : env) envp.push_back(e.data());
    envp.push_back(nullptr);

    int log_fd = ::open(log_path_.c_str(), O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
    int null_fd = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (log_fd < 0 || null_fd < 0) {
        std::fprintf(stderr, "TestDaemon: open %s: %s\n", log_path_.c_str(), std::strerror(errno));
        if (log_fd >= 0) ::close(log_fd);
        if (null_fd >= 0) ::close(null_fd);
        return;
    }
    const std::string exec_failed = "TestDaemon: execve " + args[0] + " failed, errno ";
    pid_ = ::fork();
    if (pid_ == 0) {
        ::dup2(null_fd, STDIN_FILENO);
        ::dup2(log_fd, STDOUT_FILENO);
        ::dup2(log_fd, STDERR_FILENO);
        ::execve(argv[0], argv.data(), envp.data());
        char digits[16];
        int len = 0;
        for (int e = errno; len == 0 || e > 0; e /= 10) digits[len++] = char('0' + e % 10);
        [[maybe_unused]] ssize_t w = ::write(STDERR_FILENO, exec_failed.data(), exec_failed.size());
        while (len > 0) w = ::write(STDERR_FILENO, &digits[--len], 1);
        w = ::write(STDERR_FILENO, "\n", 1);
        ::_exit(127);
    }
    ::close(log_fd);
    ::close(null_fd);
    if (pid_ < 0) {
        std::fprintf(stderr, "TestDaemon: fork: %s\n", std::strerror(errno));
        return;
    }
    if (!opts_.wait_ready) return;

    auto deadline = Clock::now() + opts_.ready_timeout;
    while (Clock::now() < deadline) {
        {
            http::Client c(unix_endpoint(), std::chrono::milliseconds(1000));
            auto r = c.get("/debug/stats");
            if (r && r->status == 200) {
                ready_ = true;
                return;
            }
        }
        if (!running()) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    std::string why = reaped_
                          ? "it exited with status " + std::to_string(exit_status_)
                          : "no 200 within " + std::to_string(opts_.ready_timeout.count()) + " ms";
    std::fprintf(stderr, "TestDaemon: %s not ready (GET /debug/stats on %s): %s; its log:\n%s\n",
                 binary.c_str(), socket_.c_str(), why.c_str(), log().c_str());
}

TestDaemon::~TestDaemon() {
    if (pid_ > 0 && !reaped_) {
        signal(SIGTERM);
        if (wait_exit(std::chrono::milliseconds(5000)) == -1) {
            std::fprintf(stderr, "TestDaemon: pid %d ignored SIGTERM for 5 s, sending SIGKILL\n",
                         int(pid_));
            signal(SIGKILL);
            wait_exit(std::chrono::milliseconds(5000));
        }
    }
    std::error_code ec;
    if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
}

http::Endpoint TestDaemon::tcp_endpoint() const {
    http::Endpoint ep;
    ep.kind = http::Endpoint::Kind::tcp;
    ep.host = "127.0.0.1";
    ep.port = uint16_t(port_);
    return ep;
}

void TestDaemon::signal(int signo) {
    if (pid_ > 0 && !reaped_) ::kill(pid_, signo);
}

bool TestDaemon::running() {
    if (pid_ <= 0 || reaped_) return false;
    int status = 0;
    pid_t r = ::waitpid(pid_, &status, WNOHANG);
    if (r == pid_) {
        reaped_ = true;
        exit_status_ = status_to_code(status);
        return false;
    }
    return r == 0;
}

int TestDaemon::wait_exit(std::chrono::milliseconds timeout) {
    if (pid_ <= 0) return -1;
    auto deadline = Clock::now() + timeout;
    for (;;) {
        if (!running()) return reaped_ ? exit_status_ : -1;
        if (Clock::now() >= deadline) return -1;
        std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
}

std::string TestDaemon::log() const {
    std::ifstream in(log_path_);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

int free_port() {
    int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return 0;
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    socklen_t len = sizeof addr;
    int port = 0;
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0 &&
        ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0)
        port = ntohs(addr.sin_port);
    ::close(fd);
    return port;
}

std::string make_temp_dir() {
    char tmpl[] = "/tmp/ringprobe-test-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) {
        std::fprintf(stderr, "mkdtemp: %s\n", std::strerror(errno));
        std::abort();
    }
    return tmpl;
}

std::pair<int, std::string> run_command(const std::string& cmd) {
    std::fflush(nullptr);  // the child must not repeat our buffered output
    FILE* p = ::popen(cmd.c_str(), "r");
    if (p == nullptr) return {-1, {}};
    std::string out;
    char buf[4096];
    size_t n;
    while ((n = std::fread(buf, 1, sizeof buf, p)) > 0) out.append(buf, n);
    int status = ::pclose(p);
    return {status < 0 ? -1 : status_to_code(status), out};
}

}  // namespace rp::test
