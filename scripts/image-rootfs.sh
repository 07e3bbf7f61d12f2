#!/bin/sh
# What the image holds, assembled in a folder: used by the Dockerfile's stages and by
# test/ship/operator-e2e.test.ts (which runs the result against the local environment), so the two cannot drift.
#   image-rootfs.sh bundle <repo> <out>   esbuild bundle of src/main.ts into <out>/app/dist (needs the
#                                         repo's dev dependencies: esbuild)
#   image-rootfs.sh deps   <repo> <out>   production dependencies from the committed lockfile into
#                                         <out>/app/node_modules (npm ci --omit=dev; no install scripts)
#   image-rootfs.sh all    <repo> <out>   both
set -eu
cmd=$1
repo=$(cd "$2" && pwd)
out=$3
mkdir -p "$out/app"
out=$(cd "$out" && pwd)

bundle() {
  (cd "$repo" && node scripts/bundle.mjs --outdir "$out/app/dist")
}

deps() {
  cp "$repo/package.json" "$repo/package-lock.json" "$out/app/"
  # npm ci refuses a lockfile out of step with package.json, so the image gets exactly what was committed.
  # No install script is needed by a production dependency (the WebAssembly parser ships its .wasm).
  (cd "$out/app" && npm ci --omit=dev --ignore-scripts --no-audit --no-fund --loglevel=error)
  # The package manager's files are not needed to run.
  rm -f "$out/app/package-lock.json" "$out/app/node_modules/.package-lock.json"
}

case "$cmd" in
  bundle) bundle ;;
  deps) deps ;;
  all) deps && bundle ;;
  *) echo "usage: $0 bundle|deps|all <repo> <out>" >&2; exit 2 ;;
esac
