// checks_test.go — the Agent's start-up probe and its module checks (GET /<module>/check), run
// concurrently on the one client as the Agent's check runners do, several rounds so that
// keep-alive connections are reused, with a real kernel event behind each eBPF check.
package agent

import (
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestDebugStatsProbe: the Agent's first request is GET /debug/stats; it must answer 200 with
// the stats object system-probe writes.
func TestDebugStatsProbe(t *testing.T) {
	c := suite.agent
	if err := c.EnsureStarted(); err != nil {
		t.Fatalf("the Agent's start-up probe failed: %v", err)
	}
	if reqs := c.Requests(); len(reqs) == 0 || reqs[0] != "/debug/stats" {
		t.Errorf("the Agent's first request was %v, want the /debug/stats probe", reqs)
	}

	// The payload itself, fetched on a separate client (the Agent only needs the 200).
	other := NewCheckClient(suite.daemon.Socket)
	defer other.Close()
	req, _ := http.NewRequest(http.MethodGet, "http://sysprobe/debug/stats", nil)
	r, err := other.doReq(other.startupClient, req)
	if err != nil {
		t.Fatal(err)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("GET /debug/stats: Content-Type %q, want application/json", ct)
	}
	var stats map[string]json.RawMessage
	if err := json.Unmarshal(r.body, &stats); err != nil {
		t.Fatalf("GET /debug/stats: not a JSON object: %v\n%s", err, r.body)
	}
	var updatedAt int64
	var delta float64
	var uptime string
	decodeKey(t, stats, "updated_at", &updatedAt)
	decodeKey(t, stats, "delta_seconds", &delta)
	decodeKey(t, stats, "uptime", &uptime)
	if now := time.Now().Unix(); updatedAt < now-60 || updatedAt > now+60 {
		t.Errorf("updated_at %d is not now (%d)", updatedAt, now)
	}
	if delta < 0 {
		t.Errorf("delta_seconds %v < 0", delta)
	}
	if _, err := time.ParseDuration(uptime); err != nil {
		t.Errorf("uptime %q is not a Go duration: %v", uptime, err)
	}
	for _, m := range suite.modules {
		var ms map[string]json.RawMessage
		decodeKey(t, stats, m, &ms)
		if e, failed := ms["Error"]; failed {
			t.Errorf("module %s failed to start: %s", m, e)
			continue
		}
		if m != "process" && m != "compliance" && m != "ping" && m != "traceroute" && m != "language_detection" { // check modules: last_check
			var lastCheck int64
			decodeKey(t, ms, "last_check", &lastCheck)
		}
	}
}

// decodeKey decodes obj[key] into v, failing the test when it is missing or mistyped.
func decodeKey(t *testing.T, obj map[string]json.RawMessage, key string, v any) {
	t.Helper()
	raw, ok := obj[key]
	if !ok {
		t.Errorf("key %q missing", key)
		return
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Errorf("key %q: %v (value %s)", key, err, raw)
	}
}

// TestNonOKStatusIsAnError: a route that does not exist (network_tracer has no /check, as in
// system-probe; in a build without eBPF the module does not exist at all) reaches the Agent as its
// non-ok error, not as a payload.
func TestNonOKStatusIsAnError(t *testing.T) {
	_, body, err := GetCheck[json.RawMessage](suite.agent, "network_tracer")
	want := "non-ok status code: url http://sysprobe/network_tracer/check, status_code: 404"
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("GetCheck(network_tracer) = %s, %v; want an error starting %q", body, err, want)
	}
}

// events is what the triggers did, for the checks to find.
type events struct {
	oom, tcpq, seccomp Facts
}

const seccompCalls = 25

// causeEvents makes the three kernel events, concurrently, and returns their facts.
func causeEvents(t *testing.T) *events {
	t.Helper()
	ev := &events{}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var errs []string
	run := func(dst *Facts, args ...string) {
		defer wg.Done()
		f, err := RunTrigger(suite.triggers, 30*time.Second, args...)
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			errs = append(errs, err.Error())
			return
		}
		*dst = f
	}
	wg.Add(3)
	go run(&ev.oom, "oom", cgroupName("oom"))
	go run(&ev.tcpq, "tcpq", cgroupName("tcpq"))
	go run(&ev.seccomp, "seccomp", cgroupName("seccomp"), fmt.Sprint(seccompCalls))
	wg.Wait()
	if len(errs) > 0 {
		t.Fatalf("causing the kernel events failed:\n%s", strings.Join(errs, "\n"))
	}
	t.Logf("events: oom %v; tcpq %v; seccomp %v", ev.oom, ev.tcpq, ev.seccomp)
	return ev
}

