#!/usr/bin/env bash
# Builds helmlite (renders helm/edgemq the way Helm 3's template engine does) from Debian's Go
# packages, for machines where the real `helm` cannot be installed. Usage:
#   bash helm/tools/helmlite/build.sh /tmp/helmlite   # then:
#   /tmp/helmlite helm/edgemq RELEASE NAMESPACE [values.yaml...]
#   EDGEMQ_HELMLITE=/tmp/helmlite npx vitest run --config test/vitest.config.ts test/unit/operator
set -euo pipefail
out=${1:-/tmp/helmlite}
here=$(cd "$(dirname "$0")" && pwd)
apt-get install -y golang-1.19-go golang-github-masterminds-sprig-dev golang-k8s-sigs-yaml-dev >/dev/null
gp=$(mktemp -d)
# GOPATH mode: make the /v3 import paths resolve to Debian's sources.
mkdir -p "$gp/src/github.com/Masterminds/sprig" "$gp/src/github.com/Masterminds/semver"
ln -s /usr/share/gocode/src/github.com/Masterminds/sprig "$gp/src/github.com/Masterminds/sprig/v3"
ln -s /usr/share/gocode/src/github.com/Masterminds/semver "$gp/src/github.com/Masterminds/semver/v3"
cd "$here"
PATH=/usr/lib/go-1.19/bin:$PATH GOPATH="$gp:/usr/share/gocode" GO111MODULE=off GOCACHE="$gp/cache" GOFLAGS= go build -o "$out" .
rm -rf "$gp"
echo "built $out"
