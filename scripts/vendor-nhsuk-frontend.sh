#!/usr/bin/env bash
# Refreshes the NHS.UK frontend stylesheet the console serves (MIT licence, from the npm
# registry), so `make demo` needs no front-end build. The @font-face rules are removed: they
# load Frutiger from assets.nhs.uk, and the console must work with no internet (the
# frontend's own fallback font stack is used instead).
set -euo pipefail
version="${1:-10.6.1}"
out="$(cd "$(dirname "$0")/.." && pwd)/src/uec_booking/console/static"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack "nhsuk-frontend@${version}" --silent >/dev/null && tar xzf "nhsuk-frontend-${version}.tgz")
python3 - "$work/package/dist/nhsuk/nhsuk-frontend.min.css" "$out/nhsuk-frontend.min.css" "$version" <<'PY'
import re, sys
css = open(sys.argv[1], encoding="utf-8").read()
css = re.sub(r"@font-face\{[^}]*\}", "", css)
assert "assets.nhs.uk" not in css
header = f"/* nhsuk-frontend {sys.argv[3]} (MIT licence, NHS England), @font-face rules removed */\n"
open(sys.argv[2], "w", encoding="utf-8").write(header + css)
PY
for icon in arrow-down arrow-up-down arrow-up cross; do
  cp "$work/package/dist/nhsuk/assets/images/nhsuk-icon-${icon}.svg" "$out/assets/images/"
done
echo "vendored nhsuk-frontend ${version} into ${out}"
