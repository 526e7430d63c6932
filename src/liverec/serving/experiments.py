"""Online experiments: arms as pipeline configurations, users assigned by a salted hash.

An experiment names two or more arms; each arm is a set of ``PipelineConfig`` fields it
overrides (MMR lambda, channel or ranking-feature weights, disabled channels, ...), the first
arm being the control. In ``ab`` mode a user's arm is fixed by ``sha256(salt, pseudonym)``
against the arms' traffic shares, so a user sees one arm for the whole experiment, in every
worker, with no state to share; a new salt per experiment re-draws the split. In
``interleave`` mode (exactly two arms) every user gets one list merged from both arms'
lists by team draft (``liverec.serving.interleave``), and clicks are credited to the arm
that placed the item.

At most one experiment runs at a time: arms of two concurrent experiments could both set the
same field, and nothing would say which wins. Definitions live in one JSON file per dataset
(``$LIVEREC_HOME/state/DATASET/experiments.json``), written atomically by ``liverec
experiment create|stop`` or the admin API and re-read by every serving process within a
second of a change.

Interference: arms are not isolated. They share the online item statistics (popularity,
trending, co-occurrence pairs formed since the snapshot) and, at the next training, the
snapshot, so what one arm makes users click is read by the other arm's channels. See
"Experiments" in README.md for what that does to an estimate and what we do about it.
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from liverec.core.errors import ConfigError, UnknownIdError
from liverec.serving.pipeline import PipelineConfig

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,63}$"
Mode = Literal["ab", "interleave"]
MODES: tuple[Mode, ...] = ("ab", "interleave")


class ArmConfig(BaseModel):
    """One arm: its name, its share of users and the pipeline fields it changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN, description="lower-case letters, digits, _ . -")
    share: float | None = Field(
        None, gt=0, le=1, description="share of users; unset on every arm: equal shares"
    )
    pipeline: dict[str, Any] = Field(
        default_factory=dict,
        description="PipelineConfig fields this arm overrides, e.g. {'mmr_lambda': 0.5}; "
        "dict fields (weights, feature_weights) are merged key by key",
    )


class ExperimentConfig(BaseModel):
    """An experiment: its arms (the first is the control), its mode and its analysis plan."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=NAME_PATTERN)
    mode: Mode = Field("ab", description="ab: users split by arm; interleave: lists merged")
    arms: tuple[ArmConfig, ...] = Field(min_length=2, max_length=8)
    salt: str = Field(
        default_factory=lambda: secrets.token_hex(8),
        min_length=1,
        max_length=64,
        description="hash salt of the user split",
    )
    window_s: float = Field(
        1800.0, gt=0, description="a click or purchase this long after an answer counts for it"
    )
    alpha: float = Field(0.05, gt=0, lt=0.5, description="false-positive rate of the decision")
    planned_users: int = Field(
        2000, ge=10, description="users after which the decision rule makes its last look"
    )
    looks: int = Field(4, ge=1, le=20, description="equally spaced looks of the decision rule")
    max_user_exposures: int | None = Field(
        None,
        ge=1,
        description="in the statistics, scale a user's answers, clicks and purchases down to "
        "at most this many answers: a few very heavy users (or bots) otherwise dominate the "
        "variance and the rule's false-positive rate exceeds alpha (liverec experiment "
        "simulate shows whether your traffic needs it)",
    )
    created: float = Field(default_factory=time.time, description="epoch seconds")
    stopped: float | None = Field(None, description="epoch seconds; None while running")

    @model_validator(mode="after")
    def _arms_fit(self) -> ExperimentConfig:
        names = [a.name for a in self.arms]
        if len(set(names)) != len(names):
            raise ValueError(f"arms: names must differ, got {', '.join(names)}")
        if self.mode == "interleave" and len(self.arms) != 2:
            raise ValueError(f"arms: interleaving compares exactly 2 arms, got {len(self.arms)}")
        given = [a.share for a in self.arms if a.share is not None]
        if given and len(given) != len(self.arms):
            raise ValueError("arms: give a share to every arm or to none (equal shares)")
        if given and abs(sum(given) - 1.0) > 1e-6:
            raise ValueError(f"arms: shares must add up to 1, got {sum(given):g}")
        for arm in self.arms:  # a misspelt field fails at definition, not at the first answer
            try:
                resolve_pipeline(PipelineConfig(), arm)
            except ConfigError as e:
                raise ValueError(str(e)) from None
        return self

    @property
    def shares(self) -> list[float]:
        """Each arm's share of users, in arm order."""
        n = len(self.arms)
        return [a.share if a.share is not None else 1.0 / n for a in self.arms]

    @property
    def running(self) -> bool:
        """Whether answers are still assigned to this experiment."""
        return self.stopped is None


def resolve_pipeline(base: PipelineConfig, arm: ArmConfig) -> PipelineConfig:
    """``base`` with the arm's overrides; dict fields are merged key by key.

    Raises
    ------
    ConfigError
        If an override names no field of the pipeline or has a value it cannot take.
    """
    merged = base.model_dump()
    for key, value in arm.pipeline.items():
        old = merged.get(key)
        merged[key] = (
            {**old, **value} if isinstance(old, dict) and isinstance(value, dict) else value
        )
    try:
        return PipelineConfig.model_validate(merged)
    except ValidationError as e:
        where = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg']}" for err in e.errors()
        )
        raise ConfigError(f"arm {arm.name!r}: pipeline {where}") from None


