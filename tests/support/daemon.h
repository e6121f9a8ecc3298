// daemon.h — starts the real ringprobe binary for integration tests.
//
// Each TestDaemon gets a fresh temporary directory holding its config file (the inline TOML the
// test passes, with the socket path and a free debug port filled in) and its unix socket; it starts
// RINGPROBE_BIN (or opts.binary) with --config, waits until /debug/stats answers, and stops it with
// SIGTERM in the destructor. Its stderr (and stdout) is captured to a file the test can read.
//
// Generated listen keys (write_listen_keys): `sysprobe_socket = "<dir>/sysprobe.sock"` and
// `debug_port = <free port>`. TOML forbids defining a table twice, so they go
//   - right after the test's own `[system_probe_config]` header line when its TOML has one
//     (then the test must not set those two keys itself: use write_listen_keys = false), else
//   - before the test's TOML as top-level dotted keys
//     (`system_probe_config.sysprobe_socket = ...`), which keeps the test's top-level keys and
//     `[system_probe_config.<sub>]` tables valid. (The header of a test's own
//     `[system_probe_config]` table must stand alone on its line to be recognised.)
//
// Environment: the parent's, minus every inherited DD_* variable and LOG_LEVEL (they would override
// the generated config, e.g. a developer's exported DD_SYSPROBE_SOCKET), plus opts.env.
// The child's stdin is /dev/null. The destructor sends SIGTERM, waits up to 5 s, then SIGKILL, and
// removes the directory.
#pragma once

#include <sys/types.h>

#include <chrono>
#include <map>
#include <string>
#include <vector>

#include "http/client.h"

namespace rp::test {

struct DaemonOptions {
    // The test's TOML (the file comment says where the generated listen keys go). The
    // placeholders {socket}, {port} and {dir} are replaced, e.g. when the test writes those keys.
    std::string toml;
    bool write_listen_keys = true;           // generate sysprobe_socket and debug_port
    std::map<std::string, std::string> env;  // extra environment
    std::vector<std::string> extra_args;
    // The daemon to run; empty: RINGPROBE_BIN. (faults_test runs RINGPROBE_FAULTS_BIN, the daemon
    // of tests/support/ringprobe_faults.cpp.)
    std::string binary;
    bool wait_ready = true;
    std::chrono::milliseconds ready_timeout{10000};
};

class TestDaemon {
  public:
    explicit TestDaemon(DaemonOptions opts);
    ~TestDaemon();
    TestDaemon(const TestDaemon&) = delete;
    TestDaemon& operator=(const TestDaemon&) = delete;

    bool ready() const { return ready_; }
    pid_t pid() const { return pid_; }
    const std::string& dir() const { return dir_; }
    const std::string& socket_path() const { return socket_; }
    int port() const { return port_; }
    http::Endpoint unix_endpoint() const { return http::Endpoint::unix_from(socket_); }
    http::Endpoint tcp_endpoint() const;
    http::Client client() const { return http::Client(unix_endpoint()); }

    // ready(): GET /debug/stats on the unix socket answered 200 within ready_timeout (polled every
    // 10 ms); if not, the daemon's log was printed to stderr.
    // Sends a signal; wait_exit() reaps and returns the exit status (-1 on timeout, 128+sig if
    // killed).
    void signal(int signo);
    int wait_exit(std::chrono::milliseconds timeout = std::chrono::milliseconds(10000));
    bool running();
    std::string log() const;  // everything the daemon wrote to stderr so far

  private:
    DaemonOptions opts_;
    std::string dir_, socket_, config_, log_path_;
    int port_ = 0;
    pid_t pid_ = -1;
    bool ready_ = false;
    bool reaped_ = false;
    int exit_status_ = -1;
};

// The config text TestDaemon writes (placeholders replaced, listen keys placed as described above).
std::string build_config(const DaemonOptions& opts, const std::string& dir,
                         const std::string& socket, int port);

// A free TCP port on 127.0.0.1 (bind to port 0, read it, close).
int free_port();
// A fresh directory under /tmp, removed by the caller (TestDaemon removes its own).
std::string make_temp_dir();
// Runs a shell command, returns {exit status, stdout}.
std::pair<int, std::string> run_command(const std::string& cmd);

}  // namespace rp::test
