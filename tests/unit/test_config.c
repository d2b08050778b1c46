/* The configuration loader: tables of {file text, expected code, message}. */
#include "clientid-config.h"
#include "guard.h"
#include "unit.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int load(const char *text, struct clientid_config *cfg, char *err)
{
	char *p = guard_strdup(text);
	size_t len = strlen(text) + 1;
	err[0] = '\0';
	int ret = clientid_config_load_string("test.conf", p, cfg, err);
	guard_free(p, len);
	return ret;
}

static void test_defaults(void)
{
	struct clientid_config def, empty;
	char err[CLIENTID_ERRBUF_SIZE];
	clientid_config_defaults(&def);
	CU_ASSERT_EQUAL(load("", &empty, err), 0);
	CU_ASSERT(memcmp(&def, &empty, sizeof(def)) == 0);
	/* The safe defaults that the man page promises. */
	CU_ASSERT_EQUAL(def.mode, CLIENTID_MODE_OBSERVE);
	CU_ASSERT_EQUAL(def.require_clientid, 0);
	CU_ASSERT_EQUAL(def.store_on_error, CLIENTID_STORE_ERROR_TEMPFAIL);
	CU_ASSERT_STRING_EQUAL(def.store_path, "/var/lib/clientid");
	CU_ASSERT_STRING_EQUAL(def.secret_file, "/etc/clientid/secret");
	CU_ASSERT_EQUAL(def.store_map_size, 64u << 20);
	CU_ASSERT_EQUAL(def.device_fail_window, 900);
	CU_ASSERT_EQUAL(def.default_handling, CLIENTID_HANDLE_SYSLOG | CLIENTID_HANDLE_AUTH);
	CU_ASSERT_EQUAL(def.attack_fail_threshold, 0);
	CU_ASSERT_EQUAL(def.travel_window, 0);
}

#define X10(s)    s s s s s s s s s s
#define LONG_PATH "/" X10(X10(X10("x")))
#define LONG_LINE "[events]\nalert_command = " LONG_PATH X10(X10("zz")) "\n"

static void test_values(void)
{
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE];
	const char *text = "; comment\n"
	                   "[store]\npath = /srv/clientid\nmap_size = 1G\non_error = allow\n"
	                   "[policy]\nmode = ENFORCE\nrequire_clientid = yes\n"
	                   "[limits]\ndevice_fail_limit = 3\ndevice_fail_window = 2h\n"
	                   "ip_fail_window = 90\n"
	                   "[types]\nallow = uuid, TBIRD-UUID\ndeny = cookie\n"
	                   "[type uuid]\nhandling = syslog auth alert-failure\n"
	                   "[type COOKIE]\nhandling = ignore\n"
	                   "[travel]\nwindow = 10m\naction = deny\n"
	                   "[events]\nalert_command = /usr/local/bin/notify\n";
	CU_ASSERT_EQUAL_FATAL(load(text, &cfg, err), 0);
	CU_ASSERT_EQUAL(cfg.store_backend, CLIENTID_BACKEND_LMDB);
	CU_ASSERT_STRING_EQUAL(cfg.store_dsn, "");
	const char *pg =
	    "[store]\nbackend = postgresql\n"
	    "dsn = postgresql://clientid@db1.example.org/clientid?sslmode=verify-full\n";
	struct clientid_config pgcfg;
	CU_ASSERT_EQUAL_FATAL(load(pg, &pgcfg, err), 0);
	CU_ASSERT_EQUAL(pgcfg.store_backend, CLIENTID_BACKEND_POSTGRESQL);
	CU_ASSERT_STRING_EQUAL(
	    pgcfg.store_dsn, "postgresql://clientid@db1.example.org/clientid?sslmode=verify-full");
	CU_ASSERT_STRING_EQUAL(cfg.store_path, "/srv/clientid");
	CU_ASSERT_EQUAL(cfg.store_map_size, 1ull << 30);
	CU_ASSERT_EQUAL(cfg.store_on_error, CLIENTID_STORE_ERROR_ALLOW);
	CU_ASSERT_EQUAL(cfg.mode, CLIENTID_MODE_ENFORCE);
	CU_ASSERT_EQUAL(cfg.require_clientid, 1);
	CU_ASSERT_EQUAL(cfg.device_fail_limit, 3);
	CU_ASSERT_EQUAL(cfg.device_fail_window, 7200);
	CU_ASSERT_EQUAL(cfg.ip_fail_window, 90);
	CU_ASSERT_EQUAL(cfg.types_allow.count, 2);
	CU_ASSERT_STRING_EQUAL(cfg.types_allow.type[0], "UUID");
	CU_ASSERT_STRING_EQUAL(cfg.types_allow.type[1], "TBIRD-UUID");
	CU_ASSERT_EQUAL(cfg.types_deny.count, 1);
	CU_ASSERT_EQUAL(cfg.travel_window, 600);
	CU_ASSERT_EQUAL(cfg.travel_action, CLIENTID_TRAVEL_DENY);
	CU_ASSERT_STRING_EQUAL(cfg.alert_command, "/usr/local/bin/notify");
	CU_ASSERT_EQUAL(clientid_config_type_handling(&cfg, "Uuid", 4),
	                CLIENTID_HANDLE_SYSLOG | CLIENTID_HANDLE_AUTH |
	                    CLIENTID_HANDLE_ALERT_FAILURE);
	CU_ASSERT_EQUAL(clientid_config_type_handling(&cfg, "cookie", 6), CLIENTID_HANDLE_IGNORE);
	CU_ASSERT_EQUAL(clientid_config_type_handling(&cfg, "LICENSE", 7), cfg.default_handling);
	CU_ASSERT_EQUAL(load("[events]\nalert_command = " LONG_PATH "\n", &cfg, err), 0);
	CU_ASSERT_STRING_EQUAL(cfg.alert_command, LONG_PATH);
}

