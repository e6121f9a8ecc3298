// network_tracer_test.cpp — network_tracer's user-space parts without the kernel: the
// model.Connections encoder (protobuf read back field by field with protozero, JSON with
// simdjson), the client table (slots, generations, closed buffers, caps, expiry) and the stream
// that turns iterator bytes into a body (fed through a pipe in pieces that cut records).
#include <doctest/doctest.h>
#include <fcntl.h>
#include <simdjson.h>
#include <unistd.h>

#include <cstring>
#include <map>
#include <protozero/pbf_reader.hpp>
#include <set>
#include <string>
#include <vector>

#include "modules/network_tracer/client_table.h"
#include "modules/network_tracer/connection_encoder.h"
#include "modules/network_tracer/connections_stream.h"
#include "modules/proto/messages.h"

using namespace rp;
using namespace rp::modules::network_tracer;
namespace P = rp::proto;

namespace {

nt_addr v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
    nt_addr x{};
    x.a[10] = 0xff;
    x.a[11] = 0xff;
    x.a[12] = a;
    x.a[13] = b;
    x.a[14] = c;
    x.a[15] = d;
    return x;
}

nt_conn sample_tcp() {
    nt_conn c{};
    c.cookie = 77;
    c.saddr = v4(10, 1, 2, 3);
    c.daddr = v4(10, 1, 2, 4);
    c.sport = 40000;
    c.dport = 8080;
    c.netns = 4026531993u;
    c.pid = 4242;
    c.family = NT_FAMILY_V4;
    c.type = NT_TYPE_TCP;
    c.direction = NT_DIR_OUTGOING;
    c.flags = NT_C_ECN;
    c.rtt_us = 120;
    c.rttvar_us = 30;
    c.failure = 111;
    c.c.bytes_sent = 5000000000ull;  // beyond 32 bits
    c.c.bytes_recv = 321;
    c.c.pkts_sent = 12;
    c.c.pkts_recv = 9;
    c.c.retrans = 2;
    c.c.rto = 1;
    c.c.recovery = 3;
    c.c.reord_seen = 4;
    c.c.ooo_pack = 5;
    c.c.delivered_ce = 6;
    c.c.established = 1;
    c.c.closed = 1;
    return c;
}

PortRange range() { return PortRange{32768, 60999, true}; }

// Fields of one protobuf message: tag -> (varints | the raw bytes of length-delimited ones).
struct Fields {
    std::multimap<uint32_t, uint64_t> varints;
    std::multimap<uint32_t, std::string> bytes;
    uint64_t varint(uint32_t tag) const {
        auto it = varints.find(tag);
        REQUIRE_MESSAGE(it != varints.end(), "field " << tag << " missing");
        return it->second;
    }
    bool has(uint32_t tag) const { return varints.count(tag) + bytes.count(tag) > 0; }
    std::string message(uint32_t tag) const {
        auto it = bytes.find(tag);
        REQUIRE_MESSAGE(it != bytes.end(), "field " << tag << " missing");
        return it->second;
    }
};

Fields parse(std::string_view data) {
    Fields f;
    protozero::pbf_reader r(data.data(), data.size());
    while (r.next()) {
        const uint32_t tag = r.tag();  // before the value: reading it ends the field
        if (r.wire_type() == protozero::pbf_wire_type::varint)
            f.varints.emplace(tag, r.get_uint64());
        else if (r.wire_type() == protozero::pbf_wire_type::length_delimited)
            f.bytes.emplace(tag, std::string(r.get_view()));
        else
            FAIL("unexpected wire type in field " << tag);
    }
    return f;
}

std::string encode(const std::vector<nt_conn>& conns, http::Encoding enc, bool intra = false) {
    http::Buffer out;
    ConnectionEncoder e(range());
    e.begin(enc, out, false);
    for (const auto& c : conns) e.conn(c, intra);
    TelemetryEntry tel[] = {{"conn_dropped", 3}, {"conns_bpf_map_size", 10}};
    e.end(Trailer{.telemetry = tel});
    return std::string(out.view());
}

}  // namespace

