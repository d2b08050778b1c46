/* libFuzzer target: the JSON import of clientidctl (policydb_import_validate
 * parses and checks a whole document exactly as the import does, without a
 * store). */
#include "policydb-admin.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[CLIENTID_ERRBUF_SIZE];
	err[0] = '\0';
	int ret = policydb_import_validate((const char *)data, size, err);
	/* Every refusal explains itself. */
	if (ret != 0 && (ret != CLIENTID_E_FORMAT || strncmp(err, "import: ", 8) != 0) &&
	    ret != CLIENTID_E_NOMEM)
		abort();
	return 0;
}
