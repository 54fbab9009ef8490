#!/usr/bin/env python3
# Regenerate with: python3 assets/icons/generate.py assets/icons
"""Draws Crane's icon (a white tower crane lifting an amber container on a blue rounded square) as RGBA PNGs."""
import struct, zlib, math, sys

def png(w, h, rgba):
    raw = b"".join(b"\x00" + bytes(rgba[y*w*4:(y+1)*w*4]) for y in range(h))
    def chunk(t, d):
        c = struct.pack(">I", len(d)) + t + d
        return c + struct.pack(">I", zlib.crc32(t + d) & 0xffffffff)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 6, 0, 0, 0))
            + chunk(b"IDAT", zlib.compress(raw, 9)) + chunk(b"IEND", b""))

def in_rrect(x, y, x0, y0, x1, y1, r):
    if x < x0 or x > x1 or y < y0 or y > y1: return False
    cx = min(max(x, x0 + r), x1 - r); cy = min(max(y, y0 + r), y1 - r)
    return (x - cx) ** 2 + (y - cy) ** 2 <= r * r

def in_rect(x, y, x0, y0, x1, y1): return x0 <= x <= x1 and y0 <= y <= y1

def near_seg(x, y, ax, ay, bx, by, t):
    dx, dy = bx - ax, by - ay
    k = max(0, min(1, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
    return (x - ax - k * dx) ** 2 + (y - ay - k * dy) ** 2 <= t * t

WHITE = (255, 255, 255); AMBER = (251, 191, 36); AMBER_D = (217, 119, 6)
def color(x, y):
    """Colour at unit coordinates, or None outside the icon."""
    if not in_rrect(x, y, 0.04, 0.04, 0.96, 0.96, 0.2): return None
    # container (payload) with ribs
    if in_rect(x, y, 0.55, 0.55, 0.83, 0.74):
        for rx in (0.62, 0.69, 0.76):
            if abs(x - rx) < 0.012: return AMBER_D
        return AMBER
    crane = (in_rect(x, y, 0.29, 0.24, 0.37, 0.80)        # mast
             or in_rect(x, y, 0.20, 0.76, 0.48, 0.83)     # base
             or in_rect(x, y, 0.18, 0.24, 0.82, 0.31)     # jib
             or near_seg(x, y, 0.33, 0.12, 0.80, 0.255, 0.018)   # tie to jib end
             or near_seg(x, y, 0.33, 0.12, 0.19, 0.255, 0.018)   # tie to counter-jib
             or in_rect(x, y, 0.305, 0.11, 0.355, 0.25)    # mast head
             or in_rect(x, y, 0.18, 0.31, 0.27, 0.38)      # counterweight
             or in_rect(x, y, 0.675, 0.31, 0.705, 0.55)    # cable
             )
    if crane: return WHITE
    # background: vertical gradient from #3b82f6 to #1d4ed8
    t = y
    return (int(59 + (29 - 59) * t), int(130 + (78 - 130) * t), int(246 + (216 - 246) * t))

def render(n, ss=4):
    out = bytearray(n * n * 4)
    for py in range(n):
        for px in range(n):
            acc = [0, 0, 0, 0]
            for sy in range(ss):
                for sx in range(ss):
                    c = color((px + (sx + 0.5) / ss) / n, (py + (sy + 0.5) / ss) / n)
                    if c is not None:
                        acc[0] += c[0]; acc[1] += c[1]; acc[2] += c[2]; acc[3] += 1
            i = (py * n + px) * 4
            if acc[3]:
                out[i:i+4] = bytes([acc[0] // acc[3], acc[1] // acc[3], acc[2] // acc[3], 255 * acc[3] // (ss * ss)])
    return out

d = sys.argv[1]
for n, name in [(32, "32x32.png"), (128, "128x128.png"), (256, "128x128@2x.png"), (256, "256x256.png"), (512, "icon.png")]:
    open(f"{d}/{name}", "wb").write(png(n, n, render(n)))
