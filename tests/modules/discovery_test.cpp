// discovery_test.cpp — the discovery module: its parsers, then POST /discovery/services against
// real processes made by the test (Python http.server, a UDP listener, Node with package.json,
// Java -jar and Spring Boot archives, a Go binary, UST variables, a network namespace, the APM
// injector's library preloaded, log files, ignored command names, a tracer memfd, NVIDIA
// libraries), every field asserted. Root is needed for the namespace and /opt tests (they fail
// under RINGPROBE_REQUIRE_BPF=1 without it, else skip); so are python3, node, java and go.
#include <arpa/inet.h>
#include <doctest/doctest.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <simdjson.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <thread>
#include <tuple>
#include <vector>

#include "conf/config.h"
#include "http/metrics.h"
#include "http/router.h"
#include "modules/discovery/language.h"
#include "modules/discovery/procfs.h"
#include "modules/discovery/service_name.h"
#include "modules/discovery/socket_tables.h"
#include "modules/discovery/tracer_metadata.h"
#include "modules/module.h"
#include "support/bpf_skip.h"

extern char** environ;

using namespace rp;
using namespace rp::modules::discovery;
using namespace std::chrono_literals;

namespace {

// ---------------------------------------------------------------- helpers

std::vector<std::string_view> args_of(const Cmdline& c) {
    return {c.args().begin(), c.args().end()};
}

Cmdline cmdline(std::initializer_list<std::string_view> args, std::string& storage) {
    storage.clear();
    for (auto a : args) {
        storage.append(a);
        storage.push_back('\0');
    }
    Cmdline c;
    c.parse(storage);
    return c;
}

// A name from argv alone (detectors that read no files, or files of this process's view).
struct Namer {
    ProcessFs fs;
    TargetEnvs envs;
    http::Buffer file;
    std::vector<char> s1, s2;
    std::string storage;
    Namer() { envs.clear(); }
    ServiceName name(Language lang, std::initializer_list<std::string_view> args, int piddir = -1) {
        Cmdline c = cmdline(args, storage);
        fs.reset(piddir, &envs);
        NameContext ctx{fs, envs, file, s1, s2};
        ServiceName out;
        generate_name(lang, c, ctx, out);
        return out;
    }
};

std::string read_text(const std::string& path) {
    std::ifstream in(path);
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}
void write_text(const std::string& path, std::string_view text) {
    std::filesystem::create_directories(std::filesystem::path(path).parent_path());
    std::ofstream(path, std::ios::binary) << text;
}

struct TempDir {
    std::string path;
    TempDir() {
        char tmpl[] = "/tmp/rp-disc-XXXXXX";
        REQUIRE(mkdtemp(tmpl) != nullptr);
        path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string operator/(std::string_view name) const { return path + "/" + std::string(name); }
};

template <typename Pred>
bool eventually(Pred pred, std::chrono::milliseconds timeout = 10000ms) {
    auto end = std::chrono::steady_clock::now() + timeout;
    while (std::chrono::steady_clock::now() < end) {
        if (pred()) return true;
        std::this_thread::sleep_for(10ms);
    }
    return pred();
}

// A zip archive (jar) built in memory: stored or deflated entries.
std::string make_zip(const std::vector<std::pair<std::string, std::string>>& entries,
                     bool compress) {
    std::string out, cd;
    auto le16 = [](std::string& s, uint32_t v) {
        s.push_back(static_cast<char>(v & 0xff));
        s.push_back(static_cast<char>(v >> 8 & 0xff));
    };
    auto le32 = [&](std::string& s, uint32_t v) {
        le16(s, v & 0xffff);
        le16(s, v >> 16);
    };
    for (const auto& [name, data] : entries) {
        uint32_t crc = static_cast<uint32_t>(
            crc32(0, reinterpret_cast<const Bytef*>(data.data()), static_cast<uInt>(data.size())));
        std::string body = data;
        uint16_t method = 0;
        if (compress) {
            z_stream zs{};
            REQUIRE(deflateInit2(&zs, 6, Z_DEFLATED, -MAX_WBITS, 8, Z_DEFAULT_STRATEGY) == Z_OK);
            body.resize(deflateBound(&zs, data.size()));
            zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(data.data()));
            zs.avail_in = static_cast<uInt>(data.size());
            zs.next_out = reinterpret_cast<Bytef*>(body.data());
            zs.avail_out = static_cast<uInt>(body.size());
            REQUIRE(deflate(&zs, Z_FINISH) == Z_STREAM_END);
            body.resize(zs.total_out);
            deflateEnd(&zs);
            method = 8;
        }
        uint32_t offset = static_cast<uint32_t>(out.size());
        le32(out, 0x04034b50);
        le16(out, 20), le16(out, 0), le16(out, method), le16(out, 0), le16(out, 0x21);
        le32(out, crc), le32(out, static_cast<uint32_t>(body.size())),
            le32(out, static_cast<uint32_t>(data.size()));
        le16(out, static_cast<uint32_t>(name.size())), le16(out, 0);
        out += name;
        out += body;
        le32(cd, 0x02014b50);
        le16(cd, 20), le16(cd, 20), le16(cd, 0), le16(cd, method), le16(cd, 0), le16(cd, 0x21);
        le32(cd, crc), le32(cd, static_cast<uint32_t>(body.size())),
            le32(cd, static_cast<uint32_t>(data.size()));
        le16(cd, static_cast<uint32_t>(name.size())), le16(cd, 0), le16(cd, 0), le16(cd, 0),
            le16(cd, 0);
        le32(cd, 0), le32(cd, offset);
        cd += name;
    }
    uint32_t cd_off = static_cast<uint32_t>(out.size());
    out += cd;
    le32(out, 0x06054b50);
    le16(out, 0), le16(out, 0), le16(out, static_cast<uint32_t>(entries.size())),
        le16(out, static_cast<uint32_t>(entries.size()));
    le32(out, static_cast<uint32_t>(cd.size())), le32(out, cd_off), le16(out, 0);
    return out;
}

// A Java class `Sleeper` whose main() sleeps forever (class file version 52), written byte by
// byte: the JRE has no compiler for a jar's classes.
std::string sleeper_class() {
    std::string c;
    auto u8 = [&](unsigned v) { c.push_back(static_cast<char>(v)); };
    auto u16 = [&](unsigned v) { u8(v >> 8 & 0xff), u8(v & 0xff); };
    auto utf8 = [&](std::string_view s) { u8(1), u16(static_cast<unsigned>(s.size())), c += s; };
    for (unsigned b : {0xca, 0xfe, 0xba, 0xbe, 0, 0, 0, 52}) u8(b);
    u16(16);                         // constant_pool_count
    u8(7), u16(2);                   // #1 Class Sleeper
    utf8("Sleeper");                 // #2
    u8(7), u16(4);                   // #3 Class java/lang/Object
    utf8("java/lang/Object");        // #4
    utf8("main");                    // #5
    utf8("([Ljava/lang/String;)V");  // #6
    utf8("Code");                    // #7
    u8(10), u16(9), u16(11);         // #8 Methodref Thread.sleep
    u8(7), u16(10);                  // #9 Class java/lang/Thread
    utf8("java/lang/Thread");        // #10
    u8(12), u16(12), u16(13);        // #11 NameAndType sleep:(J)V
    utf8("sleep");                   // #12
    utf8("(J)V");                    // #13
    u8(5);                           // #14-15 Long MAX_VALUE
    for (unsigned b : {0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}) u8(b);
    u16(0x21), u16(1), u16(3), u16(0), u16(0);  // public super; this; super; no ifaces/fields
    u16(1);                                     // one method: public static main
    u16(0x09), u16(5), u16(6), u16(1);
    u16(7), u16(0), u16(19);         // Code, 19 bytes
    u16(2), u16(1), u16(0), u16(7);  // max_stack, max_locals, code_length
    for (unsigned b : {0x14, 0x00, 0x0e, 0xb8, 0x00, 0x08, 0xb1}) u8(b);  // ldc2_w; invokestatic
    u16(0), u16(0);  // no exceptions, no attributes
    u16(0);          // no class attributes
    return c;
}

const std::string kSleeperManifest = "Manifest-Version: 1.0\r\nMain-Class: Sleeper\r\n\r\n";

}  // namespace

// =================================================================== parsers

TEST_CASE("discovery: fd links are classified as upstream (sockets, logs, memfds, GPU)") {
    uint64_t ino = 0;
    CHECK(classify_fd_link("socket:[12345]", &ino) == FdKind::socket);
    CHECK(ino == 12345);
    CHECK(classify_fd_link("socket:[x]", &ino) == FdKind::other);
    CHECK(classify_fd_link("pipe:[77]", &ino) == FdKind::other);
    CHECK(classify_fd_link("/tmp/foo/application.log", &ino) == FdKind::log);
    CHECK(classify_fd_link("/var/log/messages", &ino) == FdKind::log);
    CHECK(classify_fd_link("/var/logs/app.log", &ino) == FdKind::log);
    CHECK(classify_fd_link("/var/log/pods/ns_pod/c/0.log", &ino) == FdKind::other);
    CHECK(classify_fd_link("/var/lib/docker/containers/abc/abc-json.log", &ino) == FdKind::other);
    CHECK(classify_fd_link("/bar/tmp/application.log.gz", &ino) == FdKind::other);
    CHECK(classify_fd_link("/var/logs/messages", &ino) == FdKind::other);
    CHECK(classify_fd_link("/x/app.log (deleted)", &ino) == FdKind::other);
    CHECK(classify_fd_link("/memfd:datadog-tracer-info-abc (deleted)", &ino) ==
          FdKind::tracer_memfd);
    CHECK(classify_fd_link("/memfd:dd_language_detected", &ino) == FdKind::language_memfd);
    CHECK(classify_fd_link("/memfd:dd_language_detected (deleted)", &ino) ==
          FdKind::language_memfd);
    CHECK(classify_fd_link("/memfd:dd_language_detected_v2", &ino) == FdKind::other);
    CHECK(classify_fd_link("/dev/nvidia0", &ino) == FdKind::gpu_device);
    CHECK(classify_fd_link("/dev/null", &ino) == FdKind::other);
}

