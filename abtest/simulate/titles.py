"""Noisy C2C listing titles made from an item's latent attributes.

Sellers write titles the way people do: synonyms ("tee" for t-shirt, "navy" for
blue), words left out, typos, mixed case, and filler that says nothing about
the item ("barely used", "free shipping"). The attributes are in the title
most of the time, which is what fine-tuning on image-title pairs exploits.
"""

from __future__ import annotations

import numpy as np

from abtest.simulate.vocab import CATEGORIES, COLOURS, FILLER, PATTERNS, PRICE_BANDS, STYLES

# Probability that each attribute is mentioned at all.
P_BRAND = 0.45
P_STYLE = 0.5
P_COLOUR = 0.88
P_PATTERN = 0.75
P_CATEGORY = 0.96
P_TYPO = 0.05


def _pick(rng: np.random.Generator, words: tuple[str, ...]) -> str:
    return words[int(rng.integers(len(words)))]


def _typo(rng: np.random.Generator, word: str) -> str:
    if len(word) < 4:
        return word
    i = int(rng.integers(1, len(word) - 1))
    kind = int(rng.integers(3))
    if kind == 0:  # swap two letters
        return word[: i - 1] + word[i] + word[i - 1] + word[i + 1 :]
    if kind == 1:  # drop a letter
        return word[:i] + word[i + 1 :]
    return word[:i] + word[i] + word[i:]  # double a letter


def make_title(
    rng: np.random.Generator,
    *,
    category: str,
    colour: str,
    pattern: str,
    style: str,
    price_band: str,
) -> str:
    """A seller's title for an item with these attributes (never empty)."""
    words: list[str] = []
    if rng.random() < P_BRAND:
        words.append(_pick(rng, PRICE_BANDS[price_band]))
    if rng.random() < P_STYLE:
        words.append(_pick(rng, STYLES[style]))
    if rng.random() < P_COLOUR:
        words.append(_pick(rng, COLOURS[colour]))
    if rng.random() < (P_PATTERN if pattern != "solid" else 0.3):
        word = _pick(rng, PATTERNS[pattern])
        if word:
            words.append(word)
    if rng.random() < P_CATEGORY or not words:
        words.append(_pick(rng, CATEGORIES[category]))
    if rng.random() < 0.15 and len(words) > 2:  # sellers don't keep a fixed order
        j = int(rng.integers(len(words) - 1))
        words[j], words[j + 1] = words[j + 1], words[j]
    words = [_typo(rng, w) if rng.random() < P_TYPO else w for w in words]
    title = " ".join(words)
    n_filler = int(rng.choice([0, 1, 2], p=[0.4, 0.45, 0.15]))
    if n_filler:
        fillers = rng.choice(len(FILLER), size=n_filler, replace=False)
        title += " " + _pick(rng, ("- ", "| ", "", "!! ")) + ", ".join(FILLER[i] for i in fillers)
    case = rng.random()
    if case < 0.2:
        title = title.lower()
    elif case < 0.3:
        title = title.upper()
    elif case < 0.6:
        title = title.title()
    return title.strip()
