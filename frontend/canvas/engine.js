// The canvas model and its drawing: one offscreen canvas per layer at the page's size, a stroke canvas for
// the stroke in progress, and a view transform. A pointer move redraws only the current stroke and then
// composites the layers once, so a 2048 px page stays responsive however long the history is.
import { getStroke } from "perfect-freehand";

const MASK_COLOR = "#ff2d6f"; // the mask is where the layer is painted (alpha), so its colour is only a look
const HISTORY_LIMIT = 60;
const MIN_SCALE = 0.02;
const MAX_SCALE = 64;

function make_canvas(w, h) {
	const c = document.createElement("canvas");
	c.width = w;
	c.height = h;
	return c;
}

function outline_path(points) {
	const path = new Path2D();
	if (!points.length) return path;
	path.moveTo(points[0][0], points[0][1]);
	for (let i = 1; i < points.length; i++) {
		const [x0, y0] = points[i];
		const [x1, y1] = points[(i + 1) % points.length];
		path.quadraticCurveTo(x0, y0, (x0 + x1) / 2, (y0 + y1) / 2);
	}
	path.closePath();
	return path;
}

let next_layer_id = 1;

export class CanvasEngine {
	constructor(display, { on_change, on_state }) {
		this.display = display;
		this.ctx = display.getContext("2d");
		this.on_change = on_change; // the document changed: the value has to be sent again
		this.on_state = on_state; // something the toolbar shows changed
		this.width = 0;
		this.height = 0;
		this.background = null; // a canvas, or null for a transparent page
		this.background_url = null;
		this.layers = []; // bottom first
		this.active = null; // layer id
		this.view = { scale: 1, ox: 0, oy: 0 };
		this.tool = "brush";
		// pressure: what a pen's pressure drives, "size", "opacity" or "both" (a mouse is always full pressure)
		this.brush = { size: 12, opacity: 1, hardness: 1, color: "#000000", pressure: "size" };
		this.undo_stack = [];
		this.redo_stack = [];
		this.stroke = null; // {points, pen, layer}
		this.stroke_canvas = null;
		this.work_canvas = null;
		this.frame = 0;
		this.dpr = window.devicePixelRatio || 1;
		this.backdrop = null;
	}

	// ------------------------------------------------------------------ document
	has_page() {
		return this.width > 0 && this.height > 0;
	}

	new_layer(spec) {
		const canvas = make_canvas(this.width, this.height);
		return {
			id: next_layer_id++,
			name: spec.name,
			kind: spec.kind || "paint",
			canvas,
			visible: spec.visible !== false,
			opacity: spec.opacity ?? (spec.kind === "mask" ? 0.55 : 1),
			url: null,
			dirty: true
		};
	}

	// A new page: background (canvas or null), size, and the given layer specs, all empty. History is kept
	// only when `undoable` (an upload can be undone; a value set by Python starts a new history).
	set_page(width, height, background, background_url, specs, undoable) {
		const before = undoable ? this.snapshot() : null;
		this.width = width;
		this.height = height;
		this.background = background;
		this.background_url = background_url;
		this.layers = specs.map((s) => this.new_layer(s));
		this.stroke_canvas = make_canvas(width, height);
		this.work_canvas = make_canvas(width, height);
		if (!this.layers.some((l) => l.id === this.active)) {
			this.active = this.layers.length ? this.layers[this.layers.length - 1].id : null;
		}
		if (before) {
			const after = this.snapshot();
			this.push({ undo: () => this.restore(before), redo: () => this.restore(after) });
		} else {
			this.undo_stack = [];
			this.redo_stack = [];
		}
		this.fit();
		this.changed();
	}

	snapshot() {
		return {
			width: this.width,
			height: this.height,
			background: this.background,
			background_url: this.background_url,
			active: this.active,
			layers: this.layers.map((l) => {
				const copy = make_canvas(l.canvas.width, l.canvas.height);
				copy.getContext("2d").drawImage(l.canvas, 0, 0);
				return { ...l, canvas: copy };
			})
		};
	}

	restore(snap) {
		const resized = snap.width !== this.width || snap.height !== this.height;
		this.width = snap.width;
		this.height = snap.height;
		this.background = snap.background;
		this.background_url = snap.background_url;
		this.active = snap.active;
		this.layers = snap.layers.map((l) => {
			const copy = make_canvas(l.canvas.width, l.canvas.height);
			copy.getContext("2d").drawImage(l.canvas, 0, 0);
			return { ...l, canvas: copy, dirty: true };
		});
		if (resized) {
			this.stroke_canvas = make_canvas(this.width, this.height);
			this.work_canvas = make_canvas(this.width, this.height);
			this.fit();
		}
		this.changed();
	}

