// feature_probes.h — what this kernel lets us do, found by trying it.
//
// Each probe performs the smallest real operation behind a feature — create a map, load a
// two-instruction program (r0 = 0; exit), attach it to a hook that always exists, read an
// iterator — and releases everything before returning. Nothing is inferred from the kernel
// version: a kernel built without kprobes, or one whose lockdown refuses fentry, says so here.
// Used by Runtime::create(); exposed for tests.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>

namespace rp::bpf::probes {

struct Result {
    bool available = false;
    std::string detail;  // what worked, or what failed and with which error
};

struct Context {
    // Id of a kernel BTF type by name and BTF_KIND_* (-1 if absent); empty when there is no BTF.
    std::function<int(std::string_view name, uint32_t kind)> find_btf_type;
    std::string btf_missing;      // why find_btf_type is empty
    std::string tracefs_dir;      // mounted tracefs, or empty
    std::string tracefs_missing;  // why tracefs_dir is empty
};

// The kernel BTF types the probes look up through Context::find_btf_type.
std::span<const std::string_view> btf_names();

Result bpf_syscall();
Result ring_buffer();
Result tracepoint(const Context& ctx);
Result raw_tracepoint();
Result tp_btf(const Context& ctx);
Result iterators(const Context& ctx);
Result kprobe(const Context& ctx);
Result fentry(const Context& ctx);

}  // namespace rp::bpf::probes
