// fakeserver.go — stand-ins for other programs, run from this very test binary: copied to a file
// named postgres or mongod (the compliance module requires the process name to be its executable's
// name) and started with RINGPROBE_AGENT_FAKE=server, it waits to be killed; with
// RINGPROBE_AGENT_FAKE=spin it burns CPU on one thread.
package agent

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const fakeEnv = "RINGPROBE_AGENT_FAKE"

// runFakeIfAsked never returns when this process is a stand-in.
func runFakeIfAsked() {
	switch os.Getenv(fakeEnv) {
	case "server":
		for {
			time.Sleep(time.Hour)
		}
	}
}

// startFake copies this binary to dir/name and runs it with args; the process is killed and
// reaped at the end of the test. It returns once /proc/<pid>/cmdline shows args.
func startFake(t *testing.T, dir, name string, args ...string) int {
	t.Helper()
	exe := filepath.Join(dir, name)
	if err := copyFile(os.Args[0], exe, 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, args...)
	cmd.Env = append(os.Environ(), fakeEnv+"=server")
	if err := cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", exe, err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	want := strings.Join(append([]string{exe}, args...), "\x00") + "\x00"
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", cmd.Process.Pid))
		if string(b) == want {
			return cmd.Process.Pid
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start (cmdline %q)", name, b)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func copyFile(from, to string, mode os.FileMode) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, mode)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// inode of path (a cgroup v2 directory's inode is its cgroup id).
func inode(t *testing.T, path string) uint64 {
	t.Helper()
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}