	layer(id) {
		return this.layers.find((l) => l.id === id) || null;
	}

	layer_named(name) {
		return this.layers.find((l) => l.name === name) || null;
	}

	// ------------------------------------------------------------------ history
	push(entry) {
		this.undo_stack.push(entry);
		if (this.undo_stack.length > HISTORY_LIMIT) this.undo_stack.shift();
		this.redo_stack = [];
	}

	undo() {
		const entry = this.undo_stack.pop();
		if (!entry) return false;
		entry.undo();
		this.redo_stack.push(entry);
		this.changed();
		return true;
	}

	redo() {
		const entry = this.redo_stack.pop();
		if (!entry) return false;
		entry.redo();
		this.undo_stack.push(entry);
		this.changed();
		return true;
	}

	// Layer-property edits (hide, opacity, order, add) go through here so each is one undoable step.
	edit(apply, revert) {
		apply();
		this.push({ undo: revert, redo: apply });
		this.changed();
	}

	put_region(layer, box, data) {
		layer.canvas.getContext("2d").putImageData(data, box.x, box.y);
		layer.dirty = true;
	}

	clear_layer(id) {
		const layer = this.layer(id);
		if (!layer) return;
		const box = { x: 0, y: 0, w: this.width, h: this.height };
		const ctx = layer.canvas.getContext("2d");
		const before = ctx.getImageData(0, 0, box.w, box.h);
		const wipe = () => {
			layer.canvas.getContext("2d").clearRect(0, 0, box.w, box.h);
			layer.dirty = true;
		};
		wipe();
		this.push({ undo: () => this.put_region(layer, box, before), redo: wipe });
		this.changed();
	}

	add_layer(kind = "paint") {
		const count = this.layers.filter((l) => l.kind === kind).length;
		const layer = this.new_layer({ name: `${kind}-${count + 1}`, kind });
		const index = this.layers.length;
		const prev_active = this.active;
		this.edit(
			() => {
				this.layers.splice(index, 0, layer);
				this.active = layer.id;
			},
			() => {
				this.layers = this.layers.filter((l) => l !== layer);
				this.active = prev_active;
			}
		);
	}

	set_visible(id, visible) {
		const layer = this.layer(id);
		if (!layer || layer.visible === visible) return;
		this.edit(
			() => (layer.visible = visible),
			() => (layer.visible = !visible)
		);
	}

	set_opacity(id, opacity) {
		const layer = this.layer(id);
		if (!layer || layer.opacity === opacity) return;
		const old = layer.opacity;
		this.edit(
			() => (layer.opacity = opacity),
			() => (layer.opacity = old)
		);
	}

	move_layer(id, delta) {
		const from = this.layers.findIndex((l) => l.id === id);
		const to = from + delta;
		if (from < 0 || to < 0 || to >= this.layers.length) return;
		const order = this.layers.slice();
		const moved = () => {
			const next = order.slice();
			[next[from], next[to]] = [next[to], next[from]];
			this.layers = next;
		};
		this.edit(moved, () => (this.layers = order.slice()));
	}

	// ------------------------------------------------------------------ strokes
	doc_point(client_x, client_y) {
		const r = this.display.getBoundingClientRect();
		return [
			(client_x - r.left - this.view.ox) / this.view.scale,
			(client_y - r.top - this.view.oy) / this.view.scale
		];
	}

	begin_stroke(x, y, pressure, pen) {
		const layer = this.layer(this.active);
		if (!layer || !this.has_page()) return false;
		this.stroke = { points: [[x, y, pressure]], pen, layer, eraser: this.tool === "eraser", firmest: pressure };
		this.draw_stroke(false);
		return true;
	}

	extend_stroke(x, y, pressure) {
		if (!this.stroke) return;
		this.stroke.points.push([x, y, pressure]);
		this.stroke.firmest = Math.max(this.stroke.firmest, pressure);
		this.draw_stroke(false);
	}

	stroke_size() {
		return Math.max(0.5, this.brush.size / this.view.scale); // the brush is sized on the screen
	}

	pressure_drives(what, stroke = this.stroke) {
		return stroke.pen && (this.brush.pressure === what || this.brush.pressure === "both");
	}

	// One opacity per stroke, from the firmest pressure it reached: overlaps within a stroke never build up
	// (as with the opacity slider), and the preview only ever darkens while the pen presses harder.
	stroke_alpha(stroke) {
		const p = this.pressure_drives("opacity", stroke) ? stroke.firmest : 1;
		return this.brush.opacity * (0.1 + 0.9 * p);
	}

