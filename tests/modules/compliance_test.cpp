// compliance_test.cpp — the compliance module's GET /dbconfig against real processes: a process
// named `postgres` started with --config-file=<tmp>/postgresql.conf (includes, whitelist,
// booleans, command-line overrides), `mongod` with --config <tmp>/mongod.conf (the YAML
// whitelist, process_flags with redaction), and (root) a `java` CassandraDaemon chroot()ed into a
// directory of its own, whose /etc/cassandra is read through its root, absolute symlinks
// included. Every field of each answer is compared with the whole expected JSON. Then the error
// answers (400 with Go's strconv text, 404), the file checks system-probe applies, the parsers
// (GUC lexer, yaml.v3 typing rules, logback.xml), and the daemon with its concurrency limit.
#include <doctest/doctest.h>
#include <fcntl.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <thread>
#include <vector>

#include "conf/config.h"
#include "http/router.h"
#include "modules/compliance/db_config.h"
#include "modules/compliance/yaml_struct.h"
#include "modules/module.h"
#include "support/bpf_skip.h"
#include "support/daemon.h"

using namespace rp;
namespace fs = std::filesystem;
namespace cp = rp::modules::compliance;

namespace {

using Clock = std::chrono::steady_clock;

void write_file(const std::string& path, const std::string& text, mode_t mode = 0644) {
    fs::create_directories(fs::path(path).parent_path());
    std::ofstream(path) << text;
    REQUIRE(::chmod(path.c_str(), mode) == 0);
}

// A copy of the fake server named `name` in `dir`, started with `args`; killed by the destructor.
class FakeServer {
  public:
    FakeServer(const std::string& dir, const std::string& name, std::vector<std::string> args,
               const std::string& chroot_dir = {}, const std::string& cwd = {}) {
        exe_ = dir + "/" + name;
        fs::create_directories(dir);
        fs::copy_file(RP_FAKE_SERVER, exe_, fs::copy_options::overwrite_existing);
        ::chmod(exe_.c_str(), 0755);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            std::vector<char*> argv;
            argv.push_back(exe_.data());
            for (auto& a : args) argv.push_back(a.data());
            argv.push_back(nullptr);
            if (!chroot_dir.empty()) ::setenv("RP_FAKE_CHROOT", chroot_dir.c_str(), 1);
            if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
            ::execv(exe_.c_str(), argv.data());
            ::_exit(127);
        }
        // Ready when /proc/<pid>/exe names the copy and its command line is the new one (exec
        // switches the exe before it lays out the arguments) and, with a chroot, the root moved.
        std::string want_cmdline = exe_ + '\0';
        for (const auto& a : args) want_cmdline += a + '\0';
        const auto deadline = Clock::now() + std::chrono::seconds(10);
        for (;;) {
            std::error_code ec;
            const std::string dir = "/proc/" + std::to_string(pid_);
            auto exe = fs::read_symlink(dir + "/exe", ec);
            auto root = fs::read_symlink(dir + "/root", ec);
            std::ifstream cf(dir + "/cmdline");
            std::string cmdline((std::istreambuf_iterator<char>(cf)),
                                std::istreambuf_iterator<char>());
            if (exe == exe_ && cmdline == want_cmdline &&
                (chroot_dir.empty() || root == fs::path(chroot_dir)))
                break;
            REQUIRE_MESSAGE(Clock::now() < deadline, name << " did not start");
            std::this_thread::sleep_for(std::chrono::milliseconds(2));
        }
    }
    ~FakeServer() {
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
    }
    pid_t pid() const { return pid_; }

  private:
    std::string exe_;
    pid_t pid_ = -1;
};

// The module in this process, its route called through the router.
struct Fixture {
    std::unique_ptr<loop::Reactor> reactor = std::move(*loop::Reactor::create());
    conf::Config cfg;
    http::Router router;
    std::unique_ptr<modules::Module> module;
    http::Buffer body;
    http::JsonWriter writer{body};

