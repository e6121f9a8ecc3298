// connections_pb.go — model.Connections (GET /network_tracer/connections) written by hand the way
// protoc-gen-gogo writes it: struct tags that gogo's reflection-based proto.Unmarshal and jsonpb
// read exactly like generated code, enums registered under their proto names (jsonpb reads them
// by name). Fields, numbers and types: agent-payload proto/process/connections.proto (HEAD, as
// the field table of reference/network_tracer.md §2 lists it: Connection up to 64,
// Connections.resolvConfs, AgentConfiguration up to 7). README.md says why these are not
// generated.
package agent

import "github.com/gogo/protobuf/proto"

type ConnectionFamily int32
type ConnectionType int32
type ConnectionDirection int32
type EphemeralPortState int32
type ProtocolType int32
type RuntimeCompilationResult int32
type KernelHeaderFetchResult int32
type COREResult int32

var (
	connectionFamilyName    = map[int32]string{0: "v4", 1: "v6"}
	connectionTypeName      = map[int32]string{0: "tcp", 1: "udp"}
	connectionDirectionName = map[int32]string{0: "unspecified", 1: "incoming", 2: "outgoing",
		3: "local", 4: "none"}
	ephemeralPortStateName = map[int32]string{0: "ephemeralUnspecified", 1: "ephemeralTrue",
		2: "ephemeralFalse"}
	protocolTypeName = map[int32]string{0: "protocolUnclassified", 1: "protocolUnknown",
		2: "protocolHTTP", 3: "protocolHTTP2", 4: "protocolTLS", 5: "protocolKafka",
		6: "protocolMongo", 7: "protocolPostgres", 8: "protocolAMQP", 9: "protocolRedis",
		10: "protocolMySQL", 11: "protocolGRPC"}
	runtimeCompilationResultName = map[int32]string{0: "NotAttempted", 1: "CompilationSuccess",
		2: "KernelVersionErr", 3: "VerificationError", 4: "OutputDirErr", 5: "OutputFileErr",
		6: "NewCompilerErr", 7: "CompilationErr", 8: "ResultReadErr", 9: "HeaderFetchErr",
		10: "CompiledOutputFound", 11: "InputHashError"}
	kernelHeaderFetchResultName = map[int32]string{0: "FetchNotAttempted",
		1: "CustomHeadersFound", 2: "DefaultHeadersFound", 3: "SysfsHeadersFound",
		4: "DownloadedHeadersFound", 5: "DownloadSuccess", 6: "HostVersionErr",
		7: "DownloadFailure", 8: "ValidationFailure", 9: "ReposDirAccessFailure",
		10: "HeadersNotFoundDownloadDisabled"}
	coreResultName = map[int32]string{0: "SuccessCustomBTF", 1: "SuccessEmbeddedBTF",
		2: "SuccessDefaultBTF", 3: "BtfNotFound", 4: "AssetReadError", 5: "VerifierError",
		6: "LoaderError", 7: "SuccessRemoteConfigBTF"}
)

func values(names map[int32]string) map[string]int32 {
	v := make(map[string]int32, len(names))
	for k, n := range names {
		v[n] = k
	}
	return v
}

func init() {
	for name, names := range map[string]map[int32]string{
		"datadog.process_agent.ConnectionFamily":         connectionFamilyName,
		"datadog.process_agent.ConnectionType":           connectionTypeName,
		"datadog.process_agent.ConnectionDirection":      connectionDirectionName,
		"datadog.process_agent.EphemeralPortState":       ephemeralPortStateName,
		"datadog.process_agent.ProtocolType":             protocolTypeName,
		"datadog.process_agent.RuntimeCompilationResult": runtimeCompilationResultName,
		"datadog.process_agent.KernelHeaderFetchResult":  kernelHeaderFetchResultName,
		"datadog.process_agent.COREResult":               coreResultName,
	} {
		proto.RegisterEnum(name, names, values(names))
	}
}

func (x ConnectionFamily) String() string { return proto.EnumName(connectionFamilyName, int32(x)) }
func (x ConnectionType) String() string   { return proto.EnumName(connectionTypeName, int32(x)) }
func (x ConnectionDirection) String() string {
	return proto.EnumName(connectionDirectionName, int32(x))
}
func (x EphemeralPortState) String() string { return proto.EnumName(ephemeralPortStateName, int32(x)) }
func (x ProtocolType) String() string       { return proto.EnumName(protocolTypeName, int32(x)) }
func (x RuntimeCompilationResult) String() string {
	return proto.EnumName(runtimeCompilationResultName, int32(x))
}
func (x KernelHeaderFetchResult) String() string {
	return proto.EnumName(kernelHeaderFetchResultName, int32(x))
}
func (x COREResult) String() string { return proto.EnumName(coreResultName, int32(x)) }