	stroke_options(done) {
		const thinning = this.pressure_drives("size") ? 0.7 : 0;
		// perfect-freehand's radius at full pressure is size * (0.5 + thinning / 2): scaled so a firm pen and
		// a mouse give the width the brush shows.
		return {
			size: this.stroke_size() / (1 + thinning),
			thinning,
			smoothing: 0.5,
			streamline: this.stroke.pen ? 0.3 : 0.45,
			simulatePressure: false,
			last: done,
			start: { cap: true },
			end: { cap: true }
		};
	}

	draw_stroke(done) {
		const s = this.stroke;
		const ctx = this.stroke_canvas.getContext("2d");
		ctx.clearRect(0, 0, this.width, this.height);
		ctx.fillStyle = s.layer.kind === "mask" ? MASK_COLOR : this.brush.color;
		if (s.points.length === 1) {
			const [x, y, p] = s.points[0];
			const r = (this.stroke_size() / 2) * (this.pressure_drives("size") ? 0.3 + 0.7 * p : 1);
			ctx.beginPath();
			ctx.arc(x, y, Math.max(0.35, r), 0, Math.PI * 2);
			ctx.fill();
		} else {
			ctx.fill(outline_path(getStroke(s.points, this.stroke_options(done))));
		}
		this.request_render();
	}

