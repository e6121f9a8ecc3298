// netpath_model.go — the types the Agent decodes the ping and traceroute answers into, mirrored
// field by field (JSON tags, Go types, omitempty) so that encoding/json fails here where it would
// fail in the Agent.
package agent

import (
	"errors"
	"fmt"
	"net"
	"time"
)

// PingResult mirrors datadog-agent pkg/networkdevice/pinger.Result (pinger.go).
type PingResult struct {
	CanConnect bool          `json:"can_connect"`
	PacketLoss float64       `json:"packet_loss"`
	AvgRtt     time.Duration `json:"avg_rtt"`
}

// The types below mirror datadog-agent pkg/networkpath/payload (pathevent.go) and, for Via,
// pkg/network/payload.

type Protocol string
type PathOrigin string
type TestRunType string
type SourceProduct string
type CollectorType string

// PayloadSubnet mirrors pkg/network/payload.Subnet (the protobuf Subnet of connections_pb.go is
// another type with the same name upstream).
type PayloadSubnet struct {
	Alias string `json:"alias"`
}

type Via struct {
	Subnet PayloadSubnet `json:"subnet"`
}

type NetworkPathSource struct {
	Name        string `json:"name"`
	DisplayName string `json:"display_name"`
	Hostname    string `json:"hostname"`
	Via         *Via   `json:"via,omitempty"`
	NetworkID   string `json:"network_id,omitempty"`
	Service     string `json:"service,omitempty"`
	ContainerID string `json:"container_id,omitempty"`
	PublicIP    string `json:"public_ip,omitempty"`
}

type NetworkPathDestination struct {
	Hostname string `json:"hostname"`
	Port     uint16 `json:"port"`
	Service  string `json:"service,omitempty"`
}

type E2eProbeRttLatency struct {
	Avg float64 `json:"avg"`
	Min float64 `json:"min"`
	Max float64 `json:"max"`
}

type E2eProbe struct {
	RTTs                 []float64          `json:"rtts"`
	PacketsSent          int                `json:"packets_sent"`
	PacketsReceived      int                `json:"packets_received"`
	PacketLossPercentage float32            `json:"packet_loss_percentage"`
	Jitter               float64            `json:"jitter"`
	RTT                  E2eProbeRttLatency `json:"rtt"`
}

type HopCountStats struct {
	Avg float64 `json:"avg"`
	Min int     `json:"min"`
	Max int     `json:"max"`
}

type Traceroute struct {
	Runs     []TracerouteRun `json:"runs"`
	HopCount HopCountStats   `json:"hop_count"`
}

type TracerouteRun struct {
	RunID       string                `json:"run_id"`
	Source      TracerouteSource      `json:"source"`
	Destination TracerouteDestination `json:"destination"`
	Hops        []TracerouteHop       `json:"hops"`
}

type TracerouteHop struct {
	TTL        int      `json:"ttl"`
	IPAddress  net.IP   `json:"ip_address"`
	ReverseDNS []string `json:"reverse_dns,omitempty"`
	RTT        float64  `json:"rtt,omitempty"`
	Reachable  bool     `json:"reachable"`
}

type TracerouteSource struct {
	IPAddress net.IP `json:"ip_address"`
	Port      uint16 `json:"port"`
}

type TracerouteDestination struct {
	IPAddress  net.IP   `json:"ip_address"`
	Port       uint16   `json:"port"`
	ReverseDNS []string `json:"reverse_dns,omitempty"`
}

type NetworkPath struct {
	Timestamp     int64                  `json:"timestamp"`
	AgentVersion  string                 `json:"agent_version"`
	Namespace     string                 `json:"namespace"`
	TestConfigID  string                 `json:"test_config_id"`
	TestResultID  string                 `json:"test_result_id"`
	TestRunID     string                 `json:"test_run_id"`
	Origin        PathOrigin             `json:"origin"`
	TestRunType   TestRunType            `json:"test_run_type"`
	SourceProduct SourceProduct          `json:"source_product"`
	CollectorType CollectorType          `json:"collector_type"`
	Protocol      Protocol               `json:"protocol"`
	Source        NetworkPathSource      `json:"source"`
	Destination   NetworkPathDestination `json:"destination"`
	Traceroute    Traceroute             `json:"traceroute"`
	E2eProbe      E2eProbe               `json:"e2e_probe"`
	Tags          []string               `json:"tags,omitempty"`
}

// ValidateNetworkPath is the Agent's payload.ValidateNetworkPath (utils.go): every run needs a
// destination address that parsed.
func ValidateNetworkPath(path *NetworkPath) error {
	if path == nil {
		return errors.New("invalid nil path")
	}
	for i, run := range path.Traceroute.Runs {
		if len(run.Destination.IPAddress) == 0 {
			return fmt.Errorf("traceroute run %d (%s) has invalid destination IP address for %s:%d",
				i, run.RunID, path.Destination.Hostname, path.Destination.Port)
		}
	}
	return nil
}
