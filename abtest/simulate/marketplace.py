"""The simulator's view of a world: latent item attributes, user tastes, behaviour.

Only the simulator uses this class. It is built from the ``truth_*`` tables
(plus the public ``items`` and ``users``), which analysis code never reads.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np
import polars as pl

from abtest.simulate.behaviour import (
    ATTRIBUTE_NAMES,
    BehaviourParams,
    purchase_probability,
    relevance,
    tap_probability,
)
from abtest.simulate.vocab import ATTRIBUTES
from abtest.store import Store


@dataclass(frozen=True)
class ModuleOutcome:
    """What happened to one batch of module impressions (rows: views, columns: positions)."""

    p_tap: np.ndarray
    tapped: np.ndarray
    p_purchase: np.ndarray
    purchased: np.ndarray


@dataclass(frozen=True, eq=False)
class Marketplace:
    """Arrays describing items, users and how users behave."""

    item_ids: np.ndarray  # (n_items,) int64, sorted
    codes: np.ndarray  # (n_items, 5) int16, attribute codes (ATTRIBUTE_NAMES order)
    price: np.ndarray  # (n_items,) float64
    popularity: np.ndarray  # (n_items,) float64, > 0
    user_ids: np.ndarray  # (n_users,) str
    activity: np.ndarray  # (n_users,) expected item views per active day
    category_pref: np.ndarray  # (n_users, n_categories), rows sum to 1
    colour_pref: np.ndarray  # (n_users, n_colours)
    style_pref: np.ndarray  # (n_users, n_styles)
    price_sensitivity: np.ndarray  # (n_users,)
    params: BehaviourParams

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_users(self) -> int:
        return len(self.user_ids)

    def item_index(self, item_ids: np.ndarray) -> np.ndarray:
        """Row positions of ``item_ids``; raises KeyError for ids not in the catalog."""
        ids = np.asarray(item_ids, dtype=np.int64)
        idx = np.searchsorted(self.item_ids, ids)
        idx = np.clip(idx, 0, self.n_items - 1)
        if not np.array_equal(self.item_ids[idx], ids):
            missing = ids[self.item_ids[idx] != ids][:5]
            raise KeyError(f"items not in the catalog: {missing.tolist()}")
        return idx

    # -- behaviour ---------------------------------------------------------------------
    def taste(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        """How much each user likes each item's colour and style (0 = indifferent)."""
        colour = self.codes[item_idx, 1]
        style = self.codes[item_idx, 3]
        u = np.asarray(user_idx)
        if np.ndim(item_idx) == 2 and np.ndim(u) == 1:
            u = u[:, None]
        n_col, n_sty = self.colour_pref.shape[1], self.style_pref.shape[1]
        t = 0.5 * np.log(n_col * self.colour_pref[u, colour] + 1e-9)
        t += 0.5 * np.log(n_sty * self.style_pref[u, style] + 1e-9)
        return np.clip(t, -3.0, 2.0)

    def price_term(self, user_idx: np.ndarray, item_idx: np.ndarray) -> np.ndarray:
        log_price = np.log(self.price)
        z = (log_price[item_idx] - log_price.mean()) / (log_price.std() + 1e-12)
        u = np.asarray(user_idx)
        if np.ndim(item_idx) == 2 and np.ndim(u) == 1:
            u = u[:, None]
        return self.price_sensitivity[u] * z

    def relevance(self, source_idx: np.ndarray, rec_idx: np.ndarray) -> np.ndarray:
        src = np.asarray(source_idx)
        if np.ndim(rec_idx) == 2 and np.ndim(src) == 1:
            src = src[:, None]
        return relevance(self.codes[src], self.codes[rec_idx], self.params.relevance_weights)

    def module_probabilities(
        self, user_idx: np.ndarray, source_idx: np.ndarray, rec_idx: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """P(tap) and P(purchase | tap) for a module showing ``rec_idx`` (n, k) in rank order."""
        rec_idx = np.asarray(rec_idx)
        positions = np.broadcast_to(np.arange(1, rec_idx.shape[1] + 1), rec_idx.shape)
        rel = self.relevance(source_idx, rec_idx)
        taste = self.taste(user_idx, rec_idx)
        p_tap = tap_probability(self.params, rel, taste, positions)
        p_buy = purchase_probability(self.params, rel, taste, self.price_term(user_idx, rec_idx))
        return p_tap, p_buy

    def module_outcome(
        self,
        rng: np.random.Generator,
        user_idx: np.ndarray,
        source_idx: np.ndarray,
        rec_idx: np.ndarray,
    ) -> ModuleOutcome:
        """Draw taps and purchases for modules shown to ``user_idx`` viewing ``source_idx``."""
        p_tap, p_buy = self.module_probabilities(user_idx, source_idx, rec_idx)
        tapped = rng.random(p_tap.shape) < p_tap
        purchased = tapped & (rng.random(p_buy.shape) < p_buy)
        return ModuleOutcome(p_tap=p_tap, tapped=tapped, p_purchase=p_buy, purchased=purchased)

    def sample_views(self, rng: np.random.Generator, user_idx: np.ndarray) -> np.ndarray:
        """The item each user views: a category from their taste, then an item by popularity."""
        user_idx = np.asarray(user_idx)
        cdf = np.cumsum(self.category_pref[user_idx], axis=1)
        u = rng.random(len(user_idx)) * cdf[:, -1]
        category = (u[:, None] > cdf).sum(axis=1)
        out = np.empty(len(user_idx), dtype=np.int64)
        item_cat = self.codes[:, 0]
        for c in np.unique(category):
            in_cat = np.flatnonzero(item_cat == c)
            rows = np.flatnonzero(category == c)
            if len(in_cat) == 0:  # a category with no items: fall back to the whole catalog
                in_cat = np.arange(self.n_items)
            weights = np.cumsum(self.popularity[in_cat])
            pick = np.searchsorted(weights, rng.random(len(rows)) * weights[-1], side="right")
            out[rows] = in_cat[np.minimum(pick, len(in_cat) - 1)]
        return out

    # -- persistence -------------------------------------------------------------------
    @classmethod
    def from_frames(
        cls,
        truth_items: pl.DataFrame,
        items: pl.DataFrame,
        truth_users: pl.DataFrame,
        params: BehaviourParams,
    ) -> Marketplace:
        ti = truth_items.join(items.select("item_id", "price"), on="item_id").sort("item_id")
        codes = np.stack(
            [
                ti[name]
                .cast(pl.Utf8)
                .replace_strict(
                    {v: i for i, v in enumerate(ATTRIBUTES[name])}, return_dtype=pl.Int16
                )
                .to_numpy()
                for name in ATTRIBUTE_NAMES
            ],
            axis=1,
        )
        tu = truth_users.sort("user_id")
        return cls(
            item_ids=ti["item_id"].to_numpy().astype(np.int64),
            codes=codes,
            price=ti["price"].to_numpy().astype(np.float64),
            popularity=ti["popularity"].to_numpy().astype(np.float64),
            user_ids=tu["user_id"].to_numpy().astype(str),
            activity=tu["activity"].to_numpy().astype(np.float64),
            category_pref=np.stack(tu["category_pref"].to_numpy()).astype(np.float64),
            colour_pref=np.stack(tu["colour_pref"].to_numpy()).astype(np.float64),
            style_pref=np.stack(tu["style_pref"].to_numpy()).astype(np.float64),
            price_sensitivity=tu["price_sensitivity"].to_numpy().astype(np.float64),
            params=params,
        )

    @classmethod
    def from_store(cls, store: Store) -> Marketplace:
        """Load the world that ``looklift world`` wrote into a store."""
        from abtest.simulate.world import WorldError  # local: world imports this module

        con = store.con
        for table in ("truth_items", "truth_users", "truth_world", "items"):
            if not store.has_table(table):
                raise WorldError(
                    f"{store.path} has no simulated marketplace (table {table} is missing); "
                    "create one with 'looklift world'"
                )
        (params_json,) = con.execute("SELECT params FROM truth_world").fetchall()[0]
        params = BehaviourParams.from_dict(json.loads(params_json))
        return cls.from_frames(
            con.sql("SELECT * FROM truth_items").pl(),
            con.sql("SELECT item_id, price FROM items").pl(),
            con.sql("SELECT * FROM truth_users").pl(),
            params,
        )
