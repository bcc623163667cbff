"""The lab: experiments built on the data path (readers, groups, recorder).

* :mod:`~rtsplab.lab.experiment`: run reading strategies on the same streams (``compare``).
* :mod:`~rtsplab.lab.seed`: the problem statement's one-second skew, reproduced and fixed.
* :mod:`~rtsplab.lab.diagnose` and :mod:`~rtsplab.lab.findings`: the doctor, which measures
  your own cameras and turns the numbers into advice.
* :mod:`~rtsplab.lab.probe`: open one stream and report what it is.

Example:
    >>> from rtsplab.lab import STRATEGY_LABELS, parse_label
    >>> list(STRATEGY_LABELS)
    ['naive', 'buffered', 'latest', 'matched']
    >>> parse_label("matched")[1].value
    'matched'
"""

from __future__ import annotations

from rtsplab.lab.diagnose import Diagnosis, diagnose
from rtsplab.lab.experiment import (
    STRATEGY_LABELS,
    age_growth_ms_per_s,
    compare,
    comparison_json,
    open_one_by_one,
    parse_label,
    read_sets,
    run_strategy,
    simulated_cameras,
    stream_names,
    timed_first_set,
)
from rtsplab.lab.findings import LEVELS, Finding
from rtsplab.lab.probe import probe
from rtsplab.lab.seed import SeedResult, reproduce_seed

__all__ = [
    "LEVELS",
    "STRATEGY_LABELS",
    "Diagnosis",
    "Finding",
    "SeedResult",
    "age_growth_ms_per_s",
    "compare",
    "comparison_json",
    "diagnose",
    "open_one_by_one",
    "parse_label",
    "probe",
    "read_sets",
    "reproduce_seed",
    "run_strategy",
    "simulated_cameras",
    "stream_names",
    "timed_first_set",
]
