#!/bin/sh
# Makes the chart fonts embedded by crane-charts (the PNG export draws text with them): DejaVu Sans and DejaVu Sans
# Bold from Debian's fonts-dejavu-core, cut to the characters charts print (Latin-1, dashes and quotes, arrows,
# minus, ≈, ≤, ≥), about 25 KB each. Needs fonttools (`pip install fonttools`).
set -eu
cd "$(dirname "$0")"
for font in DejaVuSans DejaVuSans-Bold; do
  pyftsubset "/usr/share/fonts/truetype/dejavu/$font.ttf" \
    --unicodes="U+0020-007E,U+00A0-00FF,U+2010-2027,U+2030-203A,U+2190-2199,U+2212,U+2248,U+2264-2265" \
    --layout-features='kern' --no-hinting --desubroutinize --output-file="$font-subset.ttf"
done
