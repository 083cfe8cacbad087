#!/usr/bin/env bash
# Run CMD with an empty edgeinfer compile cache (EDGEINFER_CACHE_DIR = a new
# directory under $FRESH_CACHE_ROOT, default bench/work/cache-cold): what the
# very first start of a .wasm on a machine costs. The caller removes the root.
set -euo pipefail
root=${FRESH_CACHE_ROOT:-$(cd "$(dirname "$0")/.." && pwd)/work/cache-cold}
mkdir -p "$root"
EDGEINFER_CACHE_DIR=$(mktemp -d "$root/c.XXXXXX")
export EDGEINFER_CACHE_DIR
exec "$@"