    Fixture() {
        modules::Dependencies deps{*reactor, nullptr};
        auto m = modules::find_factory("compliance")->create(cfg, deps);
        REQUIRE(m.has_value());
        module = std::move(*m);
        REQUIRE(module->register_routes(router.mount("compliance")).has_value());
    }
    struct Answer {
        int status;
        std::string content_type, body;
    };
    Answer get(std::string_view query) {
        http::Request req;
        req.method = "GET";
        req.path = "/compliance/dbconfig";
        req.query = query;
        auto m = router.match(req.method, req.path, req.params);
        REQUIRE(m.outcome == http::Router::Outcome::found);
        CHECK((*m.load)->limit == 2);  // system-probe's DefaultMaxConcurrentRequests
        http::Response res(body, writer, false);
        (*m.handler)(req, res);
        return {res.status(), std::string(res.content_type()), std::string(body.view())};
    }
    std::string stats() {
        http::Buffer b;
        http::JsonWriter w(b);
        module->write_stats(w);
        return std::string(b.view());
    }
};

std::string user_of(uid_t uid) { return cp::user_name(uid).value_or("uid:" + std::to_string(uid)); }
std::string group_of(gid_t gid) {
    return cp::group_name(gid).value_or("gid:" + std::to_string(gid));
}

// `"container_id":"<id>",` when the Agent's rule finds one in the process's cgroups (CI may run
// in a container), else nothing.
std::string cid(pid_t pid) {
    std::string id = cp::process_container_id(pid);
    return id.empty() ? std::string() : "\"container_id\":\"" + id + "\",";
}

// Compares two JSON texts as values (key order of objects included, as both come from ordered
// writers), printing both when they differ.
void check_json(const std::string& got, const std::string& want) {
    simdjson::dom::parser p1, p2;
    auto a = p1.parse(got);
    auto b = p2.parse(want);
    REQUIRE_MESSAGE(a.error() == simdjson::SUCCESS, got);
    REQUIRE_MESSAGE(b.error() == simdjson::SUCCESS, want);
    CHECK_MESSAGE(simdjson::minify(a.value()) == simdjson::minify(b.value()),
                  "\n got: " << got << "\nwant: " << want);
}

struct TempDir {
    std::string path = test::make_temp_dir();
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path, ec);
    }
};

}  // namespace

TEST_CASE("compliance: a postgres process with --config-file, includes and overrides") {
    TempDir tmp;
    const std::string conf = tmp.path + "/pg/postgresql.conf";
    write_file(conf,
               "# the main file\n"
               "wal_level = 'logical'\n"
               "port = 5433\r\n"
               "ssl = true\n"
               "fsync off\n"
               "log_line_prefix = '%m [%p] it''s <%u>\\t\\101'   # escapes\n"
               "unknown_setting = 1\n"
               "listen_addresses='*'\n"
               "include 'extra.conf'\n"
               "include_if_exists = 'absent.conf'\n"
               "include_dir 'conf.d'\n");
    write_file(tmp.path + "/pg/extra.conf", "max_connections = 10\nhot_standby = yes\n");
    write_file(tmp.path + "/pg/conf.d/01.conf", "max_connections = 42\n");
    write_file(tmp.path + "/pg/conf.d/02.conf", "work_mem = 4MB\nlog_statement = no\n");
    write_file(tmp.path + "/pg/conf.d/03.txt", "work_mem = 1GB\n");  // not *.conf
    FakeServer pg(tmp.path + "/bin", "postgres",
                  {"--config-file=" + conf, "--port=6543", "--shared_buffers", "128MB", "-k"});
    struct stat st {};
    REQUIRE(::stat(conf.c_str(), &st) == 0);

    Fixture f;
    auto a = f.get("pid=" + std::to_string(pg.pid()));
    CHECK(a.status == 200);
    CHECK(a.content_type == "application/json");
    check_json(a.body, R"({"type":"db_postgresql",)" + cid(pg.pid()) +
                           R"("config":{"process_name":"postgres","process_user":")" +
                           user_of(::getuid()) + R"(","config_file_path":")" + conf +
                           R"(","config_file_user":")" + user_of(st.st_uid) +
                           R"(","config_file_group":")" + group_of(st.st_gid) +
                           R"(","config_file_mode":420,"config_data":{)"
                           R"("fsync":"off","hot_standby":"on",)"
                           R"("listen_addresses":"*","log_line_prefix":"%m [%p] it's <%u>\t01",)"
                           R"("log_statement":"off","max_connections":"42","port":"6543",)"
                           R"("shared_buffers":"128MB","ssl":"on","wal_level":"logical",)"
                           R"("work_mem":"4MB"}}})");
    CHECK(f.stats().find("\"performed_checks\":1,\"found\":1") != std::string::npos);
    CHECK(f.stats().find("\"files_read\":4") != std::string::npos);  // main, extra, 01, 02
}