TEST_CASE("network_tracer encoder: protobuf Connection carries every filled field") {
    std::string body = encode({sample_tcp()}, http::Encoding::protobuf, true);
    Fields top = parse(body);
    REQUIRE(top.bytes.count(P::Connections::conns) == 1);
    Fields c = parse(top.message(P::Connections::conns));
    namespace C = P::Connection;
    CHECK(c.varint(C::pid) == 4242);
    Fields l = parse(c.message(C::laddr));
    CHECK(l.message(P::Addr::ip) == "10.1.2.3");
    CHECK(l.varint(P::Addr::port) == 40000);
    Fields rr = parse(c.message(C::raddr));
    CHECK(rr.message(P::Addr::ip) == "10.1.2.4");
    CHECK(rr.varint(P::Addr::port) == 8080);
    CHECK_FALSE(c.has(C::family));  // v4 = 0: proto3 leaves it out
    CHECK_FALSE(c.has(C::type));    // tcp = 0
    CHECK(c.varint(C::isLocalPortEphemeral) == P::EphemeralPortState::ephemeralTrue);
    CHECK(c.varint(C::lastBytesSent) == 5000000000ull);
    CHECK(c.varint(C::lastBytesReceived) == 321);
    CHECK(c.varint(C::lastPacketsSent) == 12);
    CHECK(c.varint(C::lastPacketsReceived) == 9);
    CHECK(c.varint(C::lastRetransmits) == 2);
    CHECK(c.varint(C::direction) == P::ConnectionDirection::outgoing);
    CHECK(c.message(C::protocol).empty());  // present, empty stack: unclassified
    CHECK(c.varint(C::netNS) == 4026531993u);
    CHECK(c.varint(C::rtt) == 120);
    CHECK(c.varint(C::rttVar) == 30);
    CHECK(c.varint(C::intraHost) == 1);
    CHECK(c.varint(C::lastTcpEstablished) == 1);
    CHECK(c.varint(C::lastTcpClosed) == 1);
    CHECK(static_cast<int32_t>(c.varint(C::routeIdx)) == -1);
    Fields fail = parse(c.message(C::tcpFailuresByErrCode));
    CHECK(fail.varint(P::MapEntry::key) == 111);
    CHECK(fail.varint(P::MapEntry::value) == 1);
    CHECK(c.varint(C::lastTcpRtoCount) == 1);
    CHECK(c.varint(C::lastTcpRecoveryCount) == 3);
    CHECK(c.varint(C::lastTcpReordSeen) == 4);
    CHECK(c.varint(C::lastTcpRcvOooPack) == 5);
    CHECK(c.varint(C::lastTcpDeliveredCe) == 6);
    CHECK(c.varint(C::tcpEcnNegotiated) == 1);
    CHECK_FALSE(c.has(C::ipTranslation));  // conntrack is not read yet
    CHECK_FALSE(c.has(C::tags));

    // The Connections-level fields after the connections.
    Fields ac = parse(top.message(P::Connections::agentConfiguration));
    CHECK(ac.varint(P::AgentConfiguration::npmEnabled) == 1);
    CHECK_FALSE(ac.has(P::AgentConfiguration::usmEnabled));
    REQUIRE(top.bytes.count(P::Connections::connTelemetryMap) == 2);
    std::map<std::string, int64_t> tel;
    auto [b, e] = top.bytes.equal_range(P::Connections::connTelemetryMap);
    for (auto it = b; it != e; ++it) {
        Fields entry = parse(it->second);
        tel[entry.message(P::MapEntry::key)] =
            static_cast<int64_t>(entry.varint(P::MapEntry::value));
    }
    CHECK(tel == std::map<std::string, int64_t>{{"conn_dropped", 3}, {"conns_bpf_map_size", 10}});
    Fields core = parse(top.message(P::Connections::CORETelemetryByAsset));
    CHECK(core.message(P::MapEntry::key) == "tracer");
    CHECK(core.varint(P::MapEntry::value) == P::COREResult::SuccessDefaultBTF);
    Fields comp = parse(top.message(P::Connections::compilationTelemetryByAsset));
    CHECK(comp.message(P::MapEntry::key) == "tracer");
    CHECK(comp.message(P::MapEntry::value).empty());
    CHECK_FALSE(top.has(P::Connections::kernelHeaderFetchResult));  // FetchNotAttempted = 0
}

