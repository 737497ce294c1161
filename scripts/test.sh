#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian or Ubuntu machine, then run them:
# the system programs they drive for real (nginx serving the mirror's tree, Chromium for the
# pages for people, wrk for the serving benchmark) from Debian's packages when missing, a
# virtual environment with the test dependency group, the installers in tests/clients.txt
# (the pips of Debian and Ubuntu, the oldest uv) and tests/client-tools.txt (poetry, pdm,
# pipenv, pip-tools), then pytest with any arguments given here.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
for program in nginx chromium wrk; do
    command -v "$program" >/dev/null || missing+=("$program")
done
if ((${#missing[@]})); then
    packages=("${missing[@]/nginx/nginx-light}")
    sudo_=""; [[ $(id -u) == 0 ]] || sudo_="sudo"
    $sudo_ apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo_ apt-get install -y -qq "${packages[@]}" >/dev/null
fi

python3 -m venv .venv
.venv/bin/python -m pip install -q -U pip
# CELLAR_INSTALL: what to install as cellar (CI: the wheel it built); the source tree by default.
.venv/bin/python -m pip install -q "${CELLAR_INSTALL:-.}" --group test
# The installers the tests drive: wheels (several versions of one project, so one at a time),
# and tools in virtual environments of their own; each fetched once.
clients=${CELLAR_CLIENT_WHEELS:-.clients}
tools=${CELLAR_CLIENT_TOOLS:-$clients/tools}
while read -r spec; do
    [[ -z "$spec" || "$spec" == \#* ]] && continue
    compgen -G "$clients/${spec%%==*}-${spec##*==}-*.whl" >/dev/null \
        || .venv/bin/python -m pip download -q --no-deps -d "$clients" "$spec"
done < tests/clients.txt
while read -r name rest; do
    [[ -z "$name" || "$name" == \#* ]] && continue
    read -ra specs <<< "$rest"
    if [[ "$(cat "$tools/$name/.specs" 2>/dev/null)" != "$rest" ]]; then
        rm -rf "${tools:?}/$name"
        python3 -m venv "$tools/$name"
        "$tools/$name/bin/python" -m pip install -q "${specs[@]}"
        echo "$rest" > "$tools/$name/.specs"
    fi
done < tests/client-tools.txt
exec .venv/bin/python -m pytest "$@"
