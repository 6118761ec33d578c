# Chores as code. `just ci` is exactly what CI runs (.ci/run).

# Everything CI checks: Docker provisioning, fmt, clippy, no debug leftovers, tests (real Docker).
ci:
    bash .ci/run

# The one test command (Docker tests are skipped when no engine answers).
test:
    cargo test

lint:
    cargo fmt --check
    cargo clippy --all-targets -- -D warnings

# Benchmarks against raw floors; writes docs/benchmarks.md.
bench:
    python3 benches/bench.py
