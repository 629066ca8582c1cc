"""Contact sheets: rows of images side by side at a common height, with column titles."""

from __future__ import annotations

import cv2
import numpy as np
from PIL import Image, ImageDraw

from .photo_io import to_8bit


def _to_rgb8(a: np.ndarray) -> np.ndarray:
    a = to_8bit(a)
    return np.dstack([a] * 3) if a.ndim == 2 else a


def contact_sheet(rows: list[list[np.ndarray]], titles: list[str], height: int = 160, gap: int = 4) -> Image.Image:
    """rows of images (H, W[, 3]) -> one RGB sheet; each row's images share `height` and keep their ratio."""
    rendered = []
    for row in rows:
        cells = []
        for img in row:
            img = _to_rgb8(img)
            w = max(1, round(img.shape[1] * height / img.shape[0]))
            cells.append(cv2.resize(img, (w, height), interpolation=cv2.INTER_AREA))
        rendered.append(cells)
    ncol = max(len(r) for r in rendered)
    widths = [max(r[c].shape[1] for r in rendered if c < len(r)) for c in range(ncol)]
    head = 22
    sheet = Image.new("RGB", (sum(widths) + gap * (ncol + 1), head + len(rendered) * (height + gap) + gap), "white")
    draw = ImageDraw.Draw(sheet)
    x = gap
    for c, w in enumerate(widths):
        draw.text((x + 2, 5), titles[c] if c < len(titles) else "", fill=(0, 0, 0))
        for r, cells in enumerate(rendered):
            if c < len(cells):
                sheet.paste(Image.fromarray(cells[c]), (x + (w - cells[c].shape[1]) // 2, head + r * (height + gap)))
        x += w + gap
    return sheet
