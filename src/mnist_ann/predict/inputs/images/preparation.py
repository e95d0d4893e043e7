"""How image files become digits before scoring: predict's --background and --frame. Its own light
module, so that `mnist-ann --help` names the choices without importing numpy."""

from __future__ import annotations

from dataclasses import dataclass

BACKGROUNDS = ("auto", "dark", "light")  # dark: MNIST's light digit on a dark ground; light: ink on paper
FRAMINGS = ("mnist", "none")  # mnist: MNIST's framing (see core/framing.py); none: resized whole to 28x28
DIGITS = ("one", "many")  # one: a picture is one digit; many: a number, its digits read left to right


@dataclass(frozen=True)
class Preparation:
    background: str = "auto"
    frame: str = "mnist"
    digits: str = "one"

    def __post_init__(self):
        if self.background not in BACKGROUNDS:
            raise ValueError(f"background must be one of {', '.join(BACKGROUNDS)}, got {self.background!r}")
        if self.frame not in FRAMINGS:
            raise ValueError(f"frame must be one of {', '.join(FRAMINGS)}, got {self.frame!r}")
        if self.digits not in DIGITS:
            raise ValueError(f"digits must be one of {', '.join(DIGITS)}, got {self.digits!r}")
        if self.numbers and self.frame != "mnist":
            raise ValueError("digits many frames each digit as MNIST's: it needs frame mnist, not none")

    @property
    def numbers(self) -> bool:
        """Whether each picture is read as a number (--digits many)."""
        return self.digits == "many"

    def label(self, light: bool, marks: int = 1) -> str:
        """What was applied to one image, as the `prepared` column says it: mnist/light, none/dark,
        ...; and where the picture holds `marks` digit-sized marks side by side, more than one,
        that too: mnist/light/2-marks (the label is still the most likely single digit)."""
        several = f"/{marks}{SEVERAL}" if marks > 1 else ""
        return f"{self.frame}/{'light' if light else 'dark'}{several}"


SEVERAL = "-marks"  # how a `prepared` value ends for a picture of several digit-sized marks


def holds_several(prepared: str) -> bool:
    """Whether a row's `prepared` value says its picture holds several digit-sized marks."""
    return str(prepared).endswith(SEVERAL)


def several_marks(prepared) -> int:
    """How many of the rows' `prepared` values say their picture holds several digit-sized marks."""
    return sum(map(holds_several, prepared))
