// languagedetection_test.go — GET /language_detection/detect as the Agent's process collector
// asks it (pkg/languagedetection DetectLanguage → pkg/process/net RemoteSysProbeUtil.DetectLanguage):
// a protobuf DetectLanguageRequest of the unknown pids sent on a GET (no Content-Type), the
// answer read whatever its status and unmarshalled into DetectLanguageResponse, languages taken by
// index.
package agent

import (
	"bytes"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gogo/protobuf/proto"
)

// LanguageClient mirrors RemoteSysProbeUtil's httpClient (pkg/process/net/common.go
// newSystemProbe): 10 s in all, 5 s to the response headers, 2 idle connections kept 30 s,
// dialing the socket whatever the URL's host ("http://unix/...").
type LanguageClient struct {
	hc *http.Client
}

// NewLanguageClient returns the process collector's system-probe client for `socket`.
func NewLanguageClient(socket string) *LanguageClient {
	return &LanguageClient{hc: &http.Client{Timeout: startupTimeout,
		Transport: agentTransport(&dialCounter{socket: socket}, startupHeaderTimout)}}
}

// DetectLanguage is RemoteSysProbeUtil.DetectLanguage: it does not look at the status.
func (c *LanguageClient) DetectLanguage(pids []int32) ([]Language, error) {
	procs := make([]*LanguageDetectionProcess, len(pids))
	for i, pid := range pids {
		procs[i] = &LanguageDetectionProcess{Pid: pid}
	}
	reqBytes, err := proto.Marshal(&DetectLanguageRequest{Processes: procs})
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequest(http.MethodGet, "http://unix/language_detection/detect", bytes.NewBuffer(reqBytes))
	if err != nil {
		return nil, err
	}
	res, err := c.hc.Do(req)
	if err != nil {
		return nil, err
	}
	defer res.Body.Close()
	resBody, err := io.ReadAll(res.Body)
	if err != nil {
		return nil, err
	}
	var resProto DetectLanguageResponse
	if err := proto.Unmarshal(resBody, &resProto); err != nil {
		return nil, fmt.Errorf("status %d: %v", res.StatusCode, err)
	}
	if len(resProto.Languages) > len(pids) {
		// The Agent would index out of range and panic here.
		return nil, fmt.Errorf("%d languages for %d pids", len(resProto.Languages), len(pids))
	}
	langs := make([]Language, len(pids))
	for i, lang := range resProto.Languages {
		langs[i] = Language{Name: LanguageName(lang.Name), Version: lang.Version}
	}
	return langs, nil
}

// exitedPid returns the pid of a child that has exited and been reaped.
func exitedPid(t *testing.T) int32 {
	cmd := exec.Command("true")
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	return int32(cmd.Process.Pid)
}

func TestLanguageDetectionAsTheProcessCollector(t *testing.T) {
	c := NewLanguageClient(suite.daemon.Socket)
	defer c.hc.CloseIdleConnections()

	// A shell that stays the shell (its loop forks each sleep).
	sh := exec.Command("/bin/sh", "-c", "while :; do sleep 1; done")
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { sh.Process.Kill(); sh.Wait() }()
	shell, err := filepath.EvalSymlinks("/bin/sh")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if exe, _ := os.Readlink(fmt.Sprintf("/proc/%d/exe", sh.Process.Pid)); exe == shell {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not start", shell)
		}
		time.Sleep(2 * time.Millisecond)
	}

	// This suite is a Go binary: its toolchain's version is what the build info says.
	self := int32(os.Getpid())
	goLang := Language{Name: "go", Version: runtime.Version()}
	pids := []int32{self, int32(sh.Process.Pid), exitedPid(t), self}
	want := []Language{goLang, {}, {}, goLang}
	got, err := c.DetectLanguage(pids)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got %+v, want %+v", got, want)
	}

	// No unknown pid: the Agent still asks, with an empty body; an empty answer.
	got, err = c.DetectLanguage(nil)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty request: %+v, %v", got, err)
	}

	// A large request (streamed by the daemon): every answer, in order.
	pids, want = nil, nil
	for i := 0; i < 5000; i++ {
		if i%2 == 0 {
			pids, want = append(pids, self), append(want, goLang)
		} else {
			pids, want = append(pids, int32(sh.Process.Pid)), append(want, Language{})
		}
	}
	got, err = c.DetectLanguage(pids)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("5000 pids: the answers differ (%d answers)", len(got))
	}

	// A pid that cannot be (0: the Process message is empty) is a 400 whose body the Agent's
	// unmarshal refuses: the client gets an error, not a wrong answer.
	if got, err := c.DetectLanguage([]int32{self, 0}); err == nil || !strings.Contains(err.Error(), "status 400") {
		t.Fatalf("pid 0: %+v, %v; want the client's error", got, err)
	}
}
