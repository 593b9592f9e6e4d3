"""The exercise track (exercises/, docs/tutorial.md): every check passes on the solutions and
fails on the stubs as handed out, so a student's green run means their code works."""
import pytest

from exercises import checks

READY = [e for e in checks.EXERCISES if hasattr(checks, f"check_{e}")]


@pytest.mark.parametrize("exercise", READY)
def test_the_solution_passes(exercise):
    getattr(checks, f"check_{exercise}")(checks.load("solutions", exercise))


@pytest.mark.parametrize("exercise", READY)
def test_the_stub_fails(exercise):
    with pytest.raises((NotImplementedError, AssertionError)):
        getattr(checks, f"check_{exercise}")(checks.load("stubs", exercise))