TEST_CASE("network_tracer encoder: JSON is gogo jsonpb with defaults emitted") {
    nt_conn udp{};
    udp.saddr = v4(0, 0, 0, 0);
    udp.daddr = v4(0, 0, 0, 0);
    udp.sport = 53;
    udp.type = NT_TYPE_UDP;
    udp.direction = NT_DIR_INCOMING;
    udp.c.pkts_recv = 1;
    std::string body = encode({sample_tcp(), udp}, http::Encoding::json);
    REQUIRE(!body.empty());
    CHECK(body.back() == '\n');
    simdjson::dom::parser parser;
    simdjson::dom::element doc;
    simdjson::padded_string padded(body);
    REQUIRE_MESSAGE(parser.parse(padded).get(doc) == simdjson::SUCCESS, body);
    simdjson::dom::array conns = doc["conns"].get_array();
    REQUIRE(conns.size() == 2);
    simdjson::dom::object c = conns.at(0).get_object();
    CHECK(int64_t(c["pid"]) == 4242);
    CHECK(std::string_view(c["laddr"]["ip"]) == "10.1.2.3");
    CHECK(int64_t(c["laddr"]["port"]) == 40000);
    CHECK(std::string_view(c["laddr"]["containerId"]) == "");
    CHECK(std::string_view(c["family"]) == "v4");
    CHECK(std::string_view(c["type"]) == "tcp");
    CHECK(std::string_view(c["direction"]) == "outgoing");
    CHECK(std::string_view(c["isLocalPortEphemeral"]) == "ephemeralTrue");
    CHECK(std::string_view(c["lastBytesSent"]) == "5000000000");  // 64-bit: a string
    CHECK(std::string_view(c["lastPacketsSent"]) == "12");
    CHECK(int64_t(c["lastRetransmits"]) == 2);  // 32-bit: a number
    CHECK(int64_t(c["routeIdx"]) == -1);
    CHECK(c["ipTranslation"].is_null());
    CHECK(c["httpAggregations"].is_null());
    CHECK(c["protocol"]["stack"].get_array().size() == 0);
    CHECK(int64_t(c["tcpFailuresByErrCode"]["111"]) == 1);
    CHECK(c["dnsCountByRcode"].get_object().size() == 0);
    CHECK(bool(c["tcpEcnNegotiated"]) == true);
    CHECK(int64_t(c["lastTcpProbe0Count"]) == 0);
    CHECK(c.size() == 53);  // every field of Connection: numbers 1..64, 11 of them reserved
    simdjson::dom::object u = conns.at(1).get_object();
    CHECK(std::string_view(u["type"]) == "udp");
    CHECK(std::string_view(u["raddr"]["ip"]) == "0.0.0.0");  // raddr always present
    CHECK(std::string_view(u["direction"]) == "incoming");   // port 53: not ephemeral
    CHECK(std::string_view(u["isLocalPortEphemeral"]) == "ephemeralFalse");

    CHECK(std::string_view(doc["connTelemetryMap"]["conn_dropped"]) == "3");
    CHECK(std::string_view(doc["kernelHeaderFetchResult"]) == "FetchNotAttempted");
    CHECK(std::string_view(doc["CORETelemetryByAsset"]["tracer"]) == "SuccessDefaultBTF");
    CHECK(bool(doc["agentConfiguration"]["npmEnabled"]) == true);
    CHECK(std::string_view(
              doc["compilationTelemetryByAsset"]["tracer"]["runtimeCompilationResult"]) ==
          "NotAttempted");
    CHECK(doc["dns"].get_object().size() == 0);
    CHECK(doc["connTelemetry"].is_null());
    CHECK(doc["routes"].get_array().size() == 0);
}

