// config.cpp — loading, validating and dumping the configuration (see config.h).
//
// Order of precedence: environment > file > schema default. The file is TOML read with toml++
// (header-only, exceptions off: nothing is thrown across this API); each key of the file is
// checked against the schema, wrong types and ranges are errors, unknown keys are warnings.
// parse() is also the fuzzing entry point, so it bounds the input before toml++ sees it.
#include "conf/config.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <new>
#include <stdexcept>
#include <utility>

// toml++ is compiled into this file only (header-only mode, see conf/CMakeLists.txt): with
// exceptions off it reports parse errors as values, and the fuzzer instruments the parser too.
#define TOML_HEADER_ONLY 1
#define TOML_EXCEPTIONS 0
#define TOML_ENABLE_FORMATTERS 0
// Lower than toml++'s default of 256: toml++ builds, walks and destroys nested tables
// recursively, and no configuration nests arrays or inline tables this deep.
#define TOML_MAX_NESTED_VALUES 32
#include <toml++/toml.h>

extern char** environ;

namespace rp::conf {
namespace {

// A configuration larger than this is a mistake (or an attack on the parser).
constexpr size_t kMaxConfigBytes = 1 << 20;
// Dots allowed in one dotted key or table header. toml++ recurses once per level of table
// nesting, so the nesting must stay bounded for arbitrary input; real keys have two or three.
constexpr int kMaxKeyDots = 16;

// A message tied to a line of the file; line 0 sorts first (not tied to a line).
struct LineMessage {
    uint32_t line;
    std::string text;
};

std::string_view toml_type_name(toml::node_type t) {
    switch (t) {
        case toml::node_type::table:
            return "table";
        case toml::node_type::array:
            return "array";
        case toml::node_type::string:
            return "string";
        case toml::node_type::integer:
            return "integer";
        case toml::node_type::floating_point:
            return "float";
        case toml::node_type::boolean:
            return "boolean";
        case toml::node_type::date:
            return "date";
        case toml::node_type::time:
            return "time";
        case toml::node_type::date_time:
            return "date-time";
        case toml::node_type::none:
            break;
    }
    return "nothing";
}

// A TOML basic string: valid in a file, and readable in messages (control characters escaped).
std::string quote(std::string_view s) {
    std::string out = "\"";
    for (unsigned char c : s) {
        switch (c) {
            case '"':
                out += "\\\"";
                break;
            case '\\':
                out += "\\\\";
                break;
            case '\b':
                out += "\\b";
                break;
            case '\t':
                out += "\\t";
                break;
            case '\n':
                out += "\\n";
                break;
            case '\f':
                out += "\\f";
                break;
            case '\r':
                out += "\\r";
                break;
            default:
                if (c < 0x20 || c == 0x7f) {
                    char buf[8];
                    std::snprintf(buf, sizeof buf, "\\u%04x", c);
                    out += buf;
                } else {
                    out += static_cast<char>(c);
                }
        }
    }
    out += '"';
    return out;
}

bool is_bare_key(std::string_view s) {
    if (s.empty()) return false;
    return std::all_of(s.begin(), s.end(), [](char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
               c == '_' || c == '-';
    });
}

std::string render(const Value& v) {
    switch (v.index()) {
        case 0:
            return std::get<bool>(v) ? "true" : "false";
        case 1:
            return std::to_string(std::get<int64_t>(v));
        case 2:
            return quote(std::get<std::string>(v));
        default: {
            double d = std::get<double>(v);
            if (std::isnan(d)) return "nan";
            if (std::isinf(d)) return d < 0 ? "-inf" : "inf";
            char buf[64];
            auto [end, ec] = std::to_chars(buf, buf + sizeof buf, d);
            std::string s(buf, ec == std::errc{} ? end : buf);
            // TOML needs a fraction or an exponent to read the number back as a float.
            if (s.find_first_of(".e") == std::string::npos) s += ".0";
            return s;
        }
    }
}

// strconv.ParseBool's accepted spellings, as system-probe reads DD_* booleans.
std::optional<bool> parse_go_bool(std::string_view s) {
    for (std::string_view t : {"1", "t", "T", "TRUE", "true", "True"})
        if (s == t) return true;
    for (std::string_view f : {"0", "f", "F", "FALSE", "false", "False"})
        if (s == f) return false;
    return std::nullopt;
}

bool valid_utf8(std::string_view s) {
    size_t i = 0;
    while (i < s.size()) {
        auto c = static_cast<unsigned char>(s[i]);
        size_t n;
        uint32_t cp;
        if (c < 0x80) {
            ++i;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            n = 1, cp = c & 0x1f;
        } else if ((c & 0xf0) == 0xe0) {
            n = 2, cp = c & 0x0f;
        } else if ((c & 0xf8) == 0xf0) {
            n = 3, cp = c & 0x07;
        } else {
            return false;
        }
        if (s.size() - i <= n) return false;
        for (size_t k = 1; k <= n; ++k) {
            auto cc = static_cast<unsigned char>(s[i + k]);
            if ((cc & 0xc0) != 0x80) return false;
            cp = (cp << 6) | (cc & 0x3f);
        }
        static constexpr uint32_t kMinForLength[] = {0, 0x80, 0x800, 0x10000};
        if (cp < kMinForLength[n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return false;
        i += n + 1;
    }
    return true;
}

// Returns the line of the first dotted key or table header with more than kMaxKeyDots dots, or
// 0. A lexical over-approximation of TOML: dots are counted outside strings and comments, and the
// count restarts only at characters that cannot be part of a key. Strings are skipped with
// TOML's own rules so that a quoted key segment cannot hide the dots around it.
uint32_t find_deep_key(std::string_view s) {
    uint32_t line = 1;
    int dots = 0;
    size_t i = 0;
    const size_t n = s.size();
    auto starts = [&](size_t at, std::string_view what) {
        return s.substr(at, what.size()) == what;
    };
    while (i < n) {
        char c = s[i];
        if (c == '\n') {
            ++line;
            dots = 0;
            ++i;
        } else if (c == '#') {
            while (i < n && s[i] != '\n') ++i;
        } else if (c == '"' || c == '\'') {
            const bool basic = c == '"';
            const std::string_view triple = basic ? "\"\"\"" : "'''";
            if (starts(i, triple)) {  // multi-line string: a value, never part of a key
                i += 3;
                while (i < n && !starts(i, triple)) {
                    if (s[i] == '\n') ++line;
                    if (basic && s[i] == '\\' && i + 1 < n && s[i + 1] != '\n') ++i;
                    ++i;
                }
                i = std::min(n, i + 3);
                // Up to two more quotes belong to the content, before the closing three.
                for (int extra = 0; extra < 2 && i < n && s[i] == c; ++extra) ++i;
                dots = 0;
            } else {  // single-line string: may be a quoted key segment, the chain goes on
                ++i;
                while (i < n && s[i] != c && s[i] != '\n') {
                    if (basic && s[i] == '\\' && i + 1 < n && s[i + 1] != '\n') ++i;
                    ++i;
                }
                if (i < n && s[i] == c) ++i;
            }
        } else {
            if (c == '.' && ++dots > kMaxKeyDots) return line;
            if (c == '=' || c == '[' || c == ']' || c == '{' || c == '}' || c == ',') dots = 0;
            ++i;
        }
    }
    return 0;
}

const KeySpec* find_spec(std::string_view path) {
    for (const auto& spec : schema())
        if (spec.path == path) return &spec;
    return nullptr;
}

// True when `path` names a table of the schema (a proper prefix of some key at a dot).
bool is_schema_table(std::string_view path) {
    for (const auto& spec : schema())
        if (spec.path.size() > path.size() && spec.path.starts_with(path) &&
            spec.path[path.size()] == '.')
            return true;
    return false;
}

// "0..65535", "(minimum 1)": the allowed range of an integer key, for messages.
std::string range_text(const KeySpec& spec) {
    if (spec.max == INT64_MAX) return "(minimum " + std::to_string(spec.min) + ")";
    if (spec.min == INT64_MIN) return "(maximum " + std::to_string(spec.max) + ")";
    return std::to_string(spec.min) + ".." + std::to_string(spec.max);
}

struct Checked {
    std::string error;    // why the value is rejected ("" = accepted)
    std::string warning;  // accepted with a change
};

// Range, soft maximum and the key's own check. `v` may be adjusted (clamped).
Checked validate(const KeySpec& spec, Value& v) {
    Checked r;
    if (spec.type == Type::integer) {
        int64_t i = std::get<int64_t>(v);
        if (i < spec.min || i > spec.max) {
            r.error = "is out of range " + range_text(spec);
            return r;
        }
        if (i > spec.soft_max) {
            r.warning = "is above " + std::to_string(spec.soft_max) + ", clamped to " +
                        std::to_string(spec.soft_max);
            v = spec.soft_max;
        }
    }
    if (spec.check != nullptr) {
        std::string_view why = spec.check(v);
        if (!why.empty()) r.error = std::string(why);
    }
    return r;
}

// toml++ tables iterate in key order; messages are reported in line order.
void sort_by_line(std::vector<LineMessage>& msgs) {
    std::stable_sort(msgs.begin(), msgs.end(),
                     [](const LineMessage& a, const LineMessage& b) { return a.line < b.line; });
}

std::string join(std::vector<LineMessage>& msgs) {
    sort_by_line(msgs);
    std::string out;
    for (const auto& m : msgs) {
        if (!out.empty()) out += '\n';
        out += m.text;
    }
    return out;
}

}  // namespace

// Builds a Config from defaults, a TOML document and the environment. A friend of Config.
class ConfigLoader {
  public:
    ConfigLoader(std::string_view origin, std::vector<std::string>* warnings)
        : origin_(origin), warnings_(warnings) {}

    // `toml` is nullptr when there is no file.
    std::expected<Config, std::string> run(const std::string_view* toml, const Environment& env,
                                           std::string file) {
        config_.file_ = std::move(file);
        if (toml != nullptr) apply_file(*toml);
        std::vector<LineMessage> file_errors = std::move(errors_);
        std::vector<LineMessage> file_warnings = std::move(warns_);
        errors_.clear();
        warns_.clear();
        apply_environment(env);

        std::string errors = join(file_errors);
        if (!errors_.empty()) errors += (errors.empty() ? "" : "\n") + join(errors_);
        if (warnings_ != nullptr) {
            sort_by_line(file_warnings);
            for (auto& w : file_warnings) warnings_->push_back(std::move(w.text));
            for (auto& w : warns_) warnings_->push_back(std::move(w.text));
        }
        if (!errors.empty()) return std::unexpected(std::move(errors));
        return std::move(config_);
    }

  private:
    std::string where(uint32_t line) const {
        return std::string(origin_) + ":" + std::to_string(line) + ": ";
    }

    Config::Entry& entry_for(const KeySpec* spec) {
        return config_.entries_[static_cast<size_t>(spec - schema().data())];
    }

    void apply_file(std::string_view text) {
        if (text.size() > kMaxConfigBytes) {
            errors_.push_back({0, std::string(origin_) + ": larger than " +
                                      std::to_string(kMaxConfigBytes) + " bytes"});
            return;
        }
        if (uint32_t line = find_deep_key(text); line != 0) {
            errors_.push_back({line, where(line) + "key nested deeper than " +
                                         std::to_string(kMaxKeyDots + 1) + " levels"});
            return;
        }
        toml::parse_result result = toml::parse(text, std::string_view(origin_));
        if (!result) {
            const auto& err = result.error();
            const auto& at = err.source().begin;
            errors_.push_back({at.line, std::string(origin_) + ":" + std::to_string(at.line) + ":" +
                                            std::to_string(at.column) + ": " +
                                            std::string(err.description())});
            return;
        }
        walk(result.table(), "");
    }

    void walk(const toml::table& table, const std::string& prefix) {
        for (auto&& [key, node] : table) {
            const std::string_view k = key.str();
            const std::string shown =
                (prefix.empty() ? "" : prefix + ".") + (is_bare_key(k) ? std::string(k) : quote(k));
            uint32_t line = key.source().begin.line;
            if (line == 0) line = node.source().begin.line;
            // Schema keys are bare, so a quoted segment ("a.b") never matches one.
            const KeySpec* spec = is_bare_key(k) ? find_spec(shown) : nullptr;
            if (spec != nullptr) {
                set_from_node(*spec, node,
                              node.source().begin.line ? node.source().begin.line : line);
            } else if (is_bare_key(k) && is_schema_table(shown)) {
                if (const toml::table* sub = node.as_table())
                    walk(*sub, shown);
                else
                    errors_.push_back({line, where(line) + "key " + shown +
                                                 ": expected table, got " +
                                                 std::string(toml_type_name(node.type()))});
            } else {
                warns_.push_back({line, where(line) + "unknown key " + shown + " (ignored)"});
            }
        }
    }

    void set_from_node(const KeySpec& spec, const toml::node& node, uint32_t line) {
        Value v;
        bool ok = false;
        switch (spec.type) {
            case Type::boolean:
                if (auto b = node.value_exact<bool>()) v = *b, ok = true;
                break;
            case Type::integer:
                if (auto i = node.value_exact<int64_t>()) v = *i, ok = true;
                break;
            case Type::string:
                if (auto s = node.value_exact<std::string>()) v = std::move(*s), ok = true;
                break;
            case Type::number:
                if (auto d = node.value_exact<double>())
                    v = *d, ok = true;
                else if (auto i = node.value_exact<int64_t>())
                    v = static_cast<double>(*i), ok = true;
                break;
        }
        const std::string prefix = where(line) + "key " + std::string(spec.path) + ": ";
        if (!ok) {
            errors_.push_back({line, prefix + "expected " + std::string(type_name(spec.type)) +
                                         ", got " + std::string(toml_type_name(node.type()))});
            return;
        }
        const std::string shown = render(v);
        Checked c = validate(spec, v);
        if (!c.error.empty()) {
            errors_.push_back({line, prefix + shown + " " + c.error});
            return;
        }
        if (!c.warning.empty()) warns_.push_back({line, prefix + shown + " " + c.warning});
        Config::Entry& e = entry_for(&spec);
        e.value = std::move(v);
        e.source = Source::file;
    }

    void apply_environment(const Environment& env) {
        for (const auto& spec : schema()) {
            for (const std::string& name : env_names(spec.path)) {
                auto it = env.find(name);
                // An empty variable counts as unset, as in system-probe (viper).
                if (it == env.end() || it->second.empty()) continue;
                set_from_env(spec, name, it->second);
                break;
            }
        }
    }

    void set_from_env(const KeySpec& spec, const std::string& name, const std::string& raw) {
        const std::string prefix = "environment " + name + "=" + quote(raw) + ": ";
        Value v;
        std::string_view expected;
        switch (spec.type) {
            case Type::boolean:
                if (auto b = parse_go_bool(raw))
                    v = *b;
                else
                    expected = "expected boolean (1, t, true, 0, f, false)";
                break;
            case Type::integer: {
                // Decimal with an optional sign, as Go's strconv.ParseInt(s, 10, 64).
                std::string_view digits = raw;
                if (digits.starts_with('+')) digits.remove_prefix(1);
                int64_t i = 0;
                const char* last = digits.data() + digits.size();
                auto [end, ec] = std::from_chars(digits.data(), last, i);
                if (end != last || (raw.starts_with('+') && digits.starts_with('-'))) {
                    expected = "expected integer";
                } else if (ec == std::errc::result_out_of_range) {
                    errors_.push_back({0, prefix + "is out of range " + range_text(spec)});
                    return;
                } else if (ec != std::errc{}) {
                    expected = "expected integer";
                } else {
                    v = i;
                }
                break;
            }
            case Type::number: {
                double d = 0;
                auto [end, ec] = std::from_chars(raw.data(), raw.data() + raw.size(), d);
                if (ec != std::errc{} || end != raw.data() + raw.size())
                    expected = "expected number";
                else
                    v = d;
                break;
            }
            case Type::string:
                if (valid_utf8(raw))
                    v = raw;
                else
                    expected = "expected a UTF-8 string";
                break;
        }
        if (!expected.empty()) {
            errors_.push_back({0, prefix + std::string(expected)});
            return;
        }
        Checked c = validate(spec, v);
        if (!c.error.empty()) {
            errors_.push_back({0, prefix + c.error});
            return;
        }
        if (!c.warning.empty()) warns_.push_back({0, prefix + c.warning});
        Config::Entry& e = entry_for(&spec);
        e.value = std::move(v);
        e.source = Source::environment;
        e.env_name = name;
    }

    Config config_;
    std::string origin_;
    std::vector<std::string>* warnings_;
    std::vector<LineMessage> errors_;
    std::vector<LineMessage> warns_;
};

std::string_view type_name(Type t) {
    switch (t) {
        case Type::boolean:
            return "boolean";
        case Type::integer:
            return "integer";
        case Type::string:
            return "string";
        case Type::number:
            return "number";
    }
    return "unknown";
}

Environment environment_from_process() {
    Environment env;
    for (char** e = environ; e != nullptr && *e != nullptr; ++e) {
        std::string_view kv = *e;
        size_t eq = kv.find('=');
        if (eq == std::string_view::npos || eq == 0) continue;
        env.emplace(std::string(kv.substr(0, eq)), std::string(kv.substr(eq + 1)));
    }
    return env;
}

Config::Config() {
    entries_.reserve(schema().size());
    for (const auto& spec : schema())
        entries_.push_back({&spec, spec.default_value, Source::default_value, {}});
}

std::expected<Config, std::string> Config::parse(std::string_view toml, std::string_view origin,
                                                 const Environment& env,
                                                 std::vector<std::string>* warnings) {
    try {
        return ConfigLoader(origin, warnings).run(&toml, env, {});
    } catch (const std::bad_alloc&) {
        return std::unexpected(std::string(origin) + ": out of memory");
    } catch (const std::exception& e) {
        return std::unexpected(std::string(origin) + ": " + e.what());
    }
}

namespace {

// Reads a whole file. Returns errno (0 on success).
int read_file(const std::string& path, std::string* out) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0) return errno;
    int err = 0;
    char buf[65536];
    for (;;) {
        ssize_t n = ::read(fd, buf, sizeof buf);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) {
            err = errno;
            break;
        }
        if (n == 0) break;
        out->append(buf, static_cast<size_t>(n));
        if (out->size() > kMaxConfigBytes) {
            err = EFBIG;
            break;
        }
    }
    ::close(fd);
    return err;
}

}  // namespace