TEST_CASE("compliance: postgres -D <dir>; a relative path from its cwd; no file at all") {
    TempDir tmp;
    const std::string conf = tmp.path + "/data/postgresql.conf";
    write_file(conf, "port = 7000\n");
    Fixture f;
    auto expect = [&](pid_t pid, const std::string& path, const std::string& data) {
        struct stat st {};
        REQUIRE(::stat(conf.c_str(), &st) == 0);
        auto a = f.get("pid=" + std::to_string(pid));
        CHECK(a.status == 200);
        check_json(a.body, R"({"type":"db_postgresql",)" + cid(pid) +
                               R"("config":{"process_name":"postgres","process_user":")" +
                               user_of(::getuid()) + R"(","config_file_path":")" + path +
                               R"(","config_file_user":")" + user_of(st.st_uid) +
                               R"(","config_file_group":")" + group_of(st.st_gid) +
                               R"(","config_file_mode":420,"config_data":)" + data + "}}");
    };
    {
        FakeServer pg(tmp.path + "/bin", "postgres", {"-D", tmp.path + "/data/"});
        expect(pg.pid(), conf, R"({"port":"7000"})");
    }
    {
        // Relative to the server's working directory.
        FakeServer pg(tmp.path + "/bin", "postgres", {"--config-file", "data/./postgresql.conf"},
                      {}, tmp.path);
        expect(pg.pid(), conf, R"({"port":"7000"})");
    }
    // No config file anywhere: config_data from the command line alone (when this host has no
    // PostgreSQL of its own under the five well-known paths).
    if (!fs::exists("/etc/postgresql") && !fs::exists("/var/lib/pgsql") &&
        !fs::exists("/var/lib/postgresql")) {
        FakeServer pg(tmp.path + "/bin", "postgres", {"--port=5999", "--fsync", "--unknown=1"});
        auto a = f.get("pid=" + std::to_string(pg.pid()));
        CHECK(a.status == 200);
        check_json(a.body, R"({"type":"db_postgresql",)" + cid(pg.pid()) +
                               R"("config":{"process_name":"postgres","process_user":")" +
                               user_of(::getuid()) +
                               R"(","config_file_path":"","config_file_user":"",)"
                               R"("config_file_group":"","config_file_mode":0,)"
                               R"("config_data":{"fsync":"true","port":"5999"}}})");
    }
}

TEST_CASE("compliance: root-owned files must be world-readable; executables and dirs refused") {
    TempDir tmp;
    const std::string conf = tmp.path + "/pg/postgresql.conf";
    Fixture f;
    auto status_with = [&](mode_t mode) {
        write_file(conf, "port = 1\n", mode);
        FakeServer pg(tmp.path + "/bin", "postgres", {"--config-file", conf});
        return f.get("pid=" + std::to_string(pg.pid())).status;
    };
    CHECK(status_with(0644) == 200);
    CHECK(status_with(0755) == 404);                       // executable
    if (::getuid() == 0) CHECK(status_with(0600) == 404);  // root-owned, not world-readable
    // A directory, and a path without the .conf extension.
    FakeServer dir(tmp.path + "/bin", "postgres", {"--config-file", tmp.path});
    CHECK(f.get("pid=" + std::to_string(dir.pid())).status == 404);
    write_file(tmp.path + "/pg/postgresql.cnf", "port = 1\n");
    FakeServer ext(tmp.path + "/bin2", "postgres",
                   {"--config-file", tmp.path + "/pg/postgresql.cnf"});
    CHECK(f.get("pid=" + std::to_string(ext.pid())).status == 404);
}

