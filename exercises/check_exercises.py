"""Run the exercise checks on your answers: ``python -m pytest exercises/check_exercises.py``
(all) or with ``-k ex1`` (one).  ``MINIDD_EXERCISES=solutions`` runs them on the
solutions instead (look only when you are stuck)."""
import os

import pytest

from exercises import checks


@pytest.mark.parametrize("exercise", checks.EXERCISES)
def test_exercise(exercise):
    module = checks.load(os.environ.get("MINIDD_EXERCISES", "stubs"), exercise)
    getattr(checks, f"check_{exercise}")(module)
