"""Summary: the parameter table of a recorded model — every layer's output shape, parameters
and multiply-accumulates (MACs) for one input, with the totals — revealed row by row, each
row with bars for its share of the parameters and of the MACs, and the heaviest layers
highlighted at the end.

The rows are the run's layer table, taken with torchinfo when the run was trained (its
totals are torchinfo's). A table too long for the frame shows each block's convs as one row.

    manim scenes/summary.py                                  # the default run (vgg16-synth)
    NNREEL_RUN=smallcnn-synth manim -ql scenes/summary.py
    NNREEL_SET="seconds=3 top=2" manim -ql scenes/summary.py

Options (``NNREEL_SET`` or ``python -m engine render summary --set KEY=VALUE``): see
``Summary.options``.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import ClassVar

from manim import (
    DOWN,
    LEFT,
    RIGHT,
    UP,
    FadeIn,
    Group,
    GrowFromEdge,
    Line,
    Rectangle,
    VGroup,
    smooth,
)

from engine.errors import RunError
from engine.scenekit import Number, Option, RunScene, layout, model_name, theme
from engine.scenekit.charts import fitted_title
from engine.scenekit.pacing import IDEA
from engine.store import LayerInfo, Run

KIND_WORDS = {
    "conv": "conv",
    "pool": "max-pool",
    "gap": "global avg",
    "flatten": "flatten",
    "dense": "dense",
    "logits": "logits",
}
TOP, BOTTOM = 2.8, -2.85
"""Top of the header row and bottom of the totals row (frame units)."""


def min_row() -> float:
    """Rows closer than this would touch (the small type's ascenders and descenders): the
    table groups layers instead."""
    return max(0.235, theme.text("Ag_", theme.SMALL).height * 0.85)


BAR_WIDTH = 2.0
"""The widest a share bar gets (narrower when the text columns need the room)."""
GAP = 0.4
WIDTH = 12.8
"""The columns' width: the stripes behind the rows reach a little further each side."""


@dataclass(frozen=True)
class Row:
    """One line of the table: a layer, or a block's convs taken together."""

    name: str
    kind: str
    output: str
    params: int
    macs: int


def human(n: float) -> str:
    """2,359,808 → '2.36 M' (MACs run to billions; parameters are shown in full)."""
    for size, unit in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if n >= size:
            return f"{n / size:.3g} {unit}"
    return f"{int(n)}"


def layer_rows(layers: list[LayerInfo]) -> list[Row]:
    return [
        Row(
            info.name,
            KIND_WORDS.get(info.kind, info.kind),
            theme.shape_text(info.output_shape),
            info.params,
            info.macs,
        )
        for info in layers
    ]


def grouped_rows(layers: list[LayerInfo]) -> list[Row]:
    """Consecutive convs (a block) as one row: names 'conv3_1 … conv3_3', costs summed,
    the output of the last."""
    rows = []
    for is_conv, run in itertools.groupby(layers, key=lambda info: info.kind == "conv"):
        run = list(run)
        if is_conv and len(run) > 1:
            rows.append(
                Row(
                    f"{run[0].name} … {run[-1].name}",
                    f"{len(run)} × conv",
                    theme.shape_text(run[-1].output_shape),
                    sum(i.params for i in run),
                    sum(i.macs for i in run),
                )
            )
        else:
            rows.extend(layer_rows(run))
    return rows


def block_rows(layers: list[LayerInfo]) -> list[Row]:
    """Each conv block (its convs and the pooling after them) as one row: 'conv3_1 … pool3'."""
    rows: list[Row] = []
    block: list[LayerInfo] = []

    def close() -> None:
        if len(block) == 1:
            rows.extend(layer_rows(block))
        elif block:
            convs = sum(i.kind == "conv" for i in block)
            kind = f"{convs} × conv" + (", pool" if block[-1].kind == "pool" else "")
            output = theme.shape_text(block[-1].output_shape)
            params, macs = sum(i.params for i in block), sum(i.macs for i in block)
            rows.append(Row(f"{block[0].name} … {block[-1].name}", kind, output, params, macs))
        block.clear()

    for info in layers:
        if info.kind == "conv" and block and block[-1].kind != "conv":
            close()
        if info.kind in ("conv", "pool") and (block or info.kind == "conv"):
            block.append(info)
        else:
            close()
            rows.extend(layer_rows([info]))
    close()
    return rows


def table_rows(layers: list[LayerInfo], max_rows: int) -> list[Row]:
    """Every layer when they fit, else the convs of each block grouped, else each block (its
    convs and its pooling) as one row."""
    for rows in (layer_rows(layers), grouped_rows(layers)):
        if len(rows) <= max_rows:
            return rows
    return block_rows(layers)


def totals(layers: list[LayerInfo]) -> tuple[int, int]:
    """(parameters, MACs) of the whole model."""
    return sum(i.params for i in layers), sum(i.macs for i in layers)


def as_shown(value: int, digits: int | None) -> float:
    """A value as the table shows it: in full, or to ``digits`` significant digits."""
    return float(value) if digits is None else float(f"{value:.{digits}g}")


def heaviest(values: list[int], k: int, digits: int | None = None) -> list[int]:
    """Indices of the k largest non-zero values, and every one tied with the k-th, in table
    order. Values tie when they read the same on screen (``digits``: shown to that many
    significant digits, as MACs are): VGG's equal convs are all highlighted, never some of
    them picked by their last digits."""
    shown = [as_shown(v, digits) for v in values]
    ranked = sorted((v for v in shown if v > 0), reverse=True)
    if not ranked or k <= 0:
        return []
    threshold = ranked[min(k, len(ranked)) - 1]
    return [i for i, v in enumerate(shown) if v >= threshold]


def tied_at_cut(values: list[int], chosen: list[int], digits: int | None) -> list[int]:
    """Those of ``chosen`` that tie with the smallest of them, when there are several."""
    if not chosen:
        return []
    cut = min(as_shown(values[i], digits) for i in chosen)
    tied = [i for i in chosen if as_shown(values[i], digits) == cut]
    return tied if len(tied) > 1 else []


def name_list(names: list[str]) -> str:
    """'a, b, c', or '6 layers (a, b, … f)' when longer (not 'a … f': they need not be
    consecutive)."""
    if len(names) <= 4:
        return ", ".join(names)
    return f"{len(names)} layers ({names[0]}, {names[1]}, … {names[-1]})"


class Summary(RunScene):
    """The layer table, row by row, with each layer's share of the cost."""

    default_preset = "vgg16-synth"
    options: ClassVar[dict[str, Option]] = {
        "seconds": Number(8.0, "how many seconds the rows take to appear", at_least=0),
        "top": Number(3, "how many of the heaviest layers to highlight", at_least=0, whole=True),
    }

    def construct(self) -> None:
        layers = self.run.layers
        if not layers:
            raise RunError(
                f"Run {self.run.name!r} has no layer table in its manifest (it predates "
                "them). Train it again to record one."
            )
        head = self.header(self.run)
        self.top = min(TOP, head.get_bottom()[1] - 0.15)
        max_rows = int((self.top - BOTTOM) / min_row()) - 2  # the header and totals take two
        self.rows = table_rows(layers, max_rows)
        self.total_params, self.total_macs = totals(layers)
        self.row_height = min(0.36, (self.top - BOTTOM) / (len(self.rows) + 2.4))
        self.size = theme.SMALL if self.row_height < 0.3 else theme.LABEL
        self.add(head)
        cells, bars, stripes = self.build_table()
        shape = theme.shape_text(self.run.model["input_shape"])
        self.caption(
            f"Per layer, by torchinfo, for one {shape} input: {self.total_params:,} parameters "
            f"and {human(self.total_macs)} multiply-accumulates in all."
        )
        self.reveal(cells, bars, stripes)
        self.key_moment("the table")
        self.highlight(cells, bars, stripes)
        self.hold(IDEA)
        self.key_moment("the heaviest")

    def header(self, run: Run) -> Group:
        shape = theme.shape_text(run.model["input_shape"])
        return fitted_title(
            f"Parameters  ·  {model_name(run)}",
            [f"per layer, by torchinfo, for one {shape} input", f"run {run.name}"],
            theme.content_width(),
        )

    # -- the table ------------------------------------------------------------------------
    def cell_texts(self) -> list[list]:
        """Header, rows and totals as Texts: [row][column] (None: an empty cell). Short
        headings when the long ones would not fit the frame."""
        size = self.size
        head = ["layer", "kind", "output", "parameters", "MACs", "share of parameters", "of MACs"]
        widths = [theme.text(h, size, weight="BOLD").width for h in head]
        if sum(widths) + GAP * 6 + 2 * BAR_WIDTH > WIDTH:
            head = ["layer", "kind", "output", "params", "MACs", "share", "of MACs"]
        table = [[theme.text(h, size, theme.MUTED, weight="BOLD") for h in head]]
        for row in self.rows:
            table.append(
                [
                    theme.text(row.name, size, theme.TEXT),
                    theme.text(row.kind, size, theme.MUTED),
                    theme.text(row.output, size, theme.MUTED),
                    theme.text(f"{row.params:,}", size, theme.TEXT),
                    theme.text(human(row.macs) if row.macs else "0", size, theme.TEXT),
                ]
            )
        table.append(
            [
                theme.text("total", size, theme.TEXT, weight="BOLD"),
                theme.text(f"{len(self.run.layers)} layers", size, theme.MUTED),
                None,
                theme.text(f"{self.total_params:,}", size, theme.ACCENT, weight="BOLD"),
                theme.text(human(self.total_macs), size, theme.ACCENT, weight="BOLD"),
            ]
        )
        return table

    def column_edges(self, table: list[list]) -> list[tuple[float, str]]:
        """(x, alignment) per column: text columns left-aligned, numbers right-aligned, then
        the two share-bar columns in what width is left (at most ``BAR_WIDTH`` each)."""
        texts = [max(row[c].width for row in table if row[c] is not None) for c in range(5)]
        share = max(0.4, theme.text("88%", theme.SMALL).width + 0.1)  # room for a share label
        for gap in (GAP, 0.3, 0.2):  # narrower gaps when large type needs the room
            left = WIDTH - sum(texts) - gap * 6
            self.bar_width = max(0.3, min(BAR_WIDTH, left / 2 - share))
            widths = texts + [max(self.bar_width + share, table[0][c].width) for c in (5, 6)]
            if sum(widths) + gap * 6 <= WIDTH:
                break
        x = -(sum(widths) + gap * 6) / 2
        edges = []
        for c, width in enumerate(widths):
            right = c in (3, 4)
            edges.append((x + width if right else x, "right" if right else "left"))
            x += width + gap
        return edges

    def build_table(self) -> tuple[list[Group], list[Group], list[Rectangle]]:
        table = self.cell_texts()
        edges = self.column_edges(table)
        h = self.row_height
        used = len(table) * h + 0.12
        top = self.top - max(0.0, (self.top - BOTTOM - used) / 2)  # a short table: mid-frame
        # The heaviest row fills its bar column; the percentages say what that is.
        self.most = (
            max(row.params for row in self.rows) or 1,
            max(row.macs for row in self.rows) or 1,
        )
        cells, bars, stripes = [], [], []
        reach = max(self.bar_width + 0.5, table[0][6].width + 0.12)  # the shares, the heading
        full_left, full_right = edges[0][0] - 0.12, edges[6][0] + reach
        for r, row in enumerate(table):
            y = top - h / 2 - r * h - (0.12 if r == len(table) - 1 else 0.0)
            group = Group()
            for text, (x, align) in zip(row, edges, strict=False):
                if text is not None:
                    edge = RIGHT if align == "right" else LEFT
                    group.add(text.move_to([x, y, 0], aligned_edge=edge))
            cells.append(group)
            stripe = Rectangle(width=full_right - full_left, height=h, stroke_width=0)
            stripe.set_fill(theme.PANEL, opacity=1.0 if r % 2 else 0.0)
            stripes.append(layout.backdrop(stripe.move_to([(full_left + full_right) / 2, y, 0])))
            if 0 < r < len(table) - 1:
                row_data = self.rows[r - 1]
                shares = (row_data.params / self.most[0], row_data.macs / self.most[1])
                pair = VGroup()
                for share, (x, _) in zip(shares, edges[5:], strict=True):
                    bar = Rectangle(
                        width=max(share * self.bar_width, 0.004), height=h * 0.55, stroke_width=0
                    )
                    bar.set_fill(theme.BAR, opacity=1.0)
                    pair.add(bar.move_to([x, y, 0], aligned_edge=LEFT))
                bars.append(pair)
        rule = Line([full_left, 0, 0], [full_right, 0, 0], stroke_width=1.5, color=theme.MUTED)
        self.rules = VGroup(
            rule.copy().set_y(top - h),
            rule.copy().set_y(top - (len(table) - 1) * h - 0.06),
        )
        self.percent_labels = (edges[5][0], edges[6][0])
        # Centred on the stripes, which reach further right (the share labels) than left.
        shift = -(full_left + full_right) / 2 * RIGHT
        for mobject in (*cells, *bars, *stripes, self.rules):
            mobject.shift(shift)
        return cells, bars, stripes

    # -- animation ------------------------------------------------------------------------
    def reveal(self, cells: list[Group], bars: list[Group], stripes: list[Rectangle]) -> None:
        self.add(*stripes[:1], cells[0], self.rules[0])
        per_row = max(self.settings["seconds"], 0.5) / len(self.rows)
        for cell, pair, stripe in zip(cells[1:-1], bars, stripes[1:-1], strict=True):
            self.add(stripe)
            # One animation per row (each is a video segment of its own): it appears in the
            # first 60% of its time and holds still for the rest.
            self.play(
                FadeIn(cell, shift=0.1 * UP),
                *(GrowFromEdge(bar, LEFT) for bar in pair),
                run_time=per_row,
                rate_func=lambda t: smooth(min(1.0, t / 0.6)),
            )
        self.play(FadeIn(self.rules[1]), FadeIn(stripes[-1]), FadeIn(cells[-1]), run_time=0.5)

    def highlight(self, cells: list[Group], bars: list[Group], stripes: list[Rectangle]) -> None:
        """The heaviest rows by parameters and by MACs: bars in the accent colour, their
        share written beside them, and a line saying how much they hold together."""
        weighted = sum(row.params > 0 for row in self.rows)
        # Never all of them: "conv1, conv2, fc: 100% of the parameters" says nothing.
        k = min(max(0, self.settings["top"]), max(1, weighted // 3))
        by_params = heaviest([row.params for row in self.rows], k)
        by_macs = heaviest([row.macs for row in self.rows], k, digits=3)
        marks = Group()
        for column, chosen, total in ((0, by_params, self.total_params), (1, by_macs, None)):
            for i in chosen:
                bar = bars[i][column]
                value = self.rows[i].params if column == 0 else self.rows[i].macs
                share = value / (total or self.total_macs)  # non-zero: a row has it
                marks.add(
                    theme.text(f"{100 * share:.0f}%", theme.SMALL, theme.ACCENT).next_to(
                        bar, RIGHT, buff=0.08
                    )
                )
        self.play(
            *(bars[i][0].animate.set_fill(theme.ACCENT) for i in by_params),
            *(bars[i][1].animate.set_fill(theme.ACCENT) for i in by_macs),
            FadeIn(marks),
            run_time=0.6,
        )
        note = self.heavy_note(by_params, by_macs)
        if note is not None:
            params, macs = self.heavy_words(by_params, by_macs)
            self.caption(f"The heaviest: {params}.")
            self.play(FadeIn(note), run_time=0.4)
            self.hold(IDEA)
            self.caption(f"The heaviest: {macs}.")

    def heavy_words(self, by_params: list[int], by_macs: list[int]) -> tuple[str, str]:
        """What the heaviest rows hold, ties said as ties: 'conv4_1 … conv4_3: 45% of the
        parameters', '6 layers (conv1_2, …), tied at 2.36 M each: 72% of the MACs'."""
        words = []
        for chosen, values, digits, show, noun in (
            (by_params, [r.params for r in self.rows], None, "{:,}".format, "parameters"),
            (by_macs, [r.macs for r in self.rows], 3, human, "MACs"),
        ):
            share = sum(values[i] for i in chosen) / sum(values)
            names = name_list([self.rows[i].name for i in chosen])
            tied = tied_at_cut(values, chosen, digits)
            if tied:
                value = show(values[tied[0]])
                names += (
                    f", all tied at {value}"
                    if len(tied) == len(chosen)
                    else f"; {len(tied)} tied at {value}"
                )
            words.append(f"{names}: {100 * share:.0f}% of the {noun}")
        return words[0], words[1]

    def heavy_note(self, by_params: list[int], by_macs: list[int]) -> Group | None:
        if not by_params or not by_macs:
            return None
        lines = Group(
            *(theme.text(words, theme.LABEL) for words in self.heavy_words(by_params, by_macs))
        ).arrange(DOWN, aligned_edge=LEFT, buff=0.06)
        lines.next_to(self.rules[1], DOWN, buff=self.row_height + 0.12).set_x(0)
        return lines