std::expected<Config, std::string> Config::load(const LoadOptions& opts, const Environment& env,
                                                std::vector<std::string>* warnings) {
    try {
        if (opts.path.empty()) return ConfigLoader("", warnings).run(nullptr, env, {});
        std::string text;
        int err = read_file(opts.path, &text);
        if (err == ENOENT && !opts.file_must_exist) {
            if (warnings != nullptr)
                warnings->push_back("config file " + opts.path +
                                    " not found: using defaults and environment");
            return ConfigLoader(opts.path, warnings).run(nullptr, env, {});
        }
        if (err == EFBIG)
            return std::unexpected("read config " + opts.path + ": larger than " +
                                   std::to_string(kMaxConfigBytes) + " bytes");
        if (err != 0)
            return std::unexpected("read config " + opts.path + ": " + std::strerror(err));
        std::string_view view = text;
        return ConfigLoader(opts.path, warnings).run(&view, env, opts.path);
    } catch (const std::bad_alloc&) {
        return std::unexpected("load config " + opts.path + ": out of memory");
    } catch (const std::exception& e) {
        return std::unexpected("load config " + opts.path + ": " + e.what());
    }
}

const Config::Entry& Config::entry(std::string_view path, Type t) const {
    for (const auto& e : entries_) {
        if (e.spec->path != path) continue;
        if (e.spec->type != t)
            throw std::logic_error("conf: key " + std::string(path) + " is " +
                                   std::string(type_name(e.spec->type)) + ", not " +
                                   std::string(type_name(t)));
        return e;
    }
    throw std::logic_error("conf: no key " + std::string(path) + " in the schema");
}

