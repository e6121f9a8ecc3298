// bpf_stats.h — BpfStats: keeps the kernel's BPF run-time statistics (kernel.bpf_stats_enabled:
// each program's run_time_ns and run_cnt) on while it is enabled.
//
// enable() asks for a BPF_ENABLE_STATS fd first: the kernel counts such fds and reverts when the
// last one closes, even if the process crashes. Where that is refused it writes 1 to the
// kernel.bpf_stats_enabled sysctl and, in release() (and the destructor), writes the 0 it found
// back. Several holders may coexist (the ebpf module's ebpf_check.kernel_bpf_stats and the daemon's
// system_probe_config.self_cost): the fds add up, and a sysctl found at 1 is left alone.
// The statistics cost every BPF program of the host two clock reads per run.
//
// Needs: BPF_ENABLE_STATS (Linux >= 5.8) or write access to /proc/sys/kernel/bpf_stats_enabled.
#pragma once

#include <string>

namespace rp::bpf {

class BpfStats {
  public:
    BpfStats() = default;
    ~BpfStats() { release(); }
    BpfStats(const BpfStats&) = delete;
    BpfStats& operator=(const BpfStats&) = delete;

    // Turns the statistics on; false (and mode() says why) when neither way worked.
    bool enable();
    void release();
    bool on() const { return on_; }
    // "off", "BPF_ENABLE_STATS", "sysctl", "sysctl (already on)" or "failed: <why>".
    const std::string& mode() const { return mode_; }

  private:
    int fd_ = -1;
    bool restore_ = false;
    bool on_ = false;
    std::string mode_ = "off";
};

}  // namespace rp::bpf
