// triggers.go — runs triggers/triggers.c (rp_agent_triggers) and reads the facts it prints.
package agent

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// memcgRoot is where the helper makes its cgroups (cgroup v1 memory controller).
const memcgRoot = "/sys/fs/cgroup/memory"

// Facts is one line of `key=value` pairs printed by the helper.
type Facts map[string]string

// Int returns the integer value of key; a missing or malformed value is an error.
func (f Facts) Int(key string) (int64, error) {
	v, ok := f[key]
	if !ok {
		return 0, fmt.Errorf("helper printed no %q in %v", key, f)
	}
	return strconv.ParseInt(v, 10, 64)
}

func parseFacts(line string) Facts {
	f := Facts{}
	for _, kv := range strings.Fields(line) {
		if k, v, ok := strings.Cut(kv, "="); ok {
			f[k] = v
		}
	}
	return f
}

// RunTrigger runs `helper args...` to completion and returns its facts. A cgroup named in
// args[1] that the helper left behind (it removes its own; this covers a helper killed by the
// timeout) is removed too.
func RunTrigger(helper string, timeout time.Duration, args ...string) (Facts, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, helper, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout = &stdout
	cmd.Stderr = &stderr
	err := cmd.Run()
	if len(args) >= 2 && args[0] != "hold" {
		if dir := filepath.Join(memcgRoot, args[1]); dirExists(dir) {
			_ = os.Remove(dir)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s %s: %v; stderr: %s", filepath.Base(helper),
			strings.Join(args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return parseFacts(stdout.String()), nil
}

func dirExists(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// Holder is a `rp_agent_triggers hold` process: blocked on its stdin, its counters stay still.
type Holder struct {
	Pid   int
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

// StartHolder starts a holder with `fds` more descriptors that made `writes` writes, and waits
// until it says ready.
func StartHolder(helper string, fds, writes int) (*Holder, error) {
	cmd := exec.Command(helper, "hold", strconv.Itoa(fds), strconv.Itoa(writes))
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, err
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	h := &Holder{Pid: cmd.Process.Pid, cmd: cmd, stdin: stdin}
	line, err := bufio.NewReader(stdout).ReadString('\n')
	if err != nil || line != "ready\n" {
		h.Stop()
		return nil, fmt.Errorf("holder did not get ready: %q, %v", line, err)
	}
	return h, nil
}

// Stop closes the holder's stdin (it exits) and reaps it; the error is its exit status.
func (h *Holder) Stop() error {
	h.stdin.Close()
	return h.cmd.Wait()
}

// ProcFacts is what the kernel says of a process right now: what POST /process/stats must report.
type ProcFacts struct {
	OpenFDs                                      int32
	ReadCount, WriteCount, ReadBytes, WriteBytes int64
}

// ReadProcFacts reads /proc/<pid>/fd and /proc/<pid>/io.
func ReadProcFacts(pid int) (ProcFacts, error) {
	var pf ProcFacts
	entries, err := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	if err != nil {
		return pf, err
	}
	pf.OpenFDs = int32(len(entries))
	io, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid))
	if err != nil {
		return pf, err
	}
	for _, line := range strings.Split(string(io), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
		if err != nil {
			return pf, fmt.Errorf("/proc/%d/io: %q: %v", pid, line, err)
		}
		switch k {
		case "syscr":
			pf.ReadCount = n
		case "syscw":
			pf.WriteCount = n
		case "read_bytes":
			pf.ReadBytes = n
		case "write_bytes":
			pf.WriteBytes = n
		}
	}
	return pf, nil
}
