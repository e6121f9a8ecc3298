/* alloc_count.h — the counters file of librp_alloc_count.so (alloc_count.c), read by the
 * benchmark (rp_alloc_read) while the counted process runs. Fixed-width fields, no padding. */
#ifndef RINGPROBE_TOOLS_BENCH_ALLOC_COUNT_H
#define RINGPROBE_TOOLS_BENCH_ALLOC_COUNT_H

#include <stdint.h>

#define RP_ALLOC_COUNTS_MAGIC 0x72705f616c6c6f63ull /* "rp_alloc" */

struct rp_alloc_counts {
	uint64_t magic;
	uint64_t pid;
	uint64_t allocs;   /* malloc, calloc, memalign family, realloc(NULL, n) */
	uint64_t reallocs; /* realloc of a live block */
	uint64_t frees;    /* free of a non-NULL pointer, realloc(p, 0) */
	uint64_t bytes;    /* bytes requested by all of the above */
};

#endif
