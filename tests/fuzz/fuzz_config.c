/* libFuzzer target: the configuration loader. */
#include "clientid-config.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1);
	if (text == NULL)
		return 0;
	memcpy(text, data, size);
	text[size] = '\0';
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	err[0] = '\0';
	int ret = clientid_config_load_string("fuzz.conf", text, &cfg, err);
	/* An error always explains itself, naming the file. */
	if (ret != 0 && strncmp(err, "fuzz.conf", 9) != 0)
		abort();
	free(text);
	return 0;
}
