/* alloc_count.c — librp_alloc_count.so: an LD_PRELOAD shim that counts heap allocations.
 *
 * Interposes malloc, calloc, realloc, free and the aligned variants (operator new and libstdc++'s
 * containers end in malloc, so C++ allocations are counted too) and forwards each call to glibc's
 * own __libc_* entry points. The counters live in a file mapped MAP_SHARED, named by the
 * environment variable RP_ALLOC_COUNT_FILE, so a benchmark reads them at any moment from outside
 * the process — before and after a load phase — without signals or changes to the program:
 *
 *   RP_ALLOC_COUNT_FILE=/tmp/counts LD_PRELOAD=librp_alloc_count.so ringprobe --config c.toml
 *   od -An -t u8 /tmp/counts        (struct rp_alloc_counts: magic pid allocs reallocs frees bytes)
 *
 * Without the variable the counts stay in the process (nothing is written). Needs: glibc (the
 * __libc_malloc family).
 */
#define _GNU_SOURCE
#include "tools/bench/alloc_count.h"

#include <fcntl.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

extern void *__libc_malloc(size_t size);
extern void *__libc_calloc(size_t n, size_t size);
extern void *__libc_realloc(void *p, size_t size);
extern void *__libc_memalign(size_t alignment, size_t size);
extern void __libc_free(void *p);

static struct rp_alloc_counts local_counts;
static struct rp_alloc_counts *counts = &local_counts;

__attribute__((constructor)) static void rp_alloc_count_init(void)
{
	const char *path = getenv("RP_ALLOC_COUNT_FILE");
	if (path == NULL || *path == '\0')
		return;
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	if (ftruncate(fd, sizeof(struct rp_alloc_counts)) != 0) {
		close(fd);
		return;
	}
	void *m = mmap(NULL, sizeof(struct rp_alloc_counts), PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
	close(fd);
	if (m == MAP_FAILED)
		return;
	struct rp_alloc_counts *shared = m;
	*shared = local_counts;
	shared->magic = RP_ALLOC_COUNTS_MAGIC;
	shared->pid = (uint64_t)getpid();
	__atomic_store_n(&counts, shared, __ATOMIC_RELEASE);
}

#define COUNTS() __atomic_load_n(&counts, __ATOMIC_ACQUIRE)

void *malloc(size_t size)
{
	struct rp_alloc_counts *c = COUNTS();
	__atomic_fetch_add(&c->allocs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->bytes, size, __ATOMIC_RELAXED);
	return __libc_malloc(size);
}

void *calloc(size_t n, size_t size)
{
	struct rp_alloc_counts *c = COUNTS();
	__atomic_fetch_add(&c->allocs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->bytes, n * size, __ATOMIC_RELAXED);
	return __libc_calloc(n, size);
}

void *realloc(void *p, size_t size)
{
	struct rp_alloc_counts *c = COUNTS();
	/* realloc(NULL, n) is an allocation; a resize may move the block: counted apart. */
	if (p == NULL)
		__atomic_fetch_add(&c->allocs, 1, __ATOMIC_RELAXED);
	else if (size == 0)
		__atomic_fetch_add(&c->frees, 1, __ATOMIC_RELAXED);
	else
		__atomic_fetch_add(&c->reallocs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->bytes, size, __ATOMIC_RELAXED);
	return __libc_realloc(p, size);
}

void free(void *p)
{
	if (p == NULL)
		return;
	struct rp_alloc_counts *c = COUNTS();
	__atomic_fetch_add(&c->frees, 1, __ATOMIC_RELAXED);
	__libc_free(p);
}

void *memalign(size_t alignment, size_t size)
{
	struct rp_alloc_counts *c = COUNTS();
	__atomic_fetch_add(&c->allocs, 1, __ATOMIC_RELAXED);
	__atomic_fetch_add(&c->bytes, size, __ATOMIC_RELAXED);
	return __libc_memalign(alignment, size);
}

void *aligned_alloc(size_t alignment, size_t size)
{
	return memalign(alignment, size);
}

int posix_memalign(void **out, size_t alignment, size_t size)
{
	if (alignment < sizeof(void *) || (alignment & (alignment - 1)) != 0)
		return 22; /* EINVAL */
	void *p = memalign(alignment, size);
	if (p == NULL)
		return 12; /* ENOMEM */
	*out = p;
	return 0;
}

void *valloc(size_t size)
{
	return memalign((size_t)sysconf(_SC_PAGESIZE), size);
}

void *pvalloc(size_t size)
{
	size_t page = (size_t)sysconf(_SC_PAGESIZE);
	return memalign(page, (size + page - 1) & ~(page - 1));
}