// Connections is what system-probe answers on /network_tracer/connections.
type Connections struct {
	Conns                       []*Connection                           `protobuf:"bytes,1,rep,name=conns,proto3" json:"conns,omitempty"`
	Dns                         map[string]*DNSEntry                    `protobuf:"bytes,2,rep,name=dns,proto3" json:"dns,omitempty" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3"`
	ConnTelemetry               *ConnectionsTelemetry                   `protobuf:"bytes,3,opt,name=connTelemetry,proto3" json:"connTelemetry,omitempty"`
	Domains                     []string                                `protobuf:"bytes,4,rep,name=domains,proto3" json:"domains,omitempty"`
	Routes                      []*Route                                `protobuf:"bytes,5,rep,name=routes,proto3" json:"routes,omitempty"`
	CompilationTelemetryByAsset map[string]*RuntimeCompilationTelemetry `protobuf:"bytes,6,rep,name=compilationTelemetryByAsset,proto3" json:"compilationTelemetryByAsset,omitempty" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3"`
	AgentConfiguration          *AgentConfiguration                     `protobuf:"bytes,7,opt,name=agentConfiguration,proto3" json:"agentConfiguration,omitempty"`
	Tags                        []string                                `protobuf:"bytes,8,rep,name=tags,proto3" json:"tags,omitempty"`
	ConnTelemetryMap            map[string]int64                        `protobuf:"bytes,9,rep,name=connTelemetryMap,proto3" json:"connTelemetryMap,omitempty" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"varint,2,opt,name=value,proto3"`
	KernelHeaderFetchResult     KernelHeaderFetchResult                 `protobuf:"varint,10,opt,name=kernelHeaderFetchResult,proto3,enum=datadog.process_agent.KernelHeaderFetchResult" json:"kernelHeaderFetchResult,omitempty"`
	CORETelemetryByAsset        map[string]COREResult                   `protobuf:"bytes,11,rep,name=CORETelemetryByAsset,proto3" json:"CORETelemetryByAsset,omitempty" protobuf_key:"bytes,1,opt,name=key,proto3" protobuf_val:"varint,2,opt,name=value,proto3,enum=datadog.process_agent.COREResult"`
	PrebuiltEBPFAssets          []string                                `protobuf:"bytes,12,rep,name=PrebuiltEBPFAssets,proto3" json:"PrebuiltEBPFAssets,omitempty"`
	ResolvConfs                 []string                                `protobuf:"bytes,13,rep,name=resolvConfs,proto3" json:"resolvConfs,omitempty"`
}

func (m *Connections) Reset()         { *m = Connections{} }
func (m *Connections) String() string { return proto.CompactTextString(m) }
func (*Connections) ProtoMessage()    {}