TEST_CASE("discovery: command lines split at NUL, or at spaces when rewritten into one argument") {
    Cmdline c;
    c.parse(std::string_view("python\0-u\0script.py\0", 20));
    CHECK(args_of(c) == std::vector<std::string_view>{"python", "-u", "script.py"});
    c.parse("python -u script.py");
    CHECK(args_of(c) == std::vector<std::string_view>{"python", "-u", "script.py"});
    c.parse(std::string_view("gunicorn: master [foobar]\0\0\0\0", 29));
    CHECK(args_of(c) == std::vector<std::string_view>{"gunicorn:", "master", "[foobar]"});
    c.parse(std::string_view("foo\0\0bar\0\0baz\0\0", 15));
    CHECK(args_of(c) == std::vector<std::string_view>{"foo", "", "bar", "", "baz"});
    c.parse("");
    CHECK(c.size() == 0);
    CHECK(c.empty());
}

TEST_CASE("discovery: languages from command names, jruby, and the executable") {
    CHECK(language_from_command("python3.11") == Language::python);
    CHECK(language_from_command("py") == Language::python);
    CHECK(language_from_command("java17") == Language::jvm);
    CHECK(language_from_command("javac") == Language::none);
    CHECK(language_from_command("node") == Language::nodejs);
    CHECK(language_from_command("npm") == Language::nodejs);
    CHECK(language_from_command("dotnet") == Language::dotnet);
    CHECK(language_from_command("ruby3.1") == Language::ruby);
    CHECK(language_from_command("ruby3") == Language::none);
    CHECK(language_from_command("rubyw") == Language::ruby);
    CHECK(language_from_command("php-fpm8.1") == Language::php);
    CHECK(language_from_command("php8") == Language::php);
    CHECK(language_from_command("php8.10") == Language::none);
    CHECK(language_from_command("bash") == Language::none);
    CHECK(command_name("\"/usr/bin/java\"") == "java");
    CHECK(command_name("java-8") == "java-8");
    CHECK(command_name("---") == "");
    std::string s;
    CHECK(language_from_cmdline(cmdline({"java", "-cp", "/p", "org.jruby.Main", "x.rb"}, s),
                                "/usr/bin/java") == Language::ruby);
    CHECK(language_from_cmdline(cmdline({"./-my-server-"}, s), "/usr/bin/python3.11") ==
          Language::python);
    CHECK(language_from_cmdline(cmdline({"myapp"}, s), "/opt/app/myapp") == Language::none);
    CHECK(language_name(Language::jvm) == "jvm");
    CHECK(language_name(Language::none) == "");
    CHECK(language_from_tracer("cpp") == Language::cpp);
    CHECK(language_from_tracer("rust") == Language::none);
}

TEST_CASE("discovery: socket table lines give inode and port for the wanted state") {
    uint64_t ino = 0;
    uint16_t port = 0;
    const std::string v4 =
        "   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        "
        "0 "
        "123456 1 0000000000000000 100 0 0 10 0";
    CHECK(SocketTables::parse_line(v4, 0x0A, &ino, &port));
    CHECK(ino == 123456);
    CHECK(port == 8080);
    CHECK_FALSE(SocketTables::parse_line(v4, 0x07, &ino, &port));
    const std::string v6 =
        "   1: 00000000000000000000000001000000:0035 00000000000000000000000000000000:0000 07 "
        "00000000:00000000 00:00000000 00000000   101        0 99 2 0000000000000000 0";
    CHECK(SocketTables::parse_line(v6, 0x07, &ino, &port));
    CHECK(ino == 99);
    CHECK(port == 53);
    CHECK_FALSE(
        SocketTables::parse_line("  sl  local_address rem_address   st tx_queue rx_queue tr "
                                 "tm->when retrnsmt   uid  timeout "
                                 "inode",
                                 0x0A, &ino, &port));
    CHECK_FALSE(SocketTables::parse_line("garbage", 0x0A, &ino, &port));

    // Ports: de-duplicated, ascending, at most 50.
    std::vector<SocketTables::Entry> table;
    std::vector<uint64_t> sockets;
    for (uint64_t i = 0; i < 60; ++i) {
        table.push_back({1000 + i, static_cast<uint16_t>(9000 - i), false});
        sockets.push_back(1000 + i);
    }
    table.push_back({2000, 53, true});
    table.push_back({2001, 53, true});
    sockets.push_back(2000);
    sockets.push_back(2001);
    sockets.push_back(424242);  // not listening: not in the table
    std::vector<uint16_t> tcp, udp;
    SocketTables::ports(table, sockets, tcp, udp);
    REQUIRE(tcp.size() == 50);
    CHECK(tcp.front() == 8941);
    CHECK(std::is_sorted(tcp.begin(), tcp.end()));
    CHECK(udp == std::vector<uint16_t>{53});
}

TEST_CASE("discovery: names from the command line, detector by detector") {
    Namer n;
    auto check = [&](Language lang, std::initializer_list<std::string_view> args,
                     std::string_view name, std::string_view source) {
        ServiceName got = n.name(lang, args);
        CHECK_MESSAGE(got.name.view() == name, *args.begin(), " -> ", got.name.view());
        CHECK_MESSAGE(got.source == source, *args.begin(), " -> ", got.source);
    };
    // Fallback: the executable's name without extension, leading/trailing symbols trimmed.
    check(Language::unknown, {"./my-server.sh"}, "my-server", "command-line");
    check(Language::unknown, {"./-my-server.sh-"}, "my-server", "command-line");
    check(Language::unknown, {"/usr/sbin/nginx", "-g", "daemon off;"}, "nginx", "command-line");
    // Python: -m, gunicorn (wrapped and rewritten titles), uvicorn.
    check(Language::python, {"python3", "-m", "http.server", "8000"}, "http.server",
          "command-line");
    check(Language::python, {"python3", "-mhttp.server"}, "http.server", "command-line");
    check(Language::python, {"python3", "-c", "print(1)"}, "python3", "command-line");
    check(Language::python,
          {"/usr/bin/python3", "/usr/bin/gunicorn", "--workers=2", "foo:create_app()"}, "foo",
          "command-line");
    check(Language::python, {"gunicorn", "--workers=2", "test:app"}, "test", "command-line");
    check(Language::python, {"gunicorn", "-b", "0.0.0.0", "-n", "dummy", "test:app"}, "dummy",
          "command-line");
    check(Language::python, {"gunicorn", "--bind", "0.0.0.0:8000"}, "gunicorn", "command-line");
    {
        std::string s;
        Cmdline packed;
        packed.parse(std::string_view("gunicorn: master [myapp]\0\0\0", 27));
        n.fs.reset(-1, &n.envs);
        NameContext ctx{n.fs, n.envs, n.file, n.s1, n.s2};
        ServiceName out;
        generate_name(Language::python, packed, ctx, out);
        CHECK(out.name.view() == "myapp");
    }
    check(Language::python, {"python3", "/usr/bin/uvicorn", "--header", "X-A:b", "api.v1.app:app"},
          "api.v1.app", "command-line");
    // Java: -Ddd.service, -jar, -m module/class, org.apache.*, main class, @argfiles.
    check(Language::jvm, {"java", "-Ddd.service=custom", "-jar", "app.jar"}, "custom",
          "command-line");
    check(Language::jvm, {"java", "-Ddd.service=", "-jar", "app.jar"}, "app", "command-line");
    check(Language::jvm, {"java", "-Xmx4000m", "-jar", "/opt/sheepdog/bin/myservice.jar"},
          "myservice", "command-line");
    check(Language::jvm, {"java", "-jar", "/usr/share/jenkins/jenkins.war", "--httpPort=8000"},
          "jenkins", "command-line");
    check(Language::jvm,
          {"java", "-m", "org.elasticsearch.server/org.elasticsearch.bootstrap.Elasticsearch"},
          "org.elasticsearch.bootstrap.Elasticsearch", "command-line");
    check(Language::jvm,
          {"/usr/bin/java", "-Xss256k", "-cp", "/etc/cassandra:/usr/share/cassandra/lib/x.jar",
           "org.apache.cassandra.service.CassandraDaemon"},
          "cassandra", "command-line");
    check(Language::jvm, {"java", "-XX:ReservedCodeCacheSize=256m", "kafka.Kafka"}, "kafka.Kafka",
          "command-line");
    check(Language::jvm, {"java", "@foo.extra", "myapp"}, "myapp", "command-line");
    check(Language::jvm, {"java", "@/tmp/args"}, "java", "command-line");
    // Ruby and puma.
    check(Language::ruby, {"ruby", "/usr/sbin/td-agent", "--log", "/var/log/td-agent.log"},
          "td-agent", "command-line");
    check(Language::ruby, {"ruby", "--config=config.yml", "/app/script/worker.rb"}, "worker.rb",
          "command-line");
    check(Language::ruby, {"ruby", "sidekiq:worker"}, "sidekiq", "command-line");
    check(Language::ruby, {"puma", "5.6.5", "(cluster)", "[api_gateway_service]"},
          "api_gateway_service", "command-line");
    check(Language::ruby, {"puma", "[]"}, "puma", "command-line");
    // PHP.
    check(Language::php, {"php", "-ddatadog.service=my-php-service", "server.php"},
          "my-php-service", "command-line");
    check(Language::php, {"php", "-d", "datadog.service=svc", "server.php"}, "svc", "command-line");
    check(Language::php, {"php8.2", "artisan", "serve"}, "laravel", "laravel");
    check(Language::php, {"php", "-x", "a", "artisan", "serve"}, "laravel", "laravel");
    check(Language::php, {"php", "server.php"}, "php", "command-line");
    // .NET, Erlang.
    check(Language::dotnet, {"/usr/bin/dotnet", "-v", "--", "/app/lib/MyService.DLL"}, "MyService",
          "command-line");
    check(Language::dotnet, {"/usr/bin/dotnet", "run", "myservice.dll"}, "dotnet", "command-line");
    check(Language::unknown, {"beam.smp", "-progname", "erl", "-home", "/var/lib/rabbitmq/"},
          "rabbitmq", "command-line");
    check(Language::unknown, {"beam.smp", "-progname", "couchdb"}, "couchdb", "command-line");
    check(Language::unknown, {"beam.smp", "-smp", "auto"}, "beam", "command-line");
    // Names are cut at 256 bytes.
    std::string longname(300, 'a');
    ServiceName got = n.name(Language::jvm, {"java", longname});
    CHECK(got.name.view().size() == kMaxNameBytes);
}