TEST_CASE("compliance: a mongod process with --config, the YAML whitelist and process_flags") {
    TempDir tmp;
    const std::string conf = tmp.path + "/mongod.conf";
    write_file(conf,
               "systemLog:\n"
               "  destination: file\n"
               "  path: \"/var/log/mongodb/mongod.log\"\n"
               "  logAppend: true\n"
               "  verbosity: 0x2\n"
               "  somethingElse: [1, 2]\n"
               "net:\n"
               "  port: 27017\n"
               "  bindIp: 127.0.0.1,::1\n"
               "  ipv6: on\n"
               "  maxIncomingConnections: 08\n"
               "  tls:\n"
               "    mode: requireTLS\n"
               "    FIPSMode: No\n"
               "    clusterAuthX509: {attributes: O=Datadog}\n"
               "security:\n"
               "  authorization: enabled\n"
               "  clusterIpSourceAllowlist: [10.0.0.0/8, ~, '192.168.0.1', 5]\n"
               "  keyFile: ~\n"
               "  ldap:\n"
               "    bind: {useOSDefaults: y}\n"
               "storage:\n"
               "  dbPath: /var/lib/mongodb\n"
               "  oplogMinRetentionHours: 1.5\n"
               "  syncPeriodSecs: 60.9\n"
               "defaults: &d {replSetName: rs0, oplogSizeMB: 1_024}\n"
               "replication:\n"
               "  <<: *d\n"
               "  replSetName: rs1\n"
               "processManagement:\n"
               "  fork: true\n");
    FakeServer mongod(tmp.path + "/bin", "mongod",
                      {"--config", conf, "--ldapQueryPassword=s3cret", "--myPassWord", "x",
                       "--auth", "--bind_ip", "0.0.0.0", "plain"});
    struct stat st {};
    REQUIRE(::stat(conf.c_str(), &st) == 0);

    Fixture f;
    auto a = f.get("pid=" + std::to_string(mongod.pid()));
    CHECK(a.status == 200);
    check_json(
        a.body,
        R"({"type":"db_mongodb",)" + cid(mongod.pid()) +
            R"("config":{"process_name":"mongod","process_user":")" + user_of(::getuid()) +
            R"(","process_flags":{"--auth":"true","--bind_ip":"0.0.0.0","--config":")" + conf +
            R"(","--ldapQueryPassword":"<redacted>","--myPassWord":"<redacted>"},)"
            R"("config_file_path":")" +
            conf + R"(","config_file_user":")" + user_of(st.st_uid) + R"(","config_file_group":")" +
            group_of(st.st_gid) +
            R"(","config_file_mode":420,"config_data":{)"
            R"("systemLog":{"verbosity":2,"path":"/var/log/mongodb/mongod.log","logAppend":true,"destination":"file"},)"
            R"("net":{"port":27017,"bindIp":"127.0.0.1,::1","maxIncomingConnections":8,"ipv6":true,)"
            R"("tls":{"FIPSMode":false,"mode":"requireTLS","clusterAuthX509":{"attributes":"O=Datadog"}},"ssl":{}},)"
            R"("security":{"authorization":"enabled","clusterIpSourceAllowlist":["10.0.0.0/8","192.168.0.1","5"],)"
            R"("ldap":{"bind":{"useOSDefaults":true}}},)"
            R"("replication":{"oplogSizeMB":1024,"replSetName":"rs1"},)"
            R"("storage":{"dbPath":"/var/lib/mongodb","syncPeriodSecs":60,"oplogMinRetentionHours":1.5}}}})");

    // yaml.v3 refuses a string for an int field, a known key twice, and a sequence for a struct:
    // Unmarshal fails, and so does the whole resource (404), as upstream.
    for (const char* bad : {"net:\n  port: \"27017\"\n", "net:\n  port: 1\n  port: 2\n",
                            "systemLog: [a]\n", "net: {port: 1\n"}) {
        write_file(conf, bad);
        CHECK_MESSAGE(f.get("pid=" + std::to_string(mongod.pid())).status == 404, std::string(bad));
    }
    // An empty file is a valid, empty document.
    write_file(conf, "");
    auto e = f.get("pid=" + std::to_string(mongod.pid()));
    CHECK(e.status == 200);
    CHECK(e.body.find(R"("config_data":{})") != std::string::npos);
    // The file gone: not found.
    fs::remove(conf);
    CHECK(f.get("pid=" + std::to_string(mongod.pid())).status == 404);
}

