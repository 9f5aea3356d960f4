"""Render resources/icons/local-llm-studio.svg into the raster icons the platforms want.

    .venv/bin/python packaging/render_icons.py

Writes, next to the SVG: local-llm-studio.png (256 px, Linux desktop entry and window icon),
local-llm-studio.ico (Windows bundle) and local-llm-studio.icns (macOS bundle). Needs only PySide6
(QtSvg and Qt's ico/icns image plugins ship with PySide6-Essentials). Re-run after editing the SVG.
"""

from __future__ import annotations

import os
import struct
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

from PySide6.QtCore import QBuffer, QByteArray, QIODevice, Qt  # noqa: E402
from PySide6.QtGui import QGuiApplication, QImage, QImageWriter, QPainter  # noqa: E402
from PySide6.QtSvg import QSvgRenderer  # noqa: E402

ICONS = Path(__file__).resolve().parent.parent / "resources" / "icons"
SVG = ICONS / "local-llm-studio.svg"


def render(renderer: QSvgRenderer, size: int) -> QImage:
    image = QImage(size, size, QImage.Format.Format_ARGB32_Premultiplied)
    image.fill(Qt.GlobalColor.transparent)
    painter = QPainter(image)
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
    renderer.render(painter)
    painter.end()
    return image


def write(image: QImage, path: Path, fmt: bytes) -> None:
    writer = QImageWriter(str(path), fmt)
    if not writer.write(image):
        raise SystemExit(f"could not write {path}: {writer.errorString()}")
    print(path)


def png_bytes(image: QImage) -> bytes:
    data = QByteArray()
    buffer = QBuffer(data)
    buffer.open(QIODevice.OpenModeFlag.WriteOnly)
    image.save(buffer, "PNG")
    buffer.close()
    return bytes(data)


def write_ico(renderer: QSvgRenderer, path: Path, sizes=(16, 24, 32, 48, 64, 128, 256)) -> None:
    """A multi-size .ico with PNG payloads (Windows Vista+): small, sharp at every size."""
    payloads = [png_bytes(render(renderer, size)) for size in sizes]
    header = struct.pack("<HHH", 0, 1, len(sizes))
    offset = len(header) + 16 * len(sizes)
    entries = b""
    for size, payload in zip(sizes, payloads):
        dim = 0 if size >= 256 else size  # 0 means 256 in the ICO directory
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(payload), offset)
        offset += len(payload)
    path.write_bytes(header + entries + b"".join(payloads))
    print(path)


def main() -> int:
    app = QGuiApplication.instance() or QGuiApplication(sys.argv[:1])  # noqa: F841 (keeps Qt alive)
    renderer = QSvgRenderer(str(SVG))
    if not renderer.isValid():
        raise SystemExit(f"{SVG} is not a valid SVG")
    write(render(renderer, 256), ICONS / "local-llm-studio.png", b"png")
    write_ico(renderer, ICONS / "local-llm-studio.ico")
    if b"icns" in QImageWriter.supportedImageFormats():
        write(render(renderer, 512), ICONS / "local-llm-studio.icns", b"icns")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
