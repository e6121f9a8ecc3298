// ringprobe_faults.cpp — the daemon with injectable module-creation failures, for
// tests/integration/faults_test.cpp (docs/HARDENING.md, "Fault injection").
//
//   ringprobe_faults --fail-modules FILE [ringprobe's arguments...]
//
// Runs modules::daemon_main with registry()'s factories, each wrapped: creating module <name> first
// reads FILE and fails with "injected failure (ringprobe_faults)" when a line of it is <name>
// (surrounding whitespace ignored; blank lines, unknown names and a missing file inject nothing).
// FILE is read at every creation (start-up and each POST /module-restart/{name}), so a test fixes
// "the cause" by editing it while the daemon runs. Only this test binary reads the file.
#include <array>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "modules/daemon.h"

namespace {

using rp::modules::CreateResult;
using rp::modules::Factory;

constexpr size_t kMaxFactories = 64;

std::string g_fail_file;
std::vector<Factory> g_real;  // registry()'s factories, in order

bool listed(std::string_view name) {
    std::FILE* f = std::fopen(g_fail_file.c_str(), "re");
    if (f == nullptr) return false;
    char line[256];
    bool hit = false;
    while (!hit && std::fgets(line, sizeof line, f) != nullptr) {
        std::string_view l(line);
        while (!l.empty() && std::isspace(static_cast<unsigned char>(l.back()))) l.remove_suffix(1);
        while (!l.empty() && std::isspace(static_cast<unsigned char>(l.front())))
            l.remove_prefix(1);
        hit = l == name;
    }
    std::fclose(f);
    return hit;
}

// Factory::create is a plain function pointer: one instance per registry position.
template <size_t I>
CreateResult create_or_fail(const rp::conf::Config& cfg, rp::modules::Dependencies& deps) {
    const Factory& real = g_real[I];
    if (listed(real.name)) return std::unexpected("injected failure (ringprobe_faults)");
    return real.create(cfg, deps);
}

template <size_t... I>
constexpr std::array<rp::modules::CreateFn, sizeof...(I)> make_wrappers(std::index_sequence<I...>) {
    return {&create_or_fail<I>...};
}
constexpr auto kWrappers = make_wrappers(std::make_index_sequence<kMaxFactories>{});

}  // namespace

int main(int argc, char** argv) {
    std::vector<char*> args;
    for (int i = 0; i < argc; ++i) {
        if (std::strcmp(argv[i], "--fail-modules") == 0 && i + 1 < argc) {
            g_fail_file = argv[++i];
            continue;
        }
        args.push_back(argv[i]);
    }
    if (g_fail_file.empty()) {
        std::fprintf(stderr, "ringprobe_faults: --fail-modules FILE is required\n");
        return 2;
    }
    auto reg = rp::modules::registry();
    if (reg.size() > kMaxFactories) {
        std::fprintf(stderr, "ringprobe_faults: %zu factories, raise kMaxFactories (%zu)\n",
                     reg.size(), kMaxFactories);
        return 2;
    }
    g_real.assign(reg.begin(), reg.end());
    std::vector<Factory> wrapped = g_real;
    for (size_t i = 0; i < wrapped.size(); ++i) wrapped[i].create = kWrappers[i];
    args.push_back(nullptr);
    return rp::modules::daemon_main(static_cast<int>(args.size() - 1), args.data(), wrapped);
}