// Connection is one end of a connection as seen from this host.
type Connection struct {
	Pid                               int32                          `protobuf:"varint,1,opt,name=pid,proto3" json:"pid,omitempty"`
	Laddr                             *Addr                          `protobuf:"bytes,5,opt,name=laddr,proto3" json:"laddr,omitempty"`
	Raddr                             *Addr                          `protobuf:"bytes,6,opt,name=raddr,proto3" json:"raddr,omitempty"`
	Family                            ConnectionFamily               `protobuf:"varint,10,opt,name=family,proto3,enum=datadog.process_agent.ConnectionFamily" json:"family,omitempty"`
	Type                              ConnectionType                 `protobuf:"varint,11,opt,name=type,proto3,enum=datadog.process_agent.ConnectionType" json:"type,omitempty"`
	IsLocalPortEphemeral              EphemeralPortState             `protobuf:"varint,41,opt,name=isLocalPortEphemeral,proto3,enum=datadog.process_agent.EphemeralPortState" json:"isLocalPortEphemeral,omitempty"`
	LastBytesSent                     uint64                         `protobuf:"varint,16,opt,name=lastBytesSent,proto3" json:"lastBytesSent,omitempty"`
	LastBytesReceived                 uint64                         `protobuf:"varint,17,opt,name=lastBytesReceived,proto3" json:"lastBytesReceived,omitempty"`
	LastRetransmits                   uint32                         `protobuf:"varint,18,opt,name=lastRetransmits,proto3" json:"lastRetransmits,omitempty"`
	Direction                         ConnectionDirection            `protobuf:"varint,19,opt,name=direction,proto3,enum=datadog.process_agent.ConnectionDirection" json:"direction,omitempty"`
	LastPacketsSent                   uint64                         `protobuf:"varint,38,opt,name=lastPacketsSent,proto3" json:"lastPacketsSent,omitempty"`
	LastPacketsReceived               uint64                         `protobuf:"varint,39,opt,name=lastPacketsReceived,proto3" json:"lastPacketsReceived,omitempty"`
	Protocol                          *ProtocolStack                 `protobuf:"bytes,48,opt,name=protocol,proto3" json:"protocol,omitempty"`
	NetNS                             uint32                         `protobuf:"varint,20,opt,name=netNS,proto3" json:"netNS,omitempty"`
	RemoteNetworkId                   string                         `protobuf:"bytes,32,opt,name=remoteNetworkId,proto3" json:"remoteNetworkId,omitempty"`
	IpTranslation                     *IPTranslation                 `protobuf:"bytes,21,opt,name=ipTranslation,proto3" json:"ipTranslation,omitempty"`
	Rtt                               uint32                         `protobuf:"varint,22,opt,name=rtt,proto3" json:"rtt,omitempty"`
	RttVar                            uint32                         `protobuf:"varint,23,opt,name=rttVar,proto3" json:"rttVar,omitempty"`
	IntraHost                         bool                           `protobuf:"varint,24,opt,name=intraHost,proto3" json:"intraHost,omitempty"`
	DnsSuccessfulResponses            uint32                         `protobuf:"varint,25,opt,name=dnsSuccessfulResponses,proto3" json:"dnsSuccessfulResponses,omitempty"`
	DnsFailedResponses                uint32                         `protobuf:"varint,26,opt,name=dnsFailedResponses,proto3" json:"dnsFailedResponses,omitempty"`
	DnsTimeouts                       uint32                         `protobuf:"varint,27,opt,name=dnsTimeouts,proto3" json:"dnsTimeouts,omitempty"`
	DnsSuccessLatencySum              uint64                         `protobuf:"varint,28,opt,name=dnsSuccessLatencySum,proto3" json:"dnsSuccessLatencySum,omitempty"`
	DnsFailureLatencySum              uint64                         `protobuf:"varint,29,opt,name=dnsFailureLatencySum,proto3" json:"dnsFailureLatencySum,omitempty"`
	DnsCountByRcode                   map[uint32]uint32              `protobuf:"bytes,33,rep,name=dnsCountByRcode,proto3" json:"dnsCountByRcode,omitempty" protobuf_key:"varint,1,opt,name=key,proto3" protobuf_val:"varint,2,opt,name=value,proto3"`
	LastTcpEstablished                uint32                         `protobuf:"varint,30,opt,name=lastTcpEstablished,proto3" json:"lastTcpEstablished,omitempty"`
	LastTcpClosed                     uint32                         `protobuf:"varint,31,opt,name=lastTcpClosed,proto3" json:"lastTcpClosed,omitempty"`
	DnsStatsByDomain                  map[int32]*DNSStats            `protobuf:"bytes,34,rep,name=dnsStatsByDomain,proto3" json:"dnsStatsByDomain,omitempty" protobuf_key:"varint,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3"`
	DnsStatsByDomainByQueryType       map[int32]*DNSStatsByQueryType `protobuf:"bytes,42,rep,name=dnsStatsByDomainByQueryType,proto3" json:"dnsStatsByDomainByQueryType,omitempty" protobuf_key:"varint,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3"`
	DnsStatsByDomainOffsetByQueryType map[int32]*DNSStatsByQueryType `protobuf:"bytes,43,rep,name=dnsStatsByDomainOffsetByQueryType,proto3" json:"dnsStatsByDomainOffsetByQueryType,omitempty" protobuf_key:"varint,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3"`
	RouteIdx                          int32                          `protobuf:"varint,36,opt,name=routeIdx,proto3" json:"routeIdx,omitempty"`
	RouteTargetIdx                    int32                          `protobuf:"varint,40,opt,name=routeTargetIdx,proto3" json:"routeTargetIdx,omitempty"`
	HttpAggregations                  []byte                         `protobuf:"bytes,37,opt,name=httpAggregations,proto3" json:"httpAggregations,omitempty"`
	Tags                              []uint32                       `protobuf:"varint,44,rep,name=tags,proto3" json:"tags,omitempty"`
	TagsIdx                           int32                          `protobuf:"varint,45,opt,name=tagsIdx,proto3" json:"tagsIdx,omitempty"`
	TagsChecksum                      uint32                         `protobuf:"varint,47,opt,name=tagsChecksum,proto3" json:"tagsChecksum,omitempty"`
	StateIndex                        uint32                         `protobuf:"varint,46,opt,name=stateIndex,proto3" json:"stateIndex,omitempty"`
	DataStreamsAggregations           []byte                         `protobuf:"bytes,49,opt,name=dataStreamsAggregations,proto3" json:"dataStreamsAggregations,omitempty"`
	Http2Aggregations                 []byte                         `protobuf:"bytes,50,opt,name=http2Aggregations,proto3" json:"http2Aggregations,omitempty"`
	DatabaseAggregations              []byte                         `protobuf:"bytes,51,opt,name=databaseAggregations,proto3" json:"databaseAggregations,omitempty"`
	TcpFailuresByErrCode              map[uint32]uint32              `protobuf:"bytes,52,rep,name=tcpFailuresByErrCode,proto3" json:"tcpFailuresByErrCode,omitempty" protobuf_key:"varint,1,opt,name=key,proto3" protobuf_val:"varint,2,opt,name=value,proto3"`
	RemoteEcsTask                     string                         `protobuf:"bytes,53,opt,name=remoteEcsTask,proto3" json:"remoteEcsTask,omitempty"`
	LocalContainerTagsIndex           int32                          `protobuf:"varint,54,opt,name=localContainerTagsIndex,proto3" json:"localContainerTagsIndex,omitempty"`
	SystemProbeConn                   bool                           `protobuf:"varint,55,opt,name=systemProbeConn,proto3" json:"systemProbeConn,omitempty"`
	ResolvConfIdx                     int32                          `protobuf:"varint,56,opt,name=resolvConfIdx,proto3" json:"resolvConfIdx,omitempty"`
	LastTcpRtoCount                   uint32                         `protobuf:"varint,57,opt,name=lastTcpRtoCount,proto3" json:"lastTcpRtoCount,omitempty"`
	LastTcpRecoveryCount              uint32                         `protobuf:"varint,58,opt,name=lastTcpRecoveryCount,proto3" json:"lastTcpRecoveryCount,omitempty"`
	LastTcpReordSeen                  uint32                         `protobuf:"varint,59,opt,name=lastTcpReordSeen,proto3" json:"lastTcpReordSeen,omitempty"`
	LastTcpRcvOooPack                 uint32                         `protobuf:"varint,60,opt,name=lastTcpRcvOooPack,proto3" json:"lastTcpRcvOooPack,omitempty"`
	LastTcpDeliveredCe                uint32                         `protobuf:"varint,61,opt,name=lastTcpDeliveredCe,proto3" json:"lastTcpDeliveredCe,omitempty"`
	LastTcpProbe0Count                uint32                         `protobuf:"varint,62,opt,name=lastTcpProbe0Count,proto3" json:"lastTcpProbe0Count,omitempty"`
	TcpEcnNegotiated                  bool                           `protobuf:"varint,63,opt,name=tcpEcnNegotiated,proto3" json:"tcpEcnNegotiated,omitempty"`
	RemoteServiceTagsIdx              int32                          `protobuf:"varint,64,opt,name=remoteServiceTagsIdx,proto3" json:"remoteServiceTagsIdx,omitempty"`
}

