"""Rendering: a program as a self-contained SVG (no graphviz, no system binary).

The picture has three parts, top to bottom:

- a header: the program's name, signature and its data descriptors;
- the control flow as nested boxes: a state is a box holding its dataflow
  graph; a loop, a while loop and a branch are boxes holding their bodies
  (a branch shows ``then`` and ``else`` side by side); consecutive items of a
  block are joined by arrows;
- inside each state, the dataflow graph laid out in layers (networkx
  topological generations, each layer ordered by the mean position of its
  predecessors). Shapes follow DaCe's conventions: access nodes are ovals
  (bold: arguments and returns, thin: transients, dashed: views), tasklets are
  octagons showing their code, map entries and exits are trapezoids, library
  nodes are double-bordered boxes. Edges are lines with arrowheads labelled by
  their memlet text; empty (ordering) memlets are dashed.

Every node carries a ``<title>`` tooltip with its ``repr`` and details, and
all text is XML-escaped. ``render_svg`` is what ``Program._repr_svg_`` shows in
Jupyter; ``render_html`` wraps it in a scrollable ``<div>``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Optional

import networkx as nx

from flowc.ir import expr as tl
from flowc.ir.control import Block, Branch, Loop, While
from flowc.ir.data import Array, Scalar
from flowc.ir.nodes import AccessNode, LibraryNode, MapEntry, MapExit, Node, Tasklet
from flowc.ir.state import State

if TYPE_CHECKING:
    from flowc.ir.program import Program

FONT = "Menlo, Consolas, 'DejaVu Sans Mono', 'Liberation Mono', monospace"
FONT_SIZE = 12
SMALL = 10
CHAR_W = 7.3            # advance of one monospace character at FONT_SIZE
SMALL_W = 6.1
NODE_H = 30
TASKLET_H = 42
LAYER_GAP = 58
NODE_GAP = 26
PAD = 14
TITLE_H = 22
MAX_LABEL = 48
ITEM_GAP = 22

COLORS = {
    "access": ("#dbeafe", "#1e40af"),
    "tasklet": ("#fef3c7", "#92400e"),
    "map": ("#dcfce7", "#166534"),
    "library": ("#ede9fe", "#5b21b6"),
    "other": ("#f3f4f6", "#374151"),
    "state": ("#ffffff", "#64748b"),
    "loop": ("#f8fafc", "#0f766e"),
    "branch": ("#fffbeb", "#b45309"),
    "while": ("#f8fafc", "#7c3aed"),
    "edge": "#475569",
}

_INVALID_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def esc(text: Any) -> str:
    """XML-escape ``text`` for element content and double-quoted attributes."""
    s = _INVALID_XML.sub("?", str(text))
    return s.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")


def _short(text: str, limit: int = MAX_LABEL) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _text(x: float, y: float, s: str, size: int = FONT_SIZE, anchor: str = "middle", weight: str = "normal",
          color: str = "#111827") -> str:
    return (f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}" font-weight="{weight}" '
            f'fill="{color}" dominant-baseline="middle">{esc(s)}</text>')


def _w(s: str, size: int = FONT_SIZE) -> float:
    return len(s) * (CHAR_W if size == FONT_SIZE else SMALL_W * size / SMALL)


@dataclass
class _Box:
    """A laid-out piece of the picture: its size and how to draw it at (x, y)."""

    w: float
    h: float
    draw: Callable[[float, float], list[str]] = field(repr=False)


# ================================================================ dataflow graphs

class _StateLayout:
    def __init__(self, program: "Program", st: State, marker: str):
        self.p, self.st, self.marker = program, st, marker
        self.g = st.graph
        self.size: dict[Any, tuple[float, float]] = {n: self.node_size(n) for n in self.g.nodes}
        self.pos: dict[Any, tuple[float, float]] = {}     # top-left corner (nodes and dummy points)
        self.layout()

    # -------------------------------------------------------- labels and sizes
    def lines(self, n: Node) -> list[str]:
        if isinstance(n, Tasklet):
            return [_short(n.name), _short(str(n.code))]
        if isinstance(n, MapEntry):
            return [_short(str(n.map))]
        if isinstance(n, MapExit):
            return [_short(n.label)]
        return [_short(n.label)]

    def node_size(self, n: Node) -> tuple[float, float]:
        lines = self.lines(n)
        w = max(_w(lines[0]), *(_w(s, SMALL) for s in lines[1:])) if len(lines) > 1 else _w(lines[0])
        if isinstance(n, AccessNode):
            return max(60.0, w * 1.25 + 20), NODE_H
        if isinstance(n, Tasklet):
            return max(70.0, w + 34), TASKLET_H
        if isinstance(n, (MapEntry, MapExit)):
            return max(80.0, w + 2 * NODE_H + 10), NODE_H
        return max(70.0, w + 26), NODE_H

    # -------------------------------------------------------- layering
    def layers(self) -> list[list[Node]]:
        try:
            return [sorted(gen, key=lambda n: n.id) for gen in nx.topological_generations(self.g)]
        except nx.NetworkXUnfeasible:      # a cyclic (invalid) graph: still draw something
            return [[n] for n in sorted(self.g.nodes, key=lambda n: n.id)]

    def layout(self) -> None:
        """Layers top to bottom; an edge spanning several layers gets a dummy point in each layer it
        crosses (so it runs in its own lane instead of through nodes); each layer is ordered by the
        barycenter of its neighbours in the layer above (then below, then above again)."""
        layers: list[list[Any]] = self.layers()
        level = {n: i for i, layer in enumerate(layers) for n in layer}
        self.edge_list = sorted(self.g.edges(keys=True, data=True), key=lambda t: (t[0].id, t[1].id, t[2]))
        self.bends: list[list[Any]] = []           # per edge: the dummy points it passes
        preds: dict[Any, list[Any]] = {n: [] for n in self.g.nodes}
        succs: dict[Any, list[Any]] = {n: [] for n in self.g.nodes}
        for ei, (u, v, _, _) in enumerate(self.edge_list):
            chain: list[Any] = []
            if level[v] - level[u] > 1:
                prev = u
                for li in range(level[u] + 1, level[v]):
                    d = ("dummy", ei, li)
                    self.size[d] = (14.0, 0.0)
                    layers[li].append(d)
                    preds[d], succs[d] = [prev], []
                    succs[prev].append(d)
                    chain.append(d)
                    prev = d
                preds[v].append(prev)
                succs[prev].append(v)
            else:
                preds[v].append(u)
                succs[u].append(v)
            self.bends.append(chain)
        order: dict[Any, float] = {}

        def place(layer: list[Any]) -> None:
            widths = [self.size[n][0] for n in layer]
            total = sum(widths) + NODE_GAP * (len(layer) - 1)
            x = -total / 2
            for n, w in zip(layer, widths):
                order[n] = x + w / 2
                x += w + NODE_GAP

        def sweep(seq: list[list[Any]], nbrs: dict[Any, list[Any]]) -> None:
            for layer in seq:
                def key(n: Any) -> float:
                    xs = [order[m] for m in nbrs[n] if m in order]
                    return sum(xs) / len(xs) if xs else order.get(n, 0.0)
                layer.sort(key=key)
                place(layer)

        for layer in layers:
            place(layer)
        sweep(layers[1:], preds)
        sweep(list(reversed(layers[:-1])), succs)
        sweep(layers[1:], preds)
        self.width = max((sum(self.size[n][0] for n in layer) + NODE_GAP * (len(layer) - 1)
                          for layer in layers), default=0.0)
        self.width = max(self.width, 120.0)
        # memlet labels: the edges whose first segments share an end are stacked along it
        groups: dict[Any, list[int]] = {}
        for ei, (u, v, _, d) in enumerate(self.edge_list):
            if not d["memlet"].is_empty:
                groups.setdefault(("out", u), []).append(ei)
                if not self.bends[ei]:
                    groups.setdefault(("in", v), []).append(ei)
        self.label_slot: dict[int, tuple[int, int]] = {}
        for ei, (u, v, _, d) in enumerate(self.edge_list):
            if d["memlet"].is_empty:
                continue
            cands = [groups[("out", u)]] + ([groups[("in", v)]] if not self.bends[ei] else [])
            grp = max(cands, key=len)
            far = [self.bends[j][0] if self.bends[j] else self.edge_list[j][1] for j in grp]
            ranked = sorted(range(len(grp)), key=lambda i: (order[far[i]], grp[i]))
            self.label_slot[ei] = (ranked.index(grp.index(ei)), len(grp))
        gaps = [LAYER_GAP] * len(layers)
        for ei, (u, _, _, _) in enumerate(self.edge_list):
            if ei in self.label_slot:
                gaps[level[u]] = max(gaps[level[u]], 16 * (self.label_slot[ei][1] + 1))
        y = 0.0
        for li, layer in enumerate(layers):
            h = max((self.size[n][1] for n in layer), default=0.0) or NODE_H
            for n in layer:
                w, nh = self.size[n]
                if isinstance(n, tuple):
                    self.size[n] = (w, h)
                    nh = h
                self.pos[n] = (self.width / 2 + order[n] - w / 2, y + (h - nh) / 2)
            y += h + (gaps[li] if li + 1 < len(layers) else 0.0)
        self.height = y

    # -------------------------------------------------------- drawing
    def draw(self, ox: float, oy: float) -> list[str]:
        out: list[str] = []
        labels: list[str] = []
        pair_total: dict[tuple[int, int], int] = {}
        for u, v, _, _ in self.edge_list:
            pair_total[(u.id, v.id)] = pair_total.get((u.id, v.id), 0) + 1
        pair_seen: dict[tuple[int, int], int] = {}
        for ei, ((u, v, _, d), chain) in enumerate(zip(self.edge_list, self.bends)):
            i = pair_seen.get((u.id, v.id), 0)
            pair_seen[(u.id, v.id)] = i + 1
            spread = (i - (pair_total[(u.id, v.id)] - 1) / 2) * 14
            (ux, uy), (uw, uh) = self.pos[u], self.size[u]
            (vx, vy), (vw, vh) = self.pos[v], self.size[v]
            pts = [(ox + ux + uw / 2 + spread, oy + uy + uh)]
            for b in chain:
                (bx, by), (bw, bh) = self.pos[b], self.size[b]
                pts += [(ox + bx + bw / 2, oy + by), (ox + bx + bw / 2, oy + by + bh)]
            pts.append((ox + vx + vw / 2 + spread, oy + vy - 1))
            if vy <= uy:                       # cyclic graphs: route along the right side
                pts = [(ox + ux + uw, oy + uy + uh / 2), (ox + vx + vw, oy + vy + vh / 2)]
            m = d["memlet"]
            dash = ' stroke-dasharray="4 3"' if m.is_empty else ""
            conns = f" ({d['src_conn'] or ''} -> {d['dst_conn'] or ''})" if d["src_conn"] or d["dst_conn"] else ""
            tip = f"{u!r} -> {v!r}: {m}{conns}"
            path = " ".join(f"{a:.1f},{b:.1f}" for a, b in pts)
            out.append(f'<g class="edge"><title>{esc(tip)}</title>'
                       f'<polyline points="{path}" fill="none" stroke="{COLORS["edge"]}" stroke-width="1.3"'
                       f'{dash} marker-end="url(#{self.marker})"/></g>')
            if not m.is_empty:
                label = _short(str(m), 40)
                (x1, y1), (x2, y2) = pts[0], pts[1]
                slot, n_slots = self.label_slot.get(ei, (0, 1))
                t = (slot + 1) / (n_slots + 1)
                lx, ly = x1 + (x2 - x1) * t + 5, y1 + (y2 - y1) * t
                lw = _w(label, SMALL)
                labels.append(f'<g class="memlet"><rect x="{lx - 2:.1f}" y="{ly - 7:.1f}" width="{lw + 4:.1f}" '
                              f'height="14" rx="2" fill="#ffffff" fill-opacity="0.85"/>'
                              + _text(lx, ly, label, SMALL, "start", color="#1f2937") + "</g>")
        for n in sorted(self.g.nodes, key=lambda n: n.id):
            x, y = self.pos[n]
            out.append(self.draw_node(n, ox + x, oy + y))
        return out + labels

    def tooltip(self, n: Node) -> str:
        text = repr(n)
        if isinstance(n, Tasklet):
            text += f"\ninputs: {', '.join(n.inputs)}\noutputs: {', '.join(n.outputs)}\n{n.code}"
        elif isinstance(n, (MapEntry, MapExit)):
            text += f"\n{n.map} schedule={n.map.schedule.value}"
            if n.map.hints:
                text += f" hints={n.map.hints}"
        elif isinstance(n, AccessNode) and n.data in self.p.data:
            text += "\n" + _describe(n.data, self.p.data[n.data])
        elif isinstance(n, LibraryNode):
            text += f"\nimplementation={n.implementation} {n.properties()}"
        return text

    def draw_node(self, n: Node, x: float, y: float) -> str:
        w, h = self.size[n]
        cx, cy = x + w / 2, y + h / 2
        parts = [f'<g class="node" data-id="{n.id}"><title>{esc(self.tooltip(n))}</title>']
        lines = self.lines(n)
        if isinstance(n, AccessNode):
            fill, stroke = COLORS["access"]
            desc = self.p.data.get(n.data)
            sw = 2.2 if desc is not None and not desc.transient else 1.2
            dash = ' stroke-dasharray="5 3"' if desc is not None and desc.is_view else ""
            parts.append(f'<ellipse cx="{cx:.1f}" cy="{cy:.1f}" rx="{w / 2:.1f}" ry="{h / 2:.1f}" fill="{fill}" '
                         f'stroke="{stroke}" stroke-width="{sw}"{dash}/>')
        elif isinstance(n, Tasklet):
            fill, stroke = COLORS["tasklet"]
            c = 9.0
            pts = [(x + c, y), (x + w - c, y), (x + w, y + c), (x + w, y + h - c), (x + w - c, y + h),
                   (x + c, y + h), (x, y + h - c), (x, y + c)]
            parts.append(_polygon(pts, fill, stroke))
        elif isinstance(n, (MapEntry, MapExit)):
            fill, stroke = COLORS["map"]
            s = h * 0.8
            if isinstance(n, MapEntry):      # narrow top, wide bottom
                pts = [(x + s, y), (x + w - s, y), (x + w, y + h), (x, y + h)]
            else:
                pts = [(x, y), (x + w, y), (x + w - s, y + h), (x + s, y + h)]
            parts.append(_polygon(pts, fill, stroke))
        elif isinstance(n, LibraryNode):
            fill, stroke = COLORS["library"]
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" '
                         f'stroke="{stroke}" stroke-width="1.4"/>')
            parts.append(f'<rect x="{x + 3:.1f}" y="{y + 3:.1f}" width="{w - 6:.1f}" height="{h - 6:.1f}" '
                         f'fill="none" stroke="{stroke}" stroke-width="0.8"/>')
        else:
            fill, stroke = COLORS["other"]
            parts.append(f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" fill="{fill}" '
                         f'stroke="{stroke}"/>')
        if len(lines) == 1:
            parts.append(_text(cx, cy + 1, lines[0]))
        else:
            parts.append(_text(cx, y + 13, lines[0], weight="bold"))
            parts.append(_text(cx, y + h - 12, lines[1], SMALL, color="#374151"))
        parts.append("</g>")
        return "".join(parts)


def _polygon(pts: list[tuple[float, float]], fill: str, stroke: str) -> str:
    return (f'<polygon points="{" ".join(f"{a:.1f},{b:.1f}" for a, b in pts)}" fill="{fill}" '
            f'stroke="{stroke}" stroke-width="1.3"/>')


def _describe(name: str, desc: Any) -> str:
    if isinstance(desc, Scalar):
        kind = "transient scalar" if desc.transient else "scalar"
        return f"{name}: {desc.dtype.name} ({kind})"
    if isinstance(desc, Array):
        shape = ", ".join(str(s) for s in desc.shape)
        extra = []
        if desc.is_view:
            extra.append(f"view of {desc.view_of}" + (f" at {desc.offset}" if desc.offset != 0 else ""))
        elif desc.transient:
            extra.append("transient")
        if not desc.is_c_contiguous():
            extra.append(f"strides ({', '.join(str(s) for s in desc.strides)})")
        if desc.storage.value != "host":
            extra.append(desc.storage.value)
        return f"{name}: {desc.dtype.name}[{shape}]" + (f" ({'; '.join(extra)})" if extra else "")
    return f"{name}: {desc!r}"


# ================================================================ control flow

def _frame(title: str, inner: _Box, kind: str, dashed: bool = False) -> _Box:
    fill, stroke = COLORS[kind]
    w = max(inner.w + 2 * PAD, _w(title) + 2 * PAD)
    h = inner.h + TITLE_H + 2 * PAD

    def draw(x: float, y: float) -> list[str]:
        dash = ' stroke-dasharray="6 3"' if dashed else ""
        out = [f'<g class="{kind}"><rect x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="7" '
               f'fill="{fill}" stroke="{stroke}" stroke-width="1.5"{dash}/>',
               _text(x + 10, y + 14, title, FONT_SIZE, "start", "bold", stroke)]
        out += inner.draw(x + (w - inner.w) / 2, y + TITLE_H + PAD)
        out.append("</g>")
        return out

    return _Box(w, h, draw)


def _state_box(program: "Program", st: State, marker: str) -> _Box:
    lay = _StateLayout(program, st, marker)
    if st.graph.number_of_nodes() == 0:
        inner = _Box(120.0, 18.0, lambda x, y: [_text(x + 60, y + 9, "(empty state)", SMALL, color="#6b7280")])
    else:
        inner = _Box(lay.width + 40, lay.height, lambda x, y: lay.draw(x + 20, y))
    return _frame(f"state {st.name}", inner, "state")


def _block_box(program: "Program", block: Block, marker: str) -> _Box:
    boxes = [_item_box(program, item, marker) for item in block.items]
    if not boxes:
        return _Box(80.0, 18.0, lambda x, y: [_text(x + 40, y + 9, "(empty)", SMALL, color="#6b7280")])
    w = max(b.w for b in boxes)
    h = sum(b.h for b in boxes) + ITEM_GAP * (len(boxes) - 1)

    def draw(x: float, y: float) -> list[str]:
        out: list[str] = []
        cy = y
        for i, b in enumerate(boxes):
            bx = x + (w - b.w) / 2
            out += b.draw(bx, cy)
            cy += b.h
            if i + 1 < len(boxes):
                mx = x + w / 2
                out.append(f'<line x1="{mx:.1f}" y1="{cy:.1f}" x2="{mx:.1f}" y2="{cy + ITEM_GAP - 2:.1f}" '
                           f'stroke="#334155" stroke-width="1.6" marker-end="url(#{marker})"/>')
                cy += ITEM_GAP
        return out

    return _Box(w, h, draw)


def _item_box(program: "Program", item: Any, marker: str) -> _Box:
    if isinstance(item, State):
        return _state_box(program, item, marker)
    if isinstance(item, Loop):
        step = "" if item.step == 1 else f", {item.step}"
        title = f"for {item.var} in range({item.start}, {item.stop}{step})"
        return _frame(_short(title, 90), _block_box(program, item.body, marker), "loop")
    if isinstance(item, While):
        return _frame(_short(f"while {tl.to_text(item.cond)}", 90), _block_box(program, item.body, marker),
                      "while")
    if isinstance(item, Branch):
        then_b = _frame("then", _block_box(program, item.then_body, marker), "branch", dashed=True)
        else_b = _frame("else", _block_box(program, item.else_body, marker), "branch", dashed=True)
        gap = 18.0
        w = then_b.w + gap + else_b.w
        h = max(then_b.h, else_b.h)

        def draw(x: float, y: float) -> list[str]:
            return then_b.draw(x, y) + else_b.draw(x + then_b.w + gap, y)

        return _frame(_short(f"if {tl.to_text(item.cond)}", 90), _Box(w, h, draw), "branch")
    return _Box(160.0, 24.0, lambda x, y: [_text(x, y + 12, f"unknown item {item!r}", anchor="start")])


# ================================================================ entry points

def _header(program: "Program") -> list[str]:
    sig = ", ".join(program.arg_names)
    ret = f" -> {', '.join(program.returns)}" if program.returns else ""
    lines = [f"program {program.name}({sig}){ret}"]
    syms = program.free_symbols()
    if syms:
        lines.append(f"symbols: {', '.join(syms)}")
    lines += [_describe(name, desc) for name, desc in program.data.items()]
    return lines


def render_svg(program: "Program") -> str:
    """The program as a standalone SVG document (a string)."""
    marker = "flowc-arrow-" + re.sub(r"[^A-Za-z0-9_-]", "_", program.name)
    header = _header(program)
    body = _block_box(program, program.body, marker)
    head_h = 24 + 16 * (len(header) - 1) + 10
    width = max(body.w, max(_w(s, SMALL) for s in header[1:]) if len(header) > 1 else 0.0,
                _w(header[0]) * 1.1) + 2 * PAD
    height = head_h + body.h + 2 * PAD
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width:.0f}" height="{height:.0f}" '
           f'viewBox="0 0 {width:.0f} {height:.0f}" font-family="{esc(FONT)}">',
           f"<title>{esc(f'flowc program {program.name}')}</title>",
           f'<defs><marker id="{marker}" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
           f'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="{COLORS["edge"]}"/></marker></defs>',
           f'<rect x="0" y="0" width="{width:.0f}" height="{height:.0f}" fill="#ffffff"/>',
           _text(PAD, PAD + 8, header[0], 14, "start", "bold")]
    for i, line in enumerate(header[1:]):
        out.append(_text(PAD, PAD + 30 + 16 * i, line, SMALL, "start", color="#374151"))
    out += body.draw(PAD + (width - 2 * PAD - body.w) / 2, PAD + head_h)
    out.append("</svg>")
    return "\n".join(out)


def render_html(program: "Program", max_height: Optional[int] = None) -> str:
    """The SVG in a scrollable ``<div>`` (for notebooks and HTML reports)."""
    style = "overflow:auto; max-width:100%" + (f"; max-height:{int(max_height)}px" if max_height else "")
    return f'<div class="flowc-program" style="{style}">\n{render_svg(program)}\n</div>'
