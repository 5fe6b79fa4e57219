"""The latent attributes of the synthetic marketplace and the words sellers use for them.

Attributes are what shoppers care about; every value has several words a C2C
seller might type, so that titles are noisy but informative.
"""

from __future__ import annotations

CATEGORIES: dict[str, tuple[str, ...]] = {
    "tshirt": ("t-shirt", "tee", "tshirt", "t shirt", "top"),
    "dress": ("dress", "one-piece", "sundress", "frock"),
    "trousers": ("trousers", "pants", "slacks", "chinos"),
    "skirt": ("skirt", "mini skirt", "midi skirt", "a-line skirt"),
    "handbag": ("handbag", "bag", "purse", "tote", "shoulder bag"),
    "sneakers": ("sneakers", "trainers", "running shoes", "kicks"),
    "hat": ("hat", "cap", "bucket hat", "beanie"),
    "jacket": ("jacket", "coat", "blazer", "windbreaker"),
}

COLOURS: dict[str, tuple[str, ...]] = {
    "red": ("red", "crimson", "scarlet", "cherry red"),
    "orange": ("orange", "tangerine", "burnt orange"),
    "yellow": ("yellow", "mustard", "lemon"),
    "green": ("green", "olive", "emerald", "khaki green"),
    "blue": ("blue", "navy", "cobalt", "royal blue"),
    "purple": ("purple", "violet", "lavender", "plum"),
    "pink": ("pink", "rose", "blush", "hot pink"),
    "brown": ("brown", "camel", "chocolate", "tan"),
    "black": ("black", "jet black", "charcoal"),
    "white": ("white", "ivory", "cream", "off-white"),
}

COLOUR_RGB: dict[str, tuple[int, int, int]] = {
    "red": (196, 30, 45),
    "orange": (235, 120, 20),
    "yellow": (240, 205, 40),
    "green": (40, 140, 60),
    "blue": (30, 70, 190),
    "purple": (120, 50, 160),
    "pink": (240, 120, 170),
    "brown": (120, 75, 40),
    "black": (30, 30, 32),
    "white": (240, 238, 230),
}

PATTERNS: dict[str, tuple[str, ...]] = {
    "solid": ("plain", "solid", ""),
    "striped": ("striped", "stripe", "pinstripe", "stripy"),
    "dotted": ("polka dot", "dotted", "spotty"),
    "checked": ("checked", "plaid", "gingham", "check"),
}

STYLES: dict[str, tuple[str, ...]] = {
    "casual": ("casual", "everyday", "relaxed"),
    "formal": ("formal", "office", "elegant"),
    "sporty": ("sporty", "athletic", "gym"),
    "vintage": ("vintage", "retro", "90s"),
}

PRICE_BANDS: dict[str, tuple[str, ...]] = {
    # Brand names are made up; each band has its own.
    "budget": ("Basix", "Valuwear", "no brand", "unbranded"),
    "mid": ("Northfold", "Tillandsia", "Marlowe", "Cobble & Co"),
    "premium": ("Maison Lune", "Ardent", "Velour Atelier", "Okura"),
}

PRICE_MEDIAN: dict[str, float] = {"budget": 12.0, "mid": 35.0, "premium": 110.0}

FILLER: tuple[str, ...] = (
    "barely used",
    "worn once",
    "like new",
    "NWT",
    "new with tags",
    "good condition",
    "smoke-free home",
    "free shipping",
    "size M",
    "size S",
    "size L",
    "fits true to size",
    "quick sale",
    "price drop",
    "must go",
    "bundle ok",
    "authentic",
    "offers welcome",
)

PLATFORMS: dict[str, float] = {"ios": 0.46, "android": 0.40, "web": 0.14}
COUNTRIES: dict[str, float] = {"JP": 0.55, "US": 0.30, "GB": 0.09, "DE": 0.06}

ATTRIBUTES: dict[str, tuple[str, ...]] = {
    "category": tuple(CATEGORIES),
    "colour": tuple(COLOURS),
    "pattern": tuple(PATTERNS),
    "style": tuple(STYLES),
    "price_band": tuple(PRICE_BANDS),
}
"""Each latent attribute and its values, in a fixed order (codes index these)."""