func (m *Connection) Reset()         { *m = Connection{} }
func (m *Connection) String() string { return proto.CompactTextString(m) }
func (*Connection) ProtoMessage()    {}

type Addr struct {
	Ip          string `protobuf:"bytes,2,opt,name=ip,proto3" json:"ip,omitempty"`
	Port        int32  `protobuf:"varint,3,opt,name=port,proto3" json:"port,omitempty"`
	ContainerId string `protobuf:"bytes,5,opt,name=containerId,proto3" json:"containerId,omitempty"`
	HostName    string `protobuf:"bytes,7,opt,name=hostName,proto3" json:"hostName,omitempty"`
}

func (m *Addr) Reset()         { *m = Addr{} }
func (m *Addr) String() string { return proto.CompactTextString(m) }
func (*Addr) ProtoMessage()    {}

type ProtocolStack struct {
	Stack []ProtocolType `protobuf:"varint,1,rep,name=stack,proto3,enum=datadog.process_agent.ProtocolType" json:"stack,omitempty"`
}

func (m *ProtocolStack) Reset()         { *m = ProtocolStack{} }
func (m *ProtocolStack) String() string { return proto.CompactTextString(m) }
func (*ProtocolStack) ProtoMessage()    {}

type IPTranslation struct {
	ReplSrcIP   string `protobuf:"bytes,1,opt,name=replSrcIP,proto3" json:"replSrcIP,omitempty"`
	ReplDstIP   string `protobuf:"bytes,2,opt,name=replDstIP,proto3" json:"replDstIP,omitempty"`
	ReplSrcPort int32  `protobuf:"varint,3,opt,name=replSrcPort,proto3" json:"replSrcPort,omitempty"`
	ReplDstPort int32  `protobuf:"varint,4,opt,name=replDstPort,proto3" json:"replDstPort,omitempty"`
}

