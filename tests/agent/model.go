// Package agent is the Datadog Agent conformance suite: it drives the real ringprobe daemon the way
// an unmodified Agent does and decodes every payload into types that mirror the Agent's own, field
// by field and Go type by Go type (README.md in this directory gives the upstream package of each).
//
// This file: the types the Agent's checks decode `GET /<module>/check` into with encoding/json.
// A number where the Agent has a string (or the reverse), a negative value for an unsigned field,
// or a value beyond the field's width makes encoding/json fail, exactly as it fails in the Agent.
package agent

import "time"

// OOMKillStats mirrors pkg/collector/corechecks/ebpf/probe/oomkill/model.OOMKillStats; the
// oom_kill check decodes a JSON array of them (null when empty).
type OOMKillStats struct {
	CgroupName  string `json:"cgroupName"`
	VictimPid   uint32 `json:"victimPid"`
	TriggerPid  uint32 `json:"triggerPid"`
	VictimComm  string `json:"victimComm"`
	TriggerComm string `json:"triggerComm"`
	Score       int64  `json:"score"`
	ScoreAdj    int16  `json:"scoreAdj"`
	Pages       uint64 `json:"pages"`
	MemCgOOM    uint32 `json:"memcgoom"`
}

// TCPQueueLengthStatsValue mirrors
// pkg/collector/corechecks/ebpf/probe/tcpqueuelength/model.TCPQueueLengthStatsValue.
type TCPQueueLengthStatsValue struct {
	ReadBufferMaxUsage  uint32 `json:"read_buffer_max_usage"`
	WriteBufferMaxUsage uint32 `json:"write_buffer_max_usage"`
}

// TCPQueueLengthStats mirrors model.TCPQueueLengthStats: cgroup name → maxima (per-mille).
type TCPQueueLengthStats map[string]TCPQueueLengthStatsValue

// StackTraceInfo mirrors pkg/collector/corechecks/ebpf/probe/seccomptracer/model.StackTraceInfo.
type StackTraceInfo struct {
	StackID   int32    `json:"stackId"`
	Count     uint64   `json:"count"`
	Addresses []uint64 `json:"addresses"`
	Symbols   []string `json:"symbols,omitempty"`
}

// SeccompStatsEntry mirrors seccomptracer/model.SeccompStatsEntry.
type SeccompStatsEntry struct {
	CgroupName    string           `json:"cgroupName"`
	SyscallNr     uint32           `json:"syscallNr"`
	SeccompAction uint32           `json:"seccompAction"`
	Pid           uint32           `json:"pid,omitempty"`
	Comm          string           `json:"comm,omitempty"`
	Count         uint64           `json:"count"`
	StackTraces   []StackTraceInfo `json:"stackTraces,omitempty"`
	DroppedStacks uint64           `json:"droppedStacks,omitempty"`
}

// SeccompStats mirrors seccomptracer/model.SeccompStats.
type SeccompStats []SeccompStatsEntry

// MapType mirrors github.com/cilium/ebpf.MapType: a uint32 holding the kernel's enum bpf_map_type.
// cilium/ebpf gives it a String method but no JSON or text marshaller, so encoding/json reads and
// writes it as a number. Keep it that way: no UnmarshalJSON/UnmarshalText here. Agents before
// datadog-agent PR #35531 (2025-03, Agent 7.65) declare the Type fields with it (legacy types
// below); ringprobe writes that shape with ringprobe.ebpf.type_encoding = "number".
type MapType uint32

// ProgramType mirrors github.com/cilium/ebpf.ProgramType (enum bpf_prog_type), same as MapType.
type ProgramType uint32

// The kernel's numbers and cilium/ebpf's names for the types the suite looks for
// (include/uapi/linux/bpf.h; cilium/ebpf types_string.go).
const (
	progTypeTracing     ProgramType = 26 // BPF_PROG_TYPE_TRACING: tp_btf, fentry, iterators
	mapTypeRingBuf      MapType     = 27 // BPF_MAP_TYPE_RINGBUF
	progTypeTracingName             = "Tracing"
	mapTypeRingBufName              = "RingBuf"
)

// EBPFMapStats mirrors pkg/collector/corechecks/ebpf/probe/ebpfcheck/model.EBPFMapStats as the
// current Agent declares it (no JSON tags: the keys are the field names). Since datadog-agent PR
// #35531 (merged 2025-03-27) Type is a string: cilium/ebpf's MapType.String().
type EBPFMapStats struct {
	ID         uint32
	MaxEntries uint32
	Name       string
	Module     string
	RSS        uint64
	MaxSize    uint64
	Type       string
	Entries    int64 // -1 when unknown
}

// EBPFProgramStats mirrors ebpfcheck/model.EBPFProgramStats (current Agent: Type is a string).
type EBPFProgramStats struct {
	ID              uint32
	XlatedProgLen   uint32
	Name            string
	Module          string
	Tag             string
	RSS             uint64
	RunCount        uint64
	RecursionMisses uint64
	Runtime         time.Duration // int64 nanoseconds on the wire
	VerifiedInsns   uint32
	Type            string
}

// EBPFStats mirrors ebpfcheck/model.EBPFStats. KprobeStats, which the Agent also declares, is
// left out: ringprobe has no kprobes to report (an absent key decodes as nil in the Agent too).
type EBPFStats struct {
	Maps     []EBPFMapStats
	Programs []EBPFProgramStats
}

// LegacyEBPFStats is the same payload as Agents before PR #35531 declare it: Type fields of
// cilium/ebpf's uint32 types.
type LegacyEBPFStats struct {
	Maps []struct {
		ID     uint32
		Module string
		Type   MapType
	}
	Programs []struct {
		ID      uint32
		Module  string
		Runtime time.Duration
		Type    ProgramType
	}
}

