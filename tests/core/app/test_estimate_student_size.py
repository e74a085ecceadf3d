"""The estimate says plainly whether a distillation student is smaller or larger than its teacher (issue 14)."""

from __future__ import annotations

from core.data import load_dataset
from core.app.estimate import estimate_recipe
from core.models import load_model
from core.pipeline.recipe import parse_recipe


def _student_row(width: float):
    toml = f'[[step]]\ntechnique = "distill.kd"\nstudent = "mobilenet_v3_small"\nwidth = {width}\n'
    rows = estimate_recipe(parse_recipe(toml), load_model("demo"), load_dataset("demo", seed=0)).rows
    return rows[0], rows[1]


def test_a_student_larger_than_the_teacher_is_called_larger():
    teacher, student = _student_row(1.0)
    assert student.params > teacher.params
    assert "8.7× larger than the teacher" in student.note and "fewer" not in student.note


def test_the_automatic_width_is_estimated_smaller():
    teacher, student = _student_row(0.0)
    assert student.params <= teacher.params / 2
    assert "fewer params than the teacher" in student.note