TEST_CASE("discovery: gunicorn names from GUNICORN_CMD_ARGS and WSGI_APP first") {
    Namer n;
    n.envs.set(TargetEnvs::GUNICORN_CMD_ARGS, "--bind=127.0.0.1:8080 --workers=3 -n envname");
    ServiceName got = n.name(Language::python, {"gunicorn", "default:app"});
    CHECK(got.name.view() == "envname");
    CHECK(got.source == "gunicorn");
    n.envs.clear();
    n.envs.set(TargetEnvs::GUNICORN_CMD_ARGS, "--bind 0.0.0.0:8000");
    n.envs.set(TargetEnvs::WSGI_APP, "wsgi:app");
    got = n.name(Language::python, {"gunicorn", "default:app"});
    CHECK(got.name.view() == "wsgi");
    CHECK(got.source == "gunicorn");
}

TEST_CASE("discovery: package.json names, strictly decoded") {
    BoundedString s;
    CHECK(package_json_name(
        R"({"version":"1.0","name":"my-awesome-package","deps":{"a":[1,2.5e3,true,null]}})", s));
    CHECK(s.view() == "my-awesome-package");
    CHECK(package_json_name("{\"name\":\"caf\\u00e9\\n\"}", s));
    CHECK(s.view() == "café\n");
    CHECK_FALSE(package_json_name(R"({"version":"1.0"})", s));
    CHECK_FALSE(package_json_name(R"({"name":""})", s));
    CHECK_FALSE(package_json_name(R"({"name":5})", s));
    CHECK_FALSE(package_json_name(R"({"name":"a","name":"b"})", s));
    CHECK_FALSE(package_json_name(R"({"name":"a"} x)", s));
    CHECK_FALSE(package_json_name(R"({"name":"a",})", s));
    CHECK_FALSE(package_json_name(R"({"namex":"a"})", s));
}

TEST_CASE("discovery: tracer metadata is a MessagePack map; unknown fields are skipped") {
    std::string m;
    auto str = [&](std::string_view v) {
        if (v.size() < 32) {
            m.push_back(static_cast<char>(0xa0 | v.size()));
        } else {  // str8
            m.push_back(static_cast<char>(0xd9));
            m.push_back(static_cast<char>(v.size()));
        }
        m += v;
    };
    m.push_back(static_cast<char>(0x88));  // 8 entries
    str("schema_version"), m.push_back(1);
    str("runtime_id"), str("6376fab2-73d0-4958-84af-602cdbcf7509");
    str("tracer_language"), str("cpp");
    str("tracer_version"), str("1.2.3");
    str("hostname"), str("host-a");
    str("service_name"), str("my-service");
    str("service_env"), m.push_back(static_cast<char>(0xc0));                             // nil
    str("future_field"), m.push_back(static_cast<char>(0x92)), m.push_back(1), str("x");  // [1,"x"]
    TracerMetadata t;
    REQUIRE(t.parse(m));
    CHECK(t.schema_version == 1);
    CHECK(t.runtime_id == "6376fab2-73d0-4958-84af-602cdbcf7509");
    CHECK(t.tracer_language == "cpp");
    CHECK(t.tracer_version == "1.2.3");
    CHECK(t.hostname == "host-a");
    CHECK(t.service_name == "my-service");
    CHECK(t.service_env.empty());
    http::Buffer b;
    http::JsonWriter w(b);
    t.write_json(w);
    CHECK(
        b.view() ==
        R"({"schema_version":1,"runtime_id":"6376fab2-73d0-4958-84af-602cdbcf7509","tracer_language":"cpp","tracer_version":"1.2.3","hostname":"host-a","service_name":"my-service"})");
    CHECK_FALSE(t.parse("invalid data"));
    CHECK_FALSE(t.parse(m.substr(0, m.size() - 3)));  // truncated
}

TEST_CASE("discovery: the binary cache keeps the most recently used executables") {
    BinaryCache c(2);
    CHECK(c.find(1, 1) == nullptr);
    c.insert(1, 1, true);
    c.insert(1, 2, false);
    REQUIRE(c.find(1, 1) != nullptr);  // 1 is now the most recent
    c.insert(1, 3, true);              // evicts 2
    CHECK(c.find(1, 2) == nullptr);
    REQUIRE(c.find(1, 1) != nullptr);
    CHECK(*c.find(1, 1));
    REQUIRE(c.find(1, 3) != nullptr);
    CHECK(c.size() == 2);
    CHECK(c.evictions() == 1);
    CHECK(c.capacity() == 2);
}

TEST_CASE("discovery: Rails module names become snake_case") {
    char out[64];
    size_t n = 0;
    for (auto [in, want] : {std::pair{"MyRailsApp", "my_rails_app"},
                            {"HTTPServer", "http_server"},
                            {"APIClientV2", "api_client_v2"},
                            {"XMLHttpRequest", "xml_http_request"},
                            {"My_App", "my_app"},
                            {"HTTP", "http"}}) {
        to_snake_case(in, out, &n, sizeof out);
        CHECK(std::string_view(out, n) == want);
    }
}

TEST_CASE("discovery: maps lines: injector path, NVIDIA libraries, ddtrace, .NET") {
    MapsFacts f;
    scan_maps_line(
        "ffffb7360000-ffffb74ec000 r-xp 00000000 00:22 13920   "
        "/opt/datadog-packages/datadog-apm-inject/1.0.0/inject/launcher.preload.so",
        f);
    CHECK(f.apm_injector);
    CHECK(is_apm_injector_path(
        "/opt/datadog-packages/datadog-apm-inject/2.5.3-beta/inject/launcher.preload.so"));
    CHECK_FALSE(
        is_apm_injector_path("/opt/datadog-packages/datadog-apm-inject/1.0.0/launcher.preload.so"));
    CHECK_FALSE(is_apm_injector_path(
        "/opt/datadog-packages/datadog-apm-inject//inject/launcher.preload.so"));
    CHECK_FALSE(is_apm_injector_path(
        "/opt/other-packages/datadog-apm-inject/1/inject/launcher.preload.so"));
    MapsFacts g;
    scan_maps_line(
        "7f8e4c000000-7f8e4c021000 r--p 00000000 08:01 1 /usr/lib64/libcuda.so.535.129.03", g);
    CHECK(g.nvidia_libs);
    MapsFacts h;
    scan_maps_line(
        "7f8e4c000000-7f8e4c021000 r--p 00000000 08:01 1 /usr/lib/libnvidia-glcore.so.535", h);
    scan_maps_line("7f8e4c000000-7f8e4c021000 r--p 00000000 08:01 1 /usr/lib/LIBCUDA.SO", h);
    CHECK_FALSE(h.nvidia_libs);
    scan_maps_line("79f6 r-xp 00004000 fc:06 7 /home/x/site-packages/ddtrace/internal/_x.so", h);
    CHECK(h.python_ddtrace);
    scan_maps_line("785c r--s 00000000 fc:06 1 /home/foo/publish/Datadog.Trace.dll", h);
    CHECK(h.dotnet_tracer);
    scan_maps_line("785c r--s 00000000 fc:06 1 /usr/share/dotnet/System.Runtime.dll", h);
    CHECK(h.dotnet_runtime);
}

// =================================================================== files the process sees

namespace {
// This process's /proc directory: the detectors then look at files as this process sees them.
struct SelfDir {
    PidDir dir;
    SelfDir() { REQUIRE(dir.open(getpid())); }
};
}  // namespace

TEST_CASE("discovery: Python scripts and packages are named from the files around them") {
    TempDir t;
    write_text(t / "modules/m1/first/nice/package/__init__.py", "");
    write_text(t / "modules/m1/first/nice/package/mod.py", "");
    write_text(t / "modules/m1/first/nice/__init__.py", "");
    write_text(t / "modules/m1/first/nice/something.py", "");
    write_text(t / "modules/m1/first/__init__.py", "");
    write_text(t / "modules/m1/__init__.py", "");
    write_text(t / "apps/app2/cmd/run.py", "");
    write_text(t / "apps/app2/setup.py", "");
    write_text(t / "bin/pytest", "");
    SelfDir self;
    Namer n;
    n.envs.set(TargetEnvs::PWD, t.path);
    auto name = [&](std::initializer_list<std::string_view> args) {
        return n.name(Language::python, args, self.dir.fd());
    };
    ServiceName got = name({"python", "modules/m1/first/nice/package"});
    CHECK(got.name.view() == "m1.first.nice.package");
    CHECK(got.source == "python");
    got = name({"python", "modules/m1/first/nice/something.py"});
    CHECK(got.name.view() == "m1.first.nice.something");
    CHECK(got.source == "python");
    got = name({"python3", "apps/app2/cmd/run.py"});
    CHECK(got.name.view() == "app2");
    CHECK(got.source == "command-line");
    got = name({"python3", "-u", "apps/app2/setup.py"});
    CHECK(got.name.view() == "app2");
    got = name({"python3", t / "bin/pytest"});
    CHECK(got.name.view() == "pytest");
    got = name({"python3", "does/not/exist.py"});  // no such file: the interpreter's name
    CHECK(got.name.view() == "python3");
}

TEST_CASE("discovery: Node.js names come from the nearest package.json") {
    TempDir t;
    write_text(t / "app/package.json", R"({"name": "my-awesome-package", "version": "1.0.0"})");
    write_text(t / "app/src/index.js", "");
    write_text(t / "app/src/lib/bin.mjs", "");
    write_text(t / "noname/package.json", R"({"version": "1"})");
    write_text(t / "noname/app.js", "");
    std::filesystem::create_symlink("lib/bin.mjs", t / "app/src/json-server");
    SelfDir self;
    Namer n;
    n.envs.set(TargetEnvs::PWD, t.path);
    ServiceName got =
        n.name(Language::nodejs, {"node", "--require", "/x/register.js", "app/src/index.js"},
               self.dir.fd());
    CHECK(got.name.view() == "my-awesome-package");
    CHECK(got.source == "nodejs");
    got = n.name(Language::nodejs, {"node", "--foo", "app/src/json-server"}, self.dir.fd());
    CHECK(got.name.view() == "my-awesome-package");
    got = n.name(Language::nodejs, {"node", "noname/app.js"}, self.dir.fd());
    CHECK(got.name.view() == "app");  // package.json without a name: the script's name
    CHECK(got.source == "command-line");
    got = n.name(Language::nodejs, {"node", "/somewhere/index.js"}, self.dir.fd());
    CHECK(got.name.view() == "node");  // no such script
}

