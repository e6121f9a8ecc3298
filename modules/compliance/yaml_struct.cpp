// yaml_struct.cpp — see yaml_struct.h.
#include "modules/compliance/yaml_struct.h"

#include <yaml.h>

#include <charconv>
#include <cmath>
#include <limits>
#include <optional>

namespace rp::modules::compliance {
namespace {

using Kind = YamlField::Kind;

// --- scalar resolution (yaml.v3 resolve.go for untagged plain scalars).

struct Resolved {
    enum class T { null, boolean, integer, uinteger, floating, string } t = T::string;
    bool b = false;
    int64_t i = 0;
    uint64_t u = 0;
    double d = 0;
};

// Go's strconv.ParseUint/ParseInt digits of `s` in `base`; nullopt when invalid or overflowing.
std::optional<uint64_t> parse_digits(std::string_view s, int base) {
    if (s.empty()) return std::nullopt;
    uint64_t v = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), v, base);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return v;
}

// strconv.ParseInt/ParseUint with base 0: [sign] (0x.. | 0o.. | 0b.. | 0.. octal | decimal).
std::optional<uint64_t> parse_base0_magnitude(std::string_view s) {
    if (s.size() >= 2 && s[0] == '0') {
        char p = static_cast<char>(s[1] | 0x20);
        if (p == 'x') return parse_digits(s.substr(2), 16);
        if (p == 'o') return parse_digits(s.substr(2), 8);
        if (p == 'b') return parse_digits(s.substr(2), 2);
        return parse_digits(s.substr(1), 8);
    }
    return parse_digits(s, 10);
}

std::optional<int64_t> go_parse_int(std::string_view s) {
    bool neg = false;
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        s.remove_prefix(1);
    }
    auto m = parse_base0_magnitude(s);
    if (!m) return std::nullopt;
    if (!neg && *m > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return std::nullopt;
    if (neg && *m > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()) + 1)
        return std::nullopt;
    return neg ? static_cast<int64_t>(0 - *m) : static_cast<int64_t>(*m);
}

std::optional<uint64_t> go_parse_uint(std::string_view s) {
    if (!s.empty() && (s[0] == '+' || s[0] == '-')) return std::nullopt;
    return parse_base0_magnitude(s);
}

// ^[-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?$ (yaml.v3's yamlStyleFloat).
bool yaml_style_float(std::string_view s) {
    size_t i = 0;
    auto digits = [&] {
        size_t from = i;
        while (i < s.size() && s[i] >= '0' && s[i] <= '9') ++i;
        return i - from;
    };
    if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
    if (i < s.size() && s[i] == '.') {
        ++i;
        if (digits() == 0) return false;
    } else {
        if (digits() == 0) return false;
        if (i < s.size() && s[i] == '.') {
            ++i;
            digits();
        }
    }
    if (i < s.size() && (s[i] == 'e' || s[i] == 'E')) {
        ++i;
        if (i < s.size() && (s[i] == '+' || s[i] == '-')) ++i;
        if (digits() == 0) return false;
    }
    return i == s.size();
}

// ParseFloat of a yaml_style_float string; nullopt when out of range (Go: ErrRange).
std::optional<double> parse_float(std::string_view s) {
    if (!s.empty() && s[0] == '+') s.remove_prefix(1);
    double d = 0;
    auto r = std::from_chars(s.data(), s.data() + s.size(), d);
    if (r.ec != std::errc() || r.ptr != s.data() + s.size()) return std::nullopt;
    return d;
}

