// decoders_test.go — the suite's decoders reject what the Agent's reject: without these, a check
// that passes could mean a decoder that accepts anything.
package agent

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/gogo/protobuf/jsonpb"
	"github.com/gogo/protobuf/proto"
)

func TestDecodersRejectWhatTheAgentRejects(t *testing.T) {
	bad := []struct {
		name, body string
		into       any
	}{
		{"ebpf map Type as a number (current Agent)", `{"Maps":[{"ID":1,"Type":1}],"Programs":[]}`, &EBPFStats{}},
		{"ebpf program Type as a number (current Agent)", `{"Maps":[],"Programs":[{"Type":26}]}`, &EBPFStats{}},
		{"ebpf map Type as a string (Agent < 7.65)", `{"Maps":[{"ID":1,"Type":"Hash"}],"Programs":[]}`, &LegacyEBPFStats{}},
		{"ebpf program Type as a string (Agent < 7.65)", `{"Maps":[],"Programs":[{"Type":"Tracing"}]}`, &LegacyEBPFStats{}},
		{"ebpf Runtime as a Go duration string", `{"Programs":[{"Runtime":"1ms"}]}`, &EBPFStats{}},
		{"oom victimPid as a string", `[{"victimPid":"12"}]`, &[]OOMKillStats{}},
		{"oom scoreAdj beyond int16", `[{"scoreAdj":40000}]`, &[]OOMKillStats{}},
		{"oom victimPid negative", `[{"victimPid":-1}]`, &[]OOMKillStats{}},
		{"tcp usage as a float", `{"c":{"read_buffer_max_usage":1.5}}`, &TCPQueueLengthStats{}},
		{"seccomp count as a string", `[{"count":"3"}]`, &SeccompStats{}},
		{"gpu used_cores as a string", `{"process_metrics":[{"utilization_metrics":{"used_cores":"1.5"}}]}`, &GPUStats{}},
		{"gpu pid negative", `{"process_metrics":[{"key":{"pid":-1}}]}`, &GPUStats{}},
		{"gpu current_bytes as a float", `{"process_metrics":[{"utilization_metrics":{"memory":{"current_bytes":1.5}}}]}`, &GPUStats{}},
		{"gpu device_metrics as an object", `{"device_metrics":{}}`, &GPUStats{}},
		{"discovery tcp_ports as strings", `{"services":[{"pid":1,"tcp_ports":["80"]}]}`, &DiscoveryServicesResponse{}},
		{"discovery port beyond uint16", `{"services":[{"pid":1,"udp_ports":[70000]}]}`, &DiscoveryServicesResponse{}},
		{"discovery pid as a string", `{"services":[{"pid":"1"}]}`, &DiscoveryServicesResponse{}},
		{"discovery apm_instrumentation as a string", `{"services":[{"pid":1,"apm_instrumentation":"false"}]}`, &DiscoveryServicesResponse{}},
		{"discovery tracer schema_version beyond uint8", `{"services":[{"pid":1,"tracer_metadata":[{"schema_version":256}]}]}`, &DiscoveryServicesResponse{}},
	}
	for _, b := range bad {
		if err := json.Unmarshal([]byte(b.body), b.into); err == nil {
			t.Errorf("%s: %s decoded without error", b.name, b.body)
		}
	}
	good := `{"Maps":[{"ID":1,"Type":"Hash","Entries":-1}],"Programs":[{"Type":"Tracing","Runtime":1500}]}`
	var s EBPFStats
	if err := json.Unmarshal([]byte(good), &s); err != nil || s.Maps[0].Type != "Hash" ||
		s.Programs[0].Type != progTypeTracingName || s.Programs[0].Runtime.Nanoseconds() != 1500 {
		t.Errorf("%s: %+v, %v", good, s, err)
	}
	legacyGood := `{"Maps":[{"ID":1,"Type":1}],"Programs":[{"Type":26,"Runtime":1500}]}`
	var l LegacyEBPFStats
	if err := json.Unmarshal([]byte(legacyGood), &l); err != nil || l.Maps[0].Type != 1 ||
		l.Programs[0].Type != progTypeTracing || l.Programs[0].Runtime.Nanoseconds() != 1500 {
		t.Errorf("%s: %+v, %v", legacyGood, l, err)
	}

	// The gpu payload in ringprobe's default keys decodes; Go's field names would decode to nothing
	// (encoding/json matches keys case-insensitively, but process_metrics is not ProcessMetrics).
	gpuGood := `{"process_metrics":[{"key":{"pid":7,"device_uuid":"GPU-1","container_id":""},` +
		`"utilization_metrics":{"used_cores":72,"memory":{"current_bytes":1,"max_bytes":2},"active_time_pct":10}}],` +
		`"device_metrics":[{"device_uuid":"GPU-1","metrics":{"active_time_pct":10}}]}`
	var g GPUStats
	if err := json.Unmarshal([]byte(gpuGood), &g); err != nil || len(g.ProcessMetrics) != 1 ||
		g.ProcessMetrics[0].Key.PID != 7 || g.ProcessMetrics[0].UtilizationMetrics.Memory.MaxBytes != 2 ||
		g.DeviceMetrics[0].Metrics.ActiveTimePct != 10 {
		t.Errorf("%s: %+v, %v", gpuGood, g, err)
	}
	g = GPUStats{}
	if err := json.Unmarshal([]byte(`{"ProcessMetrics":[{"Key":{"PID":7}}]}`), &g); err != nil || len(g.ProcessMetrics) != 0 {
		t.Errorf("Go field names decoded into the tagged model: %+v, %v", g, err)
	}
	// The suite's strict discovery decoder refuses a key the Agent's model lacks.
	if _, err := strictServices([]byte(`{"services":[],"injected_pids":null,"extra":1}`)); err == nil {
		t.Errorf("strictServices accepted an unknown key")
	}
	if _, err := strictServices([]byte(`{"services":[{"pid":1,"has_nvidia_gpu":false}],"injected_pids":[2]}`)); err != nil {
		t.Errorf("strictServices: %v", err)
	}

	// gogo jsonpb, as the process-agent uses it, rejects a key the message lacks.
	var ps ProcStatsWithPermByPID
	err := jsonpb.Unmarshal(bytes.NewReader([]byte(`{"statsByPID":{"1":{"openFDCount":3,"fds":3}}}`)), &ps)
	if err == nil || !strings.Contains(err.Error(), "unknown field") {
		t.Errorf("jsonpb accepted an unknown field: %v", err)
	}
	// ... and reads both of jsonpb's int64 spellings (system-probe quotes them).
	ps = ProcStatsWithPermByPID{}
	in := `{"statsByPID":{"7":{"openFDCount":3,"readCount":"12","writeCount":5}}}`
	if err := jsonpb.Unmarshal(bytes.NewReader([]byte(in)), &ps); err != nil ||
		ps.StatsByPID[7] == nil || ps.StatsByPID[7].ReadCount != 12 || ps.StatsByPID[7].WriteCount != 5 {
		t.Errorf("jsonpb %s: %v, %v", in, ps.StatsByPID, err)
	}

	// model.Connections as the process-agent reads it: jsonpb refuses a key Connection lacks and
	// an enum name the proto does not define; protobuf carries routeIdx -1 as a 10-byte varint.
	for _, in := range []string{
		`{"conns":[{"pid":1,"laddr":{"ip":"1.2.3.4"},"lastBytes":"3"}]}`,
		`{"conns":[{"family":"v5"}]}`,
		`{"conns":[{"direction":"sideways"}]}`,
		`{"conns":[{"lastBytesSent":-1}]}`,
	} {
		var c Connections
		if err := (&jsonpb.Unmarshaler{}).Unmarshal(strings.NewReader(in), &c); err == nil {
			t.Errorf("jsonpb accepted %s: %v", in, c.Conns)
		}
	}
	var c Connections
	in = `{"conns":[{"pid":7,"family":"v6","direction":"outgoing","lastBytesSent":"5000000000",` +
		`"routeIdx":-1,"protocol":{"stack":[]},"tcpFailuresByErrCode":{"111":1}}],` +
		`"CORETelemetryByAsset":{"tracer":"SuccessDefaultBTF"}}`
	if err := jsonpb.Unmarshal(strings.NewReader(in), &c); err != nil || len(c.Conns) != 1 ||
		c.Conns[0].Family != 1 || c.Conns[0].Direction != 2 ||
		c.Conns[0].LastBytesSent != 5000000000 || c.Conns[0].RouteIdx != -1 ||
		c.Conns[0].TcpFailuresByErrCode[111] != 1 || c.CORETelemetryByAsset["tracer"] != 2 {
		t.Errorf("jsonpb %s: %v, %v", in, c.Conns, err)
	}
	b, err := proto.Marshal(&Connection{RouteIdx: -1})
	if want := []byte{0xa0, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}; err != nil || !bytes.Equal(b, want) {
		t.Errorf("Connection{RouteIdx: -1} = % x, %v; want % x", b, err, want)
	}

	// The hand-written messages have the generated code's wire format: field 1, packed varints.
	b, err = proto.Marshal(&ProcessStatRequest{Pids: []int32{1, 300}})
	if want := []byte{0x0a, 0x03, 0x01, 0xac, 0x02}; err != nil || !bytes.Equal(b, want) {
		t.Errorf("ProcessStatRequest{1, 300} = % x, %v; want % x", b, err, want)
	}
	// map<int32, ProcStatsWithPerm> statsByPID = 1: entry {key = 1, value = 2}.
	wire := []byte{0x0a, 0x06, 0x08, 0x07, 0x12, 0x02, 0x08, 0x03}
	ps = ProcStatsWithPermByPID{}
	if err := proto.Unmarshal(wire, &ps); err != nil || ps.StatsByPID[7] == nil ||
		ps.StatsByPID[7].OpenFDCount != 3 {
		t.Errorf("% x decoded to %v, %v; want {7: openFDCount 3}", wire, ps.StatsByPID, err)
	}
}