// phase of a round: before the events (only decoding), right after them (their content), or
// after a check already returned them (flushed: GetAndFlush).
type phase int

const (
	beforeEvents phase = iota
	afterEvents
	flushed
)

// TestModuleChecks: the eBPF modules' checks, concurrently on the Agent's one client.
func TestModuleChecks(t *testing.T) {
	requireBPF(t)
	c := suite.agent

	// Round 0 flushes what the modules gathered before the test and decodes empty payloads. A
	// module failing here does not stop the others' rounds.
	checkRound(t, "round0_before_events", beforeEvents, nil)
	ev := causeEvents(t)
	checkRound(t, "round1_events", afterEvents, ev)
	for i := 2; i <= 4; i++ {
		checkRound(t, fmt.Sprintf("round%d_flushed", i), flushed, ev)
	}

	reqs := c.Requests()
	probes := 0
	for _, r := range reqs {
		if r == "/debug/stats" {
			probes++
		}
	}
	if len(reqs) == 0 || reqs[0] != "/debug/stats" || probes != 1 {
		t.Errorf("the Agent probes /debug/stats once, first; its requests were %v", reqs)
	}
	t.Logf("Agent client: %d requests over %d connections, %d requests on a reused connection",
		len(reqs), c.Dials(), c.Reused())
	if c.Reused() == 0 {
		t.Errorf("no request reused a kept-alive connection (%d requests, %d dials)", len(reqs),
			c.Dials())
	}
}

// checkRound runs one check per module at the same time, each a subtest.
func checkRound(t *testing.T, name string, ph phase, ev *events) {
	t.Run(name, func(t *testing.T) {
		checks := []struct {
			module string
			fn     func(*testing.T, phase, *events)
		}{
			{"oom_kill_probe", checkOOMKill},
			{"tcp_queue_length_tracer", checkTCPQueueLength},
			{"seccomp_tracer", checkSeccomp},
			{"ebpf", checkEBPF},
		}
		for _, ch := range checks {
			ch := ch
			t.Run(ch.module, func(t *testing.T) {
				t.Parallel()
				ch.fn(t, ph, ev)
			})
		}
	})
}

// excerpt shortens a body for a message.
func excerpt(b []byte) string {
	if len(b) > 400 {
		return string(b[:400]) + fmt.Sprintf("... (%d bytes)", len(b))
	}
	return string(b)
}

