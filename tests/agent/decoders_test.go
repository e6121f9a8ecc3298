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

	// The hand-written messages have the generated code's wire format: field 1, packed varints.
	b, err := proto.Marshal(&ProcessStatRequest{Pids: []int32{1, 300}})
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
