// ringprobe.cpp — the daemon's main (modules/daemon.h), with every module of this build.
#include "modules/daemon.h"

int main(int argc, char** argv) {
    return rp::modules::daemon_main(argc, argv, rp::modules::registry());
}
