#!/usr/bin/env bash
# Installs the OS packages the integration tests use (OpenLDAP slapd and ldap-utils, Chromium), when
# they are missing and we may install them. Without them the slapd tests skip loudly.
set -u
need=()
command -v ldapsearch >/dev/null 2>&1 || need+=(ldap-utils)
[ -x /usr/sbin/slapd ] || need+=(slapd)
[ -x /usr/bin/chromium ] || need+=(chromium)  # the console's browser tests (no download of its own)
# Node.js and npm run the independent STU3 validator (tests/validator, FHIR.js).
command -v node >/dev/null 2>&1 || need+=(nodejs)
command -v npm >/dev/null 2>&1 || need+=(npm)
[ ${#need[@]} -eq 0 ] && exit 0
if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: missing ${need[*]} and cannot apt-get install them; those tests will skip" >&2
  exit 0
fi
export DEBIAN_FRONTEND=noninteractive
echo "slapd slapd/no_configuration boolean true" | debconf-set-selections 2>/dev/null || true
apt-get update -qq >/dev/null 2>&1 || true
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null 2>&1 \
  || echo "system-deps: apt-get install ${need[*]} failed; those tests will skip" >&2
# Debian starts a default slapd after install; the tests run their own, so stop it.
if command -v service >/dev/null 2>&1; then service slapd stop >/dev/null 2>&1 || true; fi
pkill -x slapd >/dev/null 2>&1 || true
exit 0
