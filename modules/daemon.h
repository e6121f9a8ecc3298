// daemon.h — the ringprobe daemon: parse args → load config → build modules → listen → run loop.
//
// tools/ringprobe.cpp is its main with registry()'s factories; a test build passes others (e.g.
// tests/support/ringprobe_faults.cpp wraps them to inject creation failures), so that no test
// hook lives in the daemon itself.
#pragma once

#include <span>

#include "modules/module.h"

namespace rp::modules {

// Runs the daemon with these factories (in start-up order) and returns its exit code: 0 after a
// graceful stop (SIGTERM/SIGINT) or for --help / --version / a valid --check-config, 1 on a
// start-up error, 2 on bad arguments.
int daemon_main(int argc, char** argv, std::span<const Factory> factories);

}  // namespace rp::modules