Resolved resolve_plain(std::string_view in) {
    Resolved r;
    char hint = 'N';
    if (!in.empty()) {
        char c = in[0];
        if (c == '+' || c == '-')
            hint = 'S';
        else if (c >= '0' && c <= '9')
            hint = 'D';
        else if (std::string_view("yYnNtTfFoO~").find(c) != std::string_view::npos)
            hint = 'M';
        else if (c == '.')
            hint = '.';
        else
            hint = 0;
    }
    if (hint == 0) return r;
    if (in.empty() || in == "~" || in == "null" || in == "Null" || in == "NULL") {
        r.t = Resolved::T::null;
        return r;
    }
    if (in == "true" || in == "True" || in == "TRUE" || in == "false" || in == "False" ||
        in == "FALSE") {
        r.t = Resolved::T::boolean;
        r.b = in[0] == 't' || in[0] == 'T';
        return r;
    }
    auto special = [&](std::string_view body) {
        return body == ".inf" || body == ".Inf" || body == ".INF";
    };
    if (in == ".nan" || in == ".NaN" || in == ".NAN") {
        r.t = Resolved::T::floating;
        r.d = std::numeric_limits<double>::quiet_NaN();
        return r;
    }
    if (special(in) || (in[0] == '+' && special(in.substr(1)))) {
        r.t = Resolved::T::floating;
        r.d = std::numeric_limits<double>::infinity();
        return r;
    }
    if (in[0] == '-' && special(in.substr(1))) {
        r.t = Resolved::T::floating;
        r.d = -std::numeric_limits<double>::infinity();
        return r;
    }
    if (hint == 'M') return r;
    if (hint == '.') {
        if (yaml_style_float(in))
            if (auto d = parse_float(in)) {
                r.t = Resolved::T::floating;
                r.d = *d;
            }
        return r;
    }
    std::string plain;
    for (char c : in)
        if (c != '_') plain += c;
    if (auto i = go_parse_int(plain)) {
        r.t = Resolved::T::integer;
        r.i = *i;
        return r;
    }
    if (auto u = go_parse_uint(plain)) {
        r.t = Resolved::T::uinteger;
        r.u = *u;
        return r;
    }
    if (yaml_style_float(plain))
        if (auto d = parse_float(plain)) {
            r.t = Resolved::T::floating;
            r.d = *d;
        }
    return r;
}

// --- decoding (yaml.v3 decode.go, for the kinds our schemas use).

class Decoder {
  public:
    explicit Decoder(yaml_document_t* doc) : doc_(doc) {}
    std::string error;

    yaml_node_t* node(int index) { return yaml_document_get_node(doc_, index); }

    static std::string_view text(const yaml_node_t* n) {
        return {reinterpret_cast<const char*>(n->data.scalar.value), n->data.scalar.length};
    }
    static bool plain(const yaml_node_t* n) {
        return n->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
    }
    static bool is_null(const yaml_node_t* n) {
        return n->type == YAML_SCALAR_NODE && plain(n) &&
               resolve_plain(text(n)).t == Resolved::T::null;
    }

    void fail(const yaml_node_t* n, std::string what) {
        if (!error.empty()) return;  // the first error, as yaml.v3 lists it first
        error = "line " + std::to_string(n->start_mark.line + 1) + ": " + what;
    }

