"""PNG screenshot of a `weakpose view` page in headless Chromium (Debian's /usr/bin/chromium via
Playwright), as in the README:

    python scripts/viewer_screenshot.py view.html docs/figures/viewer_astronaut.png [--width 1100 --height 560]
"""

from __future__ import annotations

import argparse
from pathlib import Path

from PIL import Image
from playwright.sync_api import sync_playwright


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("page", type=Path)
    ap.add_argument("png", type=Path)
    ap.add_argument("--width", type=int, default=1100)
    ap.add_argument("--height", type=int, default=560)
    ap.add_argument("--colors", type=int, default=128, help="palette size of the PNG (smaller file)")
    args = ap.parse_args()
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium",
                                    args=["--no-sandbox", "--use-angle=swiftshader", "--enable-unsafe-swiftshader"])
        page = browser.new_page(viewport={"width": args.width, "height": args.height})
        page.goto(args.page.resolve().as_uri())
        page.wait_for_function(
            "document.getElementById('weakpose-view') && document.getElementById('weakpose-view')._fullLayout",
            timeout=60_000,
        )
        page.wait_for_timeout(1500)
        tmp = args.png.with_suffix(".tmp.png")
        page.screenshot(path=str(tmp))
        browser.close()
    Image.open(tmp).convert("RGB").quantize(args.colors).save(args.png, optimize=True)
    tmp.unlink()
    print(f"wrote {args.png} ({args.png.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
