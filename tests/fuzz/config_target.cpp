// config_target.cpp — the `config` fuzz target: TOML text and environment into conf::Config::parse,
// then dump() → parse() must give back the same values (see harness.h).
#include <cmath>
#include <cstring>
#include <string>
#include <string_view>
#include <vector>

#include "conf/config.h"
#include "tests/fuzz/harness.h"

namespace rp::fuzz {
namespace {

constexpr const char* kTarget = "config";

// "A=1 B=two" → {A: 1, B: two}. An environment cannot hold NUL bytes or names without '=', so
// such entries are skipped.
conf::Environment parse_env(std::string_view line) {
    conf::Environment env;
    while (!line.empty()) {
        size_t sp = line.find(' ');
        std::string_view item = line.substr(0, sp);
        line = sp == std::string_view::npos ? std::string_view() : line.substr(sp + 1);
        size_t eq = item.find('=');
        if (eq == 0 || eq == std::string_view::npos || item.find('\0') != std::string_view::npos)
            continue;
        env.insert_or_assign(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    }
    return env;
}

bool same_number(double a, double b) {
    if (std::isnan(a) || std::isnan(b)) return std::isnan(a) && std::isnan(b);
    return a == b && std::signbit(a) == std::signbit(b);
}

void expect_same(const conf::Config& a, const conf::Config& b, const std::string& dump) {
    for (const conf::KeySpec& spec : conf::schema()) {
        bool same = false;
        switch (spec.type) {
            case conf::Type::boolean:
                same = a.get_bool(spec.path) == b.get_bool(spec.path);
                break;
            case conf::Type::integer:
                same = a.get_int(spec.path) == b.get_int(spec.path);
                break;
            case conf::Type::string:
                same = a.get_string(spec.path) == b.get_string(spec.path);
                break;
            case conf::Type::number:
                same = same_number(a.get_number(spec.path), b.get_number(spec.path));
                break;
            case conf::Type::string_list:
                same = a.get_string_list(spec.path) == b.get_string_list(spec.path);
                break;
        }
        if (!same)
            fail(kTarget, "key %.*s changed through dump() and parse() again; dump:\n%s",
                 static_cast<int>(spec.path.size()), spec.path.data(), dump.c_str());
    }
}

}  // namespace

void config_one(const uint8_t* data, size_t size) {
    std::string_view in(reinterpret_cast<const char*>(data), size);
    size_t nl = in.find('\n');
    std::string_view env_line = in.substr(0, nl);
    std::string_view toml = nl == std::string_view::npos ? std::string_view() : in.substr(nl + 1);
    conf::Environment env = parse_env(env_line);

    std::vector<std::string> warnings;
    auto cfg = conf::Config::parse(toml, "fuzz.toml", env, &warnings);
    if (!cfg) {
        if (cfg.error().empty()) fail(kTarget, "parse failed with an empty message");
        return;
    }
    std::string dump = cfg->dump();
    std::vector<std::string> warnings2;
    auto again = conf::Config::parse(dump, "dump.toml", {}, &warnings2);
    if (!again)
        fail(kTarget, "dump() does not parse again: %s\ndump:\n%s", again.error().c_str(),
             dump.c_str());
    if (!warnings2.empty())
        fail(kTarget, "dump() parses with warnings: %s\ndump:\n%s", warnings2.front().c_str(),
             dump.c_str());
    expect_same(*cfg, *again, dump);
    if (again->dump() != dump) {
        // Sources differ (env → file), values must not: compare without the comments.
        auto strip = [](const std::string& s) {
            std::string out;
            size_t i = 0;
            while (i < s.size()) {
                size_t e = s.find('\n', i);
                if (e == std::string::npos) e = s.size();
                std::string_view line(s.data() + i, e - i);
                size_t c = line.rfind("  # ");
                if (!line.starts_with('#')) out.append(line.substr(0, c)).push_back('\n');
                i = e + 1;
            }
            return out;
        };
        if (strip(again->dump()) != strip(dump))
            fail(kTarget, "dump() of the re-parsed config differs:\n%s\n---\n%s", dump.c_str(),
                 again->dump().c_str());
    }
}

}  // namespace rp::fuzz