    // Decodes a mapping node into `out` (an object of `fields`).
    void object(const yaml_node_t* n, std::span<const YamlField> fields, YamlValue& out) {
        if (out.fields.size() != fields.size()) out.fields.resize(fields.size());
        out.set = true;
        if (n->type != YAML_MAPPING_NODE) {
            fail(n, n->type == YAML_SEQUENCE_NODE
                        ? "cannot unmarshal !!seq into a struct"
                        : "cannot unmarshal !!str `" + std::string(text(n).substr(0, 40)) +
                              "` into a struct");
            return;
        }
        // Merge keys first: explicit keys of this mapping win over merged ones.
        for (auto* p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; ++p) {
            yaml_node_t* k = node(p->key);
            if (k != nullptr && k->type == YAML_SCALAR_NODE && plain(k) && text(k) == "<<") {
                yaml_node_t* v = node(p->value);
                if (v == nullptr) continue;
                if (v->type == YAML_MAPPING_NODE) {
                    merge(v, fields, out);
                } else if (v->type == YAML_SEQUENCE_NODE) {
                    // Earlier mappings win: merge from the last one.
                    for (auto* it = v->data.sequence.items.top;
                         it > v->data.sequence.items.start;) {
                        yaml_node_t* m = node(*--it);
                        if (m != nullptr && m->type == YAML_MAPPING_NODE)
                            merge(m, fields, out);
                        else if (m != nullptr)
                            fail(m, "map merge requires map or sequence of maps as the value");
                    }
                } else if (!is_null(v)) {
                    fail(v, "map merge requires map or sequence of maps as the value");
                }
            }
        }
        std::vector<bool> done(fields.size(), false);
        for (auto* p = n->data.mapping.pairs.start; p < n->data.mapping.pairs.top; ++p) {
            yaml_node_t* k = node(p->key);
            yaml_node_t* v = node(p->value);
            if (k == nullptr || v == nullptr) continue;
            if (k->type != YAML_SCALAR_NODE) {
                fail(k, "cannot unmarshal a non-scalar mapping key into string");
                continue;
            }
            if (plain(k) && text(k) == "<<") continue;
            if (is_null(k)) continue;  // a null key does not name a field
            std::string_view key = text(k);
            for (size_t f = 0; f < fields.size(); ++f) {
                if (fields[f].key != key) continue;
                if (done[f]) {
                    fail(k, "field " + std::string(key) + " already set");
                    break;
                }
                done[f] = true;
                out.fields[f] = YamlValue{};
                field(v, fields[f], out.fields[f]);
                break;
            }
        }
    }

    void merge(const yaml_node_t* m, std::span<const YamlField> fields, YamlValue& out) {
        for (auto* p = m->data.mapping.pairs.start; p < m->data.mapping.pairs.top; ++p) {
            yaml_node_t* k = node(p->key);
            yaml_node_t* v = node(p->value);
            if (k == nullptr || v == nullptr || k->type != YAML_SCALAR_NODE) continue;
            for (size_t f = 0; f < fields.size(); ++f) {
                if (fields[f].key != text(k)) continue;
                out.fields[f] = YamlValue{};
                field(v, fields[f], out.fields[f]);
            }
        }
    }

    void field(const yaml_node_t* n, const YamlField& f, YamlValue& out) {
        if (is_null(n)) return;  // pointer: nil; value: zero
        switch (f.kind) {
            case Kind::object:
                object(n, f.fields, out);
                return;
            case Kind::string_list:
                if (n->type != YAML_SEQUENCE_NODE) {
                    fail(n, "cannot unmarshal into []string: not a sequence");
                    return;
                }
                out.set = true;
                for (auto* it = n->data.sequence.items.start; it < n->data.sequence.items.top;
                     ++it) {
                    yaml_node_t* item = node(*it);
                    if (item == nullptr || is_null(item)) continue;  // yaml.v3 drops them
                    if (item->type != YAML_SCALAR_NODE) {
                        fail(item, "cannot unmarshal a collection into string");
                        continue;
                    }
                    out.list.emplace_back(text(item));
                }
                return;
            default:
                break;
        }
        if (n->type != YAML_SCALAR_NODE) {
            fail(n, std::string("cannot unmarshal ") +
                        (n->type == YAML_MAPPING_NODE ? "!!map" : "!!seq") + " into " +
                        std::string(f.key));
            return;
        }
        std::string_view t = text(n);
        Resolved r;
        if (plain(n)) r = resolve_plain(t);  // quoted and block scalars stay strings
        switch (f.kind) {
            case Kind::string:
                out.set = true;
                out.s = std::string(t);
                return;
            case Kind::boolean:
                if (r.t == Resolved::T::boolean) {
                    out.set = true;
                    out.b = r.b;
                    return;
                }
                if (r.t == Resolved::T::string) {
                    static constexpr std::string_view kTrue[] = {"y",   "Y",  "yes", "Yes",
                                                                 "YES", "on", "On",  "ON"};
                    static constexpr std::string_view kFalse[] = {"n",  "N",   "no",  "No",
                                                                  "NO", "off", "Off", "OFF"};
                    for (auto w : kTrue)
                        if (t == w) {
                            out.set = true;
                            out.b = true;
                            return;
                        }
                    for (auto w : kFalse)
                        if (t == w) {
                            out.set = true;
                            out.b = false;
                            return;
                        }
                }
                break;
            case Kind::integer:
                if (r.t == Resolved::T::integer) {
                    out.set = true;
                    out.i = r.i;
                    return;
                }
                if (r.t == Resolved::T::floating && r.d <= 9.223372036854775807e18) {
                    out.set = true;
                    out.i = (std::isnan(r.d) || r.d < -9.223372036854775808e18)
                                ? std::numeric_limits<int64_t>::min()
                                : static_cast<int64_t>(r.d);
                    return;
                }
                break;
            case Kind::number:
                if (r.t == Resolved::T::integer || r.t == Resolved::T::uinteger ||
                    r.t == Resolved::T::floating) {
                    out.set = true;
                    out.d = r.t == Resolved::T::integer    ? static_cast<double>(r.i)
                            : r.t == Resolved::T::uinteger ? static_cast<double>(r.u)
                                                           : r.d;
                    return;
                }
                break;
            default:
                break;
        }
        fail(n,
             "cannot unmarshal `" + std::string(t.substr(0, 40)) + "` into " + std::string(f.key));
    }

