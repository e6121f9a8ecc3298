// daemon.go — starts the real ringprobe binary for the suite and stops it.
//
// The daemon gets a fresh temporary directory holding its config (the inline TOML the suite
// passes, with `{dir}` replaced by that directory) and its unix socket; its stdout and stderr go to
// a log file there. The environment is the suite's minus every DD_* variable and LOG_LEVEL (they
// would override the config, e.g. a developer's DD_SYSPROBE_SOCKET). Ready means: GET /debug/stats
// on the socket answered 200, polled on a fresh connection every 10 ms until a deadline; the
// readiness poll uses its own client, never the Agent's, so that the Agent's first request is its
// own probe. Stop sends SIGTERM and waits for the exit status; Remove deletes the directory.
package agent

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// Daemon is one running ringprobe.
type Daemon struct {
	Dir, Socket, LogPath string

	cmd  *exec.Cmd
	done chan struct{} // closed when the process was reaped
	err  error         // cmd.Wait's result, valid after done
}

// StartDaemon writes the config, starts `bin` and waits until it serves, at most `ready`.
func StartDaemon(bin, toml string, ready time.Duration) (*Daemon, error) {
	dir, err := os.MkdirTemp("", "ringprobe-agent-")
	if err != nil {
		return nil, err
	}
	d := &Daemon{Dir: dir, Socket: filepath.Join(dir, "sysprobe.sock"),
		LogPath: filepath.Join(dir, "ringprobe.log"), done: make(chan struct{})}
	config := filepath.Join(dir, "ringprobe.toml")
	if err := os.WriteFile(config, []byte(strings.ReplaceAll(toml, "{dir}", dir)), 0o644); err != nil {
		d.Remove()
		return nil, err
	}
	logFile, err := os.Create(d.LogPath)
	if err != nil {
		d.Remove()
		return nil, err
	}
	defer logFile.Close()

	d.cmd = exec.Command(bin, "--config", config)
	d.cmd.Stdout = logFile
	d.cmd.Stderr = logFile
	for _, e := range os.Environ() {
		if strings.HasPrefix(e, "DD_") || strings.HasPrefix(e, "LOG_LEVEL=") {
			continue
		}
		d.cmd.Env = append(d.cmd.Env, e)
	}
	if err := d.cmd.Start(); err != nil {
		d.Remove()
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	go func() {
		d.err = d.cmd.Wait()
		close(d.done)
	}()

	if err := d.waitReady(ready); err != nil {
		d.Stop(5 * time.Second)
		log := d.Log()
		d.Remove()
		return nil, fmt.Errorf("%s not ready: %v; its log:\n%s", bin, err, log)
	}
	return d, nil
}

func (d *Daemon) waitReady(timeout time.Duration) error {
	probe := &http.Client{Timeout: time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			var nd net.Dialer
			return nd.DialContext(ctx, "unix", d.Socket)
		},
	}}
	deadline := time.Now().Add(timeout)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		resp, err := probe.Get("http://sysprobe/debug/stats")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("GET /debug/stats: status %d", resp.StatusCode)
		}
		last = err
		select {
		case <-d.done:
			return fmt.Errorf("it exited (%v) before serving", d.err)
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("no 200 from GET /debug/stats within %v (last: %v)", timeout, last)
		}
	}
}

// Running reports whether the process has not exited yet.
func (d *Daemon) Running() bool {
	select {
	case <-d.done:
		return false
	default:
		return true
	}
}

// Stop sends SIGTERM and waits up to `timeout` for the exit; then SIGKILL. It returns the exit
// code (-1 if killed by a signal) and an error when the daemon had to be killed.
func (d *Daemon) Stop(timeout time.Duration) (int, error) {
	if d.Running() {
		_ = d.cmd.Process.Signal(syscall.SIGTERM)
	}
	select {
	case <-d.done:
	case <-time.After(timeout):
		_ = d.cmd.Process.Kill()
		<-d.done
		return -1, fmt.Errorf("ignored SIGTERM for %v: killed", timeout)
	}
	if d.err == nil {
		return 0, nil
	}
	var exit *exec.ExitError
	if errors.As(d.err, &exit) {
		return exit.ExitCode(), nil
	}
	return -1, d.err
}

// Log returns everything the daemon wrote so far.
func (d *Daemon) Log() string {
	b, _ := os.ReadFile(d.LogPath)
	return string(b)
}

// Remove deletes the daemon's directory (config, socket, log).
func (d *Daemon) Remove() { _ = os.RemoveAll(d.Dir) }
