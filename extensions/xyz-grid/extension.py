"""X/Y/Z plot: a script (alternative run mode) that makes one picture per combination of axis values,
saves each with its own infotext, and adds a labelled grid per Z value.

Values: request.extra["xyz-grid"] = {"x_type": "Steps", "x_values": "10, 20", "y_type": ..., "y_values": ...,
"z_type": ..., "z_values": ..., "draw_legend": true}; chosen with request.extra["script"] = "xyz-grid".
"""

from __future__ import annotations

from typing import Any

from modules import extension_api as ext

from .axes import AXES, plan

API_VERSION = 1


def cell_request(request: Any, axes: list[Any], indices: tuple[int, int, int]) -> Any:
    for planned, index in zip(axes, indices):
        request = planned.axis.apply(request, planned.values[index])
    return request.with_resolved_seeds()  # a Seed axis value of -1 means a new random seed for that cell


def setup(api: ext.ExtensionApi) -> None:
    api.add_setting("max_cells", 64, label="Most pictures one plot may make")

    def axes_of(request: Any, ctx: ext.ScriptContext) -> list[Any]:
        return plan(api.values(request), request, ctx, int(api.settings.get("max_cells")))

    def check(request: Any, ctx: ext.ScriptContext) -> None:
        axes_of(request, ctx)

    def run(request: Any, ctx: ext.ScriptContext) -> Any:
        from .grid import draw_grid  # PIL's drawing modules are needed only when a plot runs

        axes = axes_of(request, ctx)
        values = api.values(request)
        # Every cell shares the job's seed unless an axis changes it; one picture per cell.
        base = request.with_resolved_seeds()
        base = ext.replace(base, batch_count=1, batch_size=1,
                           extra={k: v for k, v in base.extra.items() if k != ext.SCRIPT_KEY})
        x, y, z = axes
        cells: list[Any] = []
        grids, grid_infos, grid_seeds, grid_paths = [], [], [], []
        interrupted = False
        for zi in range(len(z.values)):
            z_cells: list[Any] = []
            rows: list[list[Any]] = []
            for yi in range(len(y.values)):
                row = []
                for xi in range(len(x.values)):
                    if interrupted or ctx.interrupted():
                        interrupted = True
                        row.append(None)
                        continue
                    result = ctx.process(cell_request(base, axes, (xi, yi, zi)))
                    z_cells.append(result)
                    row.append(result.images[0] if result.images else None)
                    interrupted = interrupted or result.interrupted
                rows.append(row)
            cells.extend(z_cells)
            legend = bool(values.get("draw_legend", True))
            grid = draw_grid(rows, x.labels if legend else [], y.labels if legend else [],
                             z.labels[zi] if legend else "")
            z_made = [c for c in z_cells if c.images]
            if not z_made:
                continue
            first = z_made[0]
            info = first.infotexts[0]
            fields = {"Script": "X/Y/Z plot"}
            for key, planned in zip("XYZ", axes):
                if planned.axis.label != "Nothing":
                    fields[f"{key} Type"] = planned.axis.label
                    fields[f"{key} Values"] = planned.text
            holder = ext.replace(first, infotexts=[info])
            ext.add_infotext_fields(holder, fields)
            grids.append(grid)
            grid_infos.append(holder.infotexts[0])
            grid_seeds.append(first.seeds[0])
            path = ctx.save(grid, first.seeds[0], holder.infotexts[0], "grids")
            if path:
                grid_paths.append(path)
        if not cells:
            raise ValueError("The plot was interrupted before any picture was made.")
        made = [c for c in cells if c.images]
        warnings = list(dict.fromkeys(w for c in cells for w in c.warnings))
        return ext.replace(
            made[0] if made else cells[0],
            request=base,
            images=grids + [c.images[0] for c in made],
            seeds=grid_seeds + [c.seeds[0] for c in made],
            subseeds=grid_seeds + [c.subseeds[0] for c in made],
            infotexts=grid_infos + [c.infotexts[0] for c in made],
            paths=grid_paths + [c.paths[0] for c in made if c.paths],
            warnings=warnings,
            interrupted=interrupted,
        )

    api.register_script("X/Y/Z plot", run, check)

    def section(ctx: ext.SectionContext) -> dict:
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

    api.add_section("X/Y/Z plot", section)