func (m *IPTranslation) Reset()         { *m = IPTranslation{} }
func (m *IPTranslation) String() string { return proto.CompactTextString(m) }
func (*IPTranslation) ProtoMessage()    {}

type DNSEntry struct {
	Names []string `protobuf:"bytes,1,rep,name=names,proto3" json:"names,omitempty"`
}

func (m *DNSEntry) Reset()         { *m = DNSEntry{} }
func (m *DNSEntry) String() string { return proto.CompactTextString(m) }
func (*DNSEntry) ProtoMessage()    {}

type DNSStats struct {
	DnsTimeouts          uint32            `protobuf:"varint,1,opt,name=dnsTimeouts,proto3" json:"dnsTimeouts,omitempty"`
	DnsSuccessLatencySum uint64            `protobuf:"varint,2,opt,name=dnsSuccessLatencySum,proto3" json:"dnsSuccessLatencySum,omitempty"`
	DnsFailureLatencySum uint64            `protobuf:"varint,3,opt,name=dnsFailureLatencySum,proto3" json:"dnsFailureLatencySum,omitempty"`
	DnsCountByRcode      map[uint32]uint32 `protobuf:"bytes,4,rep,name=dnsCountByRcode,proto3" json:"dnsCountByRcode,omitempty" protobuf_key:"varint,1,opt,name=key,proto3" protobuf_val:"varint,2,opt,name=value,proto3"`
}

func (m *DNSStats) Reset()         { *m = DNSStats{} }
func (m *DNSStats) String() string { return proto.CompactTextString(m) }
func (*DNSStats) ProtoMessage()    {}

type DNSStatsByQueryType struct {
	DnsStatsByQueryType map[int32]*DNSStats `protobuf:"bytes,1,rep,name=dnsStatsByQueryType,proto3" json:"dnsStatsByQueryType,omitempty" protobuf_key:"varint,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3"`
}

func (m *DNSStatsByQueryType) Reset()         { *m = DNSStatsByQueryType{} }
func (m *DNSStatsByQueryType) String() string { return proto.CompactTextString(m) }
func (*DNSStatsByQueryType) ProtoMessage()    {}

type Route struct {
	Subnet *Subnet `protobuf:"bytes,1,opt,name=subnet,proto3" json:"subnet,omitempty"`
}

func (m *Route) Reset()         { *m = Route{} }
func (m *Route) String() string { return proto.CompactTextString(m) }
func (*Route) ProtoMessage()    {}

type Subnet struct {
	Alias string `protobuf:"bytes,1,opt,name=alias,proto3" json:"alias,omitempty"`
}

func (m *Subnet) Reset()         { *m = Subnet{} }
func (m *Subnet) String() string { return proto.CompactTextString(m) }
func (*Subnet) ProtoMessage()    {}

type RuntimeCompilationTelemetry struct {
	RuntimeCompilationEnabled  bool                     `protobuf:"varint,1,opt,name=runtimeCompilationEnabled,proto3" json:"runtimeCompilationEnabled,omitempty"`
	RuntimeCompilationResult   RuntimeCompilationResult `protobuf:"varint,2,opt,name=runtimeCompilationResult,proto3,enum=datadog.process_agent.RuntimeCompilationResult" json:"runtimeCompilationResult,omitempty"`
	RuntimeCompilationDuration int64                    `protobuf:"varint,3,opt,name=runtimeCompilationDuration,proto3" json:"runtimeCompilationDuration,omitempty"`
}