TEST_CASE("network_tracer encoder: addresses, ephemeral ports and the UDP direction fix") {
    char out[64];
    nt_addr six{};
    six.a[0] = 0xfd;
    six.a[15] = 1;
    CHECK(std::string(out, format_ip(six, NT_FAMILY_V6, out)) == "fd00::1");
    CHECK(std::string(out, format_ip(v4(127, 0, 0, 1), NT_FAMILY_V4, out)) == "127.0.0.1");
    CHECK(std::string(out, format_ip(v4(255, 255, 10, 0), NT_FAMILY_V4, out)) == "255.255.10.0");

    PortRange r = range();
    CHECK(r.state(32768) == P::EphemeralPortState::ephemeralTrue);
    CHECK(r.state(60999) == P::EphemeralPortState::ephemeralTrue);
    CHECK(r.state(61000) == P::EphemeralPortState::ephemeralFalse);
    CHECK(PortRange{}.state(40000) == P::EphemeralPortState::ephemeralUnspecified);

    nt_conn c{};
    c.type = NT_TYPE_UDP;
    c.direction = NT_DIR_INCOMING;
    c.sport = 40000;  // ephemeral, bound by bind(): looks like a server, is a client
    c.dport = 53;
    CHECK(fixed_direction(c, false, r) == NT_DIR_OUTGOING);
    c.dport = 5353;  // remote, not below 1024: left as it is
    CHECK(fixed_direction(c, false, r) == NT_DIR_INCOMING);
    CHECK(fixed_direction(c, true, r) == NT_DIR_OUTGOING);  // intra-host: not ephemeral is enough
    c.sport = 8125;
    CHECK(fixed_direction(c, true, r) == NT_DIR_INCOMING);
    c.type = NT_TYPE_TCP;
    c.sport = 40000;
    CHECK(fixed_direction(c, true, r) == NT_DIR_INCOMING);  // TCP is never changed
}

namespace {

nt_closed closed_record(uint32_t slot_gen_0, uint64_t seen_bytes) {
    nt_closed r{};
    r.conn = sample_tcp();
    r.conn.c = {};
    r.conn.c.bytes_sent = 1000;
    r.conn.c.closed = 1;
    r.conn.c.established = 1;
    r.slot[0].gen = slot_gen_0;
    r.slot[0].seen.bytes_sent = seen_bytes;
    r.slot[0].seen.established = 1;
    return r;
}

}  // namespace

