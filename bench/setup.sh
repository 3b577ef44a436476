#!/usr/bin/env bash
# Installs what the OCPP benchmark and the Python interop test need besides Rust:
#   * the ocpp-rpc peer (npm, into bench/peer/node_modules, which git ignores);
#   * the Python packages of the independent charger (tests/python/requirements.txt).
# Usage: bench/setup.sh [--no-python]
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v node >/dev/null; then
  echo "node (>= 17.3) is needed for the ocpp-rpc peer" >&2
  exit 1
fi
echo "node $(node --version), npm $(npm --version)"
(cd bench/peer && npm ci --no-audit --no-fund)

if [ "${1:-}" != "--no-python" ]; then
  python3 -m pip install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  python3 -c 'import ocpp, websockets; print("python ocpp", ocpp.__version__ if hasattr(ocpp, "__version__") else "", "websockets", websockets.__version__)'
fi
echo "ready: cargo build --release -p openpile-server -p openpile-bench-ocpp && ./target/release/bench-ocpp"
