#!/bin/sh
# Entry point of every lic-<paper> image: runs one of the sub-project's scripts.
#
#   <image> --help                 list what can be run
#   <image> encode IN.png OUT.lic  python -m $LIC_PACKAGE encode ... (likewise decode and any other
#                                  sub-command of the package CLI that starts with a dash or is encode/decode)
#   <image> train ARGS...          python train.py ARGS... (any top-level script of the sub-project,
#                                  with or without the .py suffix: train, test, reproduce, bench, ...)
#   <image> pytest ARGS...         python -m pytest ARGS... (the sub-project's tests)
#   <image> python|bash|sh ARGS... that program, for debugging
#
# LIC_PROJECT_DIR (the sub-project's folder) and LIC_PACKAGE (its package) are set by the Dockerfile.
set -eu

if [ -z "${LIC_PROJECT_DIR:-}" ] || [ -z "${LIC_PACKAGE:-}" ]; then
  echo "lic-entrypoint: LIC_PROJECT_DIR and LIC_PACKAGE must be set (the Dockerfile sets them)" >&2
  exit 2
fi
if ! cd "$LIC_PROJECT_DIR" 2>/dev/null; then
  echo "lic-entrypoint: project folder '$LIC_PROJECT_DIR' does not exist" >&2
  exit 2
fi

usage() {
  echo "usage: <image> COMMAND [ARGS...]   (project: $LIC_PROJECT_DIR, package: $LIC_PACKAGE)"
  echo "commands:"
  echo "  encode IN.png OUT.lic | decode IN.lic OUT.png   python -m $LIC_PACKAGE encode|decode ..."
  for script in *.py; do
    [ -f "$script" ] || continue
    echo "  ${script%.py} ARGS...   python $script ARGS..."
  done
  echo "  pytest ARGS...   python -m pytest ARGS... (this sub-project's tests)"
  echo "  python|bash|sh ARGS...   run that program inside the image"
  echo "data: KODAK_DIR=${KODAK_DIR:-unset} TRAIN_DIR=${TRAIN_DIR:-unset}; write results under /work/runs"
}

if [ "$#" -eq 0 ]; then
  usage
  exit 0
fi

cmd=$1
case "$cmd" in
  -h | --help | help)
    usage
    exit 0
    ;;
  encode | decode | -*)
    exec python -m "$LIC_PACKAGE" "$@"
    ;;
  pytest)
    shift
    exec python -m pytest "$@"
    ;;
  python | python3 | bash | sh)
    exec "$@"
    ;;
esac

script=${cmd%.py}.py
case "$script" in
  */*)
    echo "lic-entrypoint: '$cmd' is not a script name (no paths; see --help)" >&2
    exit 2
    ;;
esac
if [ -f "$script" ]; then
  shift
  exec python "$script" "$@"
fi
echo "lic-entrypoint: unknown command '$cmd' (no $LIC_PROJECT_DIR/$script); run with --help for the list" >&2
exit 2
