// messages.h — the field numbers of every upstream protobuf message ringprobe reads or writes, one
// namespace per message, named exactly as upstream (package in the comment). Encoders and decoders
// use these names only; no number is written anywhere else.
//
// Sources: DataDog/agent-payload proto/process/*.proto and DataDog/datadog-agent pkg/proto
// (field numbers checked against ../shared/REFERENCE.md and reference/*.md of the project).
#pragma once

#include <protozero/types.hpp>

namespace rp::proto {

using Tag = protozero::pbf_tag_type;

// A proto3 map<K, V> travels as repeated entry messages {K key = 1; V value = 2;}.
namespace MapEntry {
inline constexpr Tag key = 1;
inline constexpr Tag value = 2;
}  // namespace MapEntry

// datadog.process.ProcessStatRequest (datadog-agent pkg/proto/datadog/process/process.proto).
namespace ProcessStatRequest {
inline constexpr Tag pids = 1;  // repeated int32 (packed or not)
}  // namespace ProcessStatRequest

// datadog.process_agent.ProcStatsWithPerm (agent-payload proto/process/agent.proto).
namespace ProcStatsWithPerm {
inline constexpr Tag openFDCount = 1;  // int32
inline constexpr Tag readCount = 2;    // int64
inline constexpr Tag writeCount = 3;   // int64
inline constexpr Tag readBytes = 4;    // int64
inline constexpr Tag writeBytes = 5;   // int64
}  // namespace ProcStatsWithPerm

// datadog.process_agent.ProcStatsWithPermByPID (agent-payload proto/process/agent.proto).
namespace ProcStatsWithPermByPID {
inline constexpr Tag statsByPID = 1;  // map<int32, ProcStatsWithPerm>
}  // namespace ProcStatsWithPermByPID

// --- network_tracer: datadog.process_agent.Connections and what it holds (agent-payload
// proto/process/connections.proto; field table in reference/network_tracer.md §2). Fields 53-64 of
// Connection and 13 of Connections are the newest (2024-2026); decoders that predate them skip
// them in protobuf.

// datadog.process_agent.Connections.
namespace Connections {
inline constexpr Tag conns = 1;                        // repeated Connection
inline constexpr Tag dns = 2;                          // map<string, DNSEntry>
inline constexpr Tag connTelemetry = 3;                // ConnectionsTelemetry (legacy)
inline constexpr Tag domains = 4;                      // repeated string
inline constexpr Tag routes = 5;                       // repeated Route
inline constexpr Tag compilationTelemetryByAsset = 6;  // map<string, RuntimeCompilationTelemetry>
inline constexpr Tag agentConfiguration = 7;           // AgentConfiguration
inline constexpr Tag tags = 8;                         // repeated string
inline constexpr Tag connTelemetryMap = 9;             // map<string, int64>
inline constexpr Tag kernelHeaderFetchResult = 10;     // enum KernelHeaderFetchResult
inline constexpr Tag CORETelemetryByAsset = 11;        // map<string, COREResult>
inline constexpr Tag PrebuiltEBPFAssets = 12;          // repeated string
inline constexpr Tag resolvConfs = 13;                 // repeated string
}  // namespace Connections

// datadog.process_agent.Connection.
namespace Connection {
inline constexpr Tag pid = 1;                                 // int32
inline constexpr Tag laddr = 5;                               // Addr
inline constexpr Tag raddr = 6;                               // Addr
inline constexpr Tag family = 10;                             // enum ConnectionFamily
inline constexpr Tag type = 11;                               // enum ConnectionType
inline constexpr Tag isLocalPortEphemeral = 41;               // enum EphemeralPortState
inline constexpr Tag lastBytesSent = 16;                      // uint64
inline constexpr Tag lastBytesReceived = 17;                  // uint64
inline constexpr Tag lastRetransmits = 18;                    // uint32
inline constexpr Tag direction = 19;                          // enum ConnectionDirection
inline constexpr Tag lastPacketsSent = 38;                    // uint64
inline constexpr Tag lastPacketsReceived = 39;                // uint64
inline constexpr Tag protocol = 48;                           // ProtocolStack
inline constexpr Tag netNS = 20;                              // uint32
inline constexpr Tag remoteNetworkId = 32;                    // string
inline constexpr Tag ipTranslation = 21;                      // IPTranslation
inline constexpr Tag rtt = 22;                                // uint32
inline constexpr Tag rttVar = 23;                             // uint32
inline constexpr Tag intraHost = 24;                          // bool
inline constexpr Tag dnsSuccessfulResponses = 25;             // uint32
inline constexpr Tag dnsFailedResponses = 26;                 // uint32
inline constexpr Tag dnsTimeouts = 27;                        // uint32
inline constexpr Tag dnsSuccessLatencySum = 28;               // uint64
inline constexpr Tag dnsFailureLatencySum = 29;               // uint64
inline constexpr Tag dnsCountByRcode = 33;                    // map<uint32, uint32>
inline constexpr Tag lastTcpEstablished = 30;                 // uint32
inline constexpr Tag lastTcpClosed = 31;                      // uint32
inline constexpr Tag dnsStatsByDomain = 34;                   // map<int32, DNSStats>
inline constexpr Tag dnsStatsByDomainByQueryType = 42;        // map<int32, DNSStatsByQueryType>
inline constexpr Tag dnsStatsByDomainOffsetByQueryType = 43;  // map<int32, DNSStatsByQueryType>
inline constexpr Tag routeIdx = 36;                           // int32, -1 when there is no route
inline constexpr Tag routeTargetIdx = 40;                     // int32
inline constexpr Tag httpAggregations = 37;                   // bytes
inline constexpr Tag tags = 44;                               // repeated uint32, packed = false
inline constexpr Tag tagsIdx = 45;                            // int32
inline constexpr Tag tagsChecksum = 47;                       // uint32
inline constexpr Tag stateIndex = 46;                         // uint32
inline constexpr Tag dataStreamsAggregations = 49;            // bytes
inline constexpr Tag http2Aggregations = 50;                  // bytes
inline constexpr Tag databaseAggregations = 51;               // bytes
inline constexpr Tag tcpFailuresByErrCode = 52;               // map<uint32, uint32>
inline constexpr Tag remoteEcsTask = 53;                      // string
inline constexpr Tag localContainerTagsIndex = 54;            // int32
inline constexpr Tag systemProbeConn = 55;                    // bool
inline constexpr Tag resolvConfIdx = 56;                      // int32
inline constexpr Tag lastTcpRtoCount = 57;                    // uint32
inline constexpr Tag lastTcpRecoveryCount = 58;               // uint32
inline constexpr Tag lastTcpReordSeen = 59;                   // uint32
inline constexpr Tag lastTcpRcvOooPack = 60;                  // uint32
inline constexpr Tag lastTcpDeliveredCe = 61;                 // uint32
inline constexpr Tag lastTcpProbe0Count = 62;                 // uint32
inline constexpr Tag tcpEcnNegotiated = 63;                   // bool
inline constexpr Tag remoteServiceTagsIdx = 64;               // int32
}  // namespace Connection

// datadog.process_agent.Addr.
namespace Addr {
inline constexpr Tag ip = 2;           // string
inline constexpr Tag port = 3;         // int32
inline constexpr Tag containerId = 5;  // string
inline constexpr Tag hostName = 7;     // string
}  // namespace Addr

// datadog.process_agent.ProtocolStack.
namespace ProtocolStack {
inline constexpr Tag stack = 1;  // repeated enum ProtocolType, packed = false
}  // namespace ProtocolStack

// datadog.process_agent.IPTranslation.
namespace IPTranslation {
inline constexpr Tag replSrcIP = 1;    // string
inline constexpr Tag replDstIP = 2;    // string
inline constexpr Tag replSrcPort = 3;  // int32
inline constexpr Tag replDstPort = 4;  // int32
}  // namespace IPTranslation

// datadog.process_agent.DNSEntry (the value of Connections.dns).
namespace DNSEntry {
inline constexpr Tag names = 1;  // repeated string
}  // namespace DNSEntry

// datadog.process_agent.DNSStats.
namespace DNSStats {
inline constexpr Tag dnsTimeouts = 1;           // uint32
inline constexpr Tag dnsSuccessLatencySum = 2;  // uint64, microseconds
inline constexpr Tag dnsFailureLatencySum = 3;  // uint64, microseconds
inline constexpr Tag dnsCountByRcode = 4;       // map<uint32, uint32>
}  // namespace DNSStats

// datadog.process_agent.DNSStatsByQueryType.
namespace DNSStatsByQueryType {
inline constexpr Tag dnsStatsByQueryType = 1;  // map<int32, DNSStats>
}  // namespace DNSStatsByQueryType

// datadog.process_agent.RuntimeCompilationTelemetry.
namespace RuntimeCompilationTelemetry {
inline constexpr Tag runtimeCompilationEnabled = 1;   // bool
inline constexpr Tag runtimeCompilationResult = 2;    // enum RuntimeCompilationResult
inline constexpr Tag runtimeCompilationDuration = 3;  // int64, ns
}  // namespace RuntimeCompilationTelemetry

// datadog.process_agent.AgentConfiguration.
namespace AgentConfiguration {
inline constexpr Tag npmEnabled = 1;                  // bool
inline constexpr Tag usmEnabled = 2;                  // bool
inline constexpr Tag dsmEnabled = 3;                  // bool
inline constexpr Tag ccmEnabled = 4;                  // bool
inline constexpr Tag csmEnabled = 5;                  // bool
inline constexpr Tag eudmEnabled = 6;                 // bool
inline constexpr Tag discoveryServiceMapEnabled = 7;  // bool
}  // namespace AgentConfiguration

// Enum values used (agent-payload connections.proto and agent.proto).
namespace ConnectionFamily {
inline constexpr int v4 = 0, v6 = 1;
}
namespace ConnectionType {
inline constexpr int tcp = 0, udp = 1;
}
namespace ConnectionDirection {
inline constexpr int unspecified = 0, incoming = 1, outgoing = 2, local = 3, none = 4;
}
namespace EphemeralPortState {
inline constexpr int ephemeralUnspecified = 0, ephemeralTrue = 1, ephemeralFalse = 2;
}
namespace RuntimeCompilationResult {
inline constexpr int NotAttempted = 0;
}
namespace KernelHeaderFetchResult {
inline constexpr int FetchNotAttempted = 0;
}
namespace COREResult {
inline constexpr int SuccessCustomBTF = 0, SuccessEmbeddedBTF = 1, SuccessDefaultBTF = 2;
}

// --- language_detection: datadog.languagedetection (datadog-agent
// pkg/proto/datadog/languagedetection/api.proto; reference/modules.md §7).

// datadog.languagedetection.DetectLanguageRequest.
namespace DetectLanguageRequest {
inline constexpr Tag processes = 1;  // repeated Process
}  // namespace DetectLanguageRequest

// datadog.languagedetection.Process.
namespace Process {
inline constexpr Tag pid = 1;      // int32
inline constexpr Tag command = 2;  // string
inline constexpr Tag cmdline = 3;  // repeated string
}  // namespace Process

// datadog.languagedetection.DetectLanguageResponse.
namespace DetectLanguageResponse {
inline constexpr Tag languages = 1;  // repeated Language
}  // namespace DetectLanguageResponse

// datadog.languagedetection.Language.
namespace Language {
inline constexpr Tag name = 1;     // string
inline constexpr Tag version = 2;  // string
}  // namespace Language

}  // namespace rp::proto
