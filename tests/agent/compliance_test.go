// compliance_test.go — the security-agent's use of system-probe for the CIS database benchmarks
// (datadog-agent pkg/compliance/sysprobe.go, RemoteSysProbeClient.FetchDBConfig): GET
// /compliance/dbconfig?pid=N on host "unix", 200 decoded into *dbconfig.DBResource, any other
// status an error. The stand-in servers are this test binary under the servers' names.
package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"testing"
	"time"
)

// sysProbeClient mirrors compliance.RemoteSysProbeClient.
type sysProbeClient struct{ client *http.Client }

func newSysProbeClient(address string) *sysProbeClient {
	return &sysProbeClient{client: &http.Client{
		Timeout: 10 * time.Second,
		Transport: &http.Transport{
			MaxIdleConns:    2,
			IdleConnTimeout: 30 * time.Second,
			DialContext: func(_ context.Context, _, _ string) (net.Conn, error) {
				return net.Dial("unix", address)
			},
			TLSHandshakeTimeout:   1 * time.Second,
			ResponseHeaderTimeout: 5 * time.Second,
			ExpectContinueTimeout: 50 * time.Millisecond,
		},
	}}
}

// FetchDBConfig is RemoteSysProbeClient.FetchDBConfig; the raw body comes back too.
func (c *sysProbeClient) FetchDBConfig(ctx context.Context, pid int32) (*DBResource, []byte, error) {
	qs := make(url.Values)
	qs.Add("pid", strconv.FormatInt(int64(pid), 10))
	u := &url.URL{Scheme: "http", Host: "unix", Path: "/compliance/dbconfig", RawQuery: qs.Encode()}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return nil, nil, err
	}
	resp, err := c.client.Do(req)
	if err != nil {
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, nil, fmt.Errorf("error running cross-container benchmark: %s", resp.Status)
	}
	var resource *DBResource
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, nil, err
	}
	if err := json.Unmarshal(body, &resource); err != nil {
		return nil, body, err
	}
	return resource, body, nil
}

// reencode decodes body again with config_data typed as `data` (unknown fields refused) and
// checks that encoding/json writes exactly the daemon's bytes back — but for HTML escaping:
// system-probe's encoder writes <, > and & as \u003c, \u003e, \u0026, ringprobe writes them as
// they are (the same JSON string values).
func reencode(t *testing.T, body []byte, data interface{}) {
	t.Helper()
	typed := struct {
		Type        string `json:"type"`
		ContainerID string `json:"container_id,omitempty"`
		Config      struct {
			ProcessName     string            `json:"process_name,omitempty"`
			ProcessUser     string            `json:"process_user,omitempty"`
			ProcessFlags    map[string]string `json:"process_flags,omitempty"`
			ConfigFilePath  string            `json:"config_file_path"`
			ConfigFileUser  string            `json:"config_file_user"`
			ConfigFileGroup string            `json:"config_file_group"`
			ConfigFileMode  uint32            `json:"config_file_mode"`
			ConfigData      interface{}       `json:"config_data"`
		} `json:"config"`
	}{}
	typed.Config.ConfigData = data
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&typed); err != nil {
		t.Fatalf("the Agent's types reject the body: %v\n%s", err, body)
	}
	var again bytes.Buffer
	enc := json.NewEncoder(&again)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(typed); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(again.Bytes(), body) {
		t.Errorf("encoding/json writes it differently:\n daemon: %s\n go:     %s", body, again.Bytes())
	}
}

func TestComplianceDBConfig(t *testing.T) {
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	c := newSysProbeClient(suite.daemon.Socket)
	defer c.client.CloseIdleConnections()
	ctx := context.Background()

	pgConf := filepath.Join(dir, "postgresql.conf")
	write := func(path, text string) {
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
		_ = os.Chmod(path, 0o644)
	}
	write(pgConf, "wal_level = 'logical'\nport = 5433\nssl = yes\nnot_a_setting = 1\ninclude 'more.conf'\n")
	write(filepath.Join(dir, "more.conf"), "max_connections = 20\n")
	pg := startFake(t, dir, "postgres", "--config-file="+pgConf, "--port=6000")

	r, body, err := c.FetchDBConfig(ctx, int32(pg))
	if err != nil {
		t.Fatalf("FetchDBConfig(postgres): %v (%s)", err, body)
	}
	if r.Type != "db_postgresql" || r.Config.ProcessName != "postgres" || r.Config.ConfigFilePath != pgConf ||
		r.Config.ConfigFileMode != 0o644 || r.Config.ConfigFileUser == "" || r.Config.ConfigFileGroup == "" ||
		r.Config.ProcessUser == "" {
		t.Errorf("postgres resource: %+v", r)
	}
	want := map[string]interface{}{"wal_level": "logical", "port": "6000", "ssl": "on", "max_connections": "20"}
	if !reflect.DeepEqual(r.Config.ConfigData, want) {
		t.Errorf("postgres config_data = %v, want %v", r.Config.ConfigData, want)
	}
	reencode(t, body, &map[string]string{})

	mongoConf := filepath.Join(dir, "mongod.conf")
	write(mongoConf, "systemLog:\n  destination: file\n  logAppend: true\n  verbosity: 1\n"+
		"net:\n  port: 27017\n  bindIp: 127.0.0.1\n  tls: {mode: requireTLS}\n"+
		"security:\n  authorization: enabled\n  clusterIpSourceAllowlist: [10.0.0.0/8]\n"+
		"storage: {dbPath: /var/lib/mongodb, oplogMinRetentionHours: 1.5}\n"+
		"replication: {replSetName: rs0}\nsetParameter: {enableLocalhostAuthBypass: false}\n")
	mongod := startFake(t, dir, "mongod", "--config", mongoConf, "--tlsClusterPassword", "x")
	r, body, err = c.FetchDBConfig(ctx, int32(mongod))
	if err != nil {
		t.Fatalf("FetchDBConfig(mongod): %v (%s)", err, body)
	}
	if r.Type != "db_mongodb" || r.Config.ConfigFilePath != mongoConf ||
		!reflect.DeepEqual(r.Config.ProcessFlags, map[string]string{"--config": mongoConf, "--tlsClusterPassword": "<redacted>"}) {
		t.Errorf("mongod resource: %+v", r)
	}
	var mongo MongoDBConfig
	reencode(t, body, &mongo)
	if mongo.Net == nil || mongo.Net.Port == nil || *mongo.Net.Port != 27017 || mongo.Storage == nil ||
		*mongo.Storage.OplogMinRetentionHours != 1.5 || mongo.SetParameter == nil ||
		*mongo.SetParameter.EnableLocalhostAuthBypass != false || mongo.Security == nil ||
		!reflect.DeepEqual(*mongo.Security.ClusterIPSourceAllowlist, []string{"10.0.0.0/8"}) {
		t.Errorf("mongod config_data decoded as %s", body)
	}

	// Not a database (this test process), and a pid that does not exist: the client's error.
	for _, pid := range []int32{int32(os.Getpid()), 2147483647} {
		if _, _, err := c.FetchDBConfig(ctx, pid); err == nil ||
			err.Error() != "error running cross-container benchmark: 404 Not Found" {
			t.Errorf("FetchDBConfig(%d) error = %v", pid, err)
		}
	}
	// A pid that is no integer: 400 with Go's strconv text.
	resp, err := c.client.Get("http://unix/compliance/dbconfig?pid=x1")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 400 || resp.Header.Get("Content-Type") != "text/plain" ||
		string(b) != `pid query parameter is not an integer: strconv.ParseInt: parsing "x1": invalid syntax` {
		t.Errorf("bad pid: %d %q %q", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
}