TEST_CASE(
    "discovery: Laravel names from .env (DD_SERVICE > OTEL_SERVICE_NAME > APP_NAME), then "
    "config/app.php") {
    TempDir t;
    SelfDir self;
    Namer n;
    n.envs.set(TargetEnvs::PWD, t.path);
    write_text(t / "a/artisan", "");
    write_text(t / "a/.env",
               "# comment\nAPP_NAME=my-first-name\nOTEL_SERVICE_NAME=\"otel name\"\n");
    ServiceName got = n.name(Language::php, {"php", "a/artisan", "serve"}, self.dir.fd());
    CHECK(got.name.view() == "otel name");
    CHECK(got.source == "laravel");
    write_text(t / "b/artisan", "");
    write_text(t / "b/config/app.php",
               "<?php\nreturn [\n    'name' => env('APP_NAME', 'config-app'),\n];\n");
    got = n.name(Language::php, {"php", "b/artisan", "serve"}, self.dir.fd());
    CHECK(got.name.view() == "config-app");
    write_text(t / "c/config/application.rb",
               "require 'rails'\nmodule MyRailsApp\n  class Application\n");
    n.envs.set(TargetEnvs::PWD, t / "c");
    got = n.name(Language::ruby, {"puma", "5.6.5", "[ignored]"}, self.dir.fd());
    CHECK(got.name.view() == "my_rails_app");
    CHECK(got.source == "rails");
}

TEST_CASE("discovery: Spring Boot archives are named from spring.application.name") {
    TempDir t;
    SelfDir self;
    for (bool deflate : {false, true}) {
        CAPTURE(deflate);
        Namer n;
        n.envs.set(TargetEnvs::PWD, t.path);
        write_text(t / "app.jar",
                   make_zip({{"META-INF/MANIFEST.MF", kSleeperManifest},
                             {"BOOT-INF/classes/application.properties",
                              "# x\nserver.port=8080\nspring.application.name = from-properties\n"},
                             {"BOOT-INF/classes/application-prod.yml",
                              "spring:\n  application:\n    name: \"from-prod-yaml\"\n"}},
                            deflate));
        ServiceName got = n.name(Language::jvm, {"java", "-jar", "app.jar"}, self.dir.fd());
        CHECK(got.name.view() == "from-properties");
        CHECK(got.source == "spring");
        got = n.name(Language::jvm, {"java", "-Dspring.profiles.active=prod", "-jar", "app.jar"},
                     self.dir.fd());
        CHECK(got.name.view() == "from-prod-yaml");
        got = n.name(Language::jvm,
                     {"java", "-jar", "app.jar", "--spring.application.name=from-args"},
                     self.dir.fd());
        CHECK(got.name.view() == "from-args");
        n.envs.set(TargetEnvs::SPRING_APPLICATION_NAME, "from-env");
        got = n.name(Language::jvm, {"java", "-jar", "app.jar"}, self.dir.fd());
        CHECK(got.name.view() == "from-env");
        // A file next to the process wins over the archive's.
        Namer m;
        m.envs.set(TargetEnvs::PWD, t.path);
        write_text(t / "config/application.properties",
                   "spring.application.name=from-cwd-config\n");
        got = m.name(Language::jvm, {"java", "-jar", "app.jar"}, self.dir.fd());
        CHECK(got.name.view() == "from-cwd-config");
        std::filesystem::remove(t / "config/application.properties");
    }
    // Not a Spring Boot archive: the jar's name.
    Namer n;
    n.envs.set(TargetEnvs::PWD, t.path);
    write_text(t / "plain.jar", make_zip({{"META-INF/MANIFEST.MF", kSleeperManifest}}, false));
    ServiceName got = n.name(Language::jvm, {"java", "-jar", "plain.jar"}, self.dir.fd());
    CHECK(got.name.view() == "plain");
    CHECK(got.source == "command-line");
}

// =================================================================== real processes

