"""Explicit name -> model class table (no string reflection)."""

from __future__ import annotations

from typing import Any

from liverec.core.errors import ConfigError
from liverec.models import itemcf, mf, sasrec, usercf
from liverec.models.base import Recommender
from liverec.models.itemcf import ItemCF
from liverec.models.mf import ALS, BPR
from liverec.models.popular import Popularity
from liverec.models.sasrec import SASRec
from liverec.models.usercf import UserCF

MODELS: dict[str, type[Recommender]] = {
    "pop": Popularity,
    "usercf": UserCF,
    "itemcf": ItemCF,
    "als": ALS,
    "bpr": BPR,
    "sasrec": SASRec,
}

SEARCH_SPACES: dict[str, dict[str, list[Any]]] = {
    "usercf": usercf.SEARCH_SPACE,
    "itemcf": itemcf.SEARCH_SPACE,
    "als": mf.ALS_SEARCH_SPACE,
    "bpr": mf.BPR_SEARCH_SPACE,
    "sasrec": sasrec.SEARCH_SPACE,
}


def model_class(name: str) -> type[Recommender]:
    """The class registered as ``name``.

    Raises
    ------
    ConfigError
        If no model has that name.
    """
    try:
        return MODELS[name]
    except KeyError:
        raise ConfigError(f"unknown model {name!r}; expected one of {', '.join(MODELS)}") from None


def parse_model_list(text: str) -> list[str]:
    """Split a comma-separated model list and check every name."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    if not names:
        raise ConfigError("--models is empty; expected e.g. pop,itemcf,als")
    for n in names:
        model_class(n)
    return names