struct bad_case {
	const char *text;
	const char *message; /* must appear in the error, which starts with test.conf:LINE: */
};

static void test_errors(void)
{
	static const struct bad_case cases[] = {
	    {"[policy]\nmode = strict\n",
	     "test.conf:2: [policy] mode: 'strict' is not one of: off, observe, learn, enforce"},
	    {"[policy]\nmodus = learn\n", "test.conf:2: [policy] modus: unknown key"},
	    {"[polcy]\nmode = learn\n", "test.conf:2: [polcy] mode: unknown section"},
	    {"mode = learn\n", "test.conf:1: [] mode: key outside any section"},
	    {"[policy]\nmode = learn\nmode = off\n", "test.conf:3: [policy] mode: key given twice"},
	    {"[policy]\nrequire_clientid = maybe\n",
	     "test.conf:2: [policy] require_clientid: 'maybe' is not yes or no"},
	    {"[policy]\nlearn_max_devices = 0\n",
	     "[policy] learn_max_devices: 0 is out of range (1..1000)"},
	    {"[policy]\nlearn_max_devices = -1\n", "learn_max_devices: '-1' is not a whole number"},
	    {"[policy]\nlearn_max_devices = 5x\n", "'5x' is not a whole number"},
	    {"[limits]\ndevice_fail_window = 5w\n", "device_fail_window: '5w' is not a duration"},
	    {"[limits]\ndevice_fail_window = 99999999999999999999\n", "is not a duration"},
	    {"[limits]\ndevice_fail_window = 31d\n", "31d is out of range"},
	    {"[store]\nmap_size = 512K\n", "map_size: 512K is out of range"},
	    {"[store]\nmap_size = 99999999999G\n", "map_size: '99999999999G' is not a size"},
	    {"[store]\npath = var/lib\n",
	     "test.conf:2: [store] path: 'var/lib' is not an absolute path"},
	    {"[store]\npath =\n", "[store] path: '' is not an absolute path"},
	    {"[store]\nbackend = redis\n",
	     "[store] backend: 'redis' is not one of: lmdb, postgresql"},
	    {"[store]\ndsn = host=db1 password=hunter2\n", "[store] dsn: holds a password"},
	    {"[store]\ndsn = host=db1 PassWord = hunter2\n", "[store] dsn: holds a password"},
	    {"[store]\ndsn = postgresql://clientid:hunter2@db1/clientid\n",
	     "[store] dsn: holds a password; put it in a passfile"},
	    {"[store]\ndsn = postgresql://db1/clientid?password=hunter2\n",
	     "[store] dsn: holds a password"},
	    {"[types]\nallow = UUID DEVICE_ID\n", "[types] allow: 'UUID DEVICE_ID' is not a list"},
	    {"[types]\ndefault_handling = syslog loud\n",
	     "[types] default_handling: 'syslog loud'"},
	    {"[types]\ndefault_handling = ignore auth\n", "(ignore stands alone)"},
	    {"[type UU_ID]\nhandling = auth\n",
	     "[type UU_ID] handling: 'UU_ID' is not a client-id-type"},
	    {"[type UUID]\nflags = auth\n", "[type UUID] flags: unknown key"},
	    {"[type UUID]\nhandling = auth\n[type uuid]\nhandling = syslog\n",
	     "test.conf:4: [type uuid] handling: key given twice"},
	    {"[policy\nmode = learn\n", "test.conf:1: syntax error"},
	    {"[policy]\njust words\n", "test.conf:2: syntax error"},
	    {"[policy]\nmode = learn\n[limits]\nbogus = 1\n[policy]\nmodus = 2\n",
	     "test.conf:4: [limits] bogus: unknown key"},
	    {"[policy]\nmode = learn\n  enforce\n", "test.conf:3: syntax error"},
	    {LONG_LINE, "test.conf:2: line longer than 1149 characters"},
	};
	for (size_t i = 0; i < N_ELEMENTS(cases); i++) {
		struct clientid_config cfg;
		char err[CLIENTID_ERRBUF_SIZE];
		int got = load(cases[i].text, &cfg, err);
		CU_ASSERT_EQUAL(got, CLIENTID_E_CONFIG);
		/* A refused value that may be a password is never echoed. */
		if (strstr(err, cases[i].message) == NULL || strstr(err, "hunter2") != NULL) {
			fprintf(stderr, "config case %zu: error '%s' lacks '%s'\n", i, err,
			        cases[i].message);
			CU_FAIL("error message");
		}
	}
}

