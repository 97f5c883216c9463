"""The launch review ``run`` shows before an AutoML study is recorded, and the confirmation it may ask for.

On a terminal the review is drawn as tables and a study expected to run longer
than ``SKILLRUN_AUTOML_CONFIRM_S`` (default one hour) asks "start?" unless
``--yes``. Anything else (a pipe, an agent, ``--json``) gets the review as JSON
and is never prompted: on stderr as one ``{"automl_review": ...}`` line, and
with ``--json`` inside the final document as ``automl_review``.
"""

from __future__ import annotations

import json
import sys
from typing import TYPE_CHECKING, Any, Callable

import click

if TYPE_CHECKING:
    from skillrun.launch.prepare import Prepared


def interactive() -> bool:
    return sys.stdin.isatty() and sys.stderr.isatty()


def review_hook(shown: dict[str, Any], *, as_json: bool, yes: bool) -> Callable[[Prepared], None]:
    """The ``review`` callback of :func:`skillrun.launch.submit.start`; fills ``shown["automl_review"]``."""

    def hook(prepared: Prepared) -> None:
        from skillrun.automl.plan import human_s
        from skillrun.cli.commands.plan import print_review

        review = prepared.study.review  # type: ignore[union-attr]
        shown["automl_review"] = review.model_dump(mode="json")
        if as_json:
            return
        if not interactive():
            sys.stderr.write(json.dumps({"automl_review": shown["automl_review"]}, default=str) + "\n")
            return
        print_review(review)
        if review.needs_confirmation and not yes:
            wall = human_s(review.estimate.wall_s_expected or 0)
            if not click.confirm(f"The study is expected to take {wall} (more than {human_s(review.confirm_above_s)}). Start it?", default=False, err=True):
                raise click.exceptions.Abort

    return hook