TEST_CASE("network_tracer clients: slots and generations, closed deltas, caps, expiry") {
    ClientTable t(/*max_clients=*/6, /*max_closed=*/2, /*max_stats=*/10);
    Client* a = t.get_or_create("a", 1000);
    REQUIRE(a != nullptr);
    CHECK(t.get_or_create("a", 5000) == a);  // the same client, its creation time kept
    CHECK(a->last_fetch_ms == 1000);
    std::vector<Client*> all{a};
    for (std::string id : {"b", "c", "d", "e", "f"}) all.push_back(t.get_or_create(id, 1000));
    CHECK(t.get_or_create("g", 1000) == nullptr);  // max_clients
    CHECK(t.refused() == 1);
    for (uint32_t s = 0; s < NT_MAX_CLIENTS; ++s) CHECK(all[s]->slot == s);
    CHECK(all[4]->slot == NT_NO_SLOT);  // beyond the kernel's slots
    CHECK(all[0]->gen != all[1]->gen);

    // The delta of a closed connection: final counters minus the client's own baseline.
    nt_closed mine = closed_record(a->gen, 600);
    nt_counters d = ClientTable::closed_delta(mine, *a);
    CHECK(d.bytes_sent == 400);
    CHECK(d.established == 0);  // already reported
    CHECK(d.closed == 1);
    // A baseline a previous owner of the slot left is not this client's.
    nt_closed stale = closed_record(a->gen + 100, 600);
    CHECK(ClientTable::closed_delta(stale, *a).bytes_sent == 1000);
    CHECK(ClientTable::closed_delta(mine, *all[4]).bytes_sent == 1000);  // no slot: everything

    // Buffered for every client, at most max_closed each; the rest dropped and counted.
    a->held = 3;
    t.add_closed(mine);
    CHECK(a->held == 2);  // its baseline went with the socket
    t.add_closed(mine);
    t.add_closed(mine);
    CHECK(a->closed.size() == 2);
    CHECK(a->closed[0].c.bytes_sent == 400);
    CHECK(all[4]->closed.size() == 2);
    CHECK(t.closed_dropped() == 6);  // the third, for each of the 6 clients
    CHECK(t.closed_buffered() == 12);
    // A connection that closed with nothing new for a client is not buffered for it.
    nt_closed quiet = closed_record(all[1]->gen, 1000);
    quiet.slot[1] = quiet.slot[0];
    quiet.slot[1].seen.closed = 1;
    quiet.slot[0] = {};
    size_t before = all[1]->closed.size();
    t.take_closed(*all[1], before);
    t.add_closed(quiet);
    CHECK(all[1]->closed.empty());

    // The stats cap: what a poll may still create.
    a->held = 4;
    CHECK(t.budget(*a) == 6);
    a->held = 12;
    CHECK(t.budget(*a) == 0);

    // Expiry: clients idle past it go (not one that streams), their slots are reused with a
    // new generation.
    all[2]->streaming = true;
    all[0]->last_fetch_ms = 9000;
    const uint32_t old_gen = all[1]->gen;  // all[1] is freed by the expiry
    CHECK(t.next_expiry_ms(2000) == 3001);
    CHECK(t.expire(4000, 2000) == 4);
    CHECK(t.size() == 2);
    CHECK(t.find("a") == a);
    CHECK(t.find("c") != nullptr);
    Client* h = t.get_or_create("h", 4000);
    REQUIRE(h != nullptr);
    CHECK(h->slot == 1);
    CHECK(h->gen != old_gen);
    CHECK(t.expired() == 4);
}

TEST_CASE("network_tracer clients: a client made while every slot was taken gets a freed one") {
    ClientTable t(/*max_clients=*/8, /*max_closed=*/4, /*max_stats=*/10);
    std::vector<Client*> all;
    for (std::string id : {"a", "b", "c", "d", "e", "f"}) all.push_back(t.get_or_create(id, 1000));
    REQUIRE(all[4]->slot == NT_NO_SLOT);
    REQUIRE(all[5]->slot == NT_NO_SLOT);
    // "b" and "c" stop polling; "e" is in the middle of a poll (which runs without a slot).
    for (Client* c : {all[0], all[3], all[4], all[5]}) c->last_fetch_ms = 5000;
    all[4]->streaming = true;
    std::set<uint32_t> gens;
    for (Client* c : all) gens.insert(c->gen);
    CHECK(t.expire(4000, 2000) == 2);
    CHECK(all[4]->slot == NT_NO_SLOT);  // streaming: not now
    CHECK(all[5]->slot < NT_MAX_CLIENTS);
    CHECK_FALSE(gens.contains(all[5]->gen));  // a new generation: no baseline of another client
    CHECK(all[5]->held == 0);
    // Its closed connections from now on are deltas against its own baselines.
    nt_closed r{};
    r.conn.c.bytes_sent = 1000;
    r.slot[all[5]->slot].gen = all[5]->gen;
    r.slot[all[5]->slot].seen.bytes_sent = 300;
    CHECK(ClientTable::closed_delta(r, *all[5]).bytes_sent == 700);
    // Once its poll is over, the next expiry pass gives "e" the last free slot.
    all[4]->streaming = false;
    CHECK(t.expire(4000, 2000) == 0);
    CHECK(all[4]->slot < NT_MAX_CLIENTS);
    CHECK(all[4]->slot != all[5]->slot);
    CHECK(t.slots_given() == 2);
}

