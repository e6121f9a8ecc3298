// gpu_test.go — the Agent's gpu check against the real daemon: GetCheck[model.GPUStats] while a
// "CUDA program" (tests/bpf/gpu/cuda_sample.c on the fake runtime, NVML mocked) launches a kernel
// of grid (1,2,3) x block (4,5,6), allocates 1 MiB and frees it.
package agent

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const gpuUUID0 = "GPU-00000000-0000-0000-0000-000000000000"

// cudaSample runs cuda_sample with a script; steps wait at each 'w' for a byte on stdin.
type cudaSample struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string
}

func startCudaSample(t *testing.T, library, script string) *cudaSample {
	t.Helper()
	cmd := exec.Command(filepath.Join(suite.gpuDir, "cuda_sample"), library, script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &cudaSample{cmd: cmd, stdin: stdin, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			s.lines <- sc.Text()
		}
		close(s.lines)
	}()
	t.Cleanup(func() {
		s.stdin.Close()
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
	})
	return s
}

func (s *cudaSample) expect(t *testing.T, want string) {
	t.Helper()
	select {
	case got, ok := <-s.lines:
		if !ok || got != want {
			t.Fatalf("cuda_sample said %q (open %v), want %q", got, ok, want)
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("cuda_sample did not say %q within 10 s", want)
	}
}

func (s *cudaSample) proceed(t *testing.T) {
	t.Helper()
	if _, err := s.stdin.Write([]byte("g")); err != nil {
		t.Fatal(err)
	}
}

// tracedByGPU reports whether /gpu/debug/traced-programs lists pid (a debug route: plain client).
func tracedByGPU(t *testing.T, pid int) bool {
	t.Helper()
	hc := &http.Client{Timeout: 5 * time.Second, Transport: agentTransport(&dialCounter{socket: suite.daemon.Socket}, 5*time.Second)}
	defer hc.CloseIdleConnections()
	resp, err := hc.Get("http://sysprobe/gpu/debug/traced-programs")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var progs []struct {
		ProgramType, FilePath string
		PIDs                  []uint32
	}
	if err := json.NewDecoder(resp.Body).Decode(&progs); err != nil {
		t.Fatal(err)
	}
	for _, p := range progs {
		for _, q := range p.PIDs {
			if int(q) == pid {
				return true
			}
		}
	}
	return false
}

func TestGPUCheck(t *testing.T) {
	requireBPF(t)
	// a runtime file no process maps yet: the sample is found through its openat()
	dir := t.TempDir()
	lib := filepath.Join(dir, "libcudart.so.12")
	data, err := os.ReadFile(filepath.Join(suite.gpuDir, "libcudart.so"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(lib, data, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startCudaSample(t, lib, "wmlzsfw")
	pid := s.cmd.Process.Pid
	s.expect(t, fmt.Sprintf("ready %d", pid))
	s.expect(t, "wait 1")
	deadline := time.Now().Add(10 * time.Second)
	for !tracedByGPU(t, pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d not traced within 10 s", pid)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if _, body, err := GetCheck[GPUStats](suite.agent, "gpu"); err != nil {
		t.Fatalf("flush: %v (%s)", err, body)
	}
	s.proceed(t) // cudaMalloc, cudaLaunchKernel, 100 ms, cudaStreamSynchronize(30), cudaFree
	s.expect(t, "wait 2")
	stats, body, err := GetCheck[GPUStats](suite.agent, "gpu")
	if err != nil {
		t.Fatalf("GetCheck[GPUStats]: %v (%s)", err, body)
	}
	t.Logf("/gpu/check: %s", strings.TrimSpace(string(body)))
	var p *GPUProcessStatsTuple
	for i := range stats.ProcessMetrics {
		if int(stats.ProcessMetrics[i].Key.PID) == pid {
			p = &stats.ProcessMetrics[i]
		}
	}
	if p == nil {
		t.Fatalf("no process_metrics entry for pid %d", pid)
	}
	u := p.UtilizationMetrics
	if p.Key.DeviceUUID != gpuUUID0 || p.Key.ContainerID != "" {
		t.Errorf("key %+v, want device %s and no container", p.Key, gpuUUID0)
	}
	if u.ActiveTimePct <= 0 || u.ActiveTimePct >= 100 {
		t.Errorf("active_time_pct %v, want in (0, 100)", u.ActiveTimePct)
	} else if threads := u.UsedCores * 100 / u.ActiveTimePct; math.Abs(threads-720) > 1e-6 {
		t.Errorf("used_cores / active time = %v threads, want 720 (one span of grid 1x2x3, block 4x5x6)", threads)
	}
	if u.Memory.CurrentBytes != 0 || u.Memory.MaxBytes != 1<<20+10 {
		t.Errorf("memory %+v, want current 0 and max 1 MiB + 10 (the allocation, freed, and the shared memory)", u.Memory)
	}
	if len(stats.DeviceMetrics) != 1 || stats.DeviceMetrics[0].DeviceUUID != gpuUUID0 ||
		math.Abs(stats.DeviceMetrics[0].Metrics.ActiveTimePct-u.ActiveTimePct) > 1e-9 {
		t.Errorf("device_metrics %+v, want one for %s at the process's active time", stats.DeviceMetrics, gpuUUID0)
	}
	s.proceed(t)
	s.expect(t, "done")
	if err := s.cmd.Wait(); err != nil {
		t.Errorf("cuda_sample: %v", err)
	}
}
