"""Predictive customer models (BG/NBD, Gamma-Gamma, CLV, scoring).

Pure NumPy/SciPy/Polars code with no orchestration imports, so it can be
tested and benchmarked on its own; see docs/predictive-models.md. The audience
backtest (`models.backtest`) also runs SQL on a DuckDB connection it is
given, so the orders it refits on never leave the database.
"""

from models.bgnbd import BetaGeoModel, fit_bgnbd
from models.errors import (
    ConvergenceError,
    InvalidInputError,
    ModelError,
    ModelFitError,
    PredictionError,
)
from models.gamma_gamma import GammaGammaModel, customer_lifetime_value, fit_gamma_gamma
from models.scoring import (
    HoldoutCheck,
    churn_risk_band,
    holdout_check,
    model_metadata,
    score_customers,
    unscored_customers,
)
from models.summary import calibration_and_holdout, customer_summary

__all__ = [
    "BetaGeoModel",
    "ConvergenceError",
    "GammaGammaModel",
    "HoldoutCheck",
    "InvalidInputError",
    "ModelError",
    "ModelFitError",
    "PredictionError",
    "calibration_and_holdout",
    "churn_risk_band",
    "customer_lifetime_value",
    "customer_summary",
    "fit_bgnbd",
    "fit_gamma_gamma",
    "holdout_check",
    "model_metadata",
    "score_customers",
    "unscored_customers",
]
