"""Render an item's latent attributes as a small product photo.

What shoppers care about (silhouette, colour, pattern, style, a brand emblem on
premium items) is drawn on the item; what they don't (background, clutter,
position, scale, rotation, lighting, sensor noise, JPEG quality) varies at
random. The nuisance is what makes an off-the-shelf ImageNet CNN a mediocre
judge of "looks similar", and what fine-tuning on titles learns to ignore.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from abtest.simulate.vocab import COLOUR_RGB

_SCALE = 2  # draw at twice the size, then downsample: cheap anti-aliasing

SILHOUETTES: dict[str, tuple[tuple[float, float], ...]] = {
    "tshirt": (
        (0.30, 0.15),
        (0.42, 0.15),
        (0.50, 0.22),
        (0.58, 0.15),
        (0.70, 0.15),
        (0.92, 0.32),
        (0.82, 0.42),
        (0.72, 0.36),
        (0.72, 0.88),
        (0.28, 0.88),
        (0.28, 0.36),
        (0.18, 0.42),
        (0.08, 0.32),
    ),
    "dress": (
        (0.40, 0.08),
        (0.60, 0.08),
        (0.62, 0.30),
        (0.58, 0.40),
        (0.84, 0.92),
        (0.16, 0.92),
        (0.42, 0.40),
        (0.38, 0.30),
    ),
    "trousers": (
        (0.30, 0.08),
        (0.70, 0.08),
        (0.75, 0.92),
        (0.56, 0.92),
        (0.50, 0.36),
        (0.44, 0.92),
        (0.25, 0.92),
    ),
    "skirt": ((0.34, 0.22), (0.66, 0.22), (0.88, 0.80), (0.12, 0.80)),
    "handbag": (
        (0.18, 0.40),
        (0.30, 0.40),
        (0.34, 0.18),
        (0.66, 0.18),
        (0.70, 0.40),
        (0.82, 0.40),
        (0.88, 0.86),
        (0.12, 0.86),
        (0.18, 0.40),
        (0.38, 0.40),
        (0.40, 0.26),
        (0.60, 0.26),
        (0.62, 0.40),
    ),
    "sneakers": (
        (0.06, 0.56),
        (0.40, 0.50),
        (0.55, 0.34),
        (0.70, 0.37),
        (0.78, 0.54),
        (0.95, 0.62),
        (0.95, 0.78),
        (0.06, 0.78),
    ),
    "hat": (
        (0.28, 0.56),
        (0.33, 0.30),
        (0.50, 0.22),
        (0.67, 0.30),
        (0.72, 0.56),
        (0.94, 0.62),
        (0.94, 0.71),
        (0.06, 0.71),
        (0.06, 0.62),
    ),
    "jacket": (
        (0.30, 0.10),
        (0.44, 0.10),
        (0.50, 0.20),
        (0.56, 0.10),
        (0.70, 0.10),
        (0.90, 0.30),
        (0.95, 0.88),
        (0.80, 0.88),
        (0.74, 0.42),
        (0.74, 0.92),
        (0.26, 0.92),
        (0.26, 0.42),
        (0.20, 0.88),
        (0.05, 0.88),
        (0.10, 0.30),
    ),
}

_BACKGROUNDS = (
    (236, 236, 236),
    (214, 208, 198),
    (190, 160, 120),
    (150, 110, 80),
    (60, 60, 64),
    (205, 220, 235),
    (235, 215, 220),
    (200, 215, 190),
    (250, 248, 240),
    (120, 125, 130),
)


@dataclass(frozen=True)
class Nuisance:
    """The random conditions of one photo; stored in ``truth_items`` for inspection."""

    background: int
    texture: int
    clutter: int
    dx: float
    dy: float
    scale: float
    rotation: float
    brightness: float
    warmth: float
    noise: float
    jpeg_quality: int


def draw_nuisance(rng: np.random.Generator, strength: float = 1.0) -> Nuisance:
    """Draw photo conditions; ``strength`` 0 gives a centred studio shot, 1 a C2C photo."""
    s = float(strength)
    return Nuisance(
        background=int(rng.integers(len(_BACKGROUNDS))) if s > 0 else 8,
        texture=int(rng.integers(3)) if rng.random() < s else 0,
        clutter=int(rng.binomial(3, 0.45 * s)),
        dx=float(rng.uniform(-0.14, 0.14) * s),
        dy=float(rng.uniform(-0.14, 0.14) * s),
        scale=float(1.0 - rng.uniform(0.0, 0.42) * s),
        rotation=float(rng.uniform(-28, 28) * s),
        brightness=float(1.0 + rng.uniform(-0.3, 0.25) * s),
        warmth=float(rng.uniform(-0.12, 0.12) * s),
        noise=float(rng.uniform(0, 11) * s),
        jpeg_quality=int(92 - rng.integers(0, 23) * s),
    )


def _mix(a: tuple[int, ...], b: tuple[int, ...], t: float) -> tuple[int, int, int]:
    return tuple(round(x * (1 - t) + y * t) for x, y in zip(a, b, strict=True))[:3]  # type: ignore[return-value]


def _pattern_colour(rgb: tuple[int, int, int]) -> tuple[int, int, int]:
    luminance = (0.299 * rgb[0] + 0.587 * rgb[1] + 0.114 * rgb[2]) / 255
    return _mix(rgb, (255, 255, 255), 0.65) if luminance < 0.55 else _mix(rgb, (0, 0, 0), 0.55)


def _item_layer(
    rng: np.random.Generator,
    size: int,
    category: str,
    colour: str,
    pattern: str,
    style: str,
    price_band: str,
) -> Image.Image:
    """The item alone, RGBA on a transparent square, upright and centred.

    Draws, in this order (the item's stream depends on it): its exact colour,
    its pattern's period (and orientation), then its silhouette's wobble.
    """
    base = np.array(COLOUR_RGB[colour], dtype=float) + rng.normal(0, 10, 3)
    rgb: tuple[int, int, int] = tuple(int(v) for v in np.clip(base, 0, 255))  # type: ignore[assignment]
    fill = _patterned_fabric(rng, size, rgb, pattern)
    mask, xs, ys = _silhouette(rng, size, category)
    _draw_details(fill, size, rgb, xs, ys, style, price_band)
    return _cut_out(fill, mask, size, rgb, style)


def _patterned_fabric(
    rng: np.random.Generator, size: int, rgb: tuple[int, int, int], pattern: str
) -> Image.Image:
    """A square of the item's fabric: plain, striped, dotted or checked in a contrasting colour."""
    accent = _pattern_colour(rgb)
    fill = Image.new("RGB", (size, size), rgb)
    draw = ImageDraw.Draw(fill)
    period = int(rng.integers(9, 16)) * _SCALE
    if pattern == "striped":
        width = max(2, period // 3)
        vertical = rng.random() < 0.4
        for p in range(0, size, period):
            box = (p, 0, p + width, size) if vertical else (0, p, size, p + width)
            draw.rectangle(box, fill=accent)
    elif pattern == "dotted":
        r = max(2, period // 4)
        for y in range(period // 2, size, period):
            shift = (period // 2) * ((y // period) % 2)
            for x in range(period // 2 + shift, size, period):
                draw.ellipse((x - r, y - r, x + r, y + r), fill=accent)
    elif pattern == "checked":
        width = max(3, period // 2)
        overlay = Image.new("RGB", (size, size), rgb)
        od = ImageDraw.Draw(overlay)
        for p in range(0, size, period):
            od.rectangle((p, 0, p + width, size), fill=accent)
            od.rectangle((0, p, size, p + width), fill=accent)
        fill = Image.blend(fill, overlay, 0.55)
    return fill


def _silhouette(
    rng: np.random.Generator, size: int, category: str
) -> tuple[Image.Image, list[float], list[float]]:
    """The category's outline, slightly wobbled: its mask and its corners' x and y."""
    points = np.array(SILHOUETTES[category]) + rng.normal(0, 0.012, (len(SILHOUETTES[category]), 2))
    polygon = [(float(x * size), float(y * size)) for x, y in np.clip(points, 0.02, 0.98)]
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).polygon(polygon, fill=255)
    return mask, [p[0] for p in polygon], [p[1] for p in polygon]


def _draw_details(
    fill: Image.Image,
    size: int,
    rgb: tuple[int, int, int],
    xs: list[float],
    ys: list[float],
    style: str,
    price_band: str,
) -> None:
    """Draw what a style and a price band add onto the fabric, within the outline's box."""
    draw = ImageDraw.Draw(fill)
    cx = (min(xs) + max(xs)) / 2
    if style == "sporty":  # a contrasting side panel
        band = (255, 255, 255) if sum(rgb) < 380 else (25, 25, 25)
        w = size * 0.07
        draw.polygon(
            [
                (cx - size * 0.3, max(ys)),
                (cx - size * 0.3 + w, max(ys)),
                (cx + size * 0.3 + w, min(ys)),
                (cx + size * 0.3, min(ys)),
            ],
            fill=band,
        )
    elif style == "formal":  # buttons down the front and a darker edge
        for i in range(3):
            y = min(ys) + (max(ys) - min(ys)) * (0.35 + 0.17 * i)
            r = size * 0.022
            draw.ellipse((cx - r, y - r, cx + r, y + r), fill=_mix(rgb, (0, 0, 0), 0.7))
    if price_band == "premium":  # a small gold emblem
        r = size * 0.035
        ex, ey = cx + size * 0.12, min(ys) + (max(ys) - min(ys)) * 0.3
        draw.ellipse((ex - r, ey - r, ex + r, ey + r), fill=(212, 175, 55))


def _cut_out(
    fill: Image.Image, mask: Image.Image, size: int, rgb: tuple[int, int, int], style: str
) -> Image.Image:
    """The fabric cut to the outline (RGBA), with a formal item's dark edge or a vintage
    item's faded, warm colours."""
    layer = fill.convert("RGBA")
    if style == "formal":
        edge = mask.filter(ImageFilter.FIND_EDGES).filter(ImageFilter.MaxFilter(3))
        dark = Image.new("RGBA", (size, size), (*_mix(rgb, (0, 0, 0), 0.6), 255))
        layer = Image.composite(dark, layer, edge)
    if style == "vintage":  # faded, warm, desaturated
        arr = np.asarray(layer).astype(float)
        grey = arr[..., :3].mean(axis=2, keepdims=True)
        arr[..., :3] = 0.55 * arr[..., :3] + 0.45 * grey * np.array([1.08, 1.0, 0.85])
        layer = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGBA")
    layer.putalpha(mask)
    return layer


def _background(rng: np.random.Generator, size: int, n: Nuisance) -> Image.Image:
    colour = np.array(_BACKGROUNDS[n.background], dtype=float) + rng.normal(0, 8, 3)
    yy, xx = np.mgrid[0:size, 0:size] / size
    gradient = (
        1.0 + 0.18 * (rng.random() - 0.5) * (xx - 0.5) + 0.18 * (rng.random() - 0.5) * (yy - 0.5)
    )
    arr = colour[None, None, :] * gradient[..., None]
    if n.texture == 1:  # wood grain / floorboards
        arr *= (1 + 0.06 * np.sin(yy * rng.uniform(20, 60) + 3 * np.sin(xx * 7)))[..., None]
    elif n.texture == 2:  # tiles
        tile = int(rng.integers(24, 48))
        lines = ((np.arange(size) % tile) < 2).astype(float)
        arr *= (1 - 0.18 * np.maximum(lines[None, :], lines[:, None]))[..., None]
    img = Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(img)
    palette = list(COLOUR_RGB.values())
    for _ in range(n.clutter):  # things lying around: a phone, a hanger, a plant pot...
        c = palette[int(rng.integers(len(palette)))]
        x, y = rng.uniform(-0.1, 1.0, 2) * size
        w, h = rng.uniform(0.12, 0.35, 2) * size
        shape = (x, y, x + w, y + h)
        if rng.random() < 0.5:
            draw.ellipse(shape, fill=tuple(int(v) for v in c))
        else:
            draw.rectangle(shape, fill=tuple(int(v) for v in c))
    return img


def render_item(
    rng: np.random.Generator,
    *,
    category: str,
    colour: str,
    pattern: str,
    style: str,
    price_band: str,
    nuisance: Nuisance,
    size: int = 128,
) -> Image.Image:
    """One product photo (RGB, ``size``×``size``) of an item with these attributes."""
    big = size * _SCALE
    background = _background(rng, big, nuisance)
    item = _item_layer(rng, big, category, colour, pattern, style, price_band)
    item_size = max(8, int(big * nuisance.scale))
    item = item.resize((item_size, item_size), Image.Resampling.BILINEAR)
    item = item.rotate(nuisance.rotation, resample=Image.Resampling.BILINEAR, expand=True)
    x = int((big - item.width) / 2 + nuisance.dx * big)
    y = int((big - item.height) / 2 + nuisance.dy * big)
    background.paste(item, (x, y), item)
    photo = background.resize((size, size), Image.Resampling.LANCZOS)

    arr = np.asarray(photo).astype(float) * nuisance.brightness
    arr *= np.array([1 + nuisance.warmth, 1.0, 1 - nuisance.warmth])
    yy, xx = np.mgrid[0:size, 0:size] / size
    vignette = 1 - 0.25 * ((xx - 0.5) ** 2 + (yy - 0.5) ** 2)
    arr *= vignette[..., None]
    arr += rng.normal(0, nuisance.noise, arr.shape) if nuisance.noise > 0 else 0
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8), "RGB")


def encode_jpeg(image: Image.Image, quality: int) -> bytes:
    """The photo as JPEG bytes, at the quality a phone upload might have."""
    buffer = io.BytesIO()
    image.save(buffer, format="JPEG", quality=int(quality))
    return buffer.getvalue()
