// process_test.go — POST /process/stats as the process-agent sends it (protobuf both ways) and as
// curl and older clients do (JSON), each answer decoded the way the process-agent decodes it.
package agent

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"

	"github.com/gogo/protobuf/jsonpb"
	"github.com/gogo/protobuf/proto"
)

const (
	contentTypeProtobuf = "application/protobuf"
	contentTypeJSON     = "application/json"
	// A pid no kernel hands out (above PID_MAX_LIMIT, 4194304): absent from the answer, no error.
	impossiblePid int32 = 999999999
	holderFDs           = 6
	holderWrites        = 4
)

// decodeProcStats is the process-agent's pkg/process/encoding GetUnmarshaler(Content-type):
// protobuf when the type contains application/protobuf, else gogo jsonpb (which rejects keys the
// message does not have).
func decodeProcStats(contentType string, body []byte) (*ProcStatsWithPermByPID, error) {
	stats := new(ProcStatsWithPermByPID)
	if strings.Contains(contentType, contentTypeProtobuf) {
		return stats, proto.Unmarshal(body, stats)
	}
	return stats, jsonpb.Unmarshal(bytes.NewReader(body), stats)
}

// startHolder starts a process whose /proc counters stay still, and what the kernel says of it.
func startHolder(t *testing.T) (*Holder, ProcFacts) {
	t.Helper()
	h, err := StartHolder(suite.triggers, holderFDs, holderWrites)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := h.Stop(); err != nil {
			t.Errorf("holder pid %d: %v", h.Pid, err)
		}
	})
	want, err := ReadProcFacts(h.Pid)
	if err != nil {
		t.Fatal(err)
	}
	// The fixture itself: stdin, stdout, stderr and its own descriptors; its writes and "ready".
	if want.OpenFDs != 3+holderFDs || want.WriteCount != holderWrites+1 {
		t.Fatalf("holder pid %d has %d fds and %d writes, want %d and %d", h.Pid, want.OpenFDs,
			want.WriteCount, 3+holderFDs, holderWrites+1)
	}
	return h, want
}

// checkProcStats: exactly the two live processes, the holder's numbers exactly the kernel's.
func checkProcStats(t *testing.T, stats *ProcStatsWithPermByPID, holder int, want ProcFacts) {
	t.Helper()
	self := int32(os.Getpid())
	if _, ok := stats.StatsByPID[impossiblePid]; ok {
		t.Errorf("pid %d (cannot exist) is in the answer", impossiblePid)
	}
	if len(stats.StatsByPID) != 2 {
		t.Errorf("%d entries, want 2 (this test and the holder): %v", len(stats.StatsByPID), stats)
	}
	h := stats.StatsByPID[int32(holder)]
	if h == nil {
		t.Fatalf("no entry for the holder pid %d: %v", holder, stats)
	}
	got := ProcFacts{OpenFDs: h.OpenFDCount, ReadCount: h.ReadCount, WriteCount: h.WriteCount,
		ReadBytes: h.ReadBytes, WriteBytes: h.WriteBytes}
	if got != want {
		t.Errorf("holder pid %d: %+v, want what /proc says: %+v", holder, got, want)
	}
	s := stats.StatsByPID[self]
	if s == nil {
		t.Fatalf("no entry for this test's pid %d: %v", self, stats)
	}
	if s.OpenFDCount <= 0 || s.ReadCount <= 0 {
		t.Errorf("this test's pid %d: %+v, want open fds and read calls", self, *s)
	}
}

// postProtobuf sends a protobuf request body as the process-agent does.
func postProtobuf(t *testing.T, body []byte) *ProcStatsWithPermByPID {
	t.Helper()
	r, err := suite.process.Post(body, map[string]string{
		"Accept":       contentTypeProtobuf,
		"Content-Type": contentTypeProtobuf,
	})
	if err != nil {
		t.Fatalf("POST /process/stats: %v", err)
	}
	if r.status != 200 {
		// The process-agent's own message for this case.
		t.Fatalf("proc_stats request failed: url http://sysprobe/process/stats, status code: %d "+
			"(body: %s)", r.status, strings.TrimSpace(string(r.body)))
	}
	ct := r.header.Get("Content-type")
	stats, err := decodeProcStats(ct, r.body)
	if err != nil {
		t.Fatalf("the process-agent cannot decode the answer (Content-type %q): %v; body: %q", ct,
			err, excerpt(r.body))
	}
	if !strings.Contains(ct, contentTypeProtobuf) {
		t.Errorf("answered Accept: application/protobuf with Content-Type %q, want %s", ct,
			contentTypeProtobuf)
	}
	return stats
}

// TestProcessStatsProtobuf: the process-agent's request, gogo-marshalled (packed pids).
func TestProcessStatsProtobuf(t *testing.T) {
	h, want := startHolder(t)
	pids := []int32{int32(os.Getpid()), int32(h.Pid), impossiblePid}
	body, err := proto.Marshal(&ProcessStatRequest{Pids: pids})
	if err != nil {
		t.Fatal(err)
	}
	checkProcStats(t, postProtobuf(t, body), h.Pid, want)

	// Other protobuf encoders may write a repeated scalar unpacked (one tag per element); a
	// proto3 parser must accept both.
	t.Run("unpacked_pids", func(t *testing.T) {
		var unpacked []byte
		for _, p := range pids {
			unpacked = append(unpacked, 1<<3|proto.WireVarint)
			unpacked = append(unpacked, proto.EncodeVarint(uint64(p))...)
		}
		checkProcStats(t, postProtobuf(t, unpacked), h.Pid, want)
	})
}

// TestProcessStatsJSON: {"pids": [...]} as curl sends it; the answer decoded with gogo jsonpb.
func TestProcessStatsJSON(t *testing.T) {
	h, want := startHolder(t)
	body, err := json.Marshal(map[string][]int32{
		"pids": {int32(os.Getpid()), int32(h.Pid), impossiblePid},
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := suite.process.Post(body, map[string]string{"Content-Type": contentTypeJSON})
	if err != nil {
		t.Fatalf("POST /process/stats: %v", err)
	}
	if r.status != 200 {
		t.Fatalf("POST /process/stats %s: status %d, body %s", body, r.status,
			strings.TrimSpace(string(r.body)))
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, contentTypeJSON) {
		t.Errorf("Content-Type %q, want %s", ct, contentTypeJSON)
	}
	var stats ProcStatsWithPermByPID
	strict := jsonpb.Unmarshaler{AllowUnknownFields: false}
	if err := strict.Unmarshal(bytes.NewReader(r.body), &stats); err != nil {
		t.Fatalf("gogo jsonpb: %v; body: %s", err, excerpt(r.body))
	}
	checkProcStats(t, &stats, h.Pid, want)
}