TEST_CASE("compliance: a Cassandra JVM in its own root: cassandra.yaml and logback.xml") {
    if (::geteuid() != 0) test::skip_unless("needs root (chroot) for a process with its own root");
    TempDir tmp;
    const std::string root = tmp.path + "/root";
    // The config is reached through an absolute symlink, which must resolve inside the process's
    // root (the host has no /conf).
    write_file(root + "/conf/cassandra.yaml",
               "cluster_name: 'Test Cluster'\n"
               "authenticator: PasswordAuthenticator\n"
               "authorizer: CassandraAuthorizer\n"
               "listen_address: 10.1.2.3\n"
               "client_encryption_options:\n"
               "  enabled: true\n"
               "  keystore: conf/.keystore\n"
               "server_encryption_options:\n"
               "  internode_encryption: all\n");
    fs::create_directories(root + "/etc/cassandra");
    fs::create_symlink("/conf/cassandra.yaml", root + "/etc/cassandra/cassandra.yaml");
    write_file(root + "/etc/cassandra/logback.xml",
               "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
               "<configuration scan=\"true\">\n"
               "  <appender name=\"SYSTEMLOG\" "
               "class=\"ch.qos.logback.core.rolling.RollingFileAppender\">\n"
               "    <file>/var/log/cassandra/system.log</file>\n"
               "  </appender>\n"
               "  <appender name=\"STDOUT\" class=\"ch.qos.logback.core.ConsoleAppender\"/>\n"
               "  <logger name=\"org.apache.cassandra\" level=\"DEBUG\" additivity=\"false\">\n"
               "    <appender-ref ref=\"SYSTEMLOG\"/>\n"
               "  </logger>\n"
               "  <root level=\"INFO\">\n"
               "    <appender-ref ref=\"SYSTEMLOG\"/>\n"
               "    <appender-ref ref=\"STDOUT\"/>\n"
               "  </root>\n"
               "</configuration>\n"
               "<!-- not read: after the root element -->\n");
    FakeServer java(
        tmp.path + "/bin", "java",
        {"-Xmx1G", "-cp", "/usr/share/cassandra/*", "org.apache.cassandra.service.CassandraDaemon"},
        root);
    struct stat st {};
    REQUIRE(::stat((root + "/conf/cassandra.yaml").c_str(), &st) == 0);

    Fixture f;
    auto a = f.get("pid=" + std::to_string(java.pid()));
    CHECK(a.status == 200);
    check_json(
        a.body,
        R"({"type":"db_cassandra",)" + cid(java.pid()) +
            R"("config":{"process_name":"java","process_user":"root",)"
            R"("config_file_path":"/etc/cassandra/cassandra.yaml","config_file_user":")" +
            user_of(st.st_uid) + R"(","config_file_group":")" + group_of(st.st_gid) +
            R"(","config_file_mode":420,"config_data":{)"
            R"("authenticator":"PasswordAuthenticator",)"
            R"("logback_file_path":"/etc/cassandra/logback.xml","logback_filter":{)"
            R"("XMLName":{"Space":"","Local":"configuration"},)"
            R"("Appenders":[{"Name":"SYSTEMLOG","Class":"ch.qos.logback.core.rolling.RollingFileAppender"},)"
            R"({"Name":"STDOUT","Class":"ch.qos.logback.core.ConsoleAppender"}],)"
            R"("Loggers":[{"Name":"org.apache.cassandra","Level":"DEBUG","Additivity":"false",)"
            R"("AppenderRefs":[{"Ref":"SYSTEMLOG"}]}],)"
            R"("Root":{"Level":"INFO","AppenderRefs":[{"Ref":"SYSTEMLOG"},{"Ref":"STDOUT"}]}},)"
            R"("authorizer":"CassandraAuthorizer","listen_address":"10.1.2.3",)"
            R"("client_encryption_options":{"enabled":true,"optional":false},)"
            R"("server_encryption_options":{"internode_encryption":"all"}}}})");

    // A java process whose last argument is something else is no Cassandra.
    FakeServer other(tmp.path + "/bin2", "java", {"-jar", "app.jar"});
    CHECK(f.get("pid=" + std::to_string(other.pid())).status == 404);
}

