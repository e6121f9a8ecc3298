// languagedetection_pb.go — the protobuf messages of GET /language_detection/detect, written by
// hand the way protoc-gen-gogo writes them (README.md says why they are not generated). Field
// numbers, types and names come from datadog-agent pkg/proto/datadog/languagedetection/api.proto
// (package datadog.languagedetection; Go: pkg/proto/pbgo/languagedetection).
package agent

import "github.com/gogo/protobuf/proto"

// LanguageDetectionProcess is languagepb.Process: `int32 pid = 1; string command = 2; repeated
// string cmdline = 3` (the Agent's client fills only the pid).
type LanguageDetectionProcess struct {
	Pid     int32    `protobuf:"varint,1,opt,name=pid,proto3" json:"pid,omitempty"`
	Command string   `protobuf:"bytes,2,opt,name=command,proto3" json:"command,omitempty"`
	Cmdline []string `protobuf:"bytes,3,rep,name=cmdline,proto3" json:"cmdline,omitempty"`
}

func (m *LanguageDetectionProcess) Reset()         { *m = LanguageDetectionProcess{} }
func (m *LanguageDetectionProcess) String() string { return proto.CompactTextString(m) }
func (*LanguageDetectionProcess) ProtoMessage()    {}

// DetectLanguageRequest is languagepb.DetectLanguageRequest: `repeated Process processes = 1`.
type DetectLanguageRequest struct {
	Processes []*LanguageDetectionProcess `protobuf:"bytes,1,rep,name=processes,proto3" json:"processes,omitempty"`
}

func (m *DetectLanguageRequest) Reset()         { *m = DetectLanguageRequest{} }
func (m *DetectLanguageRequest) String() string { return proto.CompactTextString(m) }
func (*DetectLanguageRequest) ProtoMessage()    {}

// DetectedLanguage is languagepb.Language: `string name = 1; string version = 2`.
type DetectedLanguage struct {
	Name    string `protobuf:"bytes,1,opt,name=name,proto3" json:"name,omitempty"`
	Version string `protobuf:"bytes,2,opt,name=version,proto3" json:"version,omitempty"`
}

func (m *DetectedLanguage) Reset()         { *m = DetectedLanguage{} }
func (m *DetectedLanguage) String() string { return proto.CompactTextString(m) }
func (*DetectedLanguage) ProtoMessage()    {}

// DetectLanguageResponse is languagepb.DetectLanguageResponse: `repeated Language languages = 1`.
type DetectLanguageResponse struct {
	Languages []*DetectedLanguage `protobuf:"bytes,1,rep,name=languages,proto3" json:"languages,omitempty"`
}

func (m *DetectLanguageResponse) Reset()         { *m = DetectLanguageResponse{} }
func (m *DetectLanguageResponse) String() string { return proto.CompactTextString(m) }
func (*DetectLanguageResponse) ProtoMessage()    {}

// LanguageName and Language are pkg/languagedetection/languagemodels' (Go = "go", Unknown = "").
type LanguageName string

// Language is languagemodels.Language.
type Language struct {
	Name    LanguageName
	Version string
}
