#!/usr/bin/env bash
# Create/refresh models/.venv with the pinned tooling from requirements.txt.
# Usable both sourced (`source models/venv.sh`) and executed (`bash models/venv.sh`).
# After sourcing, $MODELS_DIR, $VENV_DIR and $VENV_PY are set.
# Idempotent: pip only runs when the sha256 of requirements.txt differs from the stamp.

_edgeinfer_venv_main() {
    local models_dir venv_dir req stamp want have
    models_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
    venv_dir="$models_dir/.venv"
    req="$models_dir/requirements.txt"
    stamp="$venv_dir/.requirements.sha256"

    if [ ! -x "$venv_dir/bin/python" ]; then
        echo "venv: creating $venv_dir" >&2
        python3 -m venv "$venv_dir" || return 1
    fi

    want="$(sha256sum "$req" | cut -d' ' -f1)"
    have="$(cat "$stamp" 2>/dev/null || true)"
    if [ "$want" != "$have" ]; then
        echo "venv: installing $(basename "$req") (this takes a minute the first time)" >&2
        "$venv_dir/bin/python" -m pip install --quiet --disable-pip-version-check \
            --no-input -r "$req" || return 1
        echo "$want" > "$stamp"
        echo "venv: ready" >&2
    else
        echo "venv: up to date ($venv_dir)" >&2
    fi

    MODELS_DIR="$models_dir"
    VENV_DIR="$venv_dir"
    VENV_PY="$venv_dir/bin/python"
    export MODELS_DIR VENV_DIR VENV_PY
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    set -euo pipefail
    _edgeinfer_venv_main
else
    _edgeinfer_venv_main || return 1
fi