def bucket(salt: str, user_id: str) -> float:
    """Where a user falls in [0, 1) under ``salt``: uniform, stable, independent per salt.

    >>> bucket("s1", "u") == bucket("s1", "u"), 0 <= bucket("s1", "u") < 1
    (True, True)
    """
    digest = hashlib.sha256(f"{salt}\x00{user_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


@dataclass(frozen=True)
class ActiveExperiment:
    """A running experiment made servable: each arm's full pipeline config, cumulative shares."""

    config: ExperimentConfig
    pipelines: dict[str, PipelineConfig]
    cumulative: tuple[float, ...]

    @classmethod
    def of(cls, config: ExperimentConfig, base: PipelineConfig) -> ActiveExperiment:
        """Resolve every arm against the service's own pipeline config."""
        pipelines = {a.name: resolve_pipeline(base, a) for a in config.arms}
        total, cumulative = 0.0, []
        for share in config.shares:
            total += share
            cumulative.append(total)
        return cls(config, pipelines, tuple(cumulative))

    @property
    def name(self) -> str:
        """The experiment's name."""
        return self.config.name

    def assign(self, user_id: str) -> str:
        """The arm (name) of a pseudonymised user."""
        x = bucket(self.config.salt, user_id)
        arms = self.config.arms
        for arm, edge in zip(arms, self.cumulative, strict=True):
            if x < edge:
                return arm.name
        return arms[-1].name  # shares adding up to 1 - 1e-7 leave a sliver at the top


class ExperimentStore:
    """Experiment definitions in one JSON file (or in memory when ``path`` is None)."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path
        self._memory: list[ExperimentConfig] = []
        self._lock = threading.Lock()

    def all(self) -> list[ExperimentConfig]:
        """Every experiment, oldest first."""
        if self.path is None:
            return list(self._memory)
        try:
            doc = json.loads(self.path.read_text())
        except FileNotFoundError:
            return []
        except (OSError, ValueError) as e:
            raise ConfigError(f"{self.path}: unreadable experiments file ({e})") from None
        return [ExperimentConfig.model_validate(x) for x in doc["experiments"]]

    def signature(self) -> tuple[int, int, int]:
        """Changes whenever the file is replaced (every write replaces it)."""
        if self.path is None:
            return (id(self._memory), len(self._memory), sum(e.running for e in self._memory))
        try:
            st = self.path.stat()
        except FileNotFoundError:
            return (0, 0, 0)
        return (st.st_ino, st.st_mtime_ns, st.st_size)

    def get(self, name: str) -> ExperimentConfig:
        """The experiment called ``name``.

        Raises
        ------
        UnknownIdError
            If there is none.
        """
        for e in self.all():
            if e.name == name:
                return e
        known = ", ".join(e.name for e in self.all()) or "none yet"
        raise UnknownIdError(f"no experiment {name!r} (defined: {known})")

    def running(self) -> ExperimentConfig | None:
        """The experiment answers are assigned to now, if any."""
        return next((e for e in self.all() if e.running), None)

    def create(self, config: ExperimentConfig) -> ExperimentConfig:
        """Add and start ``config``.

        Raises
        ------
        ConfigError
            If the name is taken or another experiment is still running.
        """
        with self._lock:
            found = self.all()
            if any(e.name == config.name for e in found):
                raise ConfigError(f"an experiment {config.name!r} exists; pick another name")
            running = [e.name for e in found if e.running]
            if running:
                raise ConfigError(
                    f"experiment {running[0]!r} is running; stop it first "
                    f"(liverec experiment stop {running[0]})"
                )
            self._write([*found, config])
        return config

    def stop(self, name: str, now: float | None = None) -> ExperimentConfig:
        """Stop assigning answers to ``name`` (its exposures stay for the report).

        Raises
        ------
        UnknownIdError
            If there is no such experiment.
        """
        with self._lock:
            found = self.all()
            self.get(name)
            stopped = [
                e.model_copy(update={"stopped": now or time.time()})
                if e.name == name and e.running
                else e
                for e in found
            ]
            self._write(stopped)
        return next(e for e in stopped if e.name == name)

    def _write(self, experiments: list[ExperimentConfig]) -> None:
        if self.path is None:
            self._memory = list(experiments)
            return
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        doc = {"experiments": [e.model_dump(mode="json") for e in experiments]}
        with open(tmp, "w") as f:
            json.dump(doc, f, indent=1)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.path)  # readers see the old file or the new one, never half


class Experiments:
    """What the service asks on every request: the running experiment, re-read when changed.

    The file is checked at most every ``check_every_s`` (one ``stat``), so a request without
    an experiment pays one clock read.
    """

    def __init__(
        self,
        store: ExperimentStore,
        base: PipelineConfig,
        check_every_s: float = 1.0,
        clock: Any = time.monotonic,
    ) -> None:
        self.store = store
        self.base = base
        self.check_every_s = check_every_s
        self.clock = clock
        self._active: ActiveExperiment | None = None
        self._signature: tuple[int, int, int] | None = None
        self._next_check = -1.0

    def current(self) -> ActiveExperiment | None:
        """The running experiment (None when there is none)."""
        now = self.clock()
        if now >= self._next_check:
            self._next_check = now + self.check_every_s
            self.refresh()
        return self._active

    def refresh(self) -> None:
        """Re-read the definitions if the file changed since the last read."""
        signature = self.store.signature()
        if signature == self._signature:
            return
        running = self.store.running()
        self._active = ActiveExperiment.of(running, self.base) if running else None
        self._signature = signature

    def define(self, config: ExperimentConfig) -> ExperimentConfig:
        """Create and start an experiment; this process serves it at once."""
        created = self.store.create(config)
        self.refresh()
        return created

    def stop(self, name: str) -> ExperimentConfig:
        """Stop an experiment; this process stops assigning to it at once."""
        stopped = self.store.stop(name)
        self.refresh()
        return stopped