TEST_CASE("network_tracer clients: a client without a slot keeps its baselines in user space") {
    ClientTable t(/*max_clients=*/8, /*max_closed=*/8, /*max_stats=*/2);
    std::vector<Client*> all;
    for (std::string id : {"a", "b", "c", "d", "e"}) all.push_back(t.get_or_create(id, 1000));
    Client& e = *all[4];
    REQUIRE(e.slot == NT_NO_SLOT);
    auto rec = [](uint64_t cookie, uint64_t sent) {
        nt_conn c{};
        c.cookie = cookie;
        c.c.bytes_sent = sent;
        c.c.pkts_sent = sent / 100;
        c.c.established = 1;
        return c;
    };
    // First poll: everything since tracking began, baselines made up to the cap (2).
    t.begin_user_poll(e);
    REQUIRE(e.ub != nullptr);
    nt_conn c1 = rec(1, 500), c2 = rec(2, 700), c3 = rec(3, 900);
    CHECK(ClientTable::user_delta(e, c1));
    CHECK(c1.c.bytes_sent == 500);
    CHECK(c1.c.established == 1);
    CHECK(ClientTable::user_delta(e, c2));
    CHECK(ClientTable::user_delta(e, c3));  // beyond the cap: in full, flagged, counted
    CHECK((c3.flags & NT_C_NO_BASELINE) != 0);
    CHECK(e.ub->dropped == 1);
    ClientTable::end_user_poll(e, true, true);
    CHECK(e.ub->map.size() == 2);
    // Second poll: deltas; a connection that did not move is left out.
    t.begin_user_poll(e);
    CHECK(e.ub->dropped == 0);
    nt_conn d1 = rec(1, 800), d2 = rec(2, 700);
    CHECK(ClientTable::user_delta(e, d1));
    CHECK(d1.c.bytes_sent == 300);
    CHECK(d1.c.pkts_sent == 3);
    CHECK(d1.c.established == 0);  // reported by the first poll
    CHECK_FALSE(ClientTable::user_delta(e, d2));
    // Socket 1 closes: its closed delta is against this client's baseline, which goes with it.
    nt_closed cl{};
    cl.conn = rec(1, 1000);
    cl.conn.c.closed = 1;
    t.add_closed(cl);
    REQUIRE(e.closed.size() == 1);
    CHECK(e.closed[0].c.bytes_sent == 200);
    CHECK(e.closed[0].c.closed == 1);
    CHECK_FALSE(e.ub->map.contains(1));
    ClientTable::end_user_poll(e, true, true);
    CHECK(e.ub->map.size() == 1);  // socket 2, reported nothing but seen by the poll
    // A poll that did not see a socket (it is gone without a closed record) sweeps its baseline;
    // one that could not report everything (swept = false) keeps them.
    t.begin_user_poll(e);
    ClientTable::end_user_poll(e, true, false);
    CHECK(e.ub->map.size() == 1);
    t.begin_user_poll(e);
    ClientTable::end_user_poll(e, true, true);
    CHECK(e.ub->map.empty());

    // A slot is freed: the first poll in it still takes deltas against the baselines here (the
    // kernel has none for its new generation yet and sends everything), then they are dropped.
    t.begin_user_poll(e);
    nt_conn f = rec(9, 400);
    CHECK(ClientTable::user_delta(e, f));
    ClientTable::end_user_poll(e, true, true);
    for (Client* c : {all[0], all[1]}) c->last_fetch_ms = 0;
    for (Client* c : {all[2], all[3], all[4]}) c->last_fetch_ms = 5000;
    CHECK(t.expire(4000, 2000) == 2);
    REQUIRE(e.slot < NT_MAX_CLIENTS);
    t.begin_user_poll(e);
    CHECK(e.ub->migrating);
    nt_conn g = rec(9, 650), h = rec(10, 50);
    CHECK(ClientTable::user_delta(e, g));
    CHECK(g.c.bytes_sent == 250);
    CHECK(ClientTable::user_delta(e, h));  // new to it: in full, its baseline in the kernel now
    CHECK(h.c.bytes_sent == 50);
    CHECK(e.ub->map.size() == 1);
    ClientTable::end_user_poll(e, false, true);  // even abandoned: the kernel has them now
    CHECK(e.ub == nullptr);
    t.begin_user_poll(e);
    CHECK(e.ub == nullptr);
    // A client with a slot from the start never gets user baselines.
    t.begin_user_poll(*all[2]);
    CHECK(all[2]->ub == nullptr);
}

