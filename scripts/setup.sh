#!/usr/bin/env bash
# Set up AutoMRI on a fresh Debian/Ubuntu machine: the built-in anatomy (Colin27 from Debian's
# mricron-data) and a virtual environment in .venv with the CPU build of torch 2.13.0.
set -euo pipefail
cd "$(dirname "$0")/.."
export DEBIAN_FRONTEND=noninteractive
if ! [ -f /usr/share/mricron/templates/ch2.nii.gz ]; then
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq
  $SUDO apt-get install -y -qq mricron-data
fi
[ -d .venv ] || python3 -m venv .venv
. .venv/bin/activate
pip install -q -U pip
pip install -q torch==2.13.0          # CPU build; an unpinned torch pulls a multi-GB CUDA build
pip install -q -e ".[test]"
echo "AutoMRI is set up: . .venv/bin/activate"
