"""What every ``liverec`` command shares: help layout, the --dataset and --param options."""

from __future__ import annotations

import argparse
import json
import textwrap
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from liverec.core.errors import ConfigError

if TYPE_CHECKING:
    from liverec.config import Settings
    from liverec.serving.training import TrainConfig

HELP_WIDTH = 79


class HelpFormatter(argparse.RawDescriptionHelpFormatter):
    """Descriptions and examples kept as written; each option's default after its help."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        unset = action.default in (None, False, "", [], argparse.SUPPRESS)
        if unset or not action.option_strings or "%(default)" in text:
            return text
        return f"{text} (default: %(default)s)"


def _debug_option() -> argparse.ArgumentParser:
    # SUPPRESS: an unset --debug after the command must not undo one given before it.
    parent = argparse.ArgumentParser(add_help=False)
    parent.add_argument(
        "--debug",
        action="store_true",
        default=argparse.SUPPRESS,
        help="show the full traceback of an error",
    )
    return parent


def add_command(
    sub: Any, name: str, purpose: str, examples: Sequence[str], notes: str = ""
) -> argparse.ArgumentParser:
    """A subcommand whose --help starts with its purpose and ends with examples.

    ``examples`` are command lines (``# comment`` lines allowed); ``notes`` go after the
    purpose, before the options.
    """
    description = textwrap.fill(f"{purpose[0].upper()}{purpose[1:]}.", HELP_WIDTH)
    if notes:
        description += "\n\n" + textwrap.fill(notes, HELP_WIDTH)
    return sub.add_parser(  # type: ignore[no-any-return]
        name,
        help=purpose,
        description=description,
        epilog="examples:\n" + "\n".join(f"  {line}" for line in examples),
        formatter_class=HelpFormatter,
        parents=[_debug_option()],
    )


def add_group(sub: Any, name: str, purpose: str, dest: str) -> Any:
    """A command made of subcommands (``data``, ``keys`` ...); returns their subparsers."""
    group = sub.add_parser(name, help=purpose, description=f"{purpose[0].upper()}{purpose[1:]}.")
    return group.add_subparsers(dest=dest, required=True, metavar="COMMAND")


def add_dataset_option(parser: argparse.ArgumentParser) -> None:
    """The --dataset option: a built-in dataset or one imported under LIVEREC_HOME."""
    parser.add_argument(
        "--dataset",
        default="ml-100k",
        help="a built-in dataset (ml-100k) or one you imported (liverec data list)",
    )


def add_engine_options(parser: argparse.ArgumentParser) -> None:
    """--engine and --address: where the parallel parts of an offline job run."""
    from liverec.engine import ENGINES

    parser.add_argument(
        "--engine",
        choices=ENGINES,
        default="local",
        help="where the parallel parts run: local processes, or Ray tasks (pip install "
        "'liverec[ray]'); every engine gives the same result",
    )
    parser.add_argument(
        "--address",
        metavar="HOST:PORT",
        help="with --engine ray: the head of a running Ray cluster (ray start --head prints "
        "it); without it a local Ray on 127.0.0.1 is started for this run and stopped after",
    )


def non_negative(text: str) -> int:
    """An argparse type: an integer >= 0."""
    value = int(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"expected a number >= 0, got {value}")
    return value


def positive(text: str) -> int:
    """An argparse type: an integer >= 1."""
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def settings(**overrides: object) -> Settings:
    """The settings from LIVEREC_* variables, with ``overrides``."""
    from liverec.config import Settings

    return Settings(**overrides)  # type: ignore[arg-type]


def parse_params(
    pairs: Sequence[str], known: Sequence[str], known_as: str
) -> dict[str, dict[str, Any]]:
    """``NAME.KEY=VALUE`` pairs (values as JSON, else text) -> {name: {key: value}}.

    ``known_as`` says what ``known`` holds in the error message, e.g. "the components".

    Raises
    ------
    ConfigError
        If a pair is malformed or its NAME is not in ``known``.
    """
    out: dict[str, dict[str, Any]] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        name, dot, param = key.partition(".")
        if not sep or not dot or not param:
            raise ConfigError(
                f"--param {pair!r}: expected MODEL.NAME=VALUE, e.g. sasrec.text=false"
            )
        if name not in known:
            raise ConfigError(
                f"--param {pair!r}: {name!r} is not one of {known_as} ({', '.join(known)})"
            )
        try:
            value = json.loads(raw)
        except json.JSONDecodeError:
            value = raw
        out.setdefault(name, {})[param] = value
    return out


def train_config(models: str, params: Sequence[str] = (), skip: Sequence[str] = ()) -> TrainConfig:
    """The snapshot config: every default component but ``skip``, the optional ones
    ``models`` names (``none``: no optional one), and ``--param COMPONENT.KEY=VALUE``.

    Raises
    ------
    ConfigError
        If a name is not a component that can be added or given parameters.
    """
    from liverec.models.registry import COMPONENTS
    from liverec.serving.training import TrainConfig

    optional = [n for n, c in COMPONENTS.items() if c.optional]
    names = [n.strip() for n in models.split(",") if n.strip() and n.strip() != "none"]
    unknown = sorted(set(names) - set(optional))
    if unknown:
        raise ConfigError(
            f"--models: cannot train {', '.join(unknown)}; expected some of {', '.join(optional)}"
            f" or none (always trained: {', '.join(n for n in COMPONENTS if n not in optional)})"
        )
    kept = tuple(n for n in COMPONENTS if n not in optional and n not in skip)
    config = TrainConfig(
        components=kept, params=parse_params(params, tuple(COMPONENTS), "the components")
    )
    return config.with_optional(names)
