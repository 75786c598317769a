#!/usr/bin/env python3
"""tests/cli/chartcheck.py — opens a chart tokmeter drew and checks it.

  chartcheck.py svg FILE WIDTH HEIGHT NSERIES
  chartcheck.py png FILE WIDTH HEIGHT NSERIES

SVG: the root's size and viewBox, and the colours of its paths: exactly the
first NSERIES colours of the palette appear (axes and text are greys).
PNG: the signature, IHDR size, every chunk's CRC, the image data inflated
and unfiltered (all five PNG filters) to pixels, then the same colour
check: each of the first NSERIES palette colours covers at least 100 pixels
(a legend swatch or a bar), and no other palette colour appears at all.
Prints what it found and what it wanted, and exits 1, on any mismatch."""
import re
import struct
import sys
import zlib

PALETTE = [0x332288, 0x88CCEE, 0x44AA99, 0x117733, 0x999933, 0xDDCC77, 0xCC6677, 0x882255, 0xAA4499]


def fail(msg):
    print("chartcheck: " + msg)
    sys.exit(1)


def want_colours(found, n, what):
    want = set(PALETTE[:n])
    if found != want:
        fail("%s: series colours %s, want %s" % (what, sorted("%06X" % c for c in found),
                                                  sorted("%06X" % c for c in want)))


def svg(path, w, h, n):
    text = open(path, encoding="utf-8").read()
    root = re.search(r"<svg [^>]*>", text)
    if not root:
        fail("%s: no <svg> element" % path)
    size = (re.search(r'width="([0-9.]+)pt"', root.group(0)), re.search(r'height="([0-9.]+)pt"', root.group(0)),
            re.search(r'viewBox="([^"]*)"', root.group(0)))
    got = (size[0] and size[0].group(1), size[1] and size[1].group(1), size[2] and size[2].group(1))
    if got != (str(w), str(h), "0 0 %d %d" % (w, h)):
        fail("%s: size %s, want %s" % (path, got, (str(w), str(h), "0 0 %d %d" % (w, h))))
    found = set()
    for style in re.findall(r'<path[^>]* style="([^"]*)"', text) + re.findall(r'<g[^>]* style="([^"]*)"', text):
        for r, g, b in re.findall(r"rgb\(([0-9.]+)%,([0-9.]+)%,([0-9.]+)%\)", style):
            c = [round(float(x) * 255 / 100) for x in (r, g, b)]
            if not (c[0] == c[1] == c[2]):
                found.add(c[0] << 16 | c[1] << 8 | c[2])
    want_colours(found, n, path)


def paeth(a, b, c):
    p = a + b - c
    pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
    return a if pa <= pb and pa <= pc else b if pb <= pc else c


def png(path, w, h, n):
    data = open(path, "rb").read()
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        fail("%s: not a PNG signature: %r" % (path, data[:8]))
    pos, idat, ihdr = 8, b"", None
    while pos < len(data):
        ln, kind = struct.unpack(">I4s", data[pos:pos + 8])
        body = data[pos + 8:pos + 8 + ln]
        crc = struct.unpack(">I", data[pos + 8 + ln:pos + 12 + ln])[0]
        if zlib.crc32(kind + body) != crc:
            fail("%s: bad CRC in chunk %r" % (path, kind))
        if kind == b"IHDR":
            ihdr = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        pos += 12 + ln
    if not ihdr or ihdr[:2] != (w, h):
        fail("%s: IHDR %s, want %dx%d" % (path, ihdr, w, h))
    depth, ctype = ihdr[2], ihdr[3]
    if depth != 8 or ctype not in (2, 6):
        fail("%s: colour type %d depth %d, want 8-bit RGB(A)" % (path, ctype, depth))
    bpp = 4 if ctype == 6 else 3
    raw = zlib.decompress(idat)
    stride = w * bpp
    if len(raw) != h * (stride + 1):
        fail("%s: %d bytes of image data, want %d" % (path, len(raw), h * (stride + 1)))
    prev = bytearray(stride)
    counts = {}
    for y in range(h):
        f = raw[y * (stride + 1)]
        line = bytearray(raw[y * (stride + 1) + 1:(y + 1) * (stride + 1)])
        for i in range(stride):
            a = line[i - bpp] if i >= bpp else 0
            b = prev[i]
            c = prev[i - bpp] if i >= bpp else 0
            if f == 1:
                line[i] = (line[i] + a) & 255
            elif f == 2:
                line[i] = (line[i] + b) & 255
            elif f == 3:
                line[i] = (line[i] + (a + b) // 2) & 255
            elif f == 4:
                line[i] = (line[i] + paeth(a, b, c)) & 255
            elif f != 0:
                fail("%s: row %d has filter %d" % (path, y, f))
        for x in range(0, stride, bpp):
            if bpp == 4 and line[x + 3] != 255:
                continue
            rgb = line[x] << 16 | line[x + 1] << 8 | line[x + 2]
            if rgb in PALETTE:
                counts[rgb] = counts.get(rgb, 0) + 1
        prev = line
    found = {c for c, k in counts.items() if k >= 100}
    stray = {c for c in counts if c not in PALETTE[:n]}
    if stray:
        fail("%s: palette colours %s appear, want only %s" % (
            path, sorted("%06X:%d" % (c, counts[c]) for c in stray), sorted("%06X" % c for c in PALETTE[:n])))
    want_colours(found, n, path)


if __name__ == "__main__":
    kind, path, w, h, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    (svg if kind == "svg" else png)(path, w, h, n)
    print("ok: %s %s %dx%d, %d series" % (kind, path, w, h, n))
