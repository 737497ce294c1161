#!/usr/bin/env bash
# Set up everything the tests need on a fresh Debian or Ubuntu machine, then run them:
# the system programs they drive for real (nginx serving the mirror's tree, Chromium for the
# pages for people, wrk for the serving benchmark) from Debian's packages when missing, a
# virtual environment with the test dependency group, the installers in tests/clients.txt
# (Debian 12's pip, ...), then pytest with any arguments given here.
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
.venv/bin/python -m pip install -q . --group test
.venv/bin/python -m pip download -q --no-deps -d .clients -r tests/clients.txt
exec .venv/bin/python -m pytest "$@"
