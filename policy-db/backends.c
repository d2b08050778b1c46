/* The backend table: [store] backend names one of these. LMDB is the only
 * one today; a second backend adds a row here and its own file. */
#include "backend.h"

static const struct policydb_backend *const backends[] = {
    [CLIENTID_BACKEND_LMDB] = &policydb_backend_lmdb,
};

const struct policydb_backend *pdb_backend_find(enum clientid_store_backend which)
{
	if ((unsigned)which >= sizeof(backends) / sizeof(backends[0]))
		return NULL;
	return backends[which];
}
