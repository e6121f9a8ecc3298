// db_config.cpp — see db_config.h. Upstream: DataDog/datadog-agent pkg/compliance/dbconfig
// (loader.go, types.go) and pkg/compliance/utils (ReadProcessFileLimit, RootedGlob, GetFileUser).
#include "modules/compliance/db_config.h"

#include <expat.h>

#include <algorithm>
#include <cctype>
#include <cstring>
#include <functional>

namespace rp::modules::compliance {
namespace {

using K = YamlField::Kind;

// ---------------------------------------------------------------------------------------------
// PostgreSQL

// The settings system-probe keeps (postgresKnownConfigKeys), sorted for binary search.
constexpr std::string_view kPgKeys[] = {
    "archive_command",
    "archive_mode",
    "archive_timeout",
    "autovacuum",
    "autovacuum_analyze_scale_factor",
    "autovacuum_max_workers",
    "autovacuum_naptime",
    "autovacuum_vacuum_cost_delay",
    "autovacuum_vacuum_cost_limit",
    "autovacuum_vacuum_scale_factor",
    "checkpoint_timeout",
    "cluster_name",
    "debug_pretty_print",
    "debug_print_parse",
    "debug_print_plan",
    "debug_print_rewritten",
    "default_statistics_target",
    "dynamic_shared_memory_type",
    "effective_cache_size",
    "effective_io_concurrency",
    "fsync",
    "hba_file",
    "hot_standby",
    "hot_standby_feedback",
    "ident_file",
    "idle_in_transaction_session_timeout",
    "idle_session_timeout",
    "ignore_system_indexes",
    "jit_debugging_support",
    "jit_profiling_support",
    "listen_addresses",
    "log_autovacuum_min_duration",
    "log_checkpoints",
    "log_connections",
    "log_destination",
    "log_directory",
    "log_disconnections",
    "log_error_verbosity",
    "log_file_mode",
    "log_filename",
    "log_hostname",
    "log_line_prefix",
    "log_lock_waits",
    "log_min_duration_sample",
    "log_min_error_statement",
    "log_min_messages",
    "log_rotation_age",
    "log_rotation_size",
    "log_statement",
    "log_statement_sample_rate",
    "log_timezone",
    "log_truncate_on_rotation",
    "logging_collector",
    "maintenance_work_mem",
    "max_connections",
    "max_locks_per_transaction",
    "max_parallel_workers",
    "max_prepared_transactions",
    "max_replication_slots",
    "max_wal_senders",
    "max_wal_size",
    "max_worker_processes",
    "password_encryption",
    "pg_stat_statements.max",
    "pg_stat_statements.track",
    "pg_stat_statements.track_utility",
    "port",
    "post_auth_delay",
    "random_page_cost",
    "seq_page_cost",
    "shared_buffers",
    "shared_preload_libraries",
    "ssl",
    "ssl_ca_file",
    "ssl_cert_file",
    "ssl_ciphers",
    "ssl_key_file",
    "ssl_min_protocol_version",
    "statement_timeout",
    "syslog_facility",
    "syslog_ident",
    "syslog_sequence_numbers",
    "syslog_split_messages",
    "tcp_keepalives_idle",
    "tcp_keepalives_interval",
    "track_activities",
    "track_activity_query_size",
    "track_commit_timestamp",
    "track_functions",
    "track_io_timing",
    "wal_buffers",
    "wal_compression",
    "wal_keep_size",
    "wal_level",
    "wal_log_hints",
    "work_mem",
};

static_assert(std::is_sorted(std::begin(kPgKeys), std::end(kPgKeys)), "kPgKeys must stay sorted");

bool pg_known(std::string_view key) {
    return std::binary_search(std::begin(kPgKeys), std::end(kPgKeys), key);
}

// The include depth PostgreSQL itself allows (CONF_FILE_MAX_DEPTH).
constexpr int kPgMaxIncludeDepth = 10;
// bufio.Scanner's default maximum token: a longer line ends the scan of that file.
constexpr size_t kMaxLineBytes = 64 * 1024;

bool pg_space(char c) { return c == ' ' || c == '\t' || c == '\r'; }
bool pg_ident(char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
           c == '_' || c == '.';
}

// system-probe's pgConfLexer: identifiers, '=', single-quoted strings; '#' or anything else ends
// the line.
class PgLexer {
  public:
    explicit PgLexer(std::string_view line) : buf_(line) {}
    bool next(std::string& out) {
        out.clear();
        while (pos_ < buf_.size() && pg_space(buf_[pos_])) ++pos_;
        if (pos_ >= buf_.size()) return false;
        char c = buf_[pos_];
        if (c == '#') return false;
        if (c == '=') {
            ++pos_;
            out = "=";
            return true;
        }
        if (pg_ident(c)) {
            size_t from = pos_;
            while (pos_ < buf_.size() && pg_ident(buf_[pos_])) ++pos_;
            out.assign(buf_.substr(from, pos_ - from));
            return true;
        }
        if (c == '\'') return quoted(out);
        return false;
    }