func (m *RuntimeCompilationTelemetry) Reset()         { *m = RuntimeCompilationTelemetry{} }
func (m *RuntimeCompilationTelemetry) String() string { return proto.CompactTextString(m) }
func (*RuntimeCompilationTelemetry) ProtoMessage()    {}

type AgentConfiguration struct {
	NpmEnabled                 bool `protobuf:"varint,1,opt,name=npmEnabled,proto3" json:"npmEnabled,omitempty"`
	UsmEnabled                 bool `protobuf:"varint,2,opt,name=usmEnabled,proto3" json:"usmEnabled,omitempty"`
	DsmEnabled                 bool `protobuf:"varint,3,opt,name=dsmEnabled,proto3" json:"dsmEnabled,omitempty"`
	CcmEnabled                 bool `protobuf:"varint,4,opt,name=ccmEnabled,proto3" json:"ccmEnabled,omitempty"`
	CsmEnabled                 bool `protobuf:"varint,5,opt,name=csmEnabled,proto3" json:"csmEnabled,omitempty"`
	EudmEnabled                bool `protobuf:"varint,6,opt,name=eudmEnabled,proto3" json:"eudmEnabled,omitempty"`
	DiscoveryServiceMapEnabled bool `protobuf:"varint,7,opt,name=discoveryServiceMapEnabled,proto3" json:"discoveryServiceMapEnabled,omitempty"`
}

func (m *AgentConfiguration) Reset()         { *m = AgentConfiguration{} }
func (m *AgentConfiguration) String() string { return proto.CompactTextString(m) }
func (*AgentConfiguration) ProtoMessage()    {}

// ConnectionsTelemetry is the legacy (< 7.35) telemetry message (field 3, not filled).
type ConnectionsTelemetry struct {
	MonotonicKprobesTriggered          int64 `protobuf:"varint,1,opt,name=monotonicKprobesTriggered,proto3" json:"monotonicKprobesTriggered,omitempty"`
	MonotonicKprobesMissed             int64 `protobuf:"varint,2,opt,name=monotonicKprobesMissed,proto3" json:"monotonicKprobesMissed,omitempty"`
	MonotonicConntrackRegisters        int64 `protobuf:"varint,3,opt,name=monotonicConntrackRegisters,proto3" json:"monotonicConntrackRegisters,omitempty"`
	MonotonicConntrackRegistersDropped int64 `protobuf:"varint,4,opt,name=monotonicConntrackRegistersDropped,proto3" json:"monotonicConntrackRegistersDropped,omitempty"`
	MonotonicDnsPacketsProcessed       int64 `protobuf:"varint,5,opt,name=monotonicDnsPacketsProcessed,proto3" json:"monotonicDnsPacketsProcessed,omitempty"`
	MonotonicConnsClosed               int64 `protobuf:"varint,6,opt,name=monotonicConnsClosed,proto3" json:"monotonicConnsClosed,omitempty"`
	ConnsBpfMapSize                    int64 `protobuf:"varint,7,opt,name=connsBpfMapSize,proto3" json:"connsBpfMapSize,omitempty"`
	MonotonicUdpSendsProcessed         int64 `protobuf:"varint,8,opt,name=monotonicUdpSendsProcessed,proto3" json:"monotonicUdpSendsProcessed,omitempty"`
	MonotonicUdpSendsMissed            int64 `protobuf:"varint,9,opt,name=monotonicUdpSendsMissed,proto3" json:"monotonicUdpSendsMissed,omitempty"`
	ConntrackSamplingPercent           int64 `protobuf:"varint,10,opt,name=conntrackSamplingPercent,proto3" json:"conntrackSamplingPercent,omitempty"`
	DnsStatsDropped                    int64 `protobuf:"varint,11,opt,name=dnsStatsDropped,proto3" json:"dnsStatsDropped,omitempty"`
}

func (m *ConnectionsTelemetry) Reset()         { *m = ConnectionsTelemetry{} }
func (m *ConnectionsTelemetry) String() string { return proto.CompactTextString(m) }
func (*ConnectionsTelemetry) ProtoMessage()    {}
