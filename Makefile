# Istio Playground. The two commands a person needs:
#   make run    install what is missing, build the UI and the app, open it
#   make test   every check and test: format, lint, Rust unit/integration tests, UI tests,
#               and the GUI end-to-end test in a real window under Xvfb
# The cargo target directory lives outside the clone so fresh clones reuse the build.

export CARGO_TARGET_DIR ?= $(HOME)/.cache/istio-playground/target
APP_DIR := $(CARGO_TARGET_DIR)/e2e-app
APP := $(APP_DIR)/istio-playground

.PHONY: run test deps docker-up ui app lint rust-test ui-test types-current e2e bench bench-mesh bench-webview bundle bundle-test bench-startup

run: deps app
	$(APP)

test: deps docker-up lint rust-test types-current ui-test e2e

deps:
	@bash .ci/deps

# The tests talk to a real Docker engine: start it when it is installed but stopped, or say
# exactly what to run.
docker-up:
	@bash .ci/docker-up

ui:
	cd ui && npm run build

# The app with the UI embedded (a plain `cargo build` would load the dev server instead).
# Copied aside so later `cargo test` builds of the same binary do not replace it.
app: ui
	cargo build -p istio-playground --features custom-protocol
	mkdir -p $(APP_DIR)
	cp $(CARGO_TARGET_DIR)/debug/istio-playground $(APP).new && mv -f $(APP).new $(APP)

lint:
	cargo fmt --all -- --check
	cargo clippy --workspace --all-targets -- -D warnings
	cd ui && npm run check

rust-test:
	cargo test --workspace

# ts-rs regenerates ui/src/lib/generated during `cargo test`; the committed copy must match.
types-current:
	@if [ -n "$$(git status --porcelain -- ui/src/lib/generated)" ]; then \
		echo "ui/src/lib/generated is out of date with the Rust types: commit the regenerated files"; \
		git status --porcelain -- ui/src/lib/generated; exit 1; fi

ui-test:
	cd ui && npm test

e2e: app
	xvfb-run -a cargo test -p istio-playground --lib -- --ignored webkit
	ISTIO_PLAYGROUND_APP=$(APP) xvfb-run -a -s "-screen 0 1280x800x24" \
		cargo test -p playground-tests --test e2e -- --ignored --test-threads=1 --nocapture
	ISTIO_PLAYGROUND_APP=$(APP) xvfb-run -a -s "-screen 0 1920x1080x24" \
		cargo test -p playground-tests --test e2e -- --ignored --nocapture --exact \
		labels_at_fit_are_apart_and_large_in_presenter_mode
	@echo "e2e screenshots: $(CURDIR)/target/e2e/"
	@ls -1 $(CURDIR)/target/e2e/*.png

# Installable packages (not part of `make test`: a clean release build takes about 15 minutes
# on 2 cores). deb and rpm build offline; the AppImage needs linuxdeploy, which tauri
# downloads at build time, so it is left to the release workflow.
bundle: deps
	ui/node_modules/.bin/tauri build --bundles deb,rpm
	@ls -1 $(CARGO_TARGET_DIR)/release/bundle/deb/*.deb $(CARGO_TARGET_DIR)/release/bundle/rpm/*.rpm

# Installs the .deb into this machine, opens the installed app under Xvfb, checks the Setup
# screen, removes the package.
bundle-test:
	bash .ci/bundle-test

# Benchmarks (figures in the README). Not part of `make test`.
bench: bench-mesh bench-webview

# First useful paint and idle memory of the release app next to an empty Tauri 2 app built
# the same way (run `make bundle` first for the release app).
EMPTY_APP := $(CARGO_TARGET_DIR)/empty-app
bench-startup:
	rm -rf $(EMPTY_APP) && cp -r tests/bench/empty-app $(EMPTY_APP)
	mkdir -p $(EMPTY_APP)/icons && cp icons/icon.png $(EMPTY_APP)/icons/ && cp Cargo.lock $(EMPTY_APP)/
	cd $(EMPTY_APP) && cargo build --release --features custom-protocol
	xvfb-run -a -s "-screen 0 1280x800x24" python3 tests/bench/startup.py \
		--app $(CARGO_TARGET_DIR)/release/istio-playground --empty $(CARGO_TARGET_DIR)/release/empty-tauri --runs 3

bench-mesh:
	cargo bench -p playground --bench mesh

bench-webview: app
	ISTIO_PLAYGROUND_APP=$(APP) xvfb-run -a -s "-screen 0 1920x1080x24" \
		cargo bench -p playground-tests --bench webview_graph