bool Config::get_bool(std::string_view path) const {
    return std::get<bool>(entry(path, Type::boolean).value);
}
int64_t Config::get_int(std::string_view path) const {
    return std::get<int64_t>(entry(path, Type::integer).value);
}
const std::string& Config::get_string(std::string_view path) const {
    return std::get<std::string>(entry(path, Type::string).value);
}
double Config::get_number(std::string_view path) const {
    return std::get<double>(entry(path, Type::number).value);
}

Source Config::source(std::string_view path) const {
    for (const auto& e : entries_)
        if (e.spec->path == path) return e.source;
    throw std::logic_error("conf: no key " + std::string(path) + " in the schema");
}

std::string Config::dump() const {
    // Group keys by table, tables in order of first appearance; root keys come first, as TOML
    // requires them before any [table] header.
    std::vector<std::pair<std::string_view, std::vector<const Entry*>>> tables;
    tables.emplace_back("", std::vector<const Entry*>{});
    for (const auto& e : entries_) {
        size_t dot = e.spec->path.rfind('.');
        std::string_view table = dot == std::string_view::npos ? "" : e.spec->path.substr(0, dot);
        auto it = std::find_if(tables.begin(), tables.end(),
                               [&](const auto& t) { return t.first == table; });
        if (it == tables.end()) it = tables.insert(tables.end(), {table, {}});
        it->second.push_back(&e);
    }
    std::string out =
        "# ringprobe effective configuration: each value is followed by where it came from.\n";
    if (!file_.empty() && valid_utf8(file_)) out += "# config file: " + quote(file_) + "\n";
    for (const auto& [table, entries] : tables) {
        if (entries.empty()) continue;
        if (!table.empty()) out += "\n[" + std::string(table) + "]\n";
        for (const Entry* e : entries) {
            std::string_view name = e->spec->path.substr(table.empty() ? 0 : table.size() + 1);
            out += std::string(name) + " = " + render(e->value) + "  # ";
            switch (e->source) {
                case Source::default_value:
                    out += "default";
                    break;
                case Source::file:
                    out += "file";
                    break;
                case Source::environment:
                    out += "env " + e->env_name;
                    break;
            }
            out += '\n';
        }
    }
    return out;
}

}  // namespace rp::conf
