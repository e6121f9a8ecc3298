// language.cpp — see language.h.
#include "modules/discovery/language.h"

#include <algorithm>
#include <cctype>
#include <cstring>

#include "modules/gobuild/build_info.h"

namespace rp::modules::discovery {

std::string_view language_name(Language l) {
    switch (l) {
        case Language::none:
            return "";
        case Language::unknown:
            return "unknown";
        case Language::jvm:
            return "jvm";
        case Language::nodejs:
            return "nodejs";
        case Language::python:
            return "python";
        case Language::ruby:
            return "ruby";
        case Language::dotnet:
            return "dotnet";
        case Language::go:
            return "go";
        case Language::cpp:
            return "cpp";
        case Language::php:
            return "php";
    }
    return "unknown";
}

Language language_from_tracer(std::string_view t) {
    if (t == "jvm") return Language::jvm;
    if (t == "nodejs") return Language::nodejs;
    if (t == "python") return Language::python;
    if (t == "ruby") return Language::ruby;
    if (t == "dotnet") return Language::dotnet;
    if (t == "go") return Language::go;
    if (t == "cpp") return Language::cpp;
    if (t == "php") return Language::php;
    return Language::none;  // unknown to the Agent: detect it as if there were no metadata
}

namespace {

bool all_digits(std::string_view s) {
    return !s.empty() &&
           std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

// ^ruby\d+\.\d+$
bool is_ruby_versioned(std::string_view c) {
    if (!c.starts_with("ruby")) return false;
    std::string_view v = c.substr(4);
    size_t dot = v.find('.');
    return dot != std::string_view::npos && all_digits(v.substr(0, dot)) &&
           all_digits(v.substr(dot + 1));
}

// ^php(-fpm)?\d(\.\d)?$
bool is_php_versioned(std::string_view c) {
    if (!c.starts_with("php")) return false;
    std::string_view v = c.substr(3);
    if (v.starts_with("-fpm")) v.remove_prefix(4);
    if (v.empty() || !std::isdigit(static_cast<unsigned char>(v[0]))) return false;
    v.remove_prefix(1);
    if (v.empty()) return true;
    return v.size() == 2 && v[0] == '.' && std::isdigit(static_cast<unsigned char>(v[1]));
}

std::string_view basename(std::string_view p) {
    size_t slash = p.rfind('/');
    return slash == std::string_view::npos ? p : p.substr(slash + 1);
}

bool ieq(std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
               return std::tolower(static_cast<unsigned char>(x)) ==
                      std::tolower(static_cast<unsigned char>(y));
           });
}

std::string_view trim_space(std::string_view s) {
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
    while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
    return s;
}

}  // namespace

Language language_from_command(std::string_view c) {
    if (c == "py" || c == "python") return Language::python;
    if (c == "java") return Language::jvm;
    if (c == "npm" || c == "node") return Language::nodejs;
    if (c == "dotnet") return Language::dotnet;
    if (c == "ruby" || c == "rubyw") return Language::ruby;
    if (c == "php" || c == "php-fpm") return Language::php;
    if (c.starts_with("python")) return Language::python;
    if (c.starts_with("java") && c != "javac") return Language::jvm;
    if (is_ruby_versioned(c)) return Language::ruby;
    if (is_php_versioned(c)) return Language::php;
    return Language::none;
}

std::string_view command_name(std::string_view exe) {
    while (!exe.empty() && exe.front() == '"') exe.remove_prefix(1);
    while (!exe.empty() && exe.back() == '"') exe.remove_suffix(1);
    while (!exe.empty() && exe.back() == '/') exe.remove_suffix(1);
    exe = basename(exe);
    if (exe == "..") return {};
    auto alnum = [](char ch) {
        return std::isalnum(static_cast<unsigned char>(ch)) ||
               static_cast<unsigned char>(ch) >= 0x80;  // non-ASCII letters count, as in Rust
    };
    while (!exe.empty() && !alnum(exe.front())) exe.remove_prefix(1);
    while (!exe.empty() && !alnum(exe.back())) exe.remove_suffix(1);
    return exe;
}

Language language_from_cmdline(const Cmdline& cmdline, std::string_view exe_path) {
    if (cmdline.size() > 0) {
        // jruby: java running org.jruby.Main.
        if (ieq(basename(cmdline[0]), "java")) {
            for (std::string_view a : cmdline.args())
                if (trim_space(a) == "org.jruby.Main") return Language::ruby;
        }
        std::string_view c = command_name(cmdline[0]);
        if (!c.empty()) {
            Language l = language_from_command(c);
            if (l != Language::none) return l;
        }
    }
    std::string_view e = basename(exe_path);
    if (!e.empty()) return language_from_command(e);
    return Language::none;
}

bool is_go_elf(int fd, std::vector<char>& scratch) {
    return gobuild::read_build_info(fd, scratch, false).is_go;
}

}  // namespace rp::modules::discovery
