#!/usr/bin/env bash
# Installs, with apt-get, the Debian 12 packages qtoken builds and tests with,
# but only when something is missing (so a prepared machine does no network I/O).
set -euo pipefail
PKGS=(
  build-essential meson ninja-build pkg-config python3 curl xxd
  libssl-dev openssl libsqlite3-dev sqlite3 libargon2-dev libjson-c-dev libinih-dev
  libmicrohttpd-dev libp11-kit-dev p11-kit libcriterion-dev libnss3-dev
  softhsm2 opensc libengine-pkcs11-openssl gnutls-bin python3-pykcs11
  python3-jwcrypto python3-cryptography
  dieharder rng-tools5 ent
)
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "deps: installing ${missing[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
fi