namespace {

const char* python3() {
    return ::access("/usr/bin/python3", X_OK) == 0 ? "/usr/bin/python3" : "python3";
}

// A child process, killed and reaped by the destructor.
class Child {
  public:
    Child() = default;
    Child(const std::vector<std::string>& argv, const std::map<std::string, std::string>& env = {},
          const std::string& cwd = "", std::vector<int> keep_fds = {}, bool clean_env = false) {
        std::vector<std::string> envs;
        if (!clean_env)
            for (char** e = environ; *e != nullptr; ++e) {
                std::string_view kv = *e;
                if (env.count(std::string(kv.substr(0, kv.find('=')))) == 0) envs.emplace_back(kv);
            }
        for (const auto& [k, v] : env) envs.push_back(k + "=" + v);
        std::vector<char*> av, ev;
        for (const auto& a : argv) av.push_back(const_cast<char*>(a.c_str()));
        av.push_back(nullptr);
        for (const auto& e : envs) ev.push_back(const_cast<char*>(e.c_str()));
        ev.push_back(nullptr);
        pid_ = ::fork();
        REQUIRE(pid_ >= 0);
        if (pid_ == 0) {
            int null = ::open("/dev/null", O_RDWR);
            ::dup2(null, 0);
            ::dup2(null, 1);
            if (std::getenv("RP_DISC_TEST_VERBOSE") == nullptr) ::dup2(null, 2);
            for (int fd : keep_fds) ::fcntl(fd, F_SETFD, 0);  // inherited across exec
            if (!cwd.empty() && ::chdir(cwd.c_str()) != 0) ::_exit(126);
            ::execvpe(av[0], av.data(), ev.data());
            ::_exit(127);
        }
    }
    ~Child() { stop(); }
    Child(Child&& o) noexcept : pid_(std::exchange(o.pid_, -1)) {}
    Child& operator=(Child&& o) noexcept {
        stop();
        pid_ = std::exchange(o.pid_, -1);
        return *this;
    }
    int pid() const { return pid_; }
    bool alive() const { return pid_ > 0 && ::waitpid(pid_, nullptr, WNOHANG) == 0; }
    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    int pid_ = -1;
};

// Whether `pid`'s network namespace lists `port` in state LISTEN (TCP) or 07 (UDP).
bool proc_net_has(int pid, uint16_t port, bool udp) {
    const char* tables[2] = {udp ? "udp" : "tcp", udp ? "udp6" : "tcp6"};
    for (const char* t : tables) {
        std::string text = read_text("/proc/" + std::to_string(pid) + "/net/" + t);
        size_t at = 0;
        while ((at = text.find('\n', at)) != std::string::npos) {
            ++at;
            size_t end = text.find('\n', at);
            std::string_view line(text.data() + at,
                                  (end == std::string::npos ? text.size() : end) - at);
            uint64_t ino;
            uint16_t p;
            if (SocketTables::parse_line(line, udp ? 0x07 : 0x0A, &ino, &p) && p == port)
                return true;
        }
    }
    return false;
}

// A free port below the ephemeral range (a bound UDP port above its low end is not reported).
uint16_t free_port(bool udp) {
    PortRange eph = read_ephemeral_range();
    static uint16_t next = 20000 + static_cast<uint16_t>(getpid() % 4000);
    for (int tries = 0; tries < 2000; ++tries) {
        uint16_t p = next++;
        if (eph.contains(p)) continue;
        int s = ::socket(AF_INET, udp ? SOCK_DGRAM : SOCK_STREAM, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(p);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        bool ok = ::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
        ::close(s);
        if (ok) return p;
    }
    FAIL("no free port");
    return 0;
}

// A listening TCP socket on 127.0.0.1:port, to hand to a child (fd left open by the caller).
int listening_socket(uint16_t port) {
    int s = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    ::setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in a{};
    a.sin_family = AF_INET;
    a.sin_port = htons(port);
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    REQUIRE(::listen(s, 16) == 0);
    return s;
}

// Waits until the child has exec'd into `comm` (before that it is a copy of this test, holding
// whatever it was given to inherit).
void wait_comm(const Child& c, std::string_view comm) {
    std::string want = std::string(comm) + "\n";
    REQUIRE_MESSAGE(
        eventually([&] { return read_text("/proc/" + std::to_string(c.pid()) + "/comm") == want; }),
        "pid ", c.pid(), " never became ", comm);
}

bool have_tool(const char* name) {
    return std::system((std::string("command -v ") + name + " >/dev/null 2>&1").c_str()) == 0;
}
void require_tool(const char* name) {
    if (!have_tool(name))
        rp::test::skip_unless(std::string(name) + " is not installed (tools/setup installs it)");
}
void require_root(const char* why) {
    if (geteuid() != 0) rp::test::skip_unless(std::string("needs root: ") + why);
}

// The module behind its router, asked as the Agent asks.
struct Discovery {
    std::unique_ptr<loop::Reactor> reactor = std::move(*loop::Reactor::create());
    conf::Config cfg;
    http::Router router;
    std::unique_ptr<modules::Module> module;
    http::Buffer body;
    http::JsonWriter writer{body};
    simdjson::dom::parser parser;
    int status = 0;

    // Where open files come from: the test binary runs twice (tests/modules/CMakeLists.txt),
    // with /proc and with the BPF iterator for every request (RP_DISC_TEST_SOURCE=iterator).
    enum class Source { procfs, iterator };
    static Source test_source() {
        const char* v = std::getenv("RP_DISC_TEST_SOURCE");
        return v != nullptr && std::string_view(v) == "iterator" ? Source::iterator
                                                                 : Source::procfs;
    }

    explicit Discovery(std::string_view toml = "", Source source = test_source()) {
        // The iterator pass: the iterator for every request (unless the test sets the policy).
        std::string text = source == Source::iterator
                               ? "ringprobe.discovery.bpf_iterator_min_pids = 1\n"
                               : "ringprobe.discovery.bpf_iterator = false\n";
        if (source == Source::iterator && toml.find("bpf_iterator_adaptive") == toml.npos)
            text += "ringprobe.discovery.bpf_iterator_adaptive = false\n";
        text += toml;
        auto c = conf::Config::parse(text, "test.toml", {}, nullptr);
        REQUIRE_MESSAGE(c.has_value(), c.error());
        cfg = std::move(*c);
        modules::Dependencies deps{*reactor, nullptr};
        auto m = modules::find_factory("discovery")->create(cfg, deps);
        REQUIRE(m.has_value());
        module = std::move(*m);
        REQUIRE(module->register_routes(router.mount("discovery")).has_value());
        std::string src = stat_string("open_files_source");
        if (source == Source::iterator && src != "bpf_iterator")
            rp::test::skip_unless("discovery's BPF iterator did not load: " + src);
        if (source == Source::procfs) REQUIRE(src.starts_with("procfs"));
    }
    std::string stats() {
        http::Buffer b;
        http::JsonWriter w(b);
        module->write_stats(w);
        return std::string(b.view());
    }
    std::string stat_string(std::string_view key) {
        simdjson::dom::parser p;
        std::string_view v;
        if (p.parse(stats())[key].get_string().get(v) != simdjson::SUCCESS) return {};
        return std::string(v);
    }
    double stat_number(std::string_view key) {
        simdjson::dom::parser p;
        double v = 0;
        if (p.parse(stats())[key].get_double().get(v) != simdjson::SUCCESS) return -1;
        return v;
    }
    uint64_t stat_uint(std::string_view key) {
        simdjson::dom::parser p;
        uint64_t v = 0;
        if (p.parse(stats())[key].get_uint64().get(v) != simdjson::SUCCESS) return 0;
        return v;
    }
    std::string call(std::string_view path, std::string_view body_text,
                     std::string* ctype = nullptr) {
        static const std::string hdr = "Content-Typeapplication/json";
        http::HeaderSpan h{0, 12, 12, 16};
        http::Request req;
        req.method = "POST";
        req.path = path;
        req.body = body_text;
        req.headers = http::Headers(hdr.data(), &h, 1);
        auto m = router.match(req.method, req.path, req.params);
        REQUIRE(m.outcome == http::Router::Outcome::found);
        http::Response res(body, writer, false);
        (*m.handler)(req, res);
        status = res.status();
        if (ctype != nullptr) *ctype = std::string(res.content_type());
        return std::string(body.view());
    }
    std::string services(const std::vector<int>& new_pids, const std::vector<int>& hb = {}) {
        std::string b = "{\"new_pids\":[";
        for (size_t i = 0; i < new_pids.size(); ++i)
            b += (i ? "," : "") + std::to_string(new_pids[i]);
        b += "],\"heartbeat_pids\":[";
        for (size_t i = 0; i < hb.size(); ++i) b += (i ? "," : "") + std::to_string(hb[i]);
        b += "]}";
        return call("/discovery/services", b);
    }
    // The services of the answer, by pid (a heartbeat answer and a new one for the same pid are
    // told apart by asking separately).
    std::map<int, std::string> by_pid(const std::string& json) {
        std::map<int, std::string> out;
        simdjson::dom::element doc;
        REQUIRE_MESSAGE(parser.parse(json).get(doc) == simdjson::SUCCESS, json);
        for (simdjson::dom::element s : doc["services"].get_array()) {
            int64_t pid = s["pid"].get_int64();
            out[static_cast<int>(pid)] = simdjson::minify(s);
        }
        return out;
    }
    std::optional<std::string> service(int pid, bool heartbeat = false) {
        std::string json = heartbeat ? services({}, {pid}) : services({pid});
        REQUIRE(status == 200);
        auto all = by_pid(json);
        auto it = all.find(pid);
        if (it == all.end()) return std::nullopt;
        return it->second;
    }
    // Waits until the pid is reported (a process needs a moment to start listening).
    std::string wait_service(int pid, std::chrono::milliseconds timeout = 15000ms) {
        std::optional<std::string> s;
        bool ok = eventually([&] { return (s = service(pid)).has_value(); }, timeout);
        REQUIRE_MESSAGE(ok, "pid ", pid, " never reported as a service");
        return *s;
    }
};

}  // namespace

TEST_CASE("discovery: Python http.server: every field; heartbeat answers carry only ports") {
    require_tool(python3());
    Discovery d;
    uint16_t port = free_port(false);
    Child py({python3(), "-m", "http.server", "--bind", "127.0.0.1", std::to_string(port)},
             {{"DD_SERVICE", "rp-web"}, {"DD_ENV", "test"}, {"DD_VERSION", "1.2.3"}});
    REQUIRE(eventually([&] { return proc_net_has(py.pid(), port, false); }));
    std::string s = d.wait_service(py.pid());
    CHECK(s == "{\"pid\":" + std::to_string(py.pid()) +
                   ",\"generated_name\":\"http.server\",\"generated_name_source\":\"command-line\","
                   "\"additional_generated_names\":null,\"tcp_ports\":[" +
                   std::to_string(port) +
                   "],\"apm_instrumentation\":false,\"language\":\"python\",\"service_type\":"
                   "\"web_service\",\"ust\":{\"service\":\"rp-web\",\"env\":\"test\",\"version\":"
                   "\"1.2.3\"},\"has_nvidia_gpu\":false}");
    auto hb = d.service(py.pid(), true);
    REQUIRE(hb.has_value());
    CHECK(*hb == "{\"pid\":" + std::to_string(py.pid()) +
                     ",\"generated_name\":\"\",\"generated_name_source\":\"\","
                     "\"additional_generated_names\":null,\"tcp_ports\":[" +
                     std::to_string(port) +
                     "],\"apm_instrumentation\":false,\"language\":\"\",\"service_type\":\"\","
                     "\"ust\":{\"service\":\"\",\"env\":\"\",\"version\":\"\"},"
                     "\"has_nvidia_gpu\":false}");
    // Not a service: this test process (no listening port, no log file); a pid that does not
    // exist; pids that cannot exist. All absent, the answer still 200.
    std::string all = d.services({getpid(), 4194303, 0, -5, py.pid()}, {4194303});
    CHECK(d.status == 200);
    CHECK(d.by_pid(all).size() == 1);
    CHECK(all.find("\"injected_pids\":null") != std::string::npos);
}

TEST_CASE("discovery: /metrics families count pids, services, cache lookups and bad bodies") {
    Discovery d;
    uint16_t port = free_port(false);
    int ls = listening_socket(port);
    Child svc({"sleep", "1000"}, {}, "", {ls});
    ::close(ls);
    wait_comm(svc, "sleep");
    auto metrics = [&] {
        http::MetricsWriter w;
        d.module->write_metrics(w);
        http::Buffer out;
        w.finish(out, http::MetricsFormat::text);
        return std::string(out.view());
    };
    auto has = [](const std::string& text, const std::string& line) {
        return text.find("\n" + line + "\n") != std::string::npos;
    };
    d.services({svc.pid(), 4194303}, {svc.pid()});
    std::string m = metrics();
    CHECK(has(m, "ringprobe_discovery_pids_total{kind=\"new\"} 2"));
    CHECK(has(m, "ringprobe_discovery_pids_total{kind=\"heartbeat\"} 1"));
    CHECK(has(m, "ringprobe_discovery_pids_not_found_total 1"));
    CHECK(has(m, "ringprobe_discovery_services_total{kind=\"new\"} 1"));
    CHECK(has(m, "ringprobe_discovery_services_total{kind=\"heartbeat\"} 1"));
    CHECK(has(m, "ringprobe_discovery_binary_cache_lookups_total{result=\"miss\"} 1"));
    CHECK(has(m, "ringprobe_discovery_binary_cache_entries 1"));
    CHECK(has(m, "ringprobe_discovery_binary_cache_capacity 1000"));
    d.services({svc.pid()});  // the executable is known now
    d.call("/discovery/services", "{\"new_pids\": [1,]}");
    CHECK(d.status == 400);
    m = metrics();
    CHECK(has(m, "ringprobe_discovery_binary_cache_lookups_total{result=\"hit\"} 1"));
    CHECK(has(m, "ringprobe_discovery_bad_requests_total 1"));
    CHECK(m.find("# TYPE ringprobe_discovery_services_total counter") != std::string::npos);
}

TEST_CASE("discovery: UDP: a bound port is reported, an ephemeral-range one is not") {
    require_tool(python3());
    Discovery d;
    uint16_t port = free_port(true);
    PortRange eph = read_ephemeral_range();
    REQUIRE(eph.low != 0);
    std::string script =
        "import socket,time\n"
        "a=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); a.bind(('127.0.0.1'," +
        std::to_string(port) +
        "))\n"
        "b=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); b.bind(('127.0.0.1',0))\n"
        "time.sleep(1000)\n";
    Child py({python3(), "-c", script});
    REQUIRE(eventually([&] { return proc_net_has(py.pid(), port, true); }));
    std::string s = d.wait_service(py.pid());
    CHECK(s.find("\"udp_ports\":[" + std::to_string(port) + "]") != std::string::npos);
    CHECK(s.find("tcp_ports") == std::string::npos);
    CHECK(s.find("\"generated_name\":\"python3\"") != std::string::npos);  // -c: the interpreter
    CHECK(s.find("\"service_type\":\"web_service\"") != std::string::npos);
}

TEST_CASE("discovery: a Node server is named from its package.json") {
    require_tool("node");
    Discovery d;
    TempDir t;
    uint16_t port = free_port(false);
    write_text(t / "package.json", R"({"name": "rp-node-app", "version": "1.0.0"})");
    write_text(t / "server.js", "require('http').createServer(() => {}).listen(" +
                                    std::to_string(port) + ", '127.0.0.1');\n");
    Child node({"node", "server.js"}, {{"PWD", t.path}}, t.path);
    REQUIRE(eventually([&] { return proc_net_has(node.pid(), port, false); }));
    std::string s = d.wait_service(node.pid());
    CHECK(s == "{\"pid\":" + std::to_string(node.pid()) +
                   ",\"generated_name\":\"rp-node-app\",\"generated_name_source\":\"nodejs\","
                   "\"additional_generated_names\":null,\"tcp_ports\":[" +
                   std::to_string(port) +
                   "],\"apm_instrumentation\":false,\"language\":\"nodejs\",\"service_type\":"
                   "\"web_service\",\"ust\":{\"service\":\"\",\"env\":\"\",\"version\":\"\"},"
                   "\"has_nvidia_gpu\":false}");
}

TEST_CASE(
    "discovery: Java -jar: the jar's name, a Spring Boot archive's application name, dd.service") {
    require_tool("java");
    Discovery d;
    TempDir t;
    write_text(t / "myservice.jar", make_zip({{"META-INF/MANIFEST.MF", kSleeperManifest},
                                              {"Sleeper.class", sleeper_class()}},
                                             true));
    write_text(t / "boot.jar", make_zip({{"META-INF/MANIFEST.MF", kSleeperManifest},
                                         {"Sleeper.class", sleeper_class()},
                                         {"BOOT-INF/classes/application.properties",
                                          "spring.application.name=rp-spring\n"}},
                                        true));
    uint16_t p1 = free_port(false), p2 = free_port(false), p3 = free_port(false);
    int s1 = listening_socket(p1), s2 = listening_socket(p2), s3 = listening_socket(p3);
    // The JVM holds an inherited listening socket (the sleeper does not open one itself).
    Child plain({"java", "-Xshare:auto", "-Xmx32m", "-jar", t / "myservice.jar"}, {}, t.path, {s1});
    Child spring({"java", "-Xmx32m", "-jar", "boot.jar"}, {{"PWD", t.path}}, t.path, {s2});
    Child named({"java", "-Xmx32m", "-Ddd.service=rp-java-custom", "-jar", "myservice.jar"}, {},
                t.path, {s3});
    ::close(s1), ::close(s2), ::close(s3);
    auto java_service = [&](int pid, std::string_view name, std::string_view source,
                            uint16_t port) {
        return "{\"pid\":" + std::to_string(pid) + ",\"generated_name\":\"" + std::string(name) +
               "\",\"generated_name_source\":\"" + std::string(source) +
               "\",\"additional_generated_names\":null,\"tcp_ports\":[" + std::to_string(port) +
               "],\"apm_instrumentation\":false,\"language\":\"jvm\",\"service_type\":"
               "\"web_service\",\"ust\":{\"service\":\"\",\"env\":\"\",\"version\":\"\"},"
               "\"has_nvidia_gpu\":false}";
    };
    // The JVM must have started: its command line is java's, not the fork's.
    auto started = [](int pid) {
        return read_text("/proc/" + std::to_string(pid) + "/cmdline").find("-jar") !=
                   std::string::npos &&
               read_text("/proc/" + std::to_string(pid) + "/comm") == "java\n";
    };
    // ... and be running the archive (it holds the jar open), not dead on a bad class.
    auto holds = [](int pid, const std::string& jar) {
        std::error_code ec;
        for (const auto& e :
             std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec))
            if (std::filesystem::read_symlink(e.path(), ec) == jar) return true;
        return false;
    };
    REQUIRE(eventually(
        [&] { return started(plain.pid()) && started(spring.pid()) && started(named.pid()); }));
    REQUIRE(eventually([&] {
        return holds(plain.pid(), t / "myservice.jar") && holds(spring.pid(), t / "boot.jar") &&
               holds(named.pid(), t / "myservice.jar");
    }));
    CHECK(d.wait_service(plain.pid()) ==
          java_service(plain.pid(), "myservice", "command-line", p1));
    CHECK(d.wait_service(spring.pid()) == java_service(spring.pid(), "rp-spring", "spring", p2));
    CHECK(d.wait_service(named.pid()) ==
          java_service(named.pid(), "rp-java-custom", "command-line", p3));
    CHECK(plain.alive());
    CHECK(spring.alive());
}

