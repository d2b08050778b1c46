# A thin wrapper over meson: `make test` does the whole job on a fresh
# Debian 12 machine as root. The build system is meson; nothing is built here.

BUILD        ?= build
# The scripts make runs import the test-harness library as `harness`.
export PYTHONPATH := $(CURDIR)/tests
SAN_BUILD    ?= build-san
FUZZ_BUILD   ?= build-fuzz
FUZZ_SECONDS ?= 30
FUZZ_RUNS    ?= 10000000
MESON_TEST   ?= meson test --print-errorlogs --num-processes 2

C_SOURCES     = $(shell git ls-files '*.c' '*.h' | grep -v '^exim-module/patches/')
NO_SERVERS    = -Ddovecot=disabled -Dexim=disabled -De2e=false
BENCHMARKS    = policy imap-login smtp-auth attack

.PHONY: all deps build exim test demo soak unit-sanitize fuzz-smoke fuzz format format-check clean \
	packages test-packages $(addprefix bench-,$(BENCHMARKS))

all: build

# Every component lists the Debian packages it needs in its packages.txt;
# .ci/install-deps installs them all (the benchmarks call it too).
deps:
	@.ci/install-deps

$(BUILD)/build.ninja:
	meson setup $(BUILD)

build: deps $(BUILD)/build.ninja
	ninja -C $(BUILD)

# The patched Exim, built from Debian's source package and cached.
exim: deps
	@if [ -x exim-module/build-exim ]; then exim-module/build-exim fast; fi

# Every stage appends its cases to RESULTS (tests/harness/results.py); a
# stage that fails as a whole adds a FAIL line, and the next stages still
# run. tests/summary then names every failure and skip, prints the totals,
# and fails on any failure, and on any skip unless ALLOW_SKIPS=1.
RESULTS ?= $(abspath $(BUILD))/test-results.tsv
stage = { $(2); } || printf 'FAIL\tmake test\t%s\tthe stage failed (its output is above)\n' \
	'$(1)' >>$(RESULTS)

test: export CLIENTID_RESULTS = $(RESULTS)
test: deps format-check exim build
	@rm -f $(RESULTS) $(BUILD)/meson-logs/testlog.json $(SAN_BUILD)/meson-logs/testlog.json
	@$(call stage,meson test,CLIENTID_EXIM="$$(exim-module/build-exim path 2>/dev/null)" \
		$(MESON_TEST) -C $(BUILD))
	@$(call stage,unit-sanitize,$(MAKE) --no-print-directory unit-sanitize)
	@$(call stage,fuzz-smoke,$(MAKE) --no-print-directory fuzz-smoke)
	@$(call stage,test-packages,$(MAKE) --no-print-directory test-packages)
	@echo "== summary of the main run (CUnit, then meson)"
	@sed -n '/Run Summary/,/asserts/p' $(BUILD)/meson-logs/testlog.txt 2>/dev/null || true
	@grep -E '^(Ok|Expected Fail|Fail|Unexpected Pass|Skipped|Timeout): ' \
		$(BUILD)/meson-logs/testlog.txt 2>/dev/null || true
	@tests/summary $(RESULTS) $(BUILD) $(SAN_BUILD)

# A scripted session against a real Dovecot and the patched Exim on
# loopback; KEEP=1 leaves them running and says how to connect and stop.
demo: deps exim build
	CLIENTID_EXIM="$$(exim-module/build-exim path 2>/dev/null)" \
		python3 demo/demo.py --build-dir $(BUILD) $(if $(filter-out 0,$(KEEP)),--keep)

# The reliability suite's long run (make test runs it with a 60 s soak):
# SOAK_SECONDS of mixed traffic on both servers, then the fault cases.
SOAK_SECONDS ?= 1800
soak: deps exim build
	CLIENTID_EXIM="$$(exim-module/build-exim path 2>/dev/null)" \
		python3 tests/reliability/reliability.py --build-dir $(BUILD) --soak-seconds $(SOAK_SECONDS)

# The benchmarks (bench/, docs/results.md), one at a time, each from a bare
# machine: make bench-policy, bench-imap-login, bench-smtp-auth, bench-attack;
# BENCH_ARGS go to the script (e.g. BENCH_ARGS="--logins 500").
$(addprefix bench-,$(BENCHMARKS)): bench-%: deps
	bench/$* $(BENCH_ARGS)

# The Debian packages, built from a staged copy of the tree: build-deb/.
packages: deps
	packaging/build-packages build-deb

# The full-stack test: the packages (ours and the patched Exim's) installed
# with apt-get, both servers started from their installed configuration,
# the cross-protocol scenario, upgrade, remove and purge (tests/packages/).
test-packages: deps
	python3 tests/packages/full_stack.py

# The unit and corpus suites again under ASan and UBSan.
unit-sanitize:
	[ -f $(SAN_BUILD)/build.ninja ] || meson setup $(SAN_BUILD) $(NO_SERVERS) \
		-Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(SAN_BUILD)
	ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
	UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
		$(MESON_TEST) -C $(SAN_BUILD) --suite unit --suite corpus

# Every libFuzzer target for FUZZ_SECONDS, from the committed seeds.
fuzz-smoke:
	[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) $(NO_SERVERS) \
		-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(FUZZ_BUILD)
	tests/fuzz/run-smoke $(FUZZ_BUILD) $(FUZZ_SECONDS)

# The campaign: FUZZ_RUNS executions of every target, two at a time, then
# each corpus minimised into tests/fuzz/corpus/ (commit it). FUZZ_TARGETS=
# names some of them.
fuzz: deps exim
	[ -f $(FUZZ_BUILD)/build.ninja ] || CC=clang meson setup $(FUZZ_BUILD) $(NO_SERVERS) \
		-Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
	ninja -C $(FUZZ_BUILD)
	tests/fuzz/run-campaign $(FUZZ_BUILD) $(FUZZ_RUNS) $(FUZZ_TARGETS)

format:
	clang-format -i $(C_SOURCES)

format-check:
	@clang-format --dry-run --Werror $(C_SOURCES) || \
		{ echo "format-check: run 'make format'"; exit 1; }

clean:
	rm -rf $(BUILD) $(SAN_BUILD) $(FUZZ_BUILD)