  private:
    yaml_document_t* doc_;
};

}  // namespace

YamlResult decode_yaml(std::string_view text, std::span<const YamlField> fields) {
    YamlResult res;
    res.value.fields.resize(fields.size());
    yaml_parser_t parser;
    if (!yaml_parser_initialize(&parser)) {
        res.error = "libyaml: out of memory";
        return res;
    }
    yaml_parser_set_input_string(&parser, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
    yaml_document_t doc;
    if (!yaml_parser_load(&parser, &doc)) {
        res.error = std::string("yaml: line ") + std::to_string(parser.problem_mark.line + 1) +
                    ": " + (parser.problem != nullptr ? parser.problem : "parse error");
        yaml_parser_delete(&parser);
        return res;
    }
    yaml_node_t* root = yaml_document_get_root_node(&doc);
    Decoder d(&doc);
    if (root != nullptr && !Decoder::is_null(root)) {
        res.root_present = true;
        d.object(root, fields, res.value);
    }
    res.ok = d.error.empty();
    res.error = d.error;
    yaml_document_delete(&doc);
    yaml_parser_delete(&parser);
    return res;
}

void write_yaml_object(http::JsonWriter& w, std::span<const YamlField> fields, const YamlValue& v) {
    w.start_object();
    for (size_t f = 0; f < fields.size(); ++f) {
        const YamlField& spec = fields[f];
        const YamlValue* x = f < v.fields.size() ? &v.fields[f] : nullptr;
        const bool set = x != nullptr && x->set;
        if (spec.ptr && !set) continue;
        w.key(spec.key);
        switch (spec.kind) {
            case Kind::integer:
                w.int64(set ? x->i : 0);
                break;
            case Kind::boolean:
                w.boolean(set && x->b);
                break;
            case Kind::string:
                w.string(set ? std::string_view(x->s) : std::string_view());
                break;
            case Kind::number:
                w.number(set ? x->d : 0);
                break;
            case Kind::string_list:
                if (!set) {
                    w.null();
                    break;
                }
                w.start_array();
                for (const auto& s : x->list) w.string(s);
                w.end_array();
                break;
            case Kind::object: {
                static const YamlValue kEmpty;
                write_yaml_object(w, spec.fields, set ? *x : kEmpty);
                break;
            }
        }
    }
    w.end_object();
}

}  // namespace rp::modules::compliance
