"""Explicit name -> model class table (no string reflection)."""

from __future__ import annotations

from typing import Any

from liverec.core.errors import ConfigError
from liverec.models import itemcf, mf, sasrec, usercf
from liverec.models.base import Recommender
from liverec.models.component import Component
from liverec.models.content import TextComponent
from liverec.models.fresh import NewItemsComponent
from liverec.models.itemcf import ItemCF, ItemCFComponent
from liverec.models.mf import ALS, BPR, ALSComponent
from liverec.models.popular import PopularComponent, Popularity, TrendingComponent
from liverec.models.ranker import RankerComponent
from liverec.models.sasrec import SASRec, SASRecComponent
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


# What a snapshot can hold, in training order (a component comes after those it needs).
COMPONENTS: dict[str, type[Component]] = {
    c.name: c
    for c in (
        PopularComponent,
        TrendingComponent,
        ItemCFComponent,
        ALSComponent,
        TextComponent,
        NewItemsComponent,
        SASRecComponent,
        RankerComponent,
    )
}


def component_class(name: str) -> type[Component]:
    """The servable component registered as ``name``.

    Raises
    ------
    ConfigError
        If no component has that name.
    """
    try:
        return COMPONENTS[name]
    except KeyError:
        raise ConfigError(
            f"unknown component {name!r}; expected one of {', '.join(COMPONENTS)}"
        ) from None


def default_components() -> tuple[str, ...]:
    """Components a snapshot has unless told otherwise (every non-optional one)."""
    return tuple(name for name, c in COMPONENTS.items() if not c.optional)


def channel_names() -> tuple[str, ...]:
    """Every channel name a pipeline may weigh (each component's channel)."""
    return tuple(c.channel for c in COMPONENTS.values() if c.channel is not None)