  private:
    // guc-file.l's quoted strings as system-probe reads them: \b \f \n \r \t, '' for a quote, a
    // backslash before anything else keeps that character; an octal escape loses its backslash
    // and first digit. Unterminated: no token.
    bool quoted(std::string& out) {
        ++pos_;
        for (; pos_ < buf_.size(); ++pos_) {
            char c = buf_[pos_];
            if (pos_ + 1 < buf_.size()) {
                char peek = buf_[pos_ + 1];
                if (c == '\\') {
                    ++pos_;
                    switch (peek) {
                        case 'b':
                            out += '\b';
                            break;
                        case 'f':
                            out += '\f';
                            break;
                        case 'n':
                            out += '\n';
                            break;
                        case 'r':
                            out += '\r';
                            break;
                        case 't':
                            out += '\t';
                            break;
                        case '0':
                        case '1':
                        case '2':
                        case '3':
                        case '4':
                        case '5':
                        case '6':
                        case '7':
                            break;
                        default:
                            out += peek;
                    }
                    continue;
                }
                if (c == '\'' && peek == '\'') {
                    ++pos_;
                    out += '\'';
                    continue;
                }
            }
            if (c == '\'') {
                ++pos_;
                return true;
            }
            out += c;
        }
        out.clear();
        return false;
    }