static void test_file(void)
{
	char path[] = "/tmp/clientid-test-conf-XXXXXX";
	int fd = mkstemp(path);
	CU_ASSERT_FATAL(fd >= 0);
	const char text[] = "[policy]\nmode = learn\n\n[store]\nfoo = 1\n";
	CU_ASSERT_FATAL(write(fd, text, sizeof(text) - 1) == (ssize_t)(sizeof(text) - 1));
	close(fd);
	struct clientid_config cfg;
	char err[CLIENTID_ERRBUF_SIZE], want[600];
	CU_ASSERT_EQUAL(clientid_config_load(path, &cfg, err), CLIENTID_E_CONFIG);
	snprintf(want, sizeof(want), "%s:5: [store] foo: unknown key", path);
	CU_ASSERT_STRING_EQUAL(err, want);
	unlink(path);
	CU_ASSERT_EQUAL(clientid_config_load(path, &cfg, err), CLIENTID_E_IO);
	CU_ASSERT_PTR_NOT_NULL(strstr(err, path));
	CU_ASSERT_PTR_NOT_NULL(strstr(err, "No such file"));
}

/* Uncomments the ";key = value" lines of text in place (a ';' right before
 * a key name and " ="), except in a commented-out section (";[type X]",
 * an example); returns how many it uncommented. */
static unsigned uncomment_keys(char *text)
{
	unsigned n = 0;
	int example = 0;
	for (char *line = text; line != NULL && *line != '\0';) {
		char *end = strchr(line, '\n');
		if (line[0] == '[' || strncmp(line, ";[", 2) == 0)
			example = line[0] == ';';
		size_t key =
		    line[0] == ';' ? strspn(line + 1, "abcdefghijklmnopqrstuvwxyz0123456789_") : 0;
		if (!example && key > 0 && strncmp(line + 1 + key, " =", 2) == 0) {
			line[0] = ' ';
			n++;
		}
		line = end != NULL ? end + 1 : NULL;
	}
	return n;
}

/* docs/clientid.conf lists every key with its default, commented out: with
 * those lines uncommented it loads, and gives exactly the defaults. */
static void test_example_file(void)
{
	const char *src = getenv("CLIENTID_SRCDIR");
	CU_ASSERT_PTR_NOT_NULL_FATAL(src);
	char path[4096], err[CLIENTID_ERRBUF_SIZE];
	snprintf(path, sizeof(path), "%s/docs/clientid.conf", src);
	FILE *f = fopen(path, "r");
	CU_ASSERT_PTR_NOT_NULL_FATAL(f);
	static char text[65536];
	size_t len = fread(text, 1, sizeof(text) - 1, f);
	fclose(f);
	CU_ASSERT_FATAL(len > 0 && len < sizeof(text) - 1);
	text[len] = '\0';
	/* every key of config.c's table; the example has them all */
	CU_ASSERT(uncomment_keys(text) >= 28);
	struct clientid_config def, example;
	clientid_config_defaults(&def);
	int ret =
	    clientid_config_load_string("docs/clientid.conf, uncommented", text, &example, err);
	CU_ASSERT_EQUAL(ret, 0);
	if (ret != 0)
		fprintf(stderr, "%s\n", err);
	CU_ASSERT(memcmp(&def, &example, sizeof(def)) == 0);
}

static void test_mode_names(void)
{
	for (int m = CLIENTID_MODE_OFF; m <= CLIENTID_MODE_ENFORCE; m++) {
		enum clientid_mode back;
		CU_ASSERT_EQUAL(
		    clientid_mode_parse(clientid_mode_name((enum clientid_mode)m), &back), 0);
		CU_ASSERT_EQUAL((int)back, m);
	}
	enum clientid_mode mode;
	CU_ASSERT_PTR_NULL(clientid_mode_name((enum clientid_mode)7));
	CU_ASSERT_EQUAL(clientid_mode_parse("paranoid", &mode), CLIENTID_E_INVAL);
}

void register_config(void);
void register_config(void)
{
	static const struct unit_test tests[] = {
	    {"defaults", test_defaults},
	    {"values", test_values},
	    {"errors name file, line and key", test_errors},
	    {"file", test_file},
	    {"example file", test_example_file},
	    {"mode names", test_mode_names},
	    {NULL, NULL},
	};
	unit_add_suite("config", tests);
}
