#!/usr/bin/env python3
"""Turns an asciinema recording (asciicast v2) into an animated GIF.

Usage: cast_to_gif.py IN.cast OUT.gif [--speed 1.0] [--max-idle 1.5]

The recording is replayed through pyte, a terminal emulator, and the screen
is drawn after each burst of output with the cells, colors and font of
scripts/ansi_to_png.py. Needs Python with Pillow and pyte (both on PyPI).
asciinema's own GIF tool, agg, is not on the package registries this
project installs from; this stands in for it.
"""

import json
import os
import sys

import pyte
from PIL import Image, ImageDraw

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from ansi_to_png import BG, FG, PALETTE, load_fonts  # noqa: E402

NAMES = ["black", "red", "green", "brown", "blue", "magenta", "cyan", "white"]
# Frames closer than this are folded into one.
MIN_FRAME = 0.08


def color(name, default):
    if name == "default":
        return default
    if name in NAMES:
        return PALETTE[NAMES.index(name)]
    if name.startswith("bright") and name[6:] in NAMES:
        return PALETTE[8 + NAMES.index(name[6:])]
    if name == "yellow":
        return PALETTE[3]
    if len(name) == 6:
        try:
            return tuple(int(name[i:i + 2], 16) for i in (0, 2, 4))
        except ValueError:
            pass
    return default


def main():
    args = sys.argv[1:]
    speed = float(args[args.index("--speed") + 1]) if "--speed" in args else 1.0
    max_idle = float(args[args.index("--max-idle") + 1]) if "--max-idle" in args else 1.5
    src, out = args[0], args[1]
    with open(src, encoding="utf-8") as f:
        header = json.loads(f.readline())
        events = [json.loads(line) for line in f if line.strip()]
    cols, rows = header["width"], header["height"]
    screen = pyte.Screen(cols, rows)
    stream = pyte.Stream(screen)

    fonts, cw, ch = load_fonts()
    pad = 12

    def render():
        img = Image.new("RGB", (cols * cw + 2 * pad, rows * ch + 2 * pad), BG)
        draw = ImageDraw.Draw(img)
        for y in range(rows):
            line = screen.buffer[y]
            for x in range(cols):
                cell = line[x]
                fg, bg = color(cell.fg, FG), color(cell.bg, BG)
                if cell.reverse:
                    fg, bg = bg, fg
                px, py = pad + x * cw, pad + y * ch
                if bg != BG:
                    draw.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
                if cell.data not in (" ", ""):
                    draw.text((px, py), cell.data, font=fonts[(cell.bold, cell.italics)], fill=fg)
                if cell.underscore:
                    draw.line([px, py + ch - 2, px + cw - 1, py + ch - 2], fill=fg)
        return img

    frames, times = [], []
    last_t = None
    for t, kind, data in events:
        if kind != "o":
            continue
        if last_t is not None and t - last_t >= MIN_FRAME:
            frames.append(render())
            times.append(last_t)
        stream.feed(data)
        last_t = t
    frames.append(render())
    times.append(last_t or 0.0)
    durations = []
    for i in range(len(frames)):
        gap = (times[i + 1] - times[i]) if i + 1 < len(times) else 2.0
        durations.append(int(max(MIN_FRAME, min(gap, max_idle)) / speed * 1000))
    frames[0].save(out, save_all=True, append_images=frames[1:], duration=durations, loop=0, optimize=True)
    print(f"wrote {out}: {len(frames)} frames, {sum(durations) / 1000:.1f} s")


if __name__ == "__main__":
    main()
