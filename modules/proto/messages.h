// messages.h — the field numbers of every upstream protobuf message ringprobe reads or writes, one
// namespace per message, named exactly as upstream (package in the comment). Encoders and decoders
// use these names only; no number is written anywhere else.
//
// Sources: DataDog/agent-payload proto/process/*.proto and DataDog/datadog-agent pkg/proto
// (field numbers checked against ../shared/REFERENCE.md and reference/*.md of the project).
#pragma once

#include <protozero/types.hpp>

namespace rp::proto {

using Tag = protozero::pbf_tag_type;

// A proto3 map<K, V> travels as repeated entry messages {K key = 1; V value = 2;}.
namespace MapEntry {
inline constexpr Tag key = 1;
inline constexpr Tag value = 2;
}  // namespace MapEntry

// datadog.process.ProcessStatRequest (datadog-agent pkg/proto/datadog/process/process.proto).
namespace ProcessStatRequest {
inline constexpr Tag pids = 1;  // repeated int32 (packed or not)
}  // namespace ProcessStatRequest

// datadog.process_agent.ProcStatsWithPerm (agent-payload proto/process/agent.proto).
namespace ProcStatsWithPerm {
inline constexpr Tag openFDCount = 1;  // int32
inline constexpr Tag readCount = 2;    // int64
inline constexpr Tag writeCount = 3;   // int64
inline constexpr Tag readBytes = 4;    // int64
inline constexpr Tag writeBytes = 5;   // int64
}  // namespace ProcStatsWithPerm

// datadog.process_agent.ProcStatsWithPermByPID (agent-payload proto/process/agent.proto).
namespace ProcStatsWithPermByPID {
inline constexpr Tag statsByPID = 1;  // map<int32, ProcStatsWithPerm>
}  // namespace ProcStatsWithPermByPID

}  // namespace rp::proto
