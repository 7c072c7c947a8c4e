"""ServedModel: atomic swaps, in-flight requests keep their model, reasons when not ready."""

from __future__ import annotations

import threading

import pytest

from sentiment.application.load_model import LoadedModel, LoadModelCommand
from sentiment.application.serving import LoadFailure, ServedModel
from sentiment.domain.errors import ModelNotReadyError
from sentiment.domain.model import ModelVersion
from tests.support.api import FixedClassifier


def loaded(version: str) -> LoadedModel:
    return LoadedModel(
        info=ModelVersion(name="M", version=version, run_id=f"run-{version}"),
        classifier=FixedClassifier(name=version),
        resolved_by="latest",
        alias=None,
        requested=LoadModelCommand(),
        loaded_at=0.0,
        load_seconds=0.0,
    )


def test_nothing_is_served_before_the_first_swap() -> None:
    served = ServedModel(clock=lambda: 10.0)
    assert served.current is None
    assert not served.status().ready
    with pytest.raises(ModelNotReadyError, match="first load is in progress") as caught:
        served.require()
    assert caught.value.retry_after_s is None


def test_the_first_load_says_how_long_it_has_been_trying() -> None:
    now = [100.0]
    served = ServedModel(clock=lambda: now[0])
    now[0] = 102.25
    assert served.not_ready_reason().endswith("(2.2 s so far)")
    now[0] = 99.0  # a clock stepped back never shows a negative wait
    assert served.not_ready_reason().endswith("(0.0 s so far)")


def test_the_reason_names_the_last_failure_and_the_retry() -> None:
    served = ServedModel()
    served.record_failure(
        LoadFailure("registry unreachable", "RegistryUnavailableError", 3, 0.0, 4.0)
    )
    with pytest.raises(ModelNotReadyError) as caught:
        served.require()
    message = str(caught.value)
    assert "registry unreachable" in message
    assert "attempt 3" in message
    assert "4.0 s" in message
    assert caught.value.retry_after_s == 4.0


def test_swap_returns_the_previous_model_and_clears_the_failure() -> None:
    served = ServedModel()
    one, two = loaded("1"), loaded("2")
    assert served.swap(one) is None
    served.record_failure(LoadFailure("v2 broken", "ModelLoadError", 1, 0.0))
    assert served.require() is one  # a failure never unloads what is served
    assert served.status().last_failure is not None
    assert served.swap(two) is one
    status = served.status()
    assert status.current is two
    assert status.last_failure is None
    assert status.swaps == 2
    assert served.not_ready_reason() == ""


def test_a_request_in_flight_keeps_the_model_it_started_with() -> None:
    served = ServedModel()
    served.swap(loaded("1"))
    in_flight = served.require()
    served.swap(loaded("2"))
    assert in_flight.version == "1"
    assert served.require().version == "2"


def test_concurrent_readers_always_see_a_whole_model_while_swaps_happen() -> None:
    served = ServedModel()
    models = [loaded(str(i)) for i in range(1, 51)]
    served.swap(models[0])
    seen: list[LoadedModel] = []
    stop = threading.Event()

    def reader() -> None:
        while not stop.is_set():
            seen.append(served.require())

    threads = [threading.Thread(target=reader) for _ in range(4)]
    for thread in threads:
        thread.start()
    previous = []
    for model in models[1:]:
        previous.append(served.swap(model))
    stop.set()
    for thread in threads:
        thread.join()

    assert previous == models[:-1]  # every swap returned exactly the model it replaced
    assert served.status().swaps == len(models)
    assert seen
    assert all(any(m is s for m in models) for s in seen)
