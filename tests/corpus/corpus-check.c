/* Replays the grammar corpus against the core validator: every y_* file must
 * be accepted and every n_* rejected. Each file is the exact wire bytes of one
 * command line; it is read behind a guard page, as the servers would see it. */
#include "clientid.h"
#include "guard.h"
#include "verdict.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MIN_CASES 40

enum protocol { PROTO_IMAP, PROTO_SMTP };

/* Returns 1 when line (up to its LF, which may follow a CR) is a valid
 * CLIENTID command: the verdict of tests/fuzz/verdict.c, the one
 * implementation of the corpus's rules. */
static int line_accepted(enum protocol proto, const char *line, size_t len)
{
	if (proto == PROTO_IMAP)
		return verdict_imap(line, len) == 1;
	return verdict_smtp(line, len) == 250;
}

/* A server reads up to the first LF (verdict.c drops a CR before it).
 * Anything after that LF is a further command, so a file holding more than
 * one line is never one accepted command. Returns -1 for a file with no LF at all. */
static int wire_accepted(enum protocol proto, const char *data, size_t len)
{
	const char *lf = memchr(data, '\n', len);
	if (lf == NULL)
		return -1;
	int first = line_accepted(proto, data, (size_t)(lf - data));
	return first && (size_t)(lf + 1 - data) == len;
}

static int read_file(const char *path, char **data_r, size_t *len_r)
{
	FILE *f = fopen(path, "rb");
	if (f == NULL)
		return -1;
	char buf[65536];
	size_t len = fread(buf, 1, sizeof(buf), f);
	int bad = ferror(f) || !feof(f);
	fclose(f);
	if (bad)
		return -1;
	*data_r = guard_dup(buf, len);
	*len_r = len;
	return 0;
}

static int check_case(enum protocol proto, const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	char *data;
	size_t len;
	if (read_file(path, &data, &len) < 0) {
		printf("FAIL %s: cannot read\n", path);
		return 0;
	}
	int got = wire_accepted(proto, data, len);
	guard_free(data, len);
	int want = name[0] == 'y';
	if (got < 0) {
		printf("FAIL %s: no line end in the file\n", path);
		return 0;
	}
	if (got != want) {
		printf("FAIL %s: %s, expected %s\n", path, got ? "accepted" : "rejected",
		       want ? "accepted" : "rejected");
		return 0;
	}
	printf("ok   %s\n", name);
	return 1;
}

int main(int argc, char **argv)
{
	if (argc != 3 || (strcmp(argv[1], "imap") != 0 && strcmp(argv[1], "smtp") != 0)) {
		fprintf(stderr, "usage: corpus-check imap|smtp DIR\n");
		return 2;
	}
	enum protocol proto = strcmp(argv[1], "imap") == 0 ? PROTO_IMAP : PROTO_SMTP;
	DIR *d = opendir(argv[2]);
	if (d == NULL) {
		perror(argv[2]);
		return 2;
	}
	unsigned passed = 0, failed = 0;
	struct dirent *de;
	while ((de = readdir(d)) != NULL) {
		if (de->d_name[0] == '.')
			continue;
		if (strncmp(de->d_name, "y_", 2) != 0 && strncmp(de->d_name, "n_", 2) != 0) {
			printf("FAIL %s: a case name starts with y_ or n_\n", de->d_name);
			failed++;
		} else if (check_case(proto, argv[2], de->d_name)) {
			passed++;
		} else {
			failed++;
		}
	}
	closedir(d);
	if (passed + failed < MIN_CASES) {
		printf("FAIL %s: only %u cases, at least %d are required\n", argv[2],
		       passed + failed, MIN_CASES);
		failed++;
	}
	printf("%u passed, %u failed\n", passed, failed);
	return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
