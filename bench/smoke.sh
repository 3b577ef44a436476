#!/usr/bin/env bash
# The benchmark in seconds, for CI: both servers, small sizes, exit 1 if any charger failed to
# connect, got a CALLERROR or a timeout, or came back from the storm with a wrong status.
# Uses the debug build that `cargo test --workspace` already made.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --quiet -p openpile-server -p openpile-bench-ocpp
target=both
if ! command -v node >/dev/null || [ ! -d bench/peer/node_modules/ocpp-rpc ]; then
  if [ "${CI:-}" = "true" ]; then
    (cd bench/peer && npm ci --no-audit --no-fund)
  else
    echo "SKIPPING the ocpp-rpc peer: run bench/setup.sh to install it" >&2
    target=openpile
  fi
fi
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
exec ./target/debug/bench-ocpp --smoke --target "$target" "$@"
