"""Reading images for verification: ``.npy`` arrays (N, C, H, W) or (C, H, W), and PNG files (8-bit)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import IO

import numpy as np

from trustplane.provenance._errors import ImageInputError


def decode_image_bytes(name: str, data: bytes) -> np.ndarray:
    """One file's images as (N, C, H, W): ``.npy`` as stored (one image gets a batch axis), PNG divided by 255."""
    lower = name.lower()
    if lower.endswith(".npy"):
        try:
            arr = np.load(io.BytesIO(data), allow_pickle=False)
        except (ValueError, OSError, EOFError) as exc:
            raise ImageInputError(f"{name} is not a readable .npy array: {exc}") from None
        if arr.ndim == 3:
            arr = arr[None]
        return np.asarray(arr)
    if lower.endswith(".png"):
        from PIL import Image, UnidentifiedImageError

        try:
            with Image.open(io.BytesIO(data)) as img:
                if img.mode not in ("RGB", "L", "RGBA"):
                    raise ImageInputError(f"{name}: PNG mode {img.mode} is not supported; use 8-bit RGB or grey")
                if img.mode == "RGBA":
                    raise ImageInputError(f"{name}: PNG has an alpha channel; certified images have none")
                pixels = np.asarray(img, dtype=np.uint8)
        except UnidentifiedImageError:
            raise ImageInputError(f"{name} is not a PNG image") from None
        if pixels.ndim == 2:
            pixels = pixels[:, :, None]
        return (pixels.transpose(2, 0, 1)[None].astype(np.float32) / np.float32(255.0)).astype(np.float32)
    raise ImageInputError(f"{name}: only .npy and .png files are accepted")


def read_images(paths: list[Path]) -> tuple[np.ndarray, bool]:
    """All images in ``paths`` stacked; also whether any came from PNG (8-bit) files."""
    if not paths:
        raise ImageInputError("no image files given")
    parts = []
    png = False
    for path in paths:
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ImageInputError(f"cannot read {path}: {exc.strerror}") from None
        parts.append(decode_image_bytes(path.name, data))
        png = png or path.name.lower().endswith(".png")
    return stack(parts), png


def stack(parts: list[np.ndarray]) -> np.ndarray:
    shapes = {tuple(p.shape[1:]) for p in parts}
    if len(shapes) > 1:
        raise ImageInputError(f"the images have different shapes: {sorted(shapes)}")
    return np.concatenate(parts, axis=0)


def write_png(path: Path | IO[bytes], image: np.ndarray) -> None:
    """Save one (C, H, W) image in [0, 1] as an 8-bit PNG."""
    from PIL import Image

    pixels = np.round(np.clip(image, 0, 1) * 255).astype(np.uint8).transpose(1, 2, 0)
    Image.fromarray(pixels[:, :, 0] if pixels.shape[2] == 1 else pixels).save(path, format="PNG")


def check_pixel_format(pixel_format: str, from_png: bool) -> None:
    if from_png and pixel_format != "uint8":
        raise ImageInputError(
            "PNG images are 8-bit, but this certificate was calibrated on float outputs: rounding would bias the test",
            hint="send the float outputs as .npy, or certify with --pixel-format uint8",
        )