TEST_CASE("discovery: a Go binary is recognised by its build info, with or without the section") {
    if (::access(RP_DISC_GOSVC, X_OK) != 0)
        rp::test::skip_unless(std::string("the Go fixture was not built (") + RP_DISC_GOSVC +
                              "): golang-go is missing");
    Discovery d;
    TempDir t;
    // A copy whose .go.buildinfo section name is renamed: only the magic in the data segment is
    // left.
    std::string bin = read_text(RP_DISC_GOSVC);
    std::string stripped = bin;
    size_t at = stripped.find(std::string(".go.buildinfo\0", 14));
    REQUIRE(at != std::string::npos);
    stripped.replace(at, 13, ".xx.buildinfo");
    write_text(t / "rp-gosvc-nosect", stripped);
    ::chmod((t / "rp-gosvc-nosect").c_str(), 0755);
    uint16_t p1 = free_port(false), p2 = free_port(false);
    Child a({RP_DISC_GOSVC, std::to_string(p1)});
    Child b({t / "rp-gosvc-nosect", std::to_string(p2)});
    REQUIRE(eventually(
        [&] { return proc_net_has(a.pid(), p1, false) && proc_net_has(b.pid(), p2, false); }));
    std::string sa = d.wait_service(a.pid()), sb = d.wait_service(b.pid());
    CHECK(sa.find("\"language\":\"go\"") != std::string::npos);
    CHECK(sa.find("\"generated_name\":\"rp_disc_gosvc\"") != std::string::npos);
    CHECK(sb.find("\"language\":\"go\"") != std::string::npos);
    CHECK(sb.find("\"generated_name\":\"rp-gosvc-nosect\"") != std::string::npos);
    // A C program is not Go: unknown.
    Child sh({"sh", "-c", "exec 3>>" + (t / "sh.log") + "; exec sleep 1000"});
    wait_comm(sh, "sleep");
    std::string ss = d.wait_service(sh.pid());
    CHECK(ss.find("\"language\":\"unknown\"") != std::string::npos);
}

TEST_CASE("discovery: UST from the environment, bounded: long values cut to 256 bytes") {
    require_tool(python3());
    Discovery d;
    uint16_t port = free_port(false);
    int s = listening_socket(port);
    // A large environment (300 KB, in variables under the kernel's 128 KiB a string) around
    // the variables read, which are found however the reads fall.
    std::string filler(100000, 'x');
    std::string long_service(300, 's');
    Child sleeper({"sleep", "1000"},
                  {{"AAA_FILLER1", filler},
                   {"AAA_FILLER2", filler},
                   {"DD_SERVICE", long_service},
                   {"DD_ENV", "prod"},
                   {"DD_VERSION", "v9"},
                   {"ZZZ_FILLER", filler}},
                  "", {s});
    ::close(s);
    wait_comm(sleeper, "sleep");
    std::string got = d.wait_service(sleeper.pid());
    CHECK(got.find("\"ust\":{\"service\":\"" + std::string(256, 's') +
                   "\",\"env\":\"prod\",\"version\":\"v9\"}") != std::string::npos);
    CHECK(got.find("\"generated_name\":\"sleep\"") != std::string::npos);
}

TEST_CASE(
    "discovery: a listener in another network namespace is matched against that namespace's "
    "tables") {
    require_root("unshare -n makes a network namespace");
    require_tool(python3());
    require_tool("unshare");
    Discovery d;
    uint16_t port = free_port(false);
    // The same port number in both namespaces: each process must get its own socket's port, the
    // namespaced one's only from its namespace's table (its inode is not in the host's).
    int hs = listening_socket(port);
    Child host({"sleep", "1000"}, {}, "", {hs});
    ::close(hs);
    wait_comm(host, "sleep");
    std::string script = "import socket,time\ns=socket.socket(); s.bind(('0.0.0.0'," +
                         std::to_string(port) +
                         ")); s.listen()\nu=socket.socket(socket.AF_INET,socket.SOCK_DGRAM); "
                         "u.bind(('0.0.0.0'," +
                         std::to_string(port + 1) + "))\ntime.sleep(1000)\n";
    Child ns({"unshare", "-n", python3(), "-c", script});
    REQUIRE(eventually([&] {
        return proc_net_has(ns.pid(), port, false) && proc_net_has(ns.pid(), port + 1, true);
    }));
    CHECK_FALSE(proc_net_has(getpid(), port + 1, true));
    struct stat a, b;
    REQUIRE(::stat(("/proc/" + std::to_string(ns.pid()) + "/ns/net").c_str(), &a) == 0);
    REQUIRE(::stat("/proc/self/ns/net", &b) == 0);
    CHECK(a.st_ino != b.st_ino);
    std::string out = d.services({host.pid(), ns.pid()});
    auto all = d.by_pid(out);
    REQUIRE(all.count(ns.pid()) == 1);
    REQUIRE(all.count(host.pid()) == 1);
    CHECK(all[ns.pid()].find("\"tcp_ports\":[" + std::to_string(port) + "],\"udp_ports\":[" +
                             std::to_string(port + 1) + "]") != std::string::npos);
    CHECK(all[host.pid()].find("\"tcp_ports\":[" + std::to_string(port) + "]") !=
          std::string::npos);
    CHECK(all[host.pid()].find("udp_ports") == std::string::npos);
    // Two namespaces read for this request: /debug/stats counts them.
    http::Buffer b2;
    http::JsonWriter w(b2);
    d.module->write_stats(w);
    CHECK(std::string(b2.view()).find("\"network_namespaces_read\":") != std::string::npos);
}

TEST_CASE("discovery: a process that maps the APM injector is an injected pid, service or not") {
    require_root("the injector's path is under /opt");
    Discovery d;
    const std::string base = "/opt/datadog-packages/datadog-apm-inject";
    bool made_base = !std::filesystem::exists("/opt/datadog-packages");
    const std::string dir = base + "/rp-test-" + std::to_string(getpid()) + "/inject";
    std::filesystem::create_directories(dir);
    struct Cleanup {
        std::string path, top;
        bool remove_top;
        ~Cleanup() {
            std::error_code ec;
            std::filesystem::remove_all(path, ec);
            if (remove_top) std::filesystem::remove_all(top, ec);
        }
    } cleanup{std::filesystem::path(dir).parent_path(), "/opt/datadog-packages", made_base};
    std::filesystem::copy_file(RP_DISC_FAKE_INJECTOR, dir + "/launcher.preload.so",
                               std::filesystem::copy_options::overwrite_existing);
    Child injected({"sleep", "1000"}, {{"LD_PRELOAD", dir + "/launcher.preload.so"}});
    Child plain({"sleep", "1000"});
    REQUIRE(eventually([&] {
        return read_text("/proc/" + std::to_string(injected.pid()) + "/maps")
                   .find("launcher.preload.so") != std::string::npos;
    }));
    std::string out = d.services({injected.pid(), plain.pid()});
    CHECK(d.status == 200);
    CHECK(out == "{\"services\":[],\"injected_pids\":[" + std::to_string(injected.pid()) +
                     "],\"gpu_pids\":null}");
    // A heartbeat does not look for it.
    out = d.services({}, {injected.pid()});
    CHECK(out == "{\"services\":[],\"injected_pids\":null,\"gpu_pids\":null}");
}

