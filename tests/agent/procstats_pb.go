// procstats_pb.go — the protobuf messages of POST /process/stats, written by hand the way
// protoc-gen-gogo writes them: the same struct tags (which gogo's reflection-based marshaller and
// jsonpb read) and the proto.Message methods. Field numbers, types and names come from
//
//	datadog.process.ProcessStatRequest          (datadog-agent pkg/proto/datadog/process/process.proto)
//	datadog.process_agent.ProcStatsWithPermByPID (agent-payload proto/process/agent.proto)
//	datadog.process_agent.ProcStatsWithPerm
//
// README.md says why they are not generated.
package agent

import "github.com/gogo/protobuf/proto"

// ProcessStatRequest is what the process-agent POSTs: `repeated int32 pids = 1` (proto3: packed).
type ProcessStatRequest struct {
	Pids []int32 `protobuf:"varint,1,rep,packed,name=pids,proto3" json:"pids,omitempty"`
}

func (m *ProcessStatRequest) Reset()         { *m = ProcessStatRequest{} }
func (m *ProcessStatRequest) String() string { return proto.CompactTextString(m) }
func (*ProcessStatRequest) ProtoMessage()    {}

// ProcStatsWithPermByPID is the answer: `map<int32, ProcStatsWithPerm> statsByPID = 1`.
type ProcStatsWithPermByPID struct {
	StatsByPID map[int32]*ProcStatsWithPerm `protobuf:"bytes,1,rep,name=statsByPID,proto3" json:"statsByPID,omitempty" protobuf_key:"varint,1,opt,name=key,proto3" protobuf_val:"bytes,2,opt,name=value,proto3"`
}

func (m *ProcStatsWithPermByPID) Reset()         { *m = ProcStatsWithPermByPID{} }
func (m *ProcStatsWithPermByPID) String() string { return proto.CompactTextString(m) }
func (*ProcStatsWithPermByPID) ProtoMessage()    {}

// ProcStatsWithPerm is one process: open fds and /proc/<pid>/io counters.
type ProcStatsWithPerm struct {
	OpenFDCount int32 `protobuf:"varint,1,opt,name=openFDCount,proto3" json:"openFDCount,omitempty"`
	ReadCount   int64 `protobuf:"varint,2,opt,name=readCount,proto3" json:"readCount,omitempty"`
	WriteCount  int64 `protobuf:"varint,3,opt,name=writeCount,proto3" json:"writeCount,omitempty"`
	ReadBytes   int64 `protobuf:"varint,4,opt,name=readBytes,proto3" json:"readBytes,omitempty"`
	WriteBytes  int64 `protobuf:"varint,5,opt,name=writeBytes,proto3" json:"writeBytes,omitempty"`
}

func (m *ProcStatsWithPerm) Reset()         { *m = ProcStatsWithPerm{} }
func (m *ProcStatsWithPerm) String() string { return proto.CompactTextString(m) }
func (*ProcStatsWithPerm) ProtoMessage()    {}
