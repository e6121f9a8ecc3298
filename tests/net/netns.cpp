// netns.cpp — see netns.h.
#include "net/netns.h"

#include <arpa/inet.h>
#include <dirent.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <thread>
#include <utility>

#include "support/bpf_skip.h"

namespace rp::nettest {

Daemon::~Daemon() {
    if (running()) {
        signal(SIGTERM);
        int rc = wait_exit(std::chrono::milliseconds(8000));
        CHECK_MESSAGE(rc == 0, "daemon exit status ", rc, "; log:\n", log());
    }
    const std::string text = log();
    for (const char* bad : {"ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error:"})
        CHECK_MESSAGE(text.find(bad) == std::string::npos, text);
}

std::string ip_bin() {
    for (const char* p : {"/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"})
        if (::access(p, X_OK) == 0) return p;
    return {};
}

void require_root_or_skip() {
    if (::geteuid() != 0) rp::test::skip_unless("needs root (network namespaces, raw sockets)");
    if (ip_bin().empty()) rp::test::skip_unless("needs iproute2's ip (tools/setup installs it)");
}

int sh(const std::string& cmd, std::string* out) {
    std::string full = cmd + " 2>&1";
    FILE* f = ::popen(full.c_str(), "r");
    if (f == nullptr) return -1;
    char buf[512];
    std::string text;
    while (size_t n = std::fread(buf, 1, sizeof buf, f)) text.append(buf, n);
    int st = ::pclose(f);
    if (out) *out = text;
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

Chain::Chain(int routers) {
    const std::string ip = ip_bin();
    const std::string tag = "rp" + std::to_string(::getpid());
    client_ns = tag + "c";
    server_ns = tag + "s";
    for (int i = 1; i <= routers; ++i) router_ns.push_back(tag + "r" + std::to_string(i));
    all_ns_ = {client_ns};
    all_ns_.insert(all_ns_.end(), router_ns.begin(), router_ns.end());
    all_ns_.push_back(server_ns);

    // Link i joins all_ns_[i] (left, address .1) and all_ns_[i+1] (right, .2) in 198.18.(i+1).0/24.
    std::vector<std::string> cmds;
    for (const auto& ns : all_ns_) {
        cmds.push_back(ip + " netns add " + ns);
        cmds.push_back(ip + " -n " + ns + " link set lo up");
    }
    const int links = static_cast<int>(all_ns_.size()) - 1;
    auto addr = [](int link, int host) {
        return "198.18." + std::to_string(link + 1) + "." + std::to_string(host);
    };
    auto subnet = [](int link) { return "198.18." + std::to_string(link + 1) + ".0/24"; };
    for (int i = 0; i < links; ++i) {
        const std::string& left = all_ns_[size_t(i)];
        const std::string& right = all_ns_[size_t(i) + 1];
        const std::string l = "v" + std::to_string(i) + "l", r = "v" + std::to_string(i) + "r";
        cmds.push_back(ip + " link add " + l + " netns " + left + " type veth peer name " + r +
                       " netns " + right);
        cmds.push_back(ip + " -n " + left + " addr add " + addr(i, 1) + "/24 dev " + l);
        cmds.push_back(ip + " -n " + right + " addr add " + addr(i, 2) + "/24 dev " + r);
        cmds.push_back(ip + " -n " + left + " link set " + l + " up");
        cmds.push_back(ip + " -n " + right + " link set " + r + " up");
    }
    client_addr = addr(0, 1);
    client_link_unused = addr(0, 99);
    server_addr = addr(links - 1, 2);
    server_link_unused = addr(links - 1, 99);
    cmds.push_back(ip + " -n " + client_ns + " route add default via " + addr(0, 2));
    cmds.push_back(ip + " -n " + server_ns + " route add default via " + addr(links - 1, 1));
    for (int j = 1; j < links; ++j) {  // router all_ns_[j]: left link j-1, right link j
        const std::string& ns = all_ns_[size_t(j)];
        router_addrs.push_back(addr(j - 1, 2));
        for (int m = 0; m < j - 1; ++m)
            cmds.push_back(ip + " -n " + ns + " route add " + subnet(m) + " via " + addr(j - 1, 1));
        for (int m = j + 1; m < links; ++m)
            cmds.push_back(ip + " -n " + ns + " route add " + subnet(m) + " via " + addr(j, 2));
    }
    for (const auto& r : router_ns) {
        cmds.push_back(ip + " netns exec " + r + " sysctl -qw net.ipv4.ip_forward=1");
        cmds.push_back(ip + " netns exec " + r + " sysctl -qw net.ipv4.icmp_ratelimit=0");
    }
    cmds.push_back(ip + " netns exec " + server_ns + " sysctl -qw net.ipv4.icmp_ratelimit=0");
    for (const auto& c : cmds) {
        std::string out;
        if (sh(c, &out) != 0) {
            error_ = c + ": " + out;
            return;
        }
    }
    // A veth end transmits nothing (its qdisc is noop) until the kernel's linkwatch has seen its
    // carrier, which it may do up to a second later: wait until every end is operationally UP.
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    for (int i = 0; i < links; ++i) {
        for (const auto& [ns, dev] :
             {std::pair{all_ns_[size_t(i)], "v" + std::to_string(i) + "l"},
              std::pair{all_ns_[size_t(i) + 1], "v" + std::to_string(i) + "r"}}) {
            for (;;) {
                std::string out;
                sh(ip + " -n " + ns + " -o link show dev " + dev, &out);
                if (out.find("state UP") != std::string::npos) break;
                if (std::chrono::steady_clock::now() > deadline) {
                    error_ = ns + "/" + dev + " not UP after 5 s: " + out;
                    return;
                }
                std::this_thread::sleep_for(std::chrono::milliseconds(10));
            }
        }
    }
}

Chain::~Chain() {
    const std::string ip = ip_bin();
    // Deleting a namespace removes its end of each veth pair, and with it the peer.
    for (const auto& ns : all_ns_) sh(ip + " netns delete " + ns);
}

std::vector<std::string> Chain::exec_in_client() const {
    return {ip_bin(), "netns", "exec", client_ns};
}

LoneNamespace::LoneNamespace() {
    const std::string ip = ip_bin();
    name = "rp" + std::to_string(::getpid()) + "lone";
    for (const std::string& c :
         {ip + " netns add " + name, ip + " -n " + name + " link set lo up"}) {
        std::string out;
        if (sh(c, &out) != 0) {
            error_ = c + ": " + out;
            return;
        }
    }
}

LoneNamespace::~LoneNamespace() { sh(ip_bin() + " netns delete " + name); }

std::vector<std::string> LoneNamespace::exec_in() const {
    return {ip_bin(), "netns", "exec", name};
}

Listener::Listener(const std::string& ns, uint16_t port) {
    int sync[2];
    if (::pipe(sync) != 0) return;
    std::string path = "/run/netns/" + ns;
    pid_t pid = ::fork();
    if (pid < 0) return;
    if (pid == 0) {
        ::close(sync[0]);
        int nsfd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
        if (nsfd < 0 || ::setns(nsfd, CLONE_NEWNET) != 0) ::_exit(1);
        int fd = ::socket(AF_INET, SOCK_STREAM, 0);
        int one = 1;
        ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
        sockaddr_in sa{};
        sa.sin_family = AF_INET;
        sa.sin_port = htons(port);
        if (fd < 0 || ::bind(fd, reinterpret_cast<sockaddr*>(&sa), sizeof sa) != 0 ||
            ::listen(fd, 64) != 0)
            ::_exit(2);
        if (::write(sync[1], "x", 1) != 1) ::_exit(3);
        for (;;) ::pause();
    }
    ::close(sync[1]);
    char c = 0;
    bool up = ::read(sync[0], &c, 1) == 1;
    ::close(sync[0]);
    pid_ = pid;
    if (!up) {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }
}

Listener::~Listener() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    ::waitpid(pid_, nullptr, 0);
}

int count_fds(pid_t pid) {
    std::string path = "/proc/" + std::to_string(pid) + "/fd";
    DIR* d = ::opendir(path.c_str());
    if (d == nullptr) return -1;
    int n = 0;
    while (dirent* e = ::readdir(d))
        if (e->d_name[0] != '.') ++n;
    ::closedir(d);
    return n;
}

}  // namespace rp::nettest
