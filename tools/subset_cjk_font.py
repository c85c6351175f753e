#!/usr/bin/env python3
"""Builds assets/fonts/NotoSansCJKjp-Regular-subset.otf: Noto Sans CJK JP Regular cut down to
what Japanese UI text and radiologists' notes use (ASCII, Latin-1, punctuation, kana, the
JIS X 0208 / CP932 kanji, full-width forms). Licence: SIL Open Font License 1.1 (see
assets/fonts/LICENSE-OFL.txt).

Source: Debian's fonts-noto-cjk package (NotoSansCJK-Regular.ttc, face 0 = JP).
    apt-get download fonts-noto-cjk && dpkg -x fonts-noto-cjk_*.deb x
    pip install fonttools
    python3 tools/subset_cjk_font.py x/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc
"""
import subprocess
import sys
from pathlib import Path

RANGES = [
    (0x0020, 0x007E), (0x00A0, 0x00FF), (0x2010, 0x205E), (0x2190, 0x21FF), (0x2200, 0x22FF),
    (0x2460, 0x24FF), (0x2500, 0x257F), (0x25A0, 0x25FF), (0x2600, 0x26FF), (0x3000, 0x303F),
    (0x3040, 0x309F), (0x30A0, 0x30FF), (0x3190, 0x319F), (0x31F0, 0x31FF), (0x3200, 0x33FF),
    (0xFF00, 0xFFEF), (0x00B0, 0x00B5), (0x2103, 0x2103), (0x2116, 0x2116), (0x2122, 0x2122),
]


def codepoints():
    points = set()
    for lo, hi in RANGES:
        points.update(range(lo, hi + 1))
    # Every kanji the Windows Japanese code page holds (JIS X 0208 levels 1 and 2 plus the
    # NEC and IBM extensions): what Japanese IMEs produce in everyday text.
    for cp in range(0x3400, 0xFA2E):
        try:
            chr(cp).encode("cp932")
        except UnicodeEncodeError:
            continue
        points.add(cp)
    return sorted(points)


def main():
    source = Path(sys.argv[1])
    out = Path(__file__).resolve().parent.parent / "assets/fonts/NotoSansCJKjp-Regular-subset.otf"
    unicodes = ",".join(f"U+{cp:04X}" for cp in codepoints())
    subprocess.run(
        [
            sys.executable, "-m", "fontTools.subset", str(source), "--font-number=0",
            f"--unicodes={unicodes}", f"--output-file={out}", "--layout-features=kern,palt,vert,vrt2,ccmp,locl,liga",
            "--no-hinting", "--name-IDs=*", "--name-languages=*",
        ],
        check=True,
    )
    print(f"wrote {out} ({out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
