"""The runner settings of params.yaml (flows/runner.py): which engine and address a build
uses, and how the keypoints stage cuts a set's samples into tasks. Pure functions only."""

from __future__ import annotations

import pytest

from formset.flows.runner import ADDRESS_VARIABLE, batches, resolved
from formset.params import RunnerParams


def runner(kind: str = "processes", workers: int = 2, address: str | None = None) -> RunnerParams:
    return RunnerParams(kind=kind, workers=workers, address=address, samples_per_task=50)


def test_kind_workers_and_no_address_come_from_params_yaml():
    assert resolved(runner(), {}) == ("processes", 2, None)
    assert resolved(runner("threads", 3), {}) == ("threads", 3, None)


def test_the_environment_address_overrides_kind_and_address_of_params_yaml():
    settings = runner("threads", 3, "tcp://old:8786")
    assert resolved(settings, {ADDRESS_VARIABLE: "tcp://10.0.0.5:8786"}) == ("dask", 3, "tcp://10.0.0.5:8786")
    assert resolved(settings, {ADDRESS_VARIABLE: ""}) == ("threads", 3, None)  # empty: not set


def test_an_address_counts_only_for_dask():
    assert resolved(runner("dask", address="tcp://h:1"), {}) == ("dask", 2, "tcp://h:1")
    assert resolved(runner("processes", address="tcp://h:1"), {}) == ("processes", 2, None)


def test_batches_keep_order_and_put_the_rest_last():
    assert list(batches(list("abcdefg"), 3)) == [["a", "b", "c"], ["d", "e", "f"], ["g"]]
    assert list(batches(list("ab"), 2)) == [["a", "b"]]
    assert list(batches([], 4)) == []


def test_batches_of_fewer_than_one_are_refused():
    with pytest.raises(ValueError, match="samples_per_task"):
        list(batches([1, 2], 0))
