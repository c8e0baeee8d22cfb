#!/usr/bin/env bash
# Renders a timeline SVG with headless Chromium and checks the result:
#   tests/render_svg.sh IN.svg OUT.png [WIDTH,HEIGHT]
# - IN.svg must be well-formed XML (xmllint --noout);
# - OUT.png (a screenshot of WIDTH x HEIGHT, default 1400,900) must not be blank:
#   decoded in pure Python, enough pixels must differ from white, in more than one colour.
# Exit 0 when both hold; 1 with a one-line reason otherwise; 2 on bad usage or missing tools.
set -euo pipefail

if [[ $# -lt 2 || $# -gt 3 ]]; then
    echo "usage: $0 IN.svg OUT.png [WIDTH,HEIGHT]" >&2
    exit 2
fi
in=$1
out=$2
size=${3:-1400,900}
if [[ ! -r $in ]]; then
    echo "render_svg: cannot read $in" >&2
    exit 2
fi
if [[ ! $size =~ ^[0-9]+,[0-9]+$ ]]; then
    echo "render_svg: size must be WIDTH,HEIGHT, got $size" >&2
    exit 2
fi

if ! command -v xmllint >/dev/null; then
    echo "render_svg: xmllint missing (make -f Makefile.helpers deps)" >&2
    exit 2
fi
if ! xmllint --noout "$in"; then
    echo "render_svg: $in is not well-formed XML" >&2
    exit 1
fi
if ! grep -q '<svg[^>]*xmlns="http://www.w3.org/2000/svg"' "$in"; then
    echo "render_svg: $in has no SVG root element" >&2
    exit 1
fi

chromium=$(command -v chromium || command -v chromium-browser || true)
if [[ -z $chromium ]]; then
    # chromium is in PACKAGES: make -f Makefile.helpers deps installs it; a test installs nothing
    echo "render_svg: chromium missing (make -f Makefile.helpers deps)" >&2
    exit 2
fi

profile=$(mktemp -d)
trap 'rm -rf "$profile"' EXIT
abs_in=$(realpath "$in")
rm -f "$out"
# Chromium prints harmless D-Bus and GPU complaints on stderr: keep them for failures only.
if ! timeout 120 "$chromium" --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
    --disable-background-networking --disable-component-update --disable-sync \
    --hide-scrollbars --user-data-dir="$profile" --screenshot="$out" --window-size="$size" \
    "file://$abs_in" >"$profile/log" 2>&1 || [[ ! -s $out ]]; then
    echo "render_svg: chromium did not write $out:" >&2
    tail -5 "$profile/log" >&2
    exit 1
fi

python3 - "$out" <<'PY'
import struct, sys, zlib

path = sys.argv[1]
data = open(path, "rb").read()
if data[:8] != b"\x89PNG\r\n\x1a\n":
    sys.exit(f"render_svg: {path} is not a PNG")
pos, idat, ihdr = 8, b"", None
while pos < len(data):
    length, kind = struct.unpack(">I4s", data[pos:pos + 8])
    body = data[pos + 8:pos + 8 + length]
    if kind == b"IHDR":
        ihdr = struct.unpack(">IIBBBBB", body)
    elif kind == b"IDAT":
        idat += body
    elif kind == b"IEND":
        break
    pos += 12 + length
width, height, depth, ctype, _, _, interlace = ihdr
channels = {0: 1, 2: 3, 4: 2, 6: 4}.get(ctype)
if depth != 8 or channels is None or interlace != 0:
    sys.exit(f"render_svg: unsupported PNG (depth {depth}, colour type {ctype}, interlace {interlace})")
raw = zlib.decompress(idat)
stride = width * channels
prev = bytearray(stride)
non_white = 0
colours = set()
for y in range(height):
    start = y * (stride + 1)
    ftype = raw[start]
    line = bytearray(raw[start + 1:start + 1 + stride])
    for i in range(stride):
        a = line[i - channels] if i >= channels else 0
        b = prev[i]
        c = prev[i - channels] if i >= channels else 0
        if ftype == 1:
            line[i] = (line[i] + a) & 0xFF
        elif ftype == 2:
            line[i] = (line[i] + b) & 0xFF
        elif ftype == 3:
            line[i] = (line[i] + ((a + b) >> 1)) & 0xFF
        elif ftype == 4:
            p = a + b - c
            pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
            pred = a if pa <= pb and pa <= pc else (b if pb <= pc else c)
            line[i] = (line[i] + pred) & 0xFF
    for x in range(0, stride, channels):
        px = tuple(line[x:x + min(channels, 3)])
        if min(px) < 235:
            non_white += 1
            colours.add(tuple(v >> 5 for v in px))  # coarse colour buckets
    prev = line
total = width * height
share = non_white / total
print(f"render_svg: {path}: {width}x{height}, {non_white} non-white pixels ({share:.1%}), "
      f"{len(colours)} colour buckets")
if non_white < 2000 or share < 0.005:
    sys.exit("render_svg: the screenshot is (nearly) blank")
if share > 0.95:
    sys.exit("render_svg: the screenshot is (nearly) all one dark colour")
if len(colours) < 3:
    sys.exit("render_svg: the screenshot has almost no colours (expected fate colours)")
PY
