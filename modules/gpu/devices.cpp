// devices.cpp — see devices.h.
#include "modules/gpu/devices.h"

#include <algorithm>
#include <charconv>

namespace rp::modules::gpu {

namespace {

std::string_view trim(std::string_view s) {
    while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
    while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
    return s;
}

bool is_hex(char c) {
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

}  // namespace

std::vector<size_t> visible_devices(std::span<const GpuDevice> devices,
                                    std::optional<std::string_view> env) {
    std::vector<size_t> out;
    if (!env) {
        out.reserve(devices.size());
        for (size_t i = 0; i < devices.size(); ++i) out.push_back(i);
        std::ranges::sort(out, {}, [&](size_t i) { return devices[i].index; });
        return out;
    }
    std::string_view rest = *env;
    if (rest.empty()) return out;  // set but empty: no device
    while (true) {
        size_t comma = rest.find(',');
        std::string_view item = trim(rest.substr(0, comma));
        std::optional<size_t> found;
        if (item.starts_with("GPU-")) {
            // a UUID prefix must name exactly one device
            size_t matches = 0;
            for (size_t i = 0; i < devices.size(); ++i) {
                if (std::string_view(devices[i].uuid).starts_with(item)) {
                    found = i;
                    ++matches;
                }
            }
            if (matches != 1) found.reset();
        } else if (!item.empty() && !item.starts_with("MIG-")) {
            uint32_t idx = 0;
            auto [p, ec] = std::from_chars(item.data(), item.data() + item.size(), idx);
            if (ec == std::errc() && p == item.data() + item.size()) {
                for (size_t i = 0; i < devices.size(); ++i)
                    if (devices[i].index == idx) found = i;
            }
        }
        if (!found) break;  // CUDA stops at the first entry that names no device
        if (std::ranges::find(out, *found) == out.end()) out.push_back(*found);
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return out;
}

std::optional<std::string> find_env(std::string_view block, std::string_view name) {
    while (!block.empty()) {
        size_t end = block.find('\0');
        std::string_view entry = block.substr(0, end);
        if (entry.size() > name.size() && entry.starts_with(name) && entry[name.size()] == '=')
            return std::string(entry.substr(name.size() + 1));
        if (end == std::string_view::npos) break;
        block.remove_prefix(end + 1);
    }
    return std::nullopt;
}

std::string container_id_from_cgroup(std::string_view cgroup) {
    // Walk the components from the last one; take the first that holds a 64-hex-digit run.
    while (!cgroup.empty()) {
        size_t slash = cgroup.rfind('/');
        std::string_view comp = slash == std::string_view::npos ? cgroup : cgroup.substr(slash + 1);
        std::string_view best;
        size_t i = 0;
        while (i < comp.size()) {
            if (!is_hex(comp[i])) {
                ++i;
                continue;
            }
            size_t j = i;
            while (j < comp.size() && is_hex(comp[j])) ++j;
            if (j - i == 64) best = comp.substr(i, 64);
            i = j;
        }
        if (!best.empty()) return std::string(best);
        if (slash == std::string_view::npos) break;
        cgroup = cgroup.substr(0, slash);
    }
    return {};
}

}  // namespace rp::modules::gpu