// NoisyNeighborStats mirrors pkg/collector/corechecks/ebpf/probe/noisyneighbor/model
// .NoisyNeighborStats (no json tags: the keys are the Go field names); the noisy_neighbor check
// decodes a JSON array of them (null when empty).
type NoisyNeighborStats struct {
	CgroupID        uint64
	SumLatenciesNs  uint64
	EventCount      uint64
	PreemptionCount uint64
	UniquePidCount  uint64
}

// The gpu check's payload: pkg/collector/corechecks/gpu/model.GPUStats, built by system-probe's
// pkg/gpu/stats.go (statsGenerator.getStats) and read by the Agent's gpu check
// (pkg/collector/corechecks/gpu/nvidia/ebpf.go, SystemProbeCache: GetCheck[model.GPUStats]).
// The field names and Go types are those of the newest upstream code found (stats.go, aggregator.go
// and the check's tests); the json tags are the snake_case ones of the last model.go that could be
// read (docs/modules/gpu.md says which versions, and why ringprobe.gpu.json_keys exists).

// GPUProcessStatsKey mirrors model.ProcessStatsKey.
type GPUProcessStatsKey struct {
	PID         uint32 `json:"pid"`
	DeviceUUID  string `json:"device_uuid"`
	ContainerID string `json:"container_id"`
}

// GPUMemoryMetrics mirrors model.MemoryMetrics.
type GPUMemoryMetrics struct {
	CurrentBytes uint64 `json:"current_bytes"`
	MaxBytes     uint64 `json:"max_bytes"`
}

// GPUUtilizationMetrics mirrors model.UtilizationMetrics.
type GPUUtilizationMetrics struct {
	UsedCores     float64          `json:"used_cores"`
	Memory        GPUMemoryMetrics `json:"memory"`
	ActiveTimePct float64          `json:"active_time_pct"`
}

// GPUProcessStatsTuple mirrors model.ProcessStatsTuple.
type GPUProcessStatsTuple struct {
	Key                GPUProcessStatsKey    `json:"key"`
	UtilizationMetrics GPUUtilizationMetrics `json:"utilization_metrics"`
}

// GPUDeviceUtilizationMetrics mirrors model.DeviceUtilizationMetrics.
type GPUDeviceUtilizationMetrics struct {
	ActiveTimePct float64 `json:"active_time_pct"`
}

// GPUDeviceStatsTuple mirrors model.DeviceStatsTuple.
type GPUDeviceStatsTuple struct {
	DeviceUUID string                      `json:"device_uuid"`
	Metrics    GPUDeviceUtilizationMetrics `json:"metrics"`
}

// GPUStats mirrors model.GPUStats.
type GPUStats struct {
	ProcessMetrics []GPUProcessStatsTuple `json:"process_metrics"`
	DeviceMetrics  []GPUDeviceStatsTuple  `json:"device_metrics"`
}

// TracerMetadata mirrors pkg/discovery/tracermetadata/model.TracerMetadata (what a tracer
// publishes in its datadog-tracer-info-* memfd), as discovery's Service carries it.
type TracerMetadata struct {
	SchemaVersion            uint8    `json:"schema_version"`
	RuntimeID                string   `json:"runtime_id,omitempty"`
	TracerLanguage           string   `json:"tracer_language"`
	TracerVersion            string   `json:"tracer_version"`
	Hostname                 string   `json:"hostname"`
	ServiceName              string   `json:"service_name,omitempty"`
	ServiceEnv               string   `json:"service_env,omitempty"`
	ServiceVersion           string   `json:"service_version,omitempty"`
	ProcessTags              string   `json:"process_tags,omitempty"`
	ContainerID              string   `json:"container_id,omitempty"`
	LogsCollected            bool     `json:"logs_collected,omitempty"`
	ThreadlocalAttributeKeys []string `json:"threadlocal_attribute_keys,omitempty"`
}

// DiscoveryUST mirrors pkg/discovery/model.UST.
type DiscoveryUST struct {
	Service string `json:"service"`
	Env     string `json:"env"`
	Version string `json:"version"`
}

// DiscoveryService mirrors pkg/discovery/model.Service.
type DiscoveryService struct {
	PID                      int              `json:"pid"`
	LogFiles                 []string         `json:"log_files,omitempty"`
	GeneratedName            string           `json:"generated_name"`
	GeneratedNameSource      string           `json:"generated_name_source"`
	AdditionalGeneratedNames []string         `json:"additional_generated_names"`
	TracerMetadata           []TracerMetadata `json:"tracer_metadata,omitempty"`
	TCPPorts                 []uint16         `json:"tcp_ports,omitempty"`
	UDPPorts                 []uint16         `json:"udp_ports,omitempty"`
	APMInstrumentation       bool             `json:"apm_instrumentation"`
	Language                 string           `json:"language"`
	Type                     string           `json:"service_type"`
	UST                      DiscoveryUST     `json:"ust"`
	HasNvidiaGPU             bool             `json:"has_nvidia_gpu"`
}

// DiscoveryServicesResponse mirrors pkg/discovery/model.ServicesResponse, the answer to
// POST /discovery/services (GPUPIDs: datadog-agent model.go@07ac8b4f; older Agents ignore it).
type DiscoveryServicesResponse struct {
	Services     []DiscoveryService `json:"services"`
	InjectedPIDs []int              `json:"injected_pids"`
	GPUPIDs      []int              `json:"gpu_pids"`
}

// DiscoveryParams mirrors pkg/discovery/core.Params, the body the process collector posts.
type DiscoveryParams struct {
	NewPids       []int32 `json:"new_pids,omitempty"`
	HeartbeatPids []int32 `json:"heartbeat_pids,omitempty"`
}
