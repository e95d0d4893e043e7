"""preparation.py: the choices of --background and --frame, checked where they are made."""

from __future__ import annotations

import pytest

from mnist_ann.predict.inputs.images.preparation import BACKGROUNDS, FRAMINGS, Preparation


def test_defaults_and_labels():
    assert Preparation() == Preparation(background="auto", frame="mnist")
    assert Preparation().label(light=True) == "mnist/light"
    assert Preparation(background="dark", frame="none").label(light=False) == "none/dark"
    assert set(BACKGROUNDS) == {"auto", "dark", "light"} and set(FRAMINGS) == {"mnist", "none"}


@pytest.mark.parametrize("field, value", [("background", "white"), ("frame", "center"), ("frame", None)])
def test_unknown_choices_are_refused_by_name(field, value):
    with pytest.raises(ValueError, match=f"^{field} must be one of .*got {value!r}$"):
        Preparation(**{field: value})
