"""Bar charts drawn as inline SVG on the server: no charting script to download."""
from __future__ import annotations

from dataclasses import dataclass

ROW = 26        # px per bar, label included
LABEL = 170     # px kept for the label on the left
WIDTH = 480     # the drawing's width; it scales with the page (viewBox)


@dataclass
class Bar:
    label: str
    value: float
    y: int
    width: float
    text: str


@dataclass
class Chart:
    bars: list[Bar]
    height: int
    width: int = WIDTH
    label_width: int = LABEL

    @property
    def empty(self) -> bool:
        return not self.bars


def bars(items, unit: str = "", scale: float | None = None) -> Chart:
    """``items``: (label, value) pairs, drawn in the order given."""
    items = [(str(label), float(value or 0)) for label, value in items]
    top = scale or max([v for _, v in items] + [1])
    room = WIDTH - LABEL - 60
    out = []
    for i, (label, value) in enumerate(items):
        text = (f"{value:g}{unit}" if unit else f"{value:g}")
        out.append(Bar(label, value, i * ROW, round(room * value / top, 1) if top else 0,
                       text))
    return Chart(out, max(ROW, len(out) * ROW))