TEST_CASE("network_tracer: the payload's closed connections make peers intra-host") {
    std::vector<nt_conn> closed{sample_tcp()};
    EndpointSet s;
    s.build(closed);
    CHECK(s.contains(v4(10, 1, 2, 3), 40000, NT_TYPE_TCP));
    CHECK_FALSE(s.contains(v4(10, 1, 2, 3), 40000, NT_TYPE_UDP));
    CHECK_FALSE(s.contains(v4(10, 1, 2, 4), 8080, NT_TYPE_TCP));
}

namespace {

struct Owner : PollOwner {
    int trailers = 0;
    int done = 0;
    size_t connections = 0;
    bool complete = false;
    TelemetryEntry tel[1] = {{"conns_bpf_map_size", 5}};
    Trailer poll_trailer(Client&) override {
        ++trailers;
        return Trailer{.telemetry = tel};
    }
    void poll_done(Client&, size_t n, bool c) override {
        ++done;
        connections = n;
        complete = c;
    }
};

}  // namespace

TEST_CASE("network_tracer stream: closed first, then iterator bytes cut anywhere, then the rest") {
    int p[2];
    REQUIRE(::pipe2(p, O_CLOEXEC) == 0);
    // Three open connections written in pieces that split records (7 bytes, then the rest).
    std::vector<nt_conn> open(3, sample_tcp());
    for (size_t i = 0; i < open.size(); ++i) open[i].pid = 100 + static_cast<uint32_t>(i);
    std::string bytes(reinterpret_cast<const char*>(open.data()), open.size() * sizeof(nt_conn));
    REQUIRE(::write(p[1], bytes.data(), 7) == 7);
    REQUIRE(::write(p[1], bytes.data() + 7, bytes.size() - 7) ==
            static_cast<ssize_t>(bytes.size() - 7));
    ::close(p[1]);

    Owner owner;
    Client c;
    c.id = "x";
    nt_conn closed = sample_tcp();
    closed.pid = 7;
    c.closed.push_back(closed);
    ConnectionsStream s(owner, range());
    s.start(c, p[0], ConnectionsStream::Mode::connections, http::Encoding::protobuf, false);
    CHECK(s.busy());
    http::Buffer out;
    int calls = 0;
    while (!s.produce(out, 64)) ++calls;  // tiny budget: several pieces
    CHECK(calls >= 1);
    CHECK_FALSE(s.busy());
    CHECK(owner.trailers == 1);
    CHECK(owner.done == 1);
    CHECK(owner.complete);
    CHECK(owner.connections == 4);

    Fields top = parse(out.view());
    std::vector<uint64_t> pids;
    auto [b, e] = top.bytes.equal_range(P::Connections::conns);
    for (auto it = b; it != e; ++it) pids.push_back(parse(it->second).varint(P::Connection::pid));
    CHECK(pids == std::vector<uint64_t>{7, 100, 101, 102});
    CHECK(top.has(P::Connections::connTelemetryMap));
}
