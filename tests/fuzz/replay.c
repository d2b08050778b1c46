/* Runs a fuzz target over files, without libFuzzer: the seed corpus and every
 * crash ever found become a regression test in the ordinary build. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <dirent.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional, as in libFuzzer: called once before the first input. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

static unsigned replay_file(const char *path)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL) {
		perror(path);
		exit(1);
	}
	static uint8_t buf[1 << 20];
	size_t len = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	LLVMFuzzerTestOneInput(buf, len);
	return 1;
}

static unsigned replay(const char *path)
{
	struct stat st;
	if (stat(path, &st) != 0) {
		perror(path);
		exit(1);
	}
	if (!S_ISDIR(st.st_mode))
		return replay_file(path);
	DIR *d = opendir(path);
	unsigned n = 0;
	for (struct dirent *de; d != NULL && (de = readdir(d)) != NULL;) {
		if (de->d_name[0] == '.')
			continue;
		char child[4096];
		snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		n += replay(child);
	}
	if (d != NULL)
		closedir(d);
	return n;
}

int main(int argc, char **argv)
{
	unsigned n = 0;
	if (LLVMFuzzerInitialize != NULL)
		LLVMFuzzerInitialize(&argc, &argv);
	for (int i = 1; i < argc; i++)
		n += replay(argv[i]);
	printf("%u passed, 0 failed\n", n);
	return n > 0 ? 0 : 1;
}