TEST_CASE("compliance: postgres without any config file, in a root of its own") {
    if (::geteuid() != 0) test::skip_unless("needs root (chroot) for a process with its own root");
    TempDir tmp;
    const std::string root = tmp.path + "/root";
    fs::create_directories(root + "/etc");
    // The first well-known glob that matches wins; this root has none of them.
    FakeServer pg(tmp.path + "/bin", "postgres", {"--port=5999", "--fsync", "--unknown=1"}, root);
    Fixture f;
    auto a = f.get("pid=" + std::to_string(pg.pid()));
    CHECK(a.status == 200);
    check_json(a.body,
               R"({"type":"db_postgresql",)" + cid(pg.pid()) +
                   R"("config":{"process_name":"postgres","process_user":"root",)"
                   R"("config_file_path":"","config_file_user":"","config_file_group":"",)"
                   R"("config_file_mode":0,"config_data":{"fsync":"true","port":"5999"}}})");
    // The same inside a root that has one: found through the glob.
    write_file(root + "/var/lib/postgresql/16/data/postgresql.conf", "port = 5432\n");
    auto b = f.get("pid=" + std::to_string(pg.pid()));
    CHECK(b.status == 200);
    CHECK(b.body.find(R"("config_file_path":"/var/lib/postgresql/16/data/postgresql.conf")") !=
          std::string::npos);
    CHECK(b.body.find(R"("port":"5999")") != std::string::npos);  // the command line wins
}

TEST_CASE("compliance: bad pid 400 and unknown pid 404, with system-probe's texts") {
    Fixture f;
    struct Case {
        const char* query;
        int status;
        const char* body;
    };
    const Case cases[] = {
        {"pid=abc", 400,
         "pid query parameter is not an integer: strconv.ParseInt: parsing \"abc\": invalid "
         "syntax"},
        {"", 400,
         "pid query parameter is not an integer: strconv.ParseInt: parsing \"\": invalid syntax"},
        {"pid=1.5", 400,
         "pid query parameter is not an integer: strconv.ParseInt: parsing \"1.5\": invalid "
         "syntax"},
        {"pid=2147483648", 400,
         "pid query parameter is not an integer: strconv.ParseInt: parsing \"2147483648\": value "
         "out of range"},
        {"pid=%22x", 400,
         "pid query parameter is not an integer: strconv.ParseInt: parsing \"\\\"x\": invalid "
         "syntax"},
        {"pid=2147483647", 404, "resource not found for pid=2147483647"},
        {"pid=-5", 404, "resource not found for pid=-5"},
        {"pid=%2B1", 404, "resource not found for pid=1"},  // init: no database
        // A query's '+' is a space (url.ParseQuery).
        {"pid=+1", 400,
         "pid query parameter is not an integer: strconv.ParseInt: parsing \" 1\": invalid syntax"},
    };
    for (const Case& c : cases) {
        auto a = f.get(c.query);
        CHECK_MESSAGE(a.status == c.status, std::string(c.query));
        CHECK_MESSAGE(a.body == c.body, std::string(c.query));
        CHECK(a.content_type == "text/plain");
    }
    // This test process: not a database server.
    CHECK(f.get("pid=" + std::to_string(::getpid())).status == 404);
    CHECK(f.stats().find("\"performed_checks\":10") != std::string::npos);
    CHECK(f.stats().find("\"bad_requests\":6") != std::string::npos);
}

