#!/usr/bin/env bash
# Real-browser check of the HTML reports: renders a results file (default: the test fixture)
# with `parlab report`, plus a comparison page, opens both in headless Chromium, takes
# screenshots and dumps the DOM after scripts ran, and fails if the DOM lacks the charts and
# tables, the page logged a console error or tried to fetch anything, or the report is wider
# than a 1400-pixel window (the page, or a table scrolling sideways in its box).
#
#   ci/browser-check.sh [RESULTS.json [OTHER.json]]   (PARLAB=path/to/parlab to skip `cargo run`)
#
# The comparison page compares RESULTS with OTHER (default: the fixture's second run).
#
# Output (screenshots, DOM dumps, browser logs) goes to $OUT, default target/browser-check.
set -euo pipefail
cd "$(dirname "$0")/.."

RESULTS=${1:-tests/fixtures/lab.json}
OTHER=${2:-tests/fixtures/lab-rerun.json}
OUT=${OUT:-target/browser-check}
CHROME=${CHROME:-$(command -v chromium || command -v chromium-browser || command -v google-chrome || true)}
if [ -z "$CHROME" ]; then
    echo "browser-check: no Chromium found (apt-get install chromium)" >&2
    exit 1
fi

parlab() {
    if [ -n "${PARLAB:-}" ]; then
        "$PARLAB" "$@"
    else
        cargo run --quiet -- "$@"
    fi
}

rm -rf "$OUT"
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
parlab report "$RESULTS" --out "$OUT/report" >/dev/null
parlab report "$RESULTS" "$OTHER" --out "$OUT/compare" >/dev/null

PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
FLAGS=(--headless --no-sandbox --disable-gpu --disable-background-networking --disable-component-update
    --no-first-run --user-data-dir="$PROFILE" --enable-logging=stderr --v=0 --hide-scrollbars
    --disable-extensions --mute-audio)

fail=0
check() { # description, command...
    local what=$1
    shift
    if "$@"; then
        echo "ok    $what"
    else
        echo "FAIL  $what" >&2
        fail=1
    fi
}

visit() { # name, page, window height for the full-page screenshot
    local name=$1 page=$2 height=$3
    local url="file://$page"
    timeout 120 "$CHROME" "${FLAGS[@]}" --window-size=1400,1000 --screenshot="$OUT/$name-top.png" "$url" \
        >/dev/null 2>"$OUT/$name-screenshot.log" || true
    timeout 120 "$CHROME" "${FLAGS[@]}" --window-size=1400,"$height" --screenshot="$OUT/$name-full.png" "$url" \
        >/dev/null 2>>"$OUT/$name-screenshot.log" || true
    timeout 120 "$CHROME" "${FLAGS[@]}" --window-size=1400,1000 --dump-dom "$url" \
        >"$OUT/$name-dom.html" 2>"$OUT/$name-dom.log" || true
    check "$name: screenshot taken" test -s "$OUT/$name-top.png"
    check "$name: DOM dumped" test -s "$OUT/$name-dom.html"
    # Console messages come as `...:CONSOLE(line)] "message"`; the page logs nothing on success.
    if grep -hE ':CONSOLE|Uncaught|Failed to load resource|net::ERR_' "$OUT/$name-dom.log" "$OUT/$name-screenshot.log"; then
        check "$name: no console errors or fetches" false
    else
        check "$name: no console errors or fetches" true
    fi
    # The sorting script marks headers once it ran: proof that it ran to the end without error.
    check "$name: script ran" grep -q 'sortable-on' "$OUT/$name-dom.html"
}

count() { grep -o "$1" "$2" | wc -l; }

# Width at 1400 px: a copy of the page with a probe script at the end that records, on <body>,
# whatever is wider than its box (the page itself, or a table inside its scrolling wrapper).
overflow() { # name, page -> prints "none" or what overflows
    local name=$1 page=$2
    local probe="$OUT/$name-probe.html"
    sed 's#</body>#<script>(function () {\
  var de = document.documentElement, wide = [];\
  if (de.scrollWidth > de.clientWidth) wide.push("page " + de.scrollWidth + " px in " + de.clientWidth);\
  document.querySelectorAll(".table-wrap").forEach(function (w) {\
    if (w.scrollWidth > w.clientWidth + 1) {\
      var t = w.querySelector("table"), where = w.closest("section");\
      wide.push((where \&\& where.id ? where.id + " " : "") + (t ? t.className : "table") + " " + w.scrollWidth + " px in " + w.clientWidth);\
    }\
  });\
  document.body.setAttribute("data-overflow", wide.length ? wide.join("; ") : "none");\
})();</script></body>#' "$page" >"$probe"
    timeout 120 "$CHROME" "${FLAGS[@]}" --window-size=1400,1000 --dump-dom "file://$probe" 2>/dev/null |
        grep -o 'data-overflow="[^"]*"' | head -1 | sed 's/^data-overflow="//; s/"$//'
}

visit report "$OUT/report/index.html" 7000
DOM="$OUT/report-dom.html"
SRC="$OUT/report/index.html"
check "report: summary heatmap" grep -q '<table class="heatmap"' "$DOM"
check "report: machine and scenario sections" grep -q 'id="machine"' "$DOM"
for kind in speedup efficiency throughput; do
    check "report: a $kind chart" grep -q "data-chart=\"$kind\"" "$DOM"
done
check "report: time or weak-scaling charts" grep -qE 'data-chart="(time|weak)"' "$DOM"
check "report: every chart has its SVG" test "$(count '<figure class="chart"' "$DOM")" -eq "$(count '<svg[^>]*class="chart-svg"' "$DOM")"
check "report: as many charts in the DOM as in the file" test "$(count '<figure class="chart"' "$DOM")" -eq "$(count '<figure class="chart"' "$SRC")"
check "report: charts have series" test "$(count 'class="series"' "$DOM")" -gt 0
check "report: case tables" test "$(count '<table class="cases sortable"' "$DOM")" -gt 0
check "report: no external resources" bash -c "! grep -qiE '<(script|link|img)[^>]*(src|href)=\"(https?:)?//' '$SRC'"
wide=$(overflow report "$SRC")
echo "      report at 1400 px, wider than their box: ${wide:-(probe did not run)}"
check "report: no horizontal scroll at 1400 px (page and tables)" test "$wide" = none

visit compare "$OUT/compare/index.html" 3000
check "compare: comparison table" grep -q 'class="cases sortable compare"' "$OUT/compare-dom.html"
check "compare: a ratio glyph per compared case" test "$(count '<svg class="forest"' "$OUT/compare-dom.html")" -gt 0
wide=$(overflow compare "$OUT/compare/index.html")
echo "      compare page at 1400 px, wider than their box: ${wide:-(probe did not run)}"
# Comparison tables may scroll inside their box; the page itself must not.
check "compare: no horizontal scroll of the page at 1400 px" bash -c "test -n '$wide' && test '${wide#page}' = '$wide'"

echo "screenshots and DOM dumps in $OUT"
exit $fail
