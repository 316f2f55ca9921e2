#!/usr/bin/env bash
# Install each example package under docs/examples/ and run its own test suite,
# as its author would: pip install -e ".[test]", then pytest.
#
# The examples register plugins (an adapter kind, a rule kind) that reconcile's
# own suite must not see, so they go into a throw-away virtual environment
# layered over the current one: it sees reconcile (installed editable from this
# checkout), pytest and hypothesis from the current environment, and keeps the
# example packages to itself. Nothing is left installed afterwards.
#
# Usage: bash .ci/examples.sh [EXAMPLE_DIR...]   (default: every docs/examples/*/)
# Environment: PYTHON (default python3), the interpreter whose environment
# already has reconcile installed (pip install -e ".[dev]").
set -euo pipefail
cd "$(dirname "$0")/.."

python=${PYTHON:-python3}
log() { printf '\n== %s\n' "$*"; }

# reconcile must be installed from this checkout (not merely importable from
# the working directory), or pip would look for reconcile-engine elsewhere.
here=$(pwd -P)
installed=$(cd / && "$python" -c '
import importlib.metadata as m, os, reconcile, pytest
m.version("reconcile-engine")
print(os.path.realpath(os.path.dirname(os.path.dirname(reconcile.__file__))))
' 2>/dev/null || true)
if [ "$installed" != "$here" ]; then
  echo "examples: $python must have reconcile installed from $here, and pytest;" \
       "run: $python -m pip install -e '.[dev]'" >&2
  exit 3
fi

examples=("$@")
if [ ${#examples[@]} -eq 0 ]; then
  for dir in docs/examples/*/; do
    if [ -f "$dir/pyproject.toml" ]; then examples+=("${dir%/}"); fi
  done
fi

scratch=$(mktemp -d "${TMPDIR:-/tmp}/reconcile-examples.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

log "a virtual environment over $("$python" -c 'import sys; print(sys.prefix)')"
"$python" -m venv "$scratch/venv"
venv_python="$scratch/venv/bin/python"
parent=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
parent_plat=$("$python" -c 'import sysconfig; print(sysconfig.get_paths()["platlib"])')
own=$("$venv_python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')
# addsitedir (not a plain path line) so the parent's own .pth files, such as
# reconcile's editable install, are read too.
printf 'import site; site.addsitedir(%s); site.addsitedir(%s)\n' "'$parent'" "'$parent_plat'" \
  > "$own/zz-parent-environment.pth"
"$venv_python" -c "import reconcile, pytest; print('reconcile from', reconcile.__file__)"

# Leave nothing in the checkout: no bytecode, Hypothesis' example database in the scratch folder.
export PYTHONDONTWRITEBYTECODE=1
export HYPOTHESIS_STORAGE_DIRECTORY="$scratch/hypothesis"
failed=()
for example in "${examples[@]}"; do
  name=$(basename "$example")
  log "$name: install"
  if ! "$venv_python" -m pip install --quiet --disable-pip-version-check -e "$example[test]"; then
    failed+=("$name (install)")
    continue
  fi
  log "$name: test"
  # -c pyproject.toml: the example's own settings, not those of the checkout around it.
  if ! (cd "$example" && "$venv_python" -m pytest -q -p no:cacheprovider -c pyproject.toml --rootdir . tests); then
    failed+=("$name")
  fi
done

if [ ${#failed[@]} -gt 0 ]; then
  printf '\nexamples failed: %s\n' "${failed[*]}" >&2
  exit 1
fi
printf '\nexamples passed: %s\n' "${#examples[@]}"