	stroke_box() {
		const pad = this.stroke_size() + 4 + this.blur_radius() * 3;
		let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
		for (const [x, y] of this.stroke.points) {
			x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y);
		}
		const x = Math.max(0, Math.floor(x0 - pad));
		const y = Math.max(0, Math.floor(y0 - pad));
		const w = Math.min(this.width, Math.ceil(x1 + pad)) - x;
		const h = Math.min(this.height, Math.ceil(y1 + pad)) - y;
		return { x, y, w, h };
	}

	blur_radius() {
		return (1 - this.brush.hardness) * this.stroke_size() * 0.25;
	}

	apply_stroke_to(ctx, stroke) {
		ctx.save();
		ctx.globalAlpha = this.stroke_alpha(stroke);
		ctx.globalCompositeOperation = stroke.eraser ? "destination-out" : "source-over";
		const blur = this.blur_radius();
		if (blur > 0.2) ctx.filter = `blur(${blur}px)`;
		ctx.drawImage(this.stroke_canvas, 0, 0);
		ctx.restore();
	}

	end_stroke() {
		const s = this.stroke;
		if (!s) return;
		this.draw_stroke(true);
		const box = this.stroke_box();
		this.stroke = null;
		if (box.w > 0 && box.h > 0) {
			const ctx = s.layer.canvas.getContext("2d");
			const before = ctx.getImageData(box.x, box.y, box.w, box.h);
			this.apply_stroke_to(ctx, s);
			const after = ctx.getImageData(box.x, box.y, box.w, box.h);
			s.layer.dirty = true;
			const layer = s.layer;
			this.push({
				undo: () => this.put_region(layer, box, before),
				redo: () => this.put_region(layer, box, after)
			});
		}
		this.stroke_canvas.getContext("2d").clearRect(0, 0, this.width, this.height);
		this.changed();
	}

	cancel_stroke() {
		if (!this.stroke) return;
		this.stroke = null;
		this.stroke_canvas.getContext("2d").clearRect(0, 0, this.width, this.height);
		this.request_render();
	}

	// The colour the artist sees at a page point: background and visible paint layers.
	pick(x, y) {
		if (x < 0 || y < 0 || x >= this.width || y >= this.height) return null;
		const c = make_canvas(1, 1);
		const ctx = c.getContext("2d", { willReadFrequently: true });
		ctx.fillStyle = "#ffffff";
		ctx.fillRect(0, 0, 1, 1);
		if (this.background) ctx.drawImage(this.background, -Math.floor(x), -Math.floor(y));
		for (const l of this.layers) {
			if (!l.visible || l.kind === "mask") continue;
			ctx.globalAlpha = l.opacity;
			ctx.drawImage(l.canvas, -Math.floor(x), -Math.floor(y));
		}
		const [r, g, b] = ctx.getImageData(0, 0, 1, 1).data;
		return "#" + [r, g, b].map((v) => v.toString(16).padStart(2, "0")).join("");
	}

	// ------------------------------------------------------------------ view
	resize_display(css_w, css_h) {
		this.dpr = window.devicePixelRatio || 1;
		this.display.width = Math.max(1, Math.round(css_w * this.dpr));
		this.display.height = Math.max(1, Math.round(css_h * this.dpr));
		this.css_w = css_w;
		this.css_h = css_h;
		this.request_render();
	}

	fit() {
		if (!this.has_page() || !this.css_w) return;
		const margin = 24;
		const scale = Math.max(MIN_SCALE, Math.min((this.css_w - margin) / this.width, (this.css_h - margin) / this.height));
		this.set_view(scale, (this.css_w - this.width * scale) / 2, (this.css_h - this.height * scale) / 2);
	}

	actual_size() {
		const cx = this.css_w / 2, cy = this.css_h / 2;
		this.zoom_at(cx, cy, 1 / this.view.scale);
	}

	zoom_at(sx, sy, factor) {
		const s = Math.min(MAX_SCALE, Math.max(MIN_SCALE, this.view.scale * factor));
		const k = s / this.view.scale;
		this.set_view(s, sx - (sx - this.view.ox) * k, sy - (sy - this.view.oy) * k);
	}

	pan_by(dx, dy) {
		this.set_view(this.view.scale, this.view.ox + dx, this.view.oy + dy);
	}

	set_view(scale, ox, oy) {
		this.view = { scale, ox, oy };
		this.request_render();
		this.on_state();
	}

	// ------------------------------------------------------------------ rendering
	changed() {
		this.request_render();
		this.on_state();
		this.on_change();
	}

	request_render() {
		if (this.frame) return;
		this.frame = requestAnimationFrame(() => {
			this.frame = 0;
			this.render();
		});
	}

	backdrop_pattern() {
		if (!this.backdrop) {
			const tile = make_canvas(16, 16);
			const t = tile.getContext("2d");
			t.fillStyle = "#9a9a9a";
			t.fillRect(0, 0, 16, 16);
			t.fillStyle = "#8a8a8a";
			t.fillRect(0, 0, 8, 8);
			t.fillRect(8, 8, 8, 8);
			this.backdrop = this.ctx.createPattern(tile, "repeat");
		}
		return this.backdrop;
	}

	render() {
		const ctx = this.ctx;
		const { scale, ox, oy } = this.view;
		ctx.setTransform(1, 0, 0, 1, 0, 0);
		ctx.fillStyle = this.backdrop_pattern();
		ctx.fillRect(0, 0, this.display.width, this.display.height);
		if (!this.has_page()) return;
		const d = this.dpr;
		ctx.setTransform(d * scale, 0, 0, d * scale, d * ox, d * oy);
		ctx.imageSmoothingEnabled = scale < 2;
		ctx.fillStyle = "#ffffff";
		ctx.globalAlpha = 1;
		if (this.background) ctx.drawImage(this.background, 0, 0);
		else {
			// a transparent page shows a light checker, so it never reads as the backdrop
			ctx.fillStyle = "#f4f4f4";
			ctx.fillRect(0, 0, this.width, this.height);
		}
		for (const layer of this.layers) {
			if (!layer.visible) continue;
			let source = layer.canvas;
			if (this.stroke && this.stroke.layer === layer) {
				const w = this.work_canvas.getContext("2d");
				w.clearRect(0, 0, this.width, this.height);
				w.drawImage(layer.canvas, 0, 0);
				this.apply_stroke_to(w, this.stroke);
				source = this.work_canvas;
			}
			ctx.globalAlpha = layer.opacity;
			ctx.drawImage(source, 0, 0);
		}
		ctx.globalAlpha = 1;
		// The page edge: a dark and a light line, visible on any background and any backdrop.
		ctx.setTransform(d, 0, 0, d, 0, 0);
		const x = ox, y = oy, w = this.width * scale, h = this.height * scale;
		ctx.lineWidth = 1;
		ctx.strokeStyle = "rgba(0,0,0,0.85)";
		ctx.strokeRect(Math.round(x) - 0.5, Math.round(y) - 0.5, Math.round(w) + 1, Math.round(h) + 1);
		ctx.strokeStyle = "rgba(255,255,255,0.9)";
		ctx.strokeRect(Math.round(x) - 1.5, Math.round(y) - 1.5, Math.round(w) + 3, Math.round(h) + 3);
	}

	// ------------------------------------------------------------------ value
	// Layers changed since the last call are encoded again; the others reuse their PNG.
	encode() {
		if (!this.has_page()) return null;
		return {
			width: this.width,
			height: this.height,
			background: this.background_url,
			layers: this.layers.map((l) => {
				if (l.dirty) {
					l.url = l.canvas.toDataURL("image/png");
					l.dirty = false;
				}
				return { name: l.name, kind: l.kind, png: l.url, visible: l.visible, opacity: l.opacity };
			})
		};
	}
}
