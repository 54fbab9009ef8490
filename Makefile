# The two set-up commands of the README:
#   make run   - installs what is missing, builds, and opens the Crane desktop window
#   make test  - installs what is missing, checks the window's ES modules (scripts/check_ui.py), formatting (rustfmt) and
#                lints (clippy, warnings are errors), and runs every test (unit, Docker end-to-end, REST, CLI, GUI under Xvfb)
# Other targets: make bench (under xvfb-run when there is no display: `crane-bench window` opens the window),
#   make bindings, make screenshots (the GUI tests, writing the README's pictures to docs/),
#   make fuzz (the spec parser and the REST bodies with FUZZ_CASES cases each, release build; make test runs 256/128),
#   make package (release build, then the .deb of crane and cranectl with Tauri's bundler, crates/crane-package; it
#   prints the package's path, target/release/bundle/deb/Crane_<version>_amd64.deb).

CARGO ?= cargo
# Tests share the Docker engine; a few at a time keeps a 2-core machine responsive.
TEST_THREADS ?= 4
# Cases per fuzz harness in `make fuzz` (`make test` runs a few hundred).
FUZZ_CASES ?= 200000
# crates/crane-package (Tauri's bundler) is built on its own, never with --workspace: the bundler turns on features of
# crates the whole tree shares (log's kv, smallvec's write, ...), so built together the rest of the workspace would no
# longer match `make run`'s `-p crane-app -p cranectl` build and every crate would be built a second time.
WORKSPACE = --workspace --exclude crane-package

.PHONY: run test bench fuzz bindings screenshots package setup-run setup-test

run: setup-run
	$(CARGO) build -p crane-app -p cranectl
	@if [ -z "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  echo "make run: no display (DISPLAY/WAYLAND_DISPLAY unset). Run it from a desktop session, or try it headless with: xvfb-run -a make run" >&2; exit 1; fi
	$(CARGO) run -p crane-app --bin crane

test: setup-test
	python3 scripts/check_ui.py --self-test
	python3 scripts/check_ui.py
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy $(WORKSPACE) --all-targets -- -D warnings
	$(CARGO) clippy -p crane-package --all-targets -- -D warnings
	$(CARGO) build $(WORKSPACE) --bins
	xvfb-run -a -s "-screen 0 1280x800x24" $(CARGO) test $(WORKSPACE) --no-fail-fast -- --test-threads=$(TEST_THREADS)
	$(CARGO) test -p crane-package

# `crane-bench window` opens the real window: on the current display, or under Xvfb when there is none.
bench: setup-test
	$(CARGO) build --release -p cranectl -p crane-bench -p crane-app
	@if [ -n "$${DISPLAY:-}$${WAYLAND_DISPLAY:-}" ]; then \
	  echo "$(CARGO) run --release -p crane-bench"; $(CARGO) run --release -p crane-bench; \
	else \
	  echo "no display: running the benchmarks under xvfb-run"; \
	  xvfb-run -a -s "-screen 0 1280x800x24" $(CARGO) run --release -p crane-bench; fi

fuzz: setup-test
	CRANE_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p crane-core --test fuzz_spec
	CRANE_FUZZ_CASES=$(FUZZ_CASES) $(CARGO) test --release -p crane-rest --test fuzz_bodies

screenshots: setup-test
	$(CARGO) build $(WORKSPACE) --bins
	CRANE_SCREENSHOTS=1 xvfb-run -a -s "-screen 0 1280x800x24" $(CARGO) test -p crane-app --test gui -- --test-threads=1

package: setup-run
	$(CARGO) build --release -p crane-app -p cranectl
	$(CARGO) run -p crane-package -- --profile release

bindings:
	UPDATE_BINDINGS=1 $(CARGO) test -p crane-app bindings

setup-run:
	@scripts/setup.sh run

setup-test:
	@scripts/setup.sh test
