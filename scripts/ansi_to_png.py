#!/usr/bin/env python3
"""Renders a terminal capture with ANSI colors (tmux `capture-pane -e -p`)
to a PNG, cell by cell, in DejaVu Sans Mono.

Usage: ansi_to_png.py CAPTURE.ansi OUT.png COLUMNS ROWS

Only what a ratatui screen uses is understood: SGR colors (16, 256 and
true color), bold, dim, italic, underline and reverse. Colors are the
xterm defaults on a dark background.
"""

import re
import sys

from PIL import Image, ImageDraw, ImageFont

FONT_DIR = "/usr/share/fonts/truetype/dejavu/"
SIZE = 16

BG = (24, 24, 28)
FG = (216, 216, 216)
PALETTE = [
    (0, 0, 0), (205, 49, 49), (13, 188, 121), (229, 229, 16),
    (36, 114, 200), (188, 63, 188), (17, 168, 205), (229, 229, 229),
    (102, 102, 102), (241, 76, 76), (35, 209, 139), (245, 245, 67),
    (59, 142, 234), (214, 112, 214), (41, 184, 219), (255, 255, 255),
]


def color256(n):
    if n < 16:
        return PALETTE[n]
    if n < 232:
        n -= 16
        steps = [0, 95, 135, 175, 215, 255]
        return (steps[n // 36], steps[n // 6 % 6], steps[n % 6])
    v = 8 + (n - 232) * 10
    return (v, v, v)


class Pen:
    def __init__(self):
        self.reset()

    def reset(self):
        self.fg = None
        self.bg = None
        self.bold = self.dim = self.italic = self.underline = self.reverse = False

    def apply(self, params):
        codes = [int(p) if p else 0 for p in params.split(";")] if params else [0]
        i = 0
        while i < len(codes):
            c = codes[i]
            if c == 0:
                self.reset()
            elif c == 1:
                self.bold = True
            elif c == 2:
                self.dim = True
            elif c == 3:
                self.italic = True
            elif c == 4:
                self.underline = True
            elif c == 7:
                self.reverse = True
            elif c == 22:
                self.bold = self.dim = False
            elif c == 23:
                self.italic = False
            elif c == 24:
                self.underline = False
            elif c == 27:
                self.reverse = False
            elif 30 <= c <= 37:
                self.fg = PALETTE[c - 30]
            elif 90 <= c <= 97:
                self.fg = PALETTE[c - 90 + 8]
            elif c == 39:
                self.fg = None
            elif 40 <= c <= 47:
                self.bg = PALETTE[c - 40]
            elif 100 <= c <= 107:
                self.bg = PALETTE[c - 100 + 8]
            elif c == 49:
                self.bg = None
            elif c in (38, 48) and i + 1 < len(codes):
                if codes[i + 1] == 5 and i + 2 < len(codes):
                    rgb = color256(codes[i + 2])
                    i += 2
                elif codes[i + 1] == 2 and i + 4 < len(codes):
                    rgb = tuple(codes[i + 2:i + 5])
                    i += 4
                else:
                    rgb = None
                if c == 38:
                    self.fg = rgb
                else:
                    self.bg = rgb
            i += 1

    def colors(self):
        fg, bg = self.fg or FG, self.bg or BG
        if self.reverse:
            fg, bg = bg, fg
        if self.dim:
            fg = tuple((a + b) // 2 for a, b in zip(fg, bg))
        return fg, bg


def load_fonts():
    """The four faces by (bold, italic), and a cell's width and height."""
    fonts = {
        (False, False): ImageFont.truetype(FONT_DIR + "DejaVuSansMono.ttf", SIZE),
        (True, False): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Bold.ttf", SIZE),
        (False, True): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-Oblique.ttf", SIZE),
        (True, True): ImageFont.truetype(FONT_DIR + "DejaVuSansMono-BoldOblique.ttf", SIZE),
    }
    regular = fonts[(False, False)]
    ascent, descent = regular.getmetrics()
    # No extra line spacing, so that box-drawing lines join across rows.
    return fonts, round(regular.getlength("M")), ascent + descent


def main():
    src, out, cols, rows = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])
    fonts, cw, ch = load_fonts()
    pad = 12
    img = Image.new("RGB", (cols * cw + 2 * pad, rows * ch + 2 * pad), BG)
    draw = ImageDraw.Draw(img)
    token = re.compile(r"\x1b\[([0-9;]*)m|\x1b\[[0-9;?]*[A-Za-z]|(.)", re.S)
    with open(src, encoding="utf-8", errors="replace") as f:
        lines = f.read().split("\n")[:rows]
    pen = Pen()
    for y, line in enumerate(lines):
        x = 0
        for m in token.finditer(line):
            if m.group(1) is not None:
                pen.apply(m.group(1))
                continue
            char = m.group(2)
            if char is None or char == "\r" or x >= cols:
                continue
            fg, bg = pen.colors()
            px, py = pad + x * cw, pad + y * ch
            draw.rectangle([px, py, px + cw - 1, py + ch - 1], fill=bg)
            if char != " ":
                font = fonts[(pen.bold, pen.italic)]
                draw.text((px, py), char, font=font, fill=fg)
            if pen.underline:
                draw.line([px, py + ch - 2, px + cw - 1, py + ch - 2], fill=fg)
            x += 1
    img.save(out)


if __name__ == "__main__":
    main()
