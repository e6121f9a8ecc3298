# inject.cmake — lets tools/bench/run build the bench tools before the root CMakeLists.txt adds
# tools/bench itself: `cmake -DCMAKE_PROJECT_INCLUDE=<this file> -DRINGPROBE_BENCH=ON ...` defers an
# include() of tools/bench/CMakeLists.txt to the end of the top-level directory (CMake refuses
# add_subdirectory there), unless the tree already added it (then this file does nothing).
function(_rp_bench_add_deferred)
    if(RINGPROBE_BENCH AND NOT TARGET rp_loadgen)
        include(${CMAKE_SOURCE_DIR}/tools/bench/CMakeLists.txt)
    endif()
endfunction()
if(CMAKE_CURRENT_SOURCE_DIR STREQUAL CMAKE_SOURCE_DIR)
    cmake_language(DEFER CALL _rp_bench_add_deferred)
endif()