TEST_CASE("compliance: a process named postgres that is not the postgres executable is not one") {
    TempDir tmp;
    write_file(tmp.path + "/pg/postgresql.conf", "port = 1\n");
    // argv[0] and comm say postgres, the executable is rp_fake_server (checkProcExe).
    pid_t pid = ::fork();
    REQUIRE(pid >= 0);
    if (pid == 0) {
        std::string conf = "--config-file=" + tmp.path + "/pg/postgresql.conf";
        char* argv[] = {const_cast<char*>("postgres"), conf.data(), nullptr};
        ::prctl(PR_SET_NAME, "postgres");
        ::execv(RP_FAKE_SERVER, argv);
        ::_exit(127);
    }
    const auto deadline = Clock::now() + std::chrono::seconds(10);
    while (fs::read_symlink("/proc/" + std::to_string(pid) + "/exe") != fs::path(RP_FAKE_SERVER)) {
        REQUIRE(Clock::now() < deadline);
        std::this_thread::sleep_for(std::chrono::milliseconds(2));
    }
    Fixture f;
    CHECK(f.get("pid=" + std::to_string(pid)).status == 404);
    ::kill(pid, SIGKILL);
    ::waitpid(pid, nullptr, 0);
}

TEST_CASE("compliance: the GUC lexer's tokens") {
    using V = std::vector<std::string>;
    CHECK(cp::pg_tokens("key = 'value' # c") == V{"key", "=", "value"});
    CHECK(cp::pg_tokens("  a.b-c_1=on") == V{"a.b-c_1", "=", "on"});
    CHECK(cp::pg_tokens("k 'it''s'") == V{"k", "it's"});
    CHECK(cp::pg_tokens(R"(k '\n\t\b\f\r\x\\')") == V{"k", "\n\t\b\f\rx\\"});
    CHECK(cp::pg_tokens(R"(k '\101')") == V{"k", "01"});  // an octal escape loses \ and a digit
    CHECK(cp::pg_tokens("k 'unterminated") == V{"k"});
    CHECK(cp::pg_tokens("# only a comment").empty());
    CHECK(cp::pg_tokens("k = \"double\"") == V{"k", "="});
}

TEST_CASE("compliance: yaml.v3's typing rules") {
    using K = cp::YamlField::Kind;
    static constexpr cp::YamlField kInner[] = {{"s", K::string, true, {}}};
    static constexpr cp::YamlField kFields[] = {
        {"i", K::integer, true, {}},     {"b", K::boolean, true, {}},
        {"s", K::string, true, {}},      {"f", K::number, true, {}},
        {"l", K::string_list, true, {}}, {"o", K::object, true, kInner},
        {"v", K::object, false, kInner},
    };
    auto json = [&](std::string_view yaml) {
        auto r = cp::decode_yaml(yaml, kFields);
        if (!r.ok) return "error: " + r.error;
        http::Buffer b;
        http::JsonWriter w(b);
        cp::write_yaml_object(w, kFields, r.value);
        return std::string(b.view());
    };
    CHECK(json("") == R"({"v":{}})");
    CHECK(json("~") == R"({"v":{}})");
    CHECK(json("i: -0x1F\nb: TRUE\ns: 012\nf: 3") ==
          R"({"i":-31,"b":true,"s":"012","f":3.0,"v":{}})");
    CHECK(json("i: 0o17\nb: Off") == R"({"i":15,"b":false,"v":{}})");
    CHECK(json("i: 017") == R"({"i":15,"v":{}})");    // Go's base-0 octal
    CHECK(json("i: 1e3") == R"({"i":1000,"v":{}})");  // a float into an int field: truncated
    CHECK(json("s: ''\no: ~\nv: ~") == R"({"s":"","v":{}})");
    CHECK(json("s: |\n  block\n") == R"({"s":"block\n","v":{}})");
    CHECK(json("l: []") == R"({"l":[],"v":{}})");
    CHECK(json("o: {}\nv: {s: x}") == R"({"o":{},"v":{"s":"x"}})");
    CHECK(json("i: 9223372036854775808").starts_with("error:"));  // uint64 into int
    CHECK(json("b: 'true'").starts_with("error:"));               // a quoted string is no bool
    CHECK(json("b: 1").starts_with("error:"));
    CHECK(json("f: abc").starts_with("error:"));
    CHECK(json("l: x").starts_with("error:"));
    CHECK(json("l: [[a]]").starts_with("error:"));
    CHECK(json("o: x").starts_with("error:"));
    CHECK(json("[1, 2]").starts_with("error:"));
    CHECK(json("i: 1\ni: 2").starts_with("error:"));
    CHECK(json("x: 1\nx: 2") == R"({"v":{}})");  // unknown keys may repeat
    CHECK(json("{a: 1").starts_with("error: yaml: line"));
}

