"""X/Y/Z plot: a script (alternative run mode) that makes one picture per combination of axis values,
saves each with its own infotext, and adds a labelled grid per Z value.

Values: request.extra["xyz-grid"] = {"x_type": "Steps", "x_values": "10, 20", "y_type": ..., "y_values": ...,
"z_type": ..., "z_values": ..., "draw_legend": true}; chosen with request.extra["script"] = "xyz-grid".
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from modules import extension_api as ext

from .axes import AXES, plan

API_VERSION = 1


def setup(api: ext.ExtensionApi) -> None:
    api.add_setting("max_cells", 64, label="Most pictures one plot may make")

    def axes_of(request: Any, ctx: ext.ScriptContext) -> list[Any]:
        return plan(api.values(request), request, ctx, int(api.settings.get("max_cells")))

    def check(request: Any, ctx: ext.ScriptContext) -> None:
        axes_of(request, ctx)

    def run(request: Any, ctx: ext.ScriptContext) -> Any:
        return run_plot(request, ctx, axes_of(request, ctx), api.values(request))

    api.register_script("X/Y/Z plot", run, check)
    api.add_section("X/Y/Z plot", build_section)


def cell_request(request: Any, axes: list[Any], indices: tuple[int, int, int]) -> Any:
    for planned, index in zip(axes, indices):
        request = planned.axis.apply(request, planned.values[index])
    return request.with_resolved_seeds()  # a Seed axis value of -1 means a new random seed for that cell


@dataclass
class _Plot:
    """What the plot has made so far: every cell's result, and per Z value one grid with its infotext."""

    cells: list[Any] = field(default_factory=list)
    grids: list[Any] = field(default_factory=list)
    grid_infos: list[str] = field(default_factory=list)
    grid_seeds: list[int] = field(default_factory=list)
    grid_paths: list[Any] = field(default_factory=list)
    interrupted: bool = False


def run_plot(request: Any, ctx: ext.ScriptContext, axes: list[Any], values: dict[str, Any]) -> Any:
    """One picture per cell, a grid per Z value; the result holds the grids first, then the cells' pictures."""
    from .grid import draw_grid  # PIL's drawing modules are needed only when a plot runs

    # Every cell shares the job's seed unless an axis changes it; one picture per cell.
    base = request.with_resolved_seeds()
    base = ext.replace(base, batch_count=1, batch_size=1,
                       extra={k: v for k, v in base.extra.items() if k != ext.SCRIPT_KEY})
    x, y, z = axes
    plot = _Plot()
    legend = bool(values.get("draw_legend", True))
    for zi in range(len(z.values)):
        rows, z_cells = _run_layer(plot, base, axes, zi, ctx)
        plot.cells.extend(z_cells)
        grid = draw_grid(rows, x.labels if legend else [], y.labels if legend else [], z.labels[zi] if legend else "")
        z_made = [c for c in z_cells if c.images]
        if z_made:
            _save_grid(plot, grid, z_made[0], axes, ctx)
    if not plot.cells:
        raise ValueError("The plot was interrupted before any picture was made.")
    made = [c for c in plot.cells if c.images]
    warnings = list(dict.fromkeys(w for c in plot.cells for w in c.warnings))
    return ext.replace(
        made[0] if made else plot.cells[0],
        request=base,
        images=plot.grids + [c.images[0] for c in made],
        seeds=plot.grid_seeds + [c.seeds[0] for c in made],
        subseeds=plot.grid_seeds + [c.subseeds[0] for c in made],
        infotexts=plot.grid_infos + [c.infotexts[0] for c in made],
        paths=plot.grid_paths + [c.paths[0] for c in made if c.paths],
        warnings=warnings,
        interrupted=plot.interrupted,
        detected_maps=[],  # a cell's ControlNet maps are not the plot's (A1111's plot keeps each cell's picture only)
    )


def _run_layer(plot: _Plot, base: Any, axes: list[Any], zi: int,
               ctx: ext.ScriptContext) -> tuple[list[list[Any]], list[Any]]:
    """The cells of one Z value, row by row: (the grid's pictures, None where none was made; the results).
    After an interrupt the remaining cells are left empty."""
    x, y, _ = axes
    z_cells: list[Any] = []
    rows: list[list[Any]] = []
    for yi in range(len(y.values)):
        row = []
        for xi in range(len(x.values)):
            if plot.interrupted or ctx.interrupted():
                plot.interrupted = True
                row.append(None)
                continue
            result = ctx.process(cell_request(base, axes, (xi, yi, zi)))
            z_cells.append(result)
            row.append(result.images[0] if result.images else None)
            plot.interrupted = plot.interrupted or result.interrupted
        rows.append(row)
    return rows, z_cells


def _save_grid(plot: _Plot, grid: Any, first: Any, axes: list[Any], ctx: ext.ScriptContext) -> None:
    """Save one Z value's grid with the infotext of its first picture and the plot's axes (as A1111 writes)."""
    fields = {"Script": "X/Y/Z plot"}
    for key, planned in zip("XYZ", axes):
        if planned.axis.label != "Nothing":
            fields[f"{key} Type"] = planned.axis.label
            fields[f"{key} Values"] = planned.text
    holder = ext.replace(first, infotexts=[first.infotexts[0]])
    ext.add_infotext_fields(holder, fields)
    plot.grids.append(grid)
    plot.grid_infos.append(holder.infotexts[0])
    plot.grid_seeds.append(first.seeds[0])
    path = ctx.save(grid, first.seeds[0], holder.infotexts[0], "grids")
    if path:
        plot.grid_paths.append(path)


def build_section(ctx: ext.SectionContext) -> dict:
    """The plot's axes (type and values for X, Y and Z) and the legend switch, in txt2img/img2img."""
    import gradio as gr

    gr.Markdown("Choose **Script: X/Y/Z plot** below to use. One picture per cell; values like `10, 20, 30`, "
                "`1-5`, `1-9 (+2)`, `1-2 [5]`; Prompt S/R: the text to replace first, then its replacements.")
    out = {}
    for key, default in (("x", "Steps"), ("y", "Nothing"), ("z", "Nothing")):
        with gr.Row():
            out[f"{key}_type"] = gr.Dropdown(list(AXES), value=default, label=f"{key.upper()} type",
                                             elem_id=f"{ctx.panel}_xyz_{key}_type", scale=1)
            out[f"{key}_values"] = gr.Textbox(label=f"{key.upper()} values", elem_id=f"{ctx.panel}_xyz_{key}_values",
                                              scale=3)
    out["draw_legend"] = gr.Checkbox(value=True, label="Draw legend", elem_id=f"{ctx.panel}_xyz_legend")
    return out
