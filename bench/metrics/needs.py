"""Which weights files a run needs: the one answer ``pftryon eval``, ``bench``, ``ablate`` and ``weights`` share.

:func:`metric_weights` maps a metric under a protocol to its files (keys of :data:`~bench.metrics.weights.WEIGHTS`);
:class:`Selection` gathers them for protocols, metrics, a suite or file names, and writes the ``pftryon weights fetch``
command that gets exactly those; :func:`missing_message` is the one line a command prints for every missing file.
"""

from __future__ import annotations

import os
import shlex
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from bench.metrics.specs import metric_spec
from bench.metrics.weights import WEIGHTS, MissingWeightsError, resolve_weights, search_dirs
from bench.protocols import EXTRA_METRICS, Protocol, list_protocols, load_protocol

if TYPE_CHECKING:
    from bench.suite.config import Suite

__all__ = ["Selection", "metric_weights", "missing_message", "missing_weights"]


def metric_weights(metric: str, protocol: Protocol) -> tuple[str, ...]:
    """The weights files (keys of ``WEIGHTS``) ``metric`` loads under ``protocol``; none for SSIM, PSNR, MSE, ...
    (its spec's :meth:`~bench.metrics.specs.MetricSpec.weights_for`).

    Raises:
        InputError: ``metric`` has no spec (:func:`~bench.metrics.specs.metric_spec`).
    """
    return metric_spec(metric).weights_for(protocol)


Uses = dict[str, list[tuple[str, str]]]


@dataclass(frozen=True)
class Selection:
    """A run's scoring, to find its weights files; the selectors of ``pftryon weights``.

    Attributes:
        protocols: shipped protocol names or YAML paths, scored with ``metrics`` (default: each protocol's own).
        metrics: metric names (extras allowed); without protocols or a suite: under every shipped protocol.
        suite: a suite (name or YAML): its protocols with its metrics, narrowed by ``metrics``.
        names: files by name (keys of ``WEIGHTS``). Nothing selected at all: every file.
    """

    protocols: tuple[str, ...] = ()
    metrics: tuple[str, ...] | None = None
    suite: str | None = None
    names: tuple[str, ...] = ()

    @classmethod
    def of_suite(cls, suite: Suite) -> Selection:
        """A loaded suite (after its overrides): its protocols, and its metrics where they leave one out."""
        narrowed = any(set(load_protocol(p).metrics) - set(suite.metrics) for p in suite.protocols)
        return cls(tuple(suite.protocols), tuple(suite.metrics) if narrowed else None)

    @classmethod
    def of_protocol(cls, protocol: Protocol, metrics: Sequence[str]) -> Selection:
        """One protocol's run; a protocol that is not a shipped one is selected by its files' names."""
        if protocol.name in list_protocols() and load_protocol(protocol.name) == protocol:
            return cls((protocol.name,), None if set(metrics) == set(protocol.metrics) else tuple(metrics))
        return cls(names=tuple(dict.fromkeys(n for m in metrics for n in metric_weights(m, protocol))))

    @property
    def everything(self) -> bool:
        """Nothing selected: every file of the table."""
        return not (self.protocols or self.metrics or self.suite or self.names)

    def needs(self) -> Uses:
        """``{weights name: [(metric, protocol name), ...]}`` in table order; ``[("", "")]`` for a file only asked
        for by name, or (everything) used by no protocol metric.

        Raises:
            ValueError: an unknown protocol, suite or file name.
        """
        unknown = sorted(set(self.names) - set(WEIGHTS))
        if unknown:
            raise ValueError(f"unknown weights name(s) {unknown}; expected some of {sorted(WEIGHTS)}")
        runs: list[tuple[Protocol, Iterable[str]]] = []
        if self.suite is not None:
            from bench.suite.config import load_suite

            suite = load_suite(self.suite)
            wanted = [m for m in suite.metrics if self.metrics is None or m in self.metrics]
            for protocol in map(load_protocol, suite.protocols):
                runs.append((protocol, [m for m in wanted if m in protocol.metrics]))
        everywhere = self.everything or (self.metrics is not None and not (self.protocols or self.suite))
        for protocol in map(load_protocol, self.protocols or (list_protocols() if everywhere else ())):
            metrics = (*protocol.metrics, *EXTRA_METRICS) if self.everything else self.metrics or protocol.metrics
            runs.append((protocol, [m for m in metrics if m in protocol.metrics or m in EXTRA_METRICS]))
        uses: Uses = {}
        for protocol, metrics in runs:
            for metric in metrics:
                for name in metric_weights(metric, protocol):
                    uses.setdefault(name, []).append((metric, protocol.name))
        for name in self.names if not self.everything else WEIGHTS:
            uses.setdefault(name, [("", "")])
        return {name: uses[name] for name in WEIGHTS if name in uses}

    def command(self, weights_dir: str | os.PathLike[str] | None = None) -> str:
        """The ``pftryon weights fetch`` command that gets exactly this selection's missing files."""
        args = [] if self.suite is None else ["--suite", self.suite]
        args += [part for protocol in self.protocols for part in ("--protocol", protocol)]
        args += [] if self.metrics is None else ["--metrics", ",".join(self.metrics)]
        args += ["--names", ",".join(self.names)] if self.names else []
        args += [] if weights_dir is None else ["--weights-dir", str(weights_dir)]
        return shlex.join(["pftryon", "weights", "fetch", *args])


def missing_weights(names: Iterable[str], weights_dir: str | os.PathLike[str] | None = None) -> list[str]:
    """The ``names`` whose file is in none of the folders searched (:func:`~bench.metrics.weights.search_dirs`)."""
    missing = []
    for name in dict.fromkeys(names):
        try:
            resolve_weights(name, weights_dir)
        except MissingWeightsError:
            missing.append(name)
    return missing


def missing_message(missing: Sequence[str], weights_dir: str | os.PathLike[str] | None, selection: Selection) -> str:
    """One line naming every missing file, the folders searched and the fetch command for the run."""
    files = ", ".join(WEIGHTS[name].filename for name in missing)
    searched = ", ".join(map(str, search_dirs(weights_dir)))
    return f"missing weights: {files} (searched {searched}); get them with: {selection.command(weights_dir)}"
