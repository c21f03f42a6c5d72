# shellcheck shell=bash
# Project-local Python environment: source this file, then call ensure_venv.
#
# ensure_venv creates $REPO/.venv with `python3 -m venv` when it is missing and
# pip-installs requirements-dev.txt into it. It reinstalls only when that file
# changed (a sha256 stamp is kept in .venv/.requirements.sha256). Concurrent
# callers (parallel tests) serialise on a lock, so only one installs.
# Afterwards $VENV_PYTHON names the venv's python. Nothing is installed globally.

PYENV_REPO="${PYENV_REPO:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}"
VENV_DIR="${VENV_DIR:-$PYENV_REPO/.venv}"
VENV_PYTHON="$VENV_DIR/bin/python"

_venv_req_hash() {
    sha256sum "$PYENV_REPO/requirements-dev.txt" | cut -d' ' -f1
}

_venv_is_current() {
    [ -x "$VENV_PYTHON" ] && [ -f "$VENV_DIR/.requirements.sha256" ] &&
        [ "$(cat "$VENV_DIR/.requirements.sha256")" = "$(_venv_req_hash)" ]
}

_venv_install() {
    local py="${PYTHON:-python3}"
    if [ ! -x "$VENV_PYTHON" ]; then
        echo "pyenv: creating $VENV_DIR" >&2
        "$py" -m venv "$VENV_DIR" >&2 || return 1
    fi
    echo "pyenv: installing requirements-dev.txt into $VENV_DIR" >&2
    "$VENV_PYTHON" -m pip install --disable-pip-version-check -q \
        -r "$PYENV_REPO/requirements-dev.txt" >&2 || return 1
    _venv_req_hash >"$VENV_DIR/.requirements.sha256"
}

ensure_venv() {
    _venv_is_current && return 0
    mkdir -p "$(dirname "$VENV_DIR")"
    local lock="$VENV_DIR.lock"
    if command -v flock >/dev/null 2>&1; then
        (
            flock 9
            _venv_is_current || _venv_install
        ) 9>"$lock"
    else
        _venv_install
    fi
}