TEST_CASE("compliance: logback.xml as encoding/xml reads it") {
    auto lb = cp::parse_logback(
        "<configuration xmlns=\"urn:x\"><root level=\"WARN\"/><root><appender-ref ref=\"A\"/>"
        "</root><logger name=\"n\"/><other><appender name=\"deep\"/></other></configuration>");
    REQUIRE(lb);
    CHECK(lb->space == "urn:x");
    CHECK(lb->root_level == "WARN");  // a second <root> without level keeps the first one's
    CHECK(lb->root_refs == std::vector<std::string>{"A"});
    CHECK(lb->loggers.size() == 1);
    CHECK(lb->appenders.empty());            // only children of <configuration>
    CHECK(!cp::parse_logback("<config/>"));  // another root element
    CHECK(!cp::parse_logback("<configuration><a></configuration>"));  // not well-formed
    CHECK(!cp::parse_logback(""));
    CHECK(!cp::parse_logback("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><configuration/>"));
    CHECK(cp::parse_logback("<configuration/>junk after the root"));
}

TEST_CASE("compliance: the daemon serves /compliance/dbconfig (enable keys, stats, metrics)") {
    for (const char* toml :
         {"[compliance_config.database_benchmarks]\nenabled = true\n",
          "[compliance_config]\nenabled = true\nrun_in_system_probe = true\n",
          "[runtime_security_config]\nenabled = true\n[runtime_security_config.compliance_module]\n"
          "enabled = true\n"}) {
        test::DaemonOptions opts;
        opts.toml = toml;
        test::TestDaemon d(opts);
        REQUIRE_MESSAGE(d.ready(), d.log());
        auto c = d.client();
        auto r = c.get("/compliance/dbconfig?pid=abc");
        REQUIRE(r);
        CHECK(r->status == 400);
        CHECK(r->header("content-type") == "text/plain");
        auto stats = c.get("/debug/stats");
        REQUIRE(stats);
        CHECK(stats->body.find("\"compliance\":{\"performed_checks\":1,") != std::string::npos);
        auto m = c.get("/metrics");
        REQUIRE(m);
        CHECK(
            m->body.find("ringprobe_compliance_dbconfig_checks_total{outcome=\"bad_request\"} 1") !=
            std::string::npos);
    }
    // compliance_config.enabled alone does not enable it (system-probe's rule).
    test::DaemonOptions opts;
    opts.toml =
        "[compliance_config]\nenabled = true\n[system_probe_config.process_config]\nenabled = "
        "true\n";
    test::TestDaemon d(opts);
    REQUIRE_MESSAGE(d.ready(), d.log());
    auto r = d.client().get("/compliance/dbconfig?pid=1");
    REQUIRE(r);
    CHECK(r->status == 404);
    CHECK(r->body.find("resource not found") == std::string::npos);

    // SIGHUP with run_in_system_probe added: the module starts (the reload uses the same rule).
    const std::string config = d.dir() + "/ringprobe.toml";
    std::string text;
    {
        std::ifstream in(config);
        text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    }
    const std::string table = "[compliance_config]\nenabled = true\n";
    REQUIRE(text.find(table) != std::string::npos);
    text.replace(text.find(table), table.size(), table + "run_in_system_probe = true\n");
    std::ofstream(config) << text;
    d.signal(SIGHUP);
    bool started = false;
    for (auto deadline = Clock::now() + std::chrono::seconds(10);
         !started && Clock::now() < deadline;) {
        auto x = d.client().get("/compliance/dbconfig?pid=1");
        started = x && x->status == 404 && x->body == "resource not found for pid=1";
        if (!started) std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    CHECK_MESSAGE(started, d.log());
}
