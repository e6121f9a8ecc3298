// noisy_test.go — the noisy_neighbor check (pkg/collector/corechecks/ebpf/noisyneighbor): every
// 10 s GetCheck[[]model.NoisyNeighborStats]("noisy_neighbor"), keyed by cgroup inode. Two shell
// busy loops pinned to one CPU in a cgroup v2 made here must show up with waits, preemptions and
// their two threads.
package agent

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

func cgroup2Root() string {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st syscall.Statfs_t
		if syscall.Statfs(p, &st) == nil && st.Type == 0x63677270 {
			return p
		}
	}
	return ""
}

func TestNoisyNeighborCheck(t *testing.T) {
	requireBPF(t)
	root := cgroup2Root()
	if root == "" {
		t.Fatal("no cgroup v2 hierarchy at /sys/fs/cgroup/unified or /sys/fs/cgroup")
	}
	cg := filepath.Join(root, fmt.Sprintf("rp-agent-%d-nn", os.Getpid()))
	if err := os.Mkdir(cg, 0o755); err != nil {
		t.Fatal(err)
	}
	defer func() {
		for i := 0; i < 250 && os.Remove(cg) != nil; i++ {
			time.Sleep(20 * time.Millisecond)
		}
	}()
	id := inode(t, cg)

	// The check's first run flushes what came before.
	if _, body, err := GetCheck[[]NoisyNeighborStats](suite.agent, "noisy_neighbor"); err != nil {
		t.Fatalf("GetCheck(noisy_neighbor): %v (%s)", err, body)
	}
	cpu := "1"
	if n, _ := os.ReadFile("/sys/devices/system/cpu/online"); string(bytes.TrimSpace(n)) == "0" {
		cpu = "0"
	}
	var hogs []*exec.Cmd
	defer func() {
		for _, h := range hogs {
			_ = h.Process.Kill()
			_ = h.Wait()
		}
	}()
	for i := 0; i < 2; i++ {
		h := exec.Command("taskset", "-c", cpu, "sh", "-c", "while :; do :; done")
		if err := h.Start(); err != nil {
			t.Fatal(err)
		}
		hogs = append(hogs, h)
		if err := os.WriteFile(filepath.Join(cg, "cgroup.procs"), []byte(fmt.Sprint(h.Process.Pid)), 0); err != nil {
			t.Fatal(err)
		}
	}

	var total NoisyNeighborStats
	maxThreads := uint64(0)
	deadline := time.Now().Add(20 * time.Second)
	for total.PreemptionCount < 10 || total.EventCount < 10 {
		if time.Now().After(deadline) {
			t.Fatalf("after 20 s the cgroup has %+v", total)
		}
		time.Sleep(200 * time.Millisecond)
		stats, body, err := GetCheck[[]NoisyNeighborStats](suite.agent, "noisy_neighbor")
		if err != nil {
			t.Fatalf("GetCheck(noisy_neighbor): %v (%s)", err, body)
		}
		// Only the Agent's five fields, as numbers of the Agent's types.
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.DisallowUnknownFields()
		var strict []NoisyNeighborStats
		if err := dec.Decode(&strict); err != nil {
			t.Fatalf("strict decode: %v (%s)", err, body)
		}
		for _, s := range stats {
			if s.CgroupID != id {
				continue
			}
			total.SumLatenciesNs += s.SumLatenciesNs
			total.EventCount += s.EventCount
			total.PreemptionCount += s.PreemptionCount
			if s.UniquePidCount > maxThreads {
				maxThreads = s.UniquePidCount
			}
		}
	}
	if maxThreads != 2 {
		t.Errorf("UniquePidCount reached %d in a window, want 2 (two single-threaded hogs)", maxThreads)
	}
	if total.SumLatenciesNs/total.EventCount < 100_000 {
		t.Errorf("mean run-queue wait %d ns: two hogs on one CPU wait for each other's slices",
			total.SumLatenciesNs/total.EventCount)
	}
}
