#!/bin/sh
# Demo binary-build executor for farm-builder (examples/executors/executors.json).
#
# The agent runs it in a fresh work dir with the job's payload as JSON on stdin
# and the job in FARM_* variables. It unpacks the source tarball the farm handed
# over ($FARM_SOURCE_FILE), builds it with make (a Makefile with an install
# target honouring DESTDIR) or go build (a go.mod), and packs what was
# installed into $FARM_ARTIFACTS_DIR/<name>_<arch>.tar.gz. The agent uploads
# every file left in $FARM_ARTIFACTS_DIR as an artifact of the job.
#
# A real farm plugs sbuild, live-build or a recipe builder in the same way.
set -eu

: "${FARM_SOURCE_FILE:?the job has no source: give the payload a source tarball (or upload one to incoming/binary-build/)}"

echo "binary-build: job $FARM_JOB_ID attempt $FARM_ATTEMPT"
echo "payload: $(cat)"

src="$FARM_WORK_DIR/src"
stage="$FARM_WORK_DIR/stage"
mkdir -p "$src" "$stage"
tar -xzf "$FARM_SOURCE_FILE" -C "$src"

# Tarballs usually hold one top-level directory: build inside it.
top="$src"
set -- "$src"/*
if [ $# -eq 1 ] && [ -d "$1" ]; then
	top="$1"
fi
cd "$top"
name=$(basename "$top")
[ "$top" = "$src" ] && name=$(basename "$FARM_SOURCE_FILE" | sed 's/\.tar\.gz$//; s/\.tgz$//')

case "$(uname -m)" in
	x86_64) arch=amd64 ;;
	aarch64 | arm64) arch=arm64 ;;
	*) arch=$(uname -m) ;;
esac

if [ -f Makefile ] || [ -f makefile ] || [ -f GNUmakefile ]; then
	echo "building $name with make"
	make
	make install DESTDIR="$stage"
elif [ -f go.mod ]; then
	echo "building $name with go build"
	# Under systemd there may be no HOME for go's build cache; never fetch a toolchain.
	[ -n "${HOME:-}" ] || export GOCACHE="$FARM_WORK_DIR/go-cache"
	export GOTOOLCHAIN=local CGO_ENABLED=0
	mkdir -p "$stage/usr/bin"
	go build -trimpath -o "$stage/usr/bin/" ./...
else
	echo "binary-build: $name has neither a Makefile nor a go.mod; nothing I know how to build" >&2
	exit 2
fi

if [ -z "$(ls -A "$stage")" ]; then
	echo "binary-build: the build installed nothing" >&2
	exit 1
fi
tar -czf "$FARM_ARTIFACTS_DIR/${name}_${arch}.tar.gz" -C "$stage" .
echo "built $FARM_ARTIFACTS_DIR/${name}_${arch}.tar.gz:"
tar -tzf "$FARM_ARTIFACTS_DIR/${name}_${arch}.tar.gz"
