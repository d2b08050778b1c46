/* The backend table: [store] backend names one of these; each backend has
 * its own file. Also what every backend shares: device versions. */
#include "backend.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

static const struct policydb_backend *const backends[] = {
    [CLIENTID_BACKEND_LMDB] = &policydb_backend_lmdb,
#ifdef POLICYDB_HAVE_POSTGRESQL
    [CLIENTID_BACKEND_POSTGRESQL] = &policydb_backend_postgresql,
#endif
};

const struct policydb_backend *pdb_backend_find(enum clientid_store_backend which)
{
	if ((unsigned)which >= sizeof(backends) / sizeof(backends[0]))
		return NULL;
	return backends[which];
}

uint64_t pdb_version_draw(void)
{
	static uint64_t counter;
	uint64_t version = 0;
	while (version == 0) {
		if (getrandom(&version, sizeof(version), GRND_NONBLOCK) !=
		    (ssize_t)sizeof(version)) {
			/* No entropy yet (early boot): unique is enough. */
			struct timespec ts;
			clock_gettime(CLOCK_REALTIME, &ts);
			version = ((uint64_t)ts.tv_sec << 32 ^ (uint64_t)ts.tv_nsec) * 31 +
			          ((uint64_t)getpid() << 20) + ++counter;
		}
	}
	return version;
}