func mustInt(t *testing.T, f Facts, key string) int64 {
	t.Helper()
	v, err := f.Int(key)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func checkOOMKill(t *testing.T, ph phase, ev *events) {
	stats, body, err := GetCheck[[]OOMKillStats](suite.agent, "oom_kill_probe")
	if err != nil {
		t.Fatalf("GetCheck[[]OOMKillStats](oom_kill_probe): %v\nbody: %s", err, excerpt(body))
	}
	if ph == beforeEvents {
		return
	}
	pid := uint32(mustInt(t, ev.oom, "pid"))
	var mine []OOMKillStats
	for _, s := range stats {
		if s.VictimPid == pid {
			mine = append(mine, s)
		}
	}
	if ph == flushed {
		if len(mine) != 0 {
			t.Errorf("the OOM kill of pid %d is reported again after a check returned it: %+v",
				pid, mine)
		}
		return
	}
	if len(mine) != 1 {
		t.Fatalf("%d entries for the OOM victim pid %d, want 1; body: %s", len(mine), pid, body)
	}
	e := mine[0]
	comm, cgroup := ev.oom["comm"], ev.oom["cgroup"]
	limitPages := uint64(mustInt(t, ev.oom, "limit_pages"))
	adj := mustInt(t, ev.oom, "score_adj")
	if e.VictimComm != comm || e.TriggerComm != comm {
		t.Errorf("victimComm %q, triggerComm %q; want %q for both", e.VictimComm, e.TriggerComm, comm)
	}
	// The victim charged the page that hit its own cgroup's limit: it is the trigger too.
	if e.TriggerPid != pid {
		t.Errorf("triggerPid %d, want the victim %d", e.TriggerPid, pid)
	}
	if e.CgroupName != cgroup {
		t.Errorf("cgroupName %q, want %q", e.CgroupName, cgroup)
	}
	if e.MemCgOOM != 1 {
		t.Errorf("memcgoom %d, want 1 (a memory cgroup's limit)", e.MemCgOOM)
	}
	if int64(e.ScoreAdj) != adj {
		t.Errorf("scoreAdj %d, want %d", e.ScoreAdj, adj)
	}
	// oc->totalpages of a memcg OOM without swap: the limit in pages.
	if e.Pages != limitPages {
		t.Errorf("pages %d, want the cgroup's limit, %d pages", e.Pages, limitPages)
	}
	// oom_badness(): the victim's rss + swap + page tables (at most about the limit) plus
	// oom_score_adj * totalpages / 1000.
	adjPoints := adj * int64(limitPages) / 1000
	if e.Score <= adjPoints || e.Score > adjPoints+2*int64(limitPages) {
		t.Errorf("score %d, want in (%d, %d]: %d for oom_score_adj plus the victim's pages",
			e.Score, adjPoints, adjPoints+2*int64(limitPages), adjPoints)
	}
}

func checkTCPQueueLength(t *testing.T, ph phase, ev *events) {
	stats, body, err := GetCheck[TCPQueueLengthStats](suite.agent, "tcp_queue_length_tracer")
	if err != nil {
		t.Fatalf("GetCheck[TCPQueueLengthStats](tcp_queue_length_tracer): %v\nbody: %s", err,
			excerpt(body))
	}
	if ph == beforeEvents {
		return
	}
	cgroup := ev.tcpq["cgroup"]
	v, ok := stats[cgroup]
	if ph == flushed {
		if ok {
			t.Errorf("cgroup %s reported again after a check returned it: %+v", cgroup, v)
		}
		return
	}
	if !ok {
		t.Fatalf("no entry for the filling cgroup %s; body: %s", cgroup, excerpt(body))
	}
	t.Logf("%s: write_buffer_max_usage %d‰, read_buffer_max_usage %d‰", cgroup,
		v.WriteBufferMaxUsage, v.ReadBufferMaxUsage)
	// Per-mille of sk_sndbuf/sk_rcvbuf, which count memory (payload plus per-skb overhead)
	// against payload bytes: a full queue of 64 KiB loopback segments reads just under 1000
	// (docs/modules/tcp_queue_length_tracer.md measured 984-992 for a send queue that takes
	// nothing more, 960-993 for the first reads of a full receive queue; 863 for a closed
	// window before any read).
	if v.WriteBufferMaxUsage <= 900 || v.WriteBufferMaxUsage > 1100 {
		t.Errorf("write_buffer_max_usage %d‰ for a send queue filled until EAGAIN, want (900, 1100]",
			v.WriteBufferMaxUsage)
	}
	if v.ReadBufferMaxUsage <= 800 || v.ReadBufferMaxUsage > 1100 {
		t.Errorf("read_buffer_max_usage %d‰ for a full receive queue read 2 KiB at a time, "+
			"want (800, 1100]", v.ReadBufferMaxUsage)
	}
}

func checkSeccomp(t *testing.T, ph phase, ev *events) {
	stats, body, err := GetCheck[SeccompStats](suite.agent, "seccomp_tracer")
	if err != nil {
		t.Fatalf("GetCheck[SeccompStats](seccomp_tracer): %v\nbody: %s", err, excerpt(body))
	}
	if ph == beforeEvents {
		return
	}
	pid := uint32(mustInt(t, ev.seccomp, "pid"))
	var mine []SeccompStatsEntry
	for _, s := range stats {
		if s.Pid == pid {
			mine = append(mine, s)
		}
	}
	if ph == flushed {
		if len(mine) != 0 {
			t.Errorf("the denials of pid %d are reported again after a check returned them: %+v",
				pid, mine)
		}
		return
	}
	if len(mine) != 1 {
		t.Fatalf("%d entries for the denied pid %d, want 1 (one per pid, syscall, action); body: %s",
			len(mine), pid, excerpt(body))
	}
	e := mine[0]
	if want := uint32(mustInt(t, ev.seccomp, "syscall_nr")); e.SyscallNr != want {
		t.Errorf("syscallNr %d, want %d (getppid)", e.SyscallNr, want)
	}
	if want := uint32(mustInt(t, ev.seccomp, "action")); e.SeccompAction != want {
		t.Errorf("seccompAction %#x, want SECCOMP_RET_ERRNO %#x (ret & SECCOMP_RET_ACTION_FULL)",
			e.SeccompAction, want)
	}
	if want := uint64(mustInt(t, ev.seccomp, "count")); e.Count != want {
		t.Errorf("count %d, want %d denied calls", e.Count, want)
	}
	if e.CgroupName != ev.seccomp["cgroup"] {
		t.Errorf("cgroupName %q, want %q", e.CgroupName, ev.seccomp["cgroup"])
	}
	if e.Comm != ev.seccomp["comm"] {
		t.Errorf("comm %q, want %q", e.Comm, ev.seccomp["comm"])
	}
}

var hexTag = regexp.MustCompile(`^[0-9a-f]{16}$`)

func checkEBPF(t *testing.T, ph phase, ev *events) {
	stats, body, err := GetCheck[EBPFStats](suite.agent, "ebpf")
	if err != nil {
		var legacy LegacyEBPFStats
		older := "reject it too"
		if json.Unmarshal(body, &legacy) == nil {
			older = "accept it"
		}
		t.Fatalf("GetCheck[EBPFStats](ebpf): %v\n(an Agent before datadog-agent PR #35531, where "+
			"Type is cilium's uint32, would %s)\nbody: %s", err, older, excerpt(body))
	}
	if len(stats.Maps) == 0 || len(stats.Programs) == 0 {
		t.Fatalf("%d maps and %d programs; the daemon's own modules have both", len(stats.Maps),
			len(stats.Programs))
	}
	ours := map[string]bool{"oom_kill_probe": true, "tcp_queue_length_tracer": true,
		"seccomp_tracer": true, "noisy_neighbor": true, "gpu": true, "network_tracer": true}
	tracing := map[string]int{}
	for _, p := range stats.Programs {
		if p.ID == 0 || p.XlatedProgLen == 0 || !hexTag.MatchString(p.Tag) || p.Runtime < 0 {
			t.Errorf("program %+v: want ID > 0, XlatedProgLen > 0, a 16-hex-digit Tag, Runtime >= 0", p)
		}
		if !ours[p.Module] && p.Module != "unknown" {
			t.Errorf("program %d: Module %q, want one of ringprobe's modules or \"unknown\"", p.ID,
				p.Module)
		}
		if ours[p.Module] && p.Type == progTypeTracingName {
			tracing[p.Module]++
		}
	}
	// Each eBPF module attaches tp_btf programs: BPF_PROG_TYPE_TRACING, cilium's "Tracing".
	for m := range ours {
		if tracing[m] == 0 {
			t.Errorf("no program of module %s with Type %q (BPF_PROG_TYPE_TRACING)", m,
				progTypeTracingName)
		}
	}
	ringbuf := false
	for _, m := range stats.Maps {
		if m.ID == 0 || m.Entries < -1 {
			t.Errorf("map %+v: want ID > 0, Entries >= -1", m)
		}
		if m.Module == "oom_kill_probe" && m.Type == mapTypeRingBufName {
			ringbuf = true
		}
	}
	if !ringbuf {
		t.Errorf("no map of oom_kill_probe with Type %q (BPF_MAP_TYPE_RINGBUF)", mapTypeRingBufName)
	}
}

// An Agent older than 7.65 decodes Type as cilium/ebpf's uint32 types: a daemon configured with
// ringprobe.ebpf.type_encoding = "number" serves it, and the current Agent's types then fail, as
// they would in the Agent — the two shapes cannot share one body (docs/modules/ebpf.md).
func TestLegacyAgentEBPFTypes(t *testing.T) {
	requireBPF(t)
	d, err := StartDaemon(suite.bin, `[system_probe_config]
sysprobe_socket = "{dir}/sysprobe.sock"
debug_port = 0
enable_oom_kill = true
[ebpf_check]
enabled = true
[ringprobe.ebpf]
type_encoding = "number"
`, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if code, err := d.Stop(10 * time.Second); err != nil || code != 0 {
			t.Errorf("daemon stop: exit %d, %v; log:\n%s", code, err, d.Log())
		}
		d.Remove()
	}()
	agent := NewCheckClient(d.Socket)
	defer agent.Close()
	legacy, body, err := GetCheck[LegacyEBPFStats](agent, "ebpf")
	if err != nil {
		t.Fatalf("GetCheck[LegacyEBPFStats](ebpf): %v\nbody: %s", err, excerpt(body))
	}
	tracing, ringbuf := 0, false
	for _, p := range legacy.Programs {
		if p.Module == "oom_kill_probe" && p.Type == progTypeTracing {
			tracing++
		}
		if p.Runtime < 0 {
			t.Errorf("program %d: Runtime %v", p.ID, p.Runtime)
		}
	}
	for _, m := range legacy.Maps {
		if m.Module == "oom_kill_probe" && m.Type == mapTypeRingBuf {
			ringbuf = true
		}
	}
	if tracing == 0 || !ringbuf {
		t.Errorf("oom_kill_probe: %d programs of Type %d, ring buffer of Type %d found: %v; body: %s",
			tracing, progTypeTracing, mapTypeRingBuf, ringbuf, excerpt(body))
	}
	var current EBPFStats
	if err := json.Unmarshal(body, &current); err == nil {
		t.Errorf("the current Agent's EBPFStats decoded a numeric Type; the suite's types are wrong")
	}
}
