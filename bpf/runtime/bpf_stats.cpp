// bpf_stats.cpp — see bpf_stats.h.
#include "bpf/runtime/bpf_stats.h"

#include <bpf/bpf.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <unistd.h>

#include <cerrno>

#include "bpf/runtime/runtime.h"

namespace rp::bpf {
namespace {

constexpr const char* kStatsSysctl = "/proc/sys/kernel/bpf_stats_enabled";

char read_sysctl() {
    int fd = ::open(kStatsSysctl, O_RDONLY | O_CLOEXEC);
    if (fd < 0) return 0;
    char c = 0;
    if (::read(fd, &c, 1) != 1) c = 0;
    ::close(fd);
    return c;
}

bool write_sysctl(char v) {
    int fd = ::open(kStatsSysctl, O_WRONLY | O_CLOEXEC);
    if (fd < 0) return false;
    bool ok = ::write(fd, &v, 1) == 1;
    ::close(fd);
    return ok;
}

}  // namespace

bool BpfStats::enable() {
    if (on_) return true;
    fd_ = bpf_enable_stats(BPF_STATS_RUN_TIME);
    if (fd_ >= 0) {
        mode_ = "BPF_ENABLE_STATS";
        return on_ = true;
    }
    std::string why = errno_message("BPF_ENABLE_STATS", errno);
    char old = read_sysctl();
    if (old == '1') {
        mode_ = "sysctl (already on)";
        return on_ = true;
    }
    if (old == '0' && write_sysctl('1')) {
        restore_ = true;
        mode_ = "sysctl";
        return on_ = true;
    }
    mode_ = "failed: " + why + "; " + errno_message(std::string("write ") + kStatsSysctl, errno);
    return false;
}

void BpfStats::release() {
    if (fd_ >= 0) ::close(fd_);
    fd_ = -1;
    if (restore_) write_sysctl('0');
    restore_ = false;
    if (on_) mode_ = "off";
    on_ = false;
}

}  // namespace rp::bpf
