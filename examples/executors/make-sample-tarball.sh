#!/bin/sh
# Packs the sample C project into hello-1.0.tar.gz (in the current directory,
# or the directory given), ready to submit as a binary-build source:
#   examples/executors/make-sample-tarball.sh /tmp
# then upload /tmp/hello-1.0.tar.gz to the farm bucket's incoming/binary-build/.
set -eu
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-.}
tar -czf "$out/hello-1.0.tar.gz" -C "$here/sample" hello-1.0
echo "$out/hello-1.0.tar.gz"