TEST_CASE(
    "discovery: log files: write-append *.log files are reported, other candidates make a service "
    "only") {
    Discovery d;
    TempDir t;
    Child app({"sh", "-c",
               "exec 3>>" + (t / "app.log") + " 4>>" + (t / "app.log") + " 5<>" + (t / "rw.log") +
                   " 6>>" + (t / "notes.txt") + "; exec sleep 1000"});
    Child rw({"sh", "-c", "exec 5<>" + (t / "only-rw.log") + "; exec sleep 1000"});
    wait_comm(app, "sleep");
    wait_comm(rw, "sleep");
    std::string s = d.wait_service(app.pid());
    CHECK(s ==
          "{\"pid\":" + std::to_string(app.pid()) + ",\"log_files\":[\"" + (t / "app.log") +
              "\"],\"generated_name\":\"sleep\",\"generated_name_source\":\"command-line\","
              "\"additional_generated_names\":null,\"apm_instrumentation\":false,\"language\":"
              "\"unknown\",\"service_type\":\"web_service\",\"ust\":{\"service\":\"\",\"env\":\"\","
              "\"version\":\"\"},\"has_nvidia_gpu\":false}");
    // A read-write .log is a candidate: the process is a service, without log_files.
    std::string r = d.wait_service(rw.pid());
    CHECK(r.find("log_files") == std::string::npos);
    auto hb = d.service(app.pid(), true);
    REQUIRE(hb.has_value());
    CHECK(hb->find("\"log_files\":[\"" + (t / "app.log") + "\"]") != std::string::npos);
}

TEST_CASE("discovery: ignored command names are not reported, as new or heartbeat pids") {
    require_tool(python3());
    TempDir t;
    std::filesystem::create_symlink(python3()[0] == '/' ? python3() : "/usr/bin/python3",
                                    t / "sshd");
    std::filesystem::create_symlink("/bin/sleep", t / "systemd-rp");
    uint16_t p1 = free_port(false), p2 = free_port(false);
    int s2 = listening_socket(p2);
    Child sshd({t / "sshd", "-m", "http.server", "--bind", "127.0.0.1", std::to_string(p1)});
    Child family({t / "systemd-rp", "1000"}, {}, "", {s2});
    ::close(s2);
    wait_comm(family, "systemd-rp");
    REQUIRE(eventually([&] { return proc_net_has(sshd.pid(), p1, false); }));
    REQUIRE(read_text("/proc/" + std::to_string(sshd.pid()) + "/comm") == "sshd\n");
    {
        Discovery d;
        std::string out = d.services({sshd.pid(), family.pid()}, {sshd.pid(), family.pid()});
        CHECK(out == "{\"services\":[],\"injected_pids\":null,\"gpu_pids\":null}");
    }
    // With the list empty nothing is ignored (upstream: no list, no family prefixes either).
    Discovery all("[discovery]\nignored_command_names = []\n");
    auto got = all.by_pid(all.services({sshd.pid(), family.pid()}));
    CHECK(got.size() == 2);
    CHECK(got[sshd.pid()].find("\"generated_name\":\"http.server\"") != std::string::npos);
    CHECK(got[family.pid()].find("\"generated_name\":\"systemd-rp\"") != std::string::npos);
    // A custom list.
    Discovery custom("[discovery]\nignored_command_names = [\"systemd-rp\"]\n");
    got = custom.by_pid(custom.services({sshd.pid(), family.pid()}));
    CHECK(got.size() == 1);
    CHECK(got.count(sshd.pid()) == 1);
}

TEST_CASE(
    "discovery: a tracer memfd makes a service: its metadata, language and APM instrumentation") {
    require_tool(python3());
    Discovery d;
    // schema_version 1, tracer_language "ruby", tracer_version "2.0.0", hostname "h", service_name
    // "svc"
    std::string script =
        "import os,time\n"
        "def s(v): b=v.encode(); return bytes([0xa0|len(b)])+b\n"
        "m=bytes([0x85])+s('schema_version')+bytes([1])+s('tracer_language')+s('ruby')+"
        "s('tracer_version')+s('2.0.0')+s('hostname')+s('h')+s('service_name')+s('svc')\n"
        "fd=os.memfd_create('datadog-tracer-info-rp'); os.write(fd,m)\n"
        "time.sleep(1000)\n";
    Child py({python3(), "-c", script});
    std::string s = d.wait_service(py.pid());
    CHECK(s == "{\"pid\":" + std::to_string(py.pid()) +
                   ",\"generated_name\":\"python3\",\"generated_name_source\":\"command-line\","
                   "\"additional_generated_names\":null,\"tracer_metadata\":[{\"schema_version\":1,"
                   "\"tracer_language\":\"ruby\",\"tracer_version\":\"2.0.0\",\"hostname\":\"h\","
                   "\"service_name\":\"svc\"}],\"apm_instrumentation\":true,\"language\":\"ruby\","
                   "\"service_type\":\"web_service\",\"ust\":{\"service\":\"\",\"env\":\"\","
                   "\"version\":\"\"},\"has_nvidia_gpu\":false}");
}

TEST_CASE(
    "discovery: gpu_pids: an NVIDIA device open, or NVIDIA libraries mapped where the driver's "
    "devices are; services or not") {
    require_root("unshare -m makes a mount namespace with a /dev of its own");
    require_tool(python3());
    require_tool("unshare");
    Discovery d;
    TempDir t;
    write_text(t / "libcuda.so.1", std::string(4096, '\0'));
    const std::string map_lib = "import mmap,time\nf=open('" + (t / "libcuda.so.1") +
                                "','rb')\nm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\n"
                                "time.sleep(1000)\n";
    const std::string open_dev = "import time\nf=open('/dev/nvidia0','rb')\ntime.sleep(1000)\n";
    // A mount namespace whose /dev is a tmpfs holding nvidiactl and nvidia0 (character devices
    // with /dev/null's numbers: only their paths matter, and they open without NVIDIA's driver);
    // it goes away with its last process.
    auto in_gpu_ns = [&](const std::string& script) {
        return Child({"unshare", "-m", "sh", "-c",
                      "mount -t tmpfs rp-disc-dev /dev && mknod /dev/nvidiactl c 1 3 && "
                      "mknod /dev/nvidia0 c 1 3 && "
                      "exec \"$0\" -c \"$1\"",
                      python3(), script});
    };
    Child dev = in_gpu_ns(open_dev);
    Child lib = in_gpu_ns(map_lib);
    Child plain({"sleep", "1000"});
    auto maps_has = [](int pid, std::string_view what) {
        return read_text("/proc/" + std::to_string(pid) + "/maps").find(what) != std::string::npos;
    };
    auto fd_to = [](int pid, std::string_view target) {
        std::error_code ec;
        for (const auto& e :
             std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/fd", ec)) {
            std::error_code ec2;
            if (std::filesystem::read_symlink(e.path(), ec2).string() == target) return true;
        }
        return false;
    };
    REQUIRE(eventually([&] { return fd_to(dev.pid(), "/dev/nvidia0"); }));
    REQUIRE(eventually([&] { return maps_has(lib.pid(), "libcuda.so.1"); }));
    wait_comm(plain, "sleep");
    std::string out = d.services({plain.pid(), dev.pid(), lib.pid()});
    CHECK(d.status == 200);
    CHECK(out == "{\"services\":[],\"injected_pids\":null,\"gpu_pids\":[" +
                     std::to_string(dev.pid()) + "," + std::to_string(lib.pid()) + "]}");
    // Heartbeats do not look again (upstream: the Agent keeps what the new pid said).
    out = d.services({}, {dev.pid(), lib.pid()});
    CHECK(out == "{\"services\":[],\"injected_pids\":null,\"gpu_pids\":null}");
    // The same library mapped by a process that is not a service, in a mount namespace without
    // NVIDIA device nodes: its maps is not read (docs/modules/discovery.md, "Deviations").
    if (!std::filesystem::exists("/dev/nvidiactl") && !std::filesystem::exists("/dev/nvidia0")) {
        Child host({python3(), "-c", map_lib});
        REQUIRE(eventually([&] { return maps_has(host.pid(), "libcuda.so.1"); }));
        out = d.services({host.pid()});
        CHECK(out == "{\"services\":[],\"injected_pids\":null,\"gpu_pids\":null}");
    }
}

TEST_CASE("discovery: NVIDIA libraries mapped: has_nvidia_gpu; a db port: service_type db") {
    require_tool(python3());
    Discovery d;
    TempDir t;
    write_text(t / "libcuda.so.1", std::string(4096, '\0'));
    uint16_t port = 5432;
    if (!proc_net_has(getpid(), port, false)) {
        std::string script =
            "import mmap,time,socket\nf=open('" + (t / "libcuda.so.1") +
            "','rb')\nm=mmap.mmap(f.fileno(),0,prot=mmap.PROT_READ)\n"
            "s=socket.socket(); s.setsockopt(socket.SOL_SOCKET,socket.SO_REUSEADDR,1)\n"
            "s.bind(('127.0.0.1'," +
            std::to_string(port) + ")); s.listen()\ntime.sleep(1000)\n";
        Child py({python3(), "-c", script});
        REQUIRE(eventually([&] { return proc_net_has(py.pid(), port, false); }));
        std::string s = d.wait_service(py.pid());
        CHECK(s.find("\"has_nvidia_gpu\":true") != std::string::npos);
        CHECK(d.services({py.pid()}).ends_with("\"gpu_pids\":[" + std::to_string(py.pid()) + "]}"));
        CHECK(s.find("\"service_type\":\"db\"") != std::string::npos);
    } else {
        MESSAGE("port 5432 is taken on this host: service_type db not checked");
    }
}

