"""One-line explanations of the report's statistics, in plain words for analysts.

Each sits as a small caption next to the number it explains, in the HTML and
Markdown reports alike.
"""

from __future__ import annotations

GLOSSARY = {
    "lift": "Lift: the treatment's value relative to the control's (+10% = ten percent higher).",
    "ci": "CI (confidence interval): the range of lifts compatible with the data; if it "
    "excludes 0%, the difference is unlikely to be chance.",
    "p": "p (raw p-value): how surprising the data would be if the variants were truly "
    "equal, for this one comparison; small means a real difference.",
    "p_adjusted": "Adjusted p: the p-value corrected for testing many metrics and variants "
    "at once; this is the one compared with alpha, and the widened interval beside it "
    "is the one that matches it.",
    "chance_to_win": "Chance to win: the probability, given the data and the prior, that "
    "the treatment is better than the control on this metric (Bayesian read-out).",
    "risk": "Risk: how much the metric would lose, on average, in the cases where choosing "
    "the treatment is the wrong call (an expected relative loss); small is safe.",
    "cri": "CrI (credible interval): the range that holds the lift with the stated "
    "probability, given the data and the prior.",
    "guardrail": "Guardrails are a safety check: each is tested on its own, one-sided "
    "(did it get worse?) and unadjusted, and is breached when that p-value is below alpha.",
    "srm": "SRM (sample ratio mismatch): users did not split as configured; that points to "
    "a bug in assignment or logging, and then no lift can be trusted.",
    "sequential": "Sequential (always-valid) interval: valid on every day, so the "
    "experiment may be checked daily without inflating false positives.",
    "fixed_horizon": "Fixed-horizon interval: valid only at the planned end; earlier days "
    "are for watching trends, not for deciding.",
    "cuped": "CUPED: lifts are adjusted with each user's behaviour before the experiment, "
    "which narrows intervals without biasing them.",
    "segments": "Segments are for exploring, not deciding: many subgroups are compared, "
    "so some will differ by chance (their p-values are not adjusted).",
    "ndcg": "nDCG@k: how high the relevant items rank in the top k (1 = perfect order).",
    "precision": "P@k (precision): share of the top k that users found relevant.",
    "counterfactual": "Counterfactual tap rate: the tap rate an encoder would have earned "
    "on logged traffic, estimated from the logs of the production encoder "
    "(self-normalised inverse propensity scoring).",
}
