#!/usr/bin/env bash
# Provisions the weir VM (vagrant/Vagrantfile): installs Go, then runs the
# CI entry point .ci/run unchanged (the Debian packages of .ci/packages.txt,
# make check-generated, make lint, make test with WEIR_REQUIRE_PRIVILEGED=1),
# then make demo. Re-running it is safe: what is installed is kept.
set -euo pipefail

repo="${WEIR_REPO:-/weir}"
cd "$repo"
export DEBIAN_FRONTEND=noninteractive
export PATH="/usr/local/go/bin:$PATH"

if [[ $EUID -ne 0 ]]; then
	echo "provision: run as root (the privileged tests need it)" >&2
	exit 1
fi

# What downloading Go needs; everything else comes from .ci/packages.txt.
apt-get update -qq
apt-get install -y -qq --no-install-recommends curl ca-certificates tar >/dev/null

# Go: the release go.mod's go line names, from the official tarball, checked
# against its published SHA-256.
go_version="$(awk '$1 == "go" { print $2; exit }' go.mod)"
if [[ -z "$go_version" ]]; then
	echo "provision: no go line in go.mod" >&2
	exit 1
fi
# "go 1.26" means the first release of 1.26, published as go1.26.0.
if [[ "$go_version" =~ ^[0-9]+\.[0-9]+$ ]]; then
	go_version="$go_version.0"
fi
arch="$(dpkg --print-architecture)"
if [[ "$(go version 2>/dev/null || true)" != "go version go${go_version} linux/${arch}" ]]; then
	tarball="go${go_version}.linux-${arch}.tar.gz"
	tmp="$(mktemp -d)"
	trap 'rm -rf "$tmp"' EXIT
	echo "provision: installing $tarball"
	curl -fsSL --retry 3 -o "$tmp/$tarball" "https://dl.google.com/go/$tarball"
	want="$(curl -fsSL --retry 3 "https://dl.google.com/go/$tarball.sha256")"
	echo "$want  $tmp/$tarball" | sha256sum --check --status
	rm -rf /usr/local/go
	tar -C /usr/local -xzf "$tmp/$tarball"
fi
go version

# The same steps as CI, from the same script.
bash .ci/run

make demo

echo "provision: done. vagrant ssh, then: cd $repo && sudo make test"