    std::string_view buf_;
    size_t pos_ = 0;
};

struct LoadCtx {
    const ProcessInfo& proc;
    const ProcRoot& root;
    ReadBudget budget;
};

// parsePGConfig: `path` into `config`; the file's stat, or nullopt when it cannot be used.
std::optional<struct stat> parse_pg_config(LoadCtx& ctx, const std::string& path,
                                           std::map<std::string, std::string>& config, int depth) {
    if (path_ext(path) != ".conf") return std::nullopt;
    if (depth > kPgMaxIncludeDepth) return std::nullopt;
    auto file = ctx.root.read_file(ctx.proc, path, ctx.budget);
    if (!file) return std::nullopt;
    std::string_view text = file->bytes;
    std::string key, val;
    while (!text.empty()) {
        size_t nl = text.find('\n');
        std::string_view line = text.substr(0, nl);
        text = nl == std::string_view::npos ? std::string_view() : text.substr(nl + 1);
        if (line.size() >= kMaxLineBytes) break;  // bufio.ErrTooLong: the rest is not read
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        PgLexer lex(line);
        if (!lex.next(key)) continue;
        lex.next(val);
        if (key == "include" || key == "include_if_exists" || key == "include_dir") {
            std::string inc = path_is_abs(val) ? val : path_join(path_dir(path), val);
            if (key == "include_dir") {
                for (const std::string& m : ctx.root.glob(path_join(inc, "*.conf")))
                    parse_pg_config(ctx, m, config, depth + 1);
            } else {
                parse_pg_config(ctx, inc, config, depth + 1);
            }
            continue;
        }
        if (val == "=") lex.next(val);
        if (!pg_known(key)) continue;
        if (val == "on" || val == "true" || val == "yes")
            config[key] = "on";
        else if (val == "off" || val == "false" || val == "no")
            config[key] = "off";
        else
            config[key] = val;
    }
    return file->st;
}

// foreachFlags: "--k=v", "--k v", "--k" (then "true"), and bare words (value ""), argv[0] skipped.
void foreach_flags(const std::vector<std::string>& cmdline,
                   const std::function<void(const std::string&, const std::string&)>& f) {
    if (cmdline.size() <= 1) return;
    bool pending = false;
    for (size_t i = 1; i < cmdline.size(); ++i) {
        const std::string& arg = cmdline[i];
        if (arg.size() > 2 && arg.starts_with("--")) {
            if (pending) f(cmdline[i - 1], "true");
            pending = false;
            size_t eq = arg.find('=');
            if (eq != std::string::npos) {
                f(arg.substr(0, eq), arg.substr(eq + 1));
            } else {
                f(arg, "");
                pending = true;
            }
        } else if (arg != "--") {
            if (pending) {
                pending = false;
                f(cmdline[i - 1], arg);
            } else {
                f(arg, "");
            }
        }
    }
    if (pending) f(cmdline.back(), "true");
}

// ---------------------------------------------------------------------------------------------
// MongoDB: the whitelist of system-probe's mongoDBConfig, field for field.

#define RP_S(k)                \
    YamlField {                \
        k, K::string, true, {} \
    }
#define RP_B(k)                 \
    YamlField {                 \
        k, K::boolean, true, {} \
    }
#define RP_I(k)                 \
    YamlField {                 \
        k, K::integer, true, {} \
    }
#define RP_F(k)                \
    YamlField {                \
        k, K::number, true, {} \
    }
#define RP_L(k)                     \
    YamlField {                     \
        k, K::string_list, true, {} \
    }

constexpr YamlField kMongoSystemLog[] = {
    RP_I("verbosity"),      RP_B("quiet"),       RP_B("traceAllExceptions"),
    RP_S("syslogFacility"), RP_S("path"),        RP_B("logAppend"),
    RP_S("logRotate"),      RP_S("destination"), RP_S("timeStampFormat"),
};
constexpr YamlField kMongoUnixSocket[] = {RP_B("enabled"), RP_I("filePermissions"),
                                          RP_S("pathPrefix")};
constexpr YamlField kMongoX509[] = {RP_S("attributes"), RP_S("extensionValue")};
constexpr YamlField kMongoTls[] = {
    RP_B("allowConnectionsWithoutCertificates"),
    RP_B("allowInvalidCertificates"),
    RP_B("allowInvalidHostnames"),
    RP_S("CAFile"),
    RP_S("certificateKeyFile"),
    RP_S("certificateSelector"),
    RP_S("clusterCAFile"),
    RP_S("clusterCertificateSelector"),
    RP_S("clusterFile"),
    RP_S("CRLFile"),
    RP_S("disabledProtocols"),
    RP_B("FIPSMode"),
    RP_S("logVersions"),
    RP_S("mode"),
    YamlField{"clusterAuthX509", K::object, true, kMongoX509},
};
constexpr YamlField kMongoSsl[] = {
    RP_B("allowConnectionsWithoutCertificates"),
    RP_B("allowInvalidCertificates"),
    RP_B("allowInvalidHostnames"),
    RP_S("CAFile"),
    RP_S("certificateSelector"),
    RP_S("clusterCAFile"),
    RP_S("clusterCertificateSelector"),
    RP_S("clusterFile"),
    RP_S("CRLFile"),
    RP_S("disabledProtocols"),
    RP_B("FIPSMode"),
    RP_S("mode"),
    RP_S("PEMKeyFile"),
    RP_B("sslOnNormalPorts"),
};
constexpr YamlField kMongoNet[] = {
    RP_I("port"),
    RP_S("bindIp"),
    RP_B("bindIpAll"),
    RP_I("maxIncomingConnections"),
    RP_B("wireObjectCheck"),
    RP_B("ipv6"),
    YamlField{"unixDomainSocket", K::object, true, kMongoUnixSocket},
    YamlField{"tls", K::object, true, kMongoTls},
    // A struct value, not a pointer, in system-probe: encoding/json's omitempty never omits it.
    YamlField{"ssl", K::object, false, kMongoSsl},
};
constexpr YamlField kMongoKmip[] = {
    RP_S("keyIdentifier"), RP_B("rotateMasterKey"),        RP_S("serverName"),
    RP_S("port"),          RP_S("clientCertificateFile"),  RP_S("clientCertificateSelector"),
    RP_S("serverCAFile"),  RP_I("connectRetries"),         RP_I("connectTimeoutMS"),
    RP_B("activateKeys"),  RP_I("keyStatePollingSeconds"), RP_B("useLegacyProtocol"),
};
constexpr YamlField kMongoSasl[] = {RP_S("hostName"), RP_S("serviceName"),
                                    RP_S("saslauthdSocketPath")};
constexpr YamlField kMongoLdapAuthz[] = {RP_S("queryTemplate")};
constexpr YamlField kMongoLdapBind[] = {RP_S("method"), RP_S("queryUser"), RP_S("saslMechanisms"),
                                        RP_B("useOSDefaults")};
constexpr YamlField kMongoLdap[] = {
    RP_S("servers"),
    RP_S("transportSecurity"),
    RP_I("timeoutMS"),
    RP_I("retryCount"),
    RP_S("userToDNMapping"),
    RP_B("validateLDAPServerConfig"),
    YamlField{"authz", K::object, true, kMongoLdapAuthz},
    YamlField{"bind", K::object, true, kMongoLdapBind},
};
constexpr YamlField kMongoSecurity[] = {
    RP_S("authorization"),
    RP_S("clusterAuthMode"),
    RP_L("clusterIpSourceAllowlist"),
    RP_L("clusterIpSourceWhitelist"),
    RP_B("enableEncryption"),
    RP_S("encryptionCipherMode"),
    RP_S("encryptionKeyFile"),
    RP_B("javascriptEnabled"),
    RP_S("keyFile"),
    RP_B("redactClientLogData"),
    RP_B("transitionToAuth"),
    YamlField{"kmip", K::object, true, kMongoKmip},
    YamlField{"sasl", K::object, true, kMongoSasl},
    YamlField{"ldap", K::object, true, kMongoLdap},
};
constexpr YamlField kMongoSharding[] = {RP_B("archiveMovedChunks"), RP_S("clusterRole"),
                                        RP_S("configDB")};
constexpr YamlField kMongoReplication[] = {RP_B("enableMajorityReadConcern"),
                                           RP_I("localPingThresholdMs"), RP_I("oplogSizeMB"),
                                           RP_S("replSetName")};
constexpr YamlField kMongoAuditLog[] = {
    RP_S("auditEncryptionKeyIdentifier"),
    RP_S("compressionMode"),
    RP_S("destination"),
    RP_S("filter"),
    RP_S("format"),
    RP_S("localAuditKeyFile"),
    RP_S("path"),
    RP_B("runtimeConfiguration"),
};
constexpr YamlField kMongoStorage[] = {RP_S("dbPath"), RP_B("directoryPerDB"),
                                       RP_I("syncPeriodSecs"), RP_S("engine"),
                                       RP_F("oplogMinRetentionHours")};
constexpr YamlField kMongoSetParameter[] = {RP_B("enableLocalhostAuthBypass"),
                                            RP_S("authenticationMechanisms")};
constexpr YamlField kMongo[] = {
    YamlField{"systemLog", K::object, true, kMongoSystemLog},
    YamlField{"net", K::object, true, kMongoNet},
    YamlField{"security", K::object, true, kMongoSecurity},
    YamlField{"sharding", K::object, true, kMongoSharding},
    YamlField{"replication", K::object, true, kMongoReplication},
    YamlField{"auditLog", K::object, true, kMongoAuditLog},
    YamlField{"storage", K::object, true, kMongoStorage},
    YamlField{"setParameter", K::object, true, kMongoSetParameter},
};

constexpr std::string_view kMongoRedacted[] = {
    "--auditEncryptionKeyUID",
    "--kmipClientCertificatePassword",
    "--kmipKeyIdentifier",
    "--ldapQueryPassword",
    "--ldapQueryUser",
    "--setParameter",
    "--tlsCertificateKeyFilePassword",
    "--tlsClusterPassword",
};

// ---------------------------------------------------------------------------------------------
// Cassandra: cassandraDBConfig (value fields, always written). logback_filter is not decoded from
// the YAML (see docs/modules/compliance.md).

constexpr YamlField kCassandraClientEnc[] = {{"enabled", K::boolean, false, {}},
                                             {"optional", K::boolean, false, {}}};
constexpr YamlField kCassandraServerEnc[] = {{"internode_encryption", K::string, false, {}}};
constexpr YamlField kCassandra[] = {
    {"authenticator", K::string, false, {}},
    {"logback_file_path", K::string, false, {}},
    {"authorizer", K::string, false, {}},
    {"listen_address", K::string, false, {}},
    {"client_encryption_options", K::object, false, kCassandraClientEnc},
    {"server_encryption_options", K::object, false, kCassandraServerEnc},
};
enum CassandraField { kAuthenticator, kLogbackPath, kAuthorizer, kListen, kClientEnc, kServerEnc };

constexpr std::string_view kCassandraConfigGlob = "/etc/cassandra/cassandra.y?ml";
constexpr std::string_view kCassandraLogbackPath = "/etc/cassandra/logback.xml";
constexpr std::string_view kMongoConfigPath = "/etc/mongod.conf";
constexpr std::string_view kCassandraDaemon = "org.apache.cassandra.service.CassandraDaemon";

#undef RP_S
#undef RP_B
#undef RP_I
#undef RP_F
#undef RP_L

// Go's uint32(os.FileMode) of a stat mode.
uint32_t go_file_mode(mode_t m) {
    uint32_t mode = static_cast<uint32_t>(m & 0777);
    if (m & S_ISUID) mode |= 1u << 23;
    if (m & S_ISGID) mode |= 1u << 22;
    if (m & S_ISVTX) mode |= 1u << 20;
    switch (m & S_IFMT) {
        case S_IFDIR:
            mode |= 1u << 31;
            break;
        case S_IFLNK:
            mode |= 1u << 27;
            break;
        case S_IFIFO:
            mode |= 1u << 25;
            break;
        case S_IFSOCK:
            mode |= 1u << 24;
            break;
        case S_IFBLK:
            mode |= 1u << 26;
            break;
        case S_IFCHR:
            mode |= (1u << 26) | (1u << 21);
            break;
        default:
            break;
    }
    return mode;
}

void set_file_metadata(DbResource& r, const struct stat& st, std::string path) {
    r.config_file_user = user_name(st.st_uid).value_or("uid:" + std::to_string(st.st_uid));
    r.config_file_group = group_name(st.st_gid).value_or("gid:" + std::to_string(st.st_gid));
    r.config_file_mode = go_file_mode(st.st_mode);
    r.config_file_path = std::move(path);
}

bool load_postgres(LoadCtx& ctx, DbResource& r) {
    const auto& cmd = ctx.proc.cmdline;
    std::string hint;
    for (size_t i = 0; i < cmd.size(); ++i) {
        if (cmd[i] == "-D" && i + 1 < cmd.size()) {
            hint = path_join(cmd[i + 1], "postgresql.conf");
            break;
        }
        if (cmd[i] == "--config-file" && i + 1 < cmd.size()) {
            hint = path_clean(cmd[i + 1]);
            break;
        }
        if (cmd[i].starts_with("--config-file=")) {
            hint = path_clean(std::string_view(cmd[i]).substr(14));
            break;
        }
    }
    auto from_cmdline = [&] {
        foreach_flags(cmd, [&](const std::string& k, const std::string& v) {
            if (k.starts_with("--") && pg_known(std::string_view(k).substr(2)))
                r.pg[k.substr(2)] = v;
        });
    };
    std::string path;
    if (!hint.empty()) {
        path = path_is_abs(hint) ? hint : path_join(ctx.proc.cwd, hint);
    } else {
        for (std::string_view g :
             {"/etc/postgresql/postgresql.conf", "/etc/postgresql/*/*/postgresql.conf",
              "/var/lib/pgsql/*/data/postgresql.conf", "/var/lib/pgsql/data/postgresql.conf",
              "/var/lib/postgresql/*/data/postgresql.conf"}) {
            auto files = ctx.root.glob(g);
            if (!files.empty()) {
                path = files.front();
                break;
            }
        }
    }
    if (path.empty()) {  // postgres can run without a configuration file
        from_cmdline();
        return true;
    }
    auto st = parse_pg_config(ctx, path, r.pg, 0);
    if (!st) return false;
    from_cmdline();
    set_file_metadata(r, *st, path);
    return true;
}

bool load_mongodb(LoadCtx& ctx, DbResource& r) {
    const auto& cmd = ctx.proc.cmdline;
    std::string path(kMongoConfigPath);
    for (size_t i = 0; i < cmd.size(); ++i) {
        // --config <path> (system-probe); also mongod's other spellings -f <path>, --config=<path>.
        if ((cmd[i] == "--config" || cmd[i] == "-f") && i + 1 < cmd.size()) {
            path = path_clean(cmd[i + 1]);
            break;
        }
        if (cmd[i].starts_with("--config=")) {
            path = path_clean(std::string_view(cmd[i]).substr(9));
            break;
        }
    }
    foreach_flags(cmd, [&](const std::string& k, const std::string& v) {
        if (!k.starts_with("--")) return;
        std::string lower = k;
        for (char& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        bool redacted = std::find(std::begin(kMongoRedacted), std::end(kMongoRedacted), k) !=
                            std::end(kMongoRedacted) ||
                        lower.find("password") != std::string::npos;
        r.process_flags[k] = redacted ? "<redacted>" : v;
    });
    auto file = ctx.root.read_file(ctx.proc, path, ctx.budget);
    if (!file) return false;
    auto y = decode_yaml(file->bytes, kMongo);
    if (!y.ok) return false;
    r.yaml = std::move(y.value);
    set_file_metadata(r, file->st, path);
    return true;
}

bool load_cassandra(LoadCtx& ctx, DbResource& r) {
    bool allocated = false, parsed = false;
    for (const std::string& path : ctx.root.glob(kCassandraConfigGlob)) {
        auto file = ctx.root.read_file(ctx.proc, path, ctx.budget);
        if (!file) continue;
        auto y = decode_yaml(file->bytes, kCassandra);
        allocated = allocated || y.root_present;
        if (!y.ok) continue;
        // The first file that decodes ends the search, even an empty one (then: not found).
        if (y.root_present) {
            r.yaml = std::move(y.value);
            set_file_metadata(r, file->st, path);
            parsed = true;
        }
        break;
    }
    if (!allocated) return false;  // no file, or none held a document
    r.data_null = !parsed;         // the struct yaml.v3 half-filled is not attached to the result
    r.yaml.fields.resize(std::size(kCassandra));
    if (auto lb = ctx.root.read_file(ctx.proc, kCassandraLogbackPath, ctx.budget)) {
        r.yaml.fields[kLogbackPath].set = true;
        r.yaml.fields[kLogbackPath].s = std::string(kCassandraLogbackPath);
        r.logback = parse_logback(lb->bytes);
    }
    return true;
}

// ---------------------------------------------------------------------------------------------
// logback.xml (expat), as encoding/xml fills cassandraLogback.

struct XmlState {
    XML_Parser parser = nullptr;
    Logback lb;
    int depth = 0;
    enum class Parent { none, appender, logger, root } parent = Parent::none;
    bool error = false;
    bool done = false;
};

constexpr char kNsSep = '\x01';

std::string_view local_part(const char* name) {
    const char* sep = std::strchr(name, kNsSep);
    return sep != nullptr ? std::string_view(sep + 1) : std::string_view(name);
}

std::string_view space_part(const char* name) {
    const char* sep = std::strchr(name, kNsSep);
    return sep != nullptr ? std::string_view(name, static_cast<size_t>(sep - name))
                          : std::string_view();
}

// The value of attribute `local` (any namespace), or nullptr.
const char* attr(const char** atts, std::string_view local) {
    for (size_t i = 0; atts[i] != nullptr; i += 2)
        if (local_part(atts[i]) == local) return atts[i + 1];
    return nullptr;
}

void set_attr(std::string& field, const char** atts, std::string_view local) {
    if (const char* v = attr(atts, local)) field = v;
}

void XMLCALL on_start(void* data, const char* name, const char** atts) {
    auto* s = static_cast<XmlState*>(data);
    const std::string_view local = local_part(name);
    ++s->depth;
    if (s->depth == 1) {
        if (local != "configuration") {  // expected element type <configuration>
            s->error = true;
            XML_StopParser(s->parser, XML_FALSE);
            return;
        }
        s->lb.space = std::string(space_part(name));
        s->lb.local = std::string(local);
        return;
    }
    if (s->depth == 2) {
        s->parent = XmlState::Parent::none;
        if (local == "appender") {
            auto& a = s->lb.appenders.emplace_back();
            set_attr(a.name, atts, "name");
            set_attr(a.cls, atts, "class");
            s->parent = XmlState::Parent::appender;
        } else if (local == "logger") {
            auto& l = s->lb.loggers.emplace_back();
            set_attr(l.name, atts, "name");
            set_attr(l.level, atts, "level");
            set_attr(l.additivity, atts, "additivity");
            s->parent = XmlState::Parent::logger;
        } else if (local == "root") {
            set_attr(s->lb.root_level, atts, "level");
            s->parent = XmlState::Parent::root;
        }
        return;
    }
    if (s->depth == 3 && local == "appender-ref") {
        const char* ref = attr(atts, "ref");
        std::string v = ref != nullptr ? ref : "";
        if (s->parent == XmlState::Parent::logger)
            s->lb.loggers.back().refs.push_back(std::move(v));
        else if (s->parent == XmlState::Parent::root)
            s->lb.root_refs.push_back(std::move(v));
    }
}

void XMLCALL on_end(void* data, const char*) {
    auto* s = static_cast<XmlState*>(data);
    if (--s->depth == 0) {
        // encoding/xml stops at the end of the root element: what follows is not read.
        s->done = true;
        XML_StopParser(s->parser, XML_FALSE);
    }
}

void XMLCALL on_xml_decl(void* data, const XML_Char*, const XML_Char* encoding, int) {
    auto* s = static_cast<XmlState*>(data);
    // encoding/xml without a CharsetReader accepts only UTF-8.
    if (encoding != nullptr && ::strcasecmp(encoding, "utf-8") != 0) {
        s->error = true;
        XML_StopParser(s->parser, XML_FALSE);
    }
}

void write_refs(http::JsonWriter& w, const std::vector<std::string>& refs) {
    if (refs.empty()) {
        w.null();
        return;
    }
    w.start_array();
    for (const auto& r : refs) {
        w.start_object();
        w.kv("Ref", r);
        w.end_object();
    }
    w.end_array();
}

void write_logback(http::JsonWriter& w, const Logback& lb) {
    w.start_object();
    w.key("XMLName");
    w.start_object();
    w.kv("Space", lb.space);
    w.kv("Local", lb.local);
    w.end_object();
    w.key("Appenders");
    if (lb.appenders.empty()) {
        w.null();
    } else {
        w.start_array();
        for (const auto& a : lb.appenders) {
            w.start_object();
            w.kv("Name", a.name);
            w.kv("Class", a.cls);
            w.end_object();
        }
        w.end_array();
    }
    w.key("Loggers");
    if (lb.loggers.empty()) {
        w.null();
    } else {
        w.start_array();
        for (const auto& l : lb.loggers) {
            w.start_object();
            w.kv("Name", l.name);
            w.kv("Level", l.level);
            w.kv("Additivity", l.additivity);
            w.key("AppenderRefs");
            write_refs(w, l.refs);
            w.end_object();
        }
        w.end_array();
    }
    w.key("Root");
    w.start_object();
    w.kv("Level", lb.root_level);
    w.key("AppenderRefs");
    write_refs(w, lb.root_refs);
    w.end_object();
    w.end_object();
}

}  // namespace

std::span<const YamlField> mongodb_fields() { return kMongo; }
std::span<const YamlField> cassandra_fields() { return kCassandra; }
void write_logback_json(http::JsonWriter& w, const Logback& lb) { write_logback(w, lb); }

std::vector<std::string> pg_tokens(std::string_view line) {
    std::vector<std::string> out;
    PgLexer lex(line);
    std::string t;
    while (lex.next(t)) out.push_back(t);
    return out;
}

std::optional<Logback> parse_logback(std::string_view xml) {
    XmlState s;
    s.parser = XML_ParserCreateNS(nullptr, kNsSep);
    if (s.parser == nullptr) return std::nullopt;
    XML_SetUserData(s.parser, &s);
    XML_SetElementHandler(s.parser, on_start, on_end);
    XML_SetXmlDeclHandler(s.parser, on_xml_decl);
    XML_Status st = XML_Parse(s.parser, xml.data(), static_cast<int>(xml.size()), XML_TRUE);
    XML_ParserFree(s.parser);
    if (s.error) return std::nullopt;
    if (!s.done && st != XML_STATUS_OK) return std::nullopt;
    if (!s.done) return std::nullopt;
    return std::move(s.lb);
}

std::string_view resource_type_name(DbResource::Type t) {
    switch (t) {
        case DbResource::Type::postgresql:
            return "db_postgresql";
        case DbResource::Type::mongodb:
            return "db_mongodb";
        case DbResource::Type::cassandra:
            return "db_cassandra";
    }
    return "";
}

std::optional<DbResource> load_db_resource(int pid, LoadStats& stats) {
    auto proc = read_process(pid);
    if (!proc) return std::nullopt;
    DbResource r;
    if (proc->name == "postgres") {
        r.type = DbResource::Type::postgresql;
    } else if (proc->name == "mongod") {
        r.type = DbResource::Type::mongodb;
    } else if (proc->name == "java" && !proc->cmdline.empty() &&
               proc->cmdline.back() == kCassandraDaemon) {
        r.type = DbResource::Type::cassandra;
    } else {
        return std::nullopt;
    }
    // The name must be the executable's (a renamed process is not that server).
    if (proc->name != path_base(proc->exe)) return std::nullopt;
    r.container_id = process_container_id(pid);
    auto root = ProcRoot::open(pid);
    if (!root) return std::nullopt;

    r.process_name = proc->name.empty() ? "<unknown>" : proc->name;
    if (proc->ids_known)
        r.process_user = user_name(proc->uids[0]).value_or("uid:" + std::to_string(proc->uids[0]));
    else
        r.process_user = "<unknown>";

    LoadCtx ctx{*proc, *root, {}};
    bool ok = false;
    switch (r.type) {
        case DbResource::Type::postgresql:
            ok = load_postgres(ctx, r);
            break;
        case DbResource::Type::mongodb:
            ok = load_mongodb(ctx, r);
            break;
        case DbResource::Type::cassandra:
            ok = load_cassandra(ctx, r);
            break;
    }
    stats.files_read += ctx.budget.files;
    stats.truncated += ctx.budget.truncated;
    stats.budget_exceeded = stats.budget_exceeded || ctx.budget.exceeded;
    if (!ok) return std::nullopt;
    return r;
}

void write_db_resource(http::JsonWriter& w, const DbResource& r) {
    w.start_object();
    w.kv("type", resource_type_name(r.type));
    if (!r.container_id.empty()) w.kv("container_id", r.container_id);
    w.key("config");
    w.start_object();
    if (!r.process_name.empty()) w.kv("process_name", r.process_name);
    if (!r.process_user.empty()) w.kv("process_user", r.process_user);
    if (!r.process_flags.empty()) {
        w.key("process_flags");
        w.start_object();
        for (const auto& [k, v] : r.process_flags) w.kv(k, v);
        w.end_object();
    }
    w.kv("config_file_path", r.config_file_path);
    w.kv("config_file_user", r.config_file_user);
    w.kv("config_file_group", r.config_file_group);
    w.kv_uint("config_file_mode", r.config_file_mode);
    w.key("config_data");
    switch (r.type) {
        case DbResource::Type::postgresql:
            w.start_object();
            for (const auto& [k, v] : r.pg) w.kv(k, v);
            w.end_object();
            break;
        case DbResource::Type::mongodb:
            write_yaml_object(w, kMongo, r.yaml);
            break;
        case DbResource::Type::cassandra: {
            if (r.data_null) {
                w.null();
                break;
            }
            const auto& f = r.yaml.fields;
            auto str = [&](size_t i) {
                return i < f.size() && f[i].set ? std::string_view(f[i].s) : std::string_view();
            };
            w.start_object();
            w.kv("authenticator", str(kAuthenticator));
            w.kv("logback_file_path", str(kLogbackPath));
            w.key("logback_filter");
            if (r.logback)
                write_logback(w, *r.logback);
            else
                w.null();
            w.kv("authorizer", str(kAuthorizer));
            w.kv("listen_address", str(kListen));
            static const YamlValue kEmpty;
            w.key("client_encryption_options");
            write_yaml_object(w, kCassandraClientEnc,
                              kClientEnc < f.size() ? f[kClientEnc] : kEmpty);
            w.key("server_encryption_options");
            write_yaml_object(w, kCassandraServerEnc,
                              kServerEnc < f.size() ? f[kServerEnc] : kEmpty);
            w.end_object();
            break;
        }
    }
    w.end_object();
    w.end_object();
}

}  // namespace rp::modules::compliance
