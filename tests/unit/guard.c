#include "guard.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

static size_t page_size(void)
{
	return (size_t)sysconf(_SC_PAGESIZE);
}

static size_t data_pages(size_t len)
{
	return (len + page_size() - 1) / page_size();
}

char *guard_dup(const void *data, size_t len)
{
	size_t ps = page_size(), n = data_pages(len);
	char *base =
	    mmap(NULL, (n + 1) * ps, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (base == MAP_FAILED || mprotect(base + n * ps, ps, PROT_NONE) != 0) {
		perror("guard_dup: mmap");
		abort();
	}
	char *p = base + n * ps - len;
	if (len > 0)
		memcpy(p, data, len);
	return p;
}

char *guard_strdup(const char *s)
{
	return guard_dup(s, strlen(s) + 1);
}

void guard_free(char *p, size_t len)
{
	size_t ps = page_size(), n = data_pages(len);
	munmap(p + len - n * ps, (n + 1) * ps);
}
