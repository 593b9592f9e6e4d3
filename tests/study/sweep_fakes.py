"""Stand-in runs for the sweep tests (a sweep's ``runner``): instant, deterministic, and able to
fail, die or sleep on request, so sweep mechanics are tested without training.

Behaviour comes from environment variables (the run processes inherit them):
``FAKE_SLEEP`` seconds each run sleeps; ``FAKE_LONG`` a seed whose runs sleep 60 s;
``FAKE_FAIL`` / ``FAKE_DIE`` a seed whose runs raise / kill their own process with SIGKILL; ``FAKE_PIDS`` a folder where each run leaves a file named
by its process id.
"""
import os
import signal
import time

from minidd.study.results import RunResult, run_key


def run(task, spec, seed, epochs=None, train_limit=None):
    if os.environ.get("FAKE_PIDS"):
        open(os.path.join(os.environ["FAKE_PIDS"], str(os.getpid())), "w").close()
    time.sleep(60 if str(seed) == os.environ.get("FAKE_LONG") else float(os.environ.get("FAKE_SLEEP", "0")))
    if str(seed) == os.environ.get("FAKE_FAIL"):
        raise RuntimeError(f"fake failure of {task} {spec} seed {seed}")
    if str(seed) == os.environ.get("FAKE_DIE"):
        os.kill(os.getpid(), signal.SIGKILL)
    accuracy = (seed + 1) / (len(spec) + 7)
    return RunResult(run_key(task, spec, seed), task, {"policy": "dense"}, spec, seed,
                     settings={"epochs": epochs, "train_limit": train_limit},
                     metrics={"test_accuracy": accuracy, "test_loss": 1 - accuracy},
                     curves={"test_accuracy": [accuracy / 2, accuracy]})