TEST_CASE(
    "discovery: bad bodies get 400 with the reason; empty and null bodies are empty requests") {
    Discovery d;
    struct Case {
        const char* body;
        const char* error;
    } cases[] = {
        {"not json", "not valid JSON"},
        {"[1,2]", "must be a JSON object"},
        {R"({"new_pids": 5})", "\\\"new_pids\\\" must be an array"},
        {R"({"new_pids": [1.5]})", "must hold only int32 pids"},
        {R"({"heartbeat_pids": ["1"]})", "\\\"heartbeat_pids\\\" must hold only int32 pids"},
        {R"({"new_pids": [2147483648]})", "must hold only int32 pids"},
        {R"({"new_pids": [1]} trailing)", "not valid JSON"},
        {R"({"new_pids": [1e3]})", "must hold only int32 pids"},
        {R"({"new_pids": [01]})", "not valid JSON"},
        {R"({"new_pids": [1,]})", "not valid JSON"},
        {R"({"other": {"a": [}, "new_pids": []})", "not valid JSON"},
        {R"({"new_pids": [1] "heartbeat_pids": []})", "not valid JSON"},
        {"{\"new_pids\": [1]", "not valid JSON"},
        {"  ", "not valid JSON"},
    };
    for (const auto& c : cases) {
        std::string out = d.call("/discovery/services", c.body);
        CHECK_MESSAGE(d.status == 400, std::string(c.body));
        CHECK_MESSAGE(out.find(c.error) != std::string::npos, std::string(c.body), " -> ", out);
    }
    for (const char* ok :
         {"", "null", "{}", R"({"new_pids":null,"heartbeat_pids":[]})",
          R"({"NEW_PIDS":[],"pids":[1],"heartbeat_time":5})",
          R"( {"other": {"deep": [1, "x", null, {"y": -2.5e-3}]}, "new_pids": [] } )"}) {
        std::string out = d.call("/discovery/services", ok);
        CHECK_MESSAGE(d.status == 200, ok);
        CHECK_MESSAGE(out == "{\"services\":[],\"injected_pids\":null,\"gpu_pids\":null}", ok);
    }
    std::string ctype;
    CHECK(d.call("/discovery/status", "", &ctype) == "Discovery Module is running");
    CHECK(ctype.starts_with("text/plain"));
    CHECK(d.call("/discovery/state", "", &ctype) == "{}");
    CHECK(ctype == "application/json");
}

TEST_CASE("discovery: sock_diag and /proc/net give the same sockets for the daemon's namespace") {
    uint16_t tp = free_port(false), up = free_port(true);
    int t = listening_socket(tp);
    int u = ::socket(AF_INET6, SOCK_DGRAM | SOCK_CLOEXEC, 0);  // v6 (dual-stack) UDP as well
    sockaddr_in6 a{};
    a.sin6_family = AF_INET6;
    a.sin6_port = htons(up);
    a.sin6_addr = in6addr_any;
    REQUIRE(::bind(u, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
    struct stat ns;
    REQUIRE(::stat("/proc/self/ns/net", &ns) == 0);
    PidDir self;
    REQUIRE(self.open(getpid()));
    std::vector<char> chunk(64 * 1024);
    SocketTables diag(read_ephemeral_range(), true), procfs(read_ephemeral_range(), false);
    auto as_set = [](std::span<const SocketTables::Entry> s) {
        std::set<std::tuple<uint64_t, uint16_t, bool>> out;
        for (const auto& e : s) out.insert({e.inode, e.port, e.udp});
        return out;
    };
    // Other programs on the host may open or close a listener between the two reads: retry.
    std::set<std::tuple<uint64_t, uint16_t, bool>> s1, s2;
    for (int tries = 0; tries < 5; ++tries) {
        diag.reset();
        procfs.reset();
        s1 = as_set(diag.namespace_of(ns.st_ino, self.fd(), chunk));
        s2 = as_set(procfs.namespace_of(ns.st_ino, self.fd(), chunk));
        if (s1 == s2) break;
    }
    CHECK(diag.diag_dumps() == 4);
    CHECK(procfs.diag_dumps() == 0);
    CHECK(s1 == s2);
    bool tcp_seen = false, udp_seen = false;
    for (const auto& [ino, port, udp] : s1) {
        tcp_seen |= !udp && port == tp;
        udp_seen |= udp && port == up;
    }
    CHECK(tcp_seen);
    CHECK(udp_seen);
    ::close(t);
    ::close(u);
}

TEST_CASE(
    "discovery: adaptive: both paths measured, the cheaper taken, the other every 16th request") {
    if (Discovery::test_source() != Discovery::Source::iterator) {
        MESSAGE("runs in the iterator pass (discovery_iterator_test)");
        return;
    }
    // 10 pids: a snapshot walks every file of the host (0.07 ms on a quiet VM, 39 ms with 100,000
    // sockets), ten /proc/<pid>/fd listings cost ~10-30 us each.
    Discovery d("ringprobe.discovery.bpf_iterator_adaptive = true\n");
    std::vector<Child> kids;
    std::vector<int> pids;
    for (int i = 0; i < 10; ++i) {
        kids.emplace_back(std::vector<std::string>{"sleep", "1000"});
        pids.push_back(kids.back().pid());
    }
    for (auto& k : kids) wait_comm(k, "sleep");
    d.services(pids);  // 1: the snapshot is measured first
    CHECK(d.stat_uint("snapshots") == 1);
    d.services(pids);  // 2: then /proc
    CHECK(d.stat_uint("snapshots") == 1);
    CHECK(d.stat_uint("iterator_eligible_read_procfs") == 1);
    // 3..15 by the measured costs, 16 the other path (the re-probe). Which path is cheaper
    // depends on the host (a snapshot walks every open file of it): only the counts are fixed.
    for (int r = 3; r <= 16; ++r) d.services(pids);
    CHECK(d.stat_uint("iterator_eligible_requests") == 16);
    const uint64_t snaps = d.stat_uint("snapshots"),
                   procfs = d.stat_uint("iterator_eligible_read_procfs");
    CHECK(snaps + procfs == 16);
    CHECK(snaps >= 2);   // the first request, and the re-probe or the cost choice
    CHECK(procfs >= 2);  // the second request, and the cost choice or the re-probe
    CHECK(d.stat_uint("pids_from_snapshot") == 10 * snaps);
    CHECK(d.stat_uint("pids_from_procfs") == 10 * procfs);
    const double snap_ms = d.stat_number("snapshot_avg_ms");
    const double per_pid_us = d.stat_number("procfs_per_pid_avg_us");
    CHECK(snap_ms > 0);
    CHECK(per_pid_us > 0);
    // Request 17 is no re-probe: it takes whichever the averages say is cheaper.
    const bool expect_snapshot = snap_ms * 1000 < 10 * per_pid_us;
    d.services(pids);
    CHECK(d.stat_uint("snapshots") == snaps + (expect_snapshot ? 1 : 0));
    CHECK(d.stat_uint("iterator_eligible_read_procfs") == procfs + (expect_snapshot ? 0 : 1));
}

TEST_CASE("discovery: the BPF iterator and /proc give the same answers") {
    if (Discovery::test_source() != Discovery::Source::iterator) {
        MESSAGE("runs in the iterator pass (discovery_iterator_test)");
        return;
    }
    require_tool(python3());
    Discovery iter("", Discovery::Source::iterator), proc("", Discovery::Source::procfs);
    TempDir t;
    uint16_t tp = free_port(false), up = free_port(true);
    // TCP and UDP (v4 and v6), a write-append log, a read-write log, a tracer memfd, a deleted
    // log (not reported), and a log path longer than the iterator's 256-byte buffer.
    std::string deep = t.path;
    while (deep.size() < 300) deep += "/deeper-directory-name";
    std::filesystem::create_directories(deep);
    std::string script =
        "import socket,os,time\n"
        "a=socket.socket(); a.bind(('127.0.0.1'," +
        std::to_string(tp) +
        ")); a.listen()\n"
        "b=socket.socket(socket.AF_INET6,socket.SOCK_DGRAM); b.bind(('::'," +
        std::to_string(up) +
        "))\n"
        "c=socket.socket(); c.bind(('127.0.0.1',0))\n"  // bound, not listening: not a port
        "f=open('" +
        (t / "app.log") + "','a'); g=open('" + (t / "rw.log") +
        "','w+')\n"
        "h=open('" +
        deep + "/long.log','a'); d=open('" + (t / "gone.log") + "','a'); os.unlink('" +
        (t / "gone.log") +
        "')\n"
        "m=os.memfd_create('datadog-tracer-info-x'); os.write(m, "
        "bytes([0x81,0xaf])+b'tracer_language'+bytes([0xa2])+b'go')\n"
        "time.sleep(1000)\n";
    Child py({python3(), "-c", script});
    Child plain({"sleep", "1000"});
    wait_comm(plain, "sleep");
    REQUIRE(eventually(
        [&] { return proc_net_has(py.pid(), tp, false) && proc_net_has(py.pid(), up, true); }));
    REQUIRE(eventually([&] {
        return std::filesystem::exists(t / "rw.log") && !std::filesystem::exists(t / "gone.log");
    }));
    std::string a, b;
    bool same = eventually([&] {
        a = iter.services({py.pid(), plain.pid(), 4194303}, {py.pid()});
        b = proc.services({py.pid(), plain.pid(), 4194303}, {py.pid()});
        return a == b && a.find("long.log") != std::string::npos;
    });
    CHECK_MESSAGE(same, "iterator: ", a, "\nprocfs:   ", b);
    CHECK(a.find("\"tcp_ports\":[" + std::to_string(tp) + "],\"udp_ports\":[" + std::to_string(up) +
                 "]") != std::string::npos);
    CHECK(a.find("app.log") != std::string::npos);
    CHECK(a.find("rw.log") == std::string::npos);
    CHECK(a.find("gone.log") == std::string::npos);
    CHECK(a.find("\"tracer_language\":\"go\"") != std::string::npos);
    CHECK(iter.stat_uint("snapshots") >= 1);
    CHECK(iter.stat_uint("pids_from_snapshot") >= 3);
    CHECK(proc.stat_uint("snapshots") == 0);
}
