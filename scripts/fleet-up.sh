#!/usr/bin/env bash
# Brings up a complete local fleet on this machine (redis-server as a child with a temporary
# directory, the control plane, two node agents running the fake TEI on declared GPUs, a router),
# creates an instance and prints an embedding served through the router. Ctrl-C stops everything.
# Pass --exit to stop after printing the embedding.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
. scripts/bootstrap.sh
exec node test/harness/local-fleet-cli.ts "$@"
