#!/usr/bin/env bash
# Build BusyBox's udhcpc6 (DHCPv6 client) for the end-to-end tests.
#
# Debian's busybox package is built without the udhcpc6 applet, so this
# builds it from Debian's own busybox source package (its patches applied):
# a busybox with only udhcpc6 in it, installed as $PREFIX/bin/udhcpc6 (a
# busybox binary run under an applet's name runs that applet).
#
#   .ci/build-udhcpc6.sh            build and install (as root)
#   PREFIX=/opt/x .ci/build-udhcpc6.sh
#
# Idempotent: when $PREFIX/bin/udhcpc6 already runs the applet it does
# nothing; the downloaded and unpacked source stays in $CACHE (default
# .cache/busybox in the repository, gitignored) for the next build.
# Needs: apt-get with a deb-src entry for bookworm (added here as
# /etc/apt/sources.list.d/tandem-deb-src.sources when no deb-src is
# configured), dpkg-source (dpkg-dev), gcc, make, bzip2, xz-utils.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PREFIX="${PREFIX:-/usr/local}"
CACHE="${CACHE:-$here/.cache/busybox}"
dest="$PREFIX/bin/udhcpc6"

# (Output captured, not piped into grep -q: with pipefail a SIGPIPE fails.)
if [ -x "$dest" ] && [[ "$("$dest" --help 2>&1 || true)" == *udhcpc6* ]]; then
	echo "udhcpc6: $dest present"
	exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
	echo "udhcpc6: not root: not building (the udhcpc6 end-to-end test will skip)"
	exit 0
fi

export DEBIAN_FRONTEND=noninteractive
need=""
for tp in gcc:gcc make:make bzip2:bzip2 xz:xz-utils dpkg-source:dpkg-dev; do
	command -v "${tp%%:*}" >/dev/null 2>&1 || need="$need ${tp#*:}"
done
# libc headers: the build is dynamic, against the system's glibc.
[ -e /usr/include/stdio.h ] || need="$need libc6-dev"
if [ -n "$need" ]; then
	echo "udhcpc6: apt-get install$need"
	apt-get update -q
	apt-get install -y -q --no-install-recommends $need
fi

mkdir -p "$CACHE"
cd "$CACHE"
src="$CACHE/src"
if [ ! -f "$src/networking/udhcp/d6_dhcpc.c" ]; then
	if ! ls busybox_*.dsc >/dev/null 2>&1; then
		if ! grep -rqs '^Types:.*deb-src\|^deb-src ' /etc/apt/sources.list /etc/apt/sources.list.d/; then
			suite="$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")"
			echo "udhcpc6: adding a deb-src entry for $suite"
			cat >/etc/apt/sources.list.d/tandem-deb-src.sources <<EOF
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: $suite
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
			apt-get update -q
		fi
		# The download runs as root in a root-owned directory (apt's _apt
		# sandbox user cannot write here; apt says so and goes on).
		apt-get source --download-only busybox 2>&1 | grep -v 'unsandboxed' || true
		ls busybox_*.dsc >/dev/null 2>&1 || { apt-get update -q && apt-get source --download-only busybox; }
	fi
	rm -rf "$src"
	dpkg-source --no-check -x "$(ls busybox_*.dsc | tail -1)" "$src" >/dev/null
fi

cd "$src"
# A configuration with nothing but udhcpc6 (and its RFC 3646 DNS options,
# RFC 4704 FQDN, long options, -v debug output).
make -s allnoconfig >/dev/null
set_cfg() { # NAME VALUE
	if grep -q "^# CONFIG_$1 is not set\$\|^CONFIG_$1=" .config; then
		sed -i "s|^# CONFIG_$1 is not set\$|CONFIG_$1=$2|; s|^CONFIG_$1=.*|CONFIG_$1=$2|" .config
	else
		echo "CONFIG_$1=$2" >>.config
	fi
}
for c in FEATURE_IPV6 UDHCPC6 FEATURE_UDHCPC6_RFC3646 FEATURE_UDHCPC6_RFC4704 \
	LONG_OPTS FEATURE_UDHCP_PORT FEATURE_SYSLOG PLATFORM_LINUX SHOW_USAGE FEATURE_VERBOSE_USAGE BUSYBOX; do
	set_cfg "$c" y
done
set_cfg UDHCP_DEBUG 9
set_cfg UDHCPC_DEFAULT_SCRIPT '"/usr/share/udhcpc/default.script"'
(yes '' || true) | make -s oldconfig >/dev/null
grep -q '^CONFIG_UDHCPC6=y' .config || { echo "udhcpc6: CONFIG_UDHCPC6 did not stay set"; exit 1; }
make -s -j"$(nproc)" busybox >/dev/null
[[ "$(./busybox udhcpc6 --help 2>&1 || true)" == *udhcpc6* ]] || { echo "udhcpc6: the built busybox has no udhcpc6 applet"; exit 1; }
install -d "$PREFIX/bin"
install -m 0755 busybox "$dest"
echo "udhcpc6: installed $dest ($(./busybox --help 2>&1 | sed -n 1p || true))"
