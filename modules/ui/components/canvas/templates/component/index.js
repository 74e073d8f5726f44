import { i as dt, g as ds, o as Fs, a as Ft, b as Us, T as Bs, c as Hs, d as Ys, e as ut, r as pt, f as Xe, p as _t, h as Je, j as Ue, m as Ks, s as ps, k as _s, u as Te, l as He, n as vt, E as Ws, q as v, t as Ut, v as Gs, w as Xs, x as Bt, y as Zs, z as Js, A as Vs, B as gt, C as ue, I as rt, D as Qs, F as js, G as er, H as tr, J as sr, L as rr, N as ir, K as ar, M as nr, O as or, P as lr, S as cr, Q as ur, R as fr, U as hr, V as ce, W as Ht, X as F, Y as dr, Z as ye, _ as We, $ as pr, a0 as A, a1 as k, a2 as _r, a3 as vr, a4 as Yt, a5 as me } from "./render-C9T5yPJa.js";
function vs(t) {
  throw new Error("https://svelte.dev/e/lifecycle_outside_component");
}
const gr = [];
function br(t, e = !1, s = !1) {
  return Ze(t, /* @__PURE__ */ new Map(), "", gr, null, s);
}
function Ze(t, e, s, r, a = null, i = !1) {
  if (typeof t == "object" && t !== null) {
    var o = e.get(t);
    if (o !== void 0) return o;
    if (t instanceof Map) return (
      /** @type {Snapshot<T>} */
      new Map(t)
    );
    if (t instanceof Set) return (
      /** @type {Snapshot<T>} */
      new Set(t)
    );
    if (dt(t)) {
      var l = (
        /** @type {Snapshot<any>} */
        Array(t.length)
      );
      e.set(t, l), a !== null && e.set(a, l);
      for (var u = 0; u < t.length; u += 1) {
        var _ = t[u];
        u in t && (l[u] = Ze(_, e, s, r, null, i));
      }
      return l;
    }
    if (ds(t) === Fs) {
      l = {}, e.set(t, l), a !== null && e.set(a, l);
      for (var c in t)
        l[c] = Ze(
          // @ts-expect-error
          t[c],
          e,
          s,
          r,
          null,
          i
        );
      return l;
    }
    if (t instanceof Date)
      return (
        /** @type {Snapshot<T>} */
        structuredClone(t)
      );
    if (typeof /** @type {T & { toJSON?: any } } */
    t.toJSON == "function" && !i)
      return Ze(
        /** @type {T & { toJSON(): any } } */
        t.toJSON(),
        e,
        s,
        r,
        // Associate the instance with the toJSON clone
        t
      );
  }
  if (t instanceof EventTarget)
    return (
      /** @type {Snapshot<T>} */
      t
    );
  try {
    return (
      /** @type {Snapshot<T>} */
      structuredClone(t)
    );
  } catch {
    return (
      /** @type {Snapshot<T>} */
      t
    );
  }
}
function yr(t) {
  var e = document.createElement("template");
  return e.innerHTML = t.replaceAll("<!>", "<!---->"), e.content;
}
function Kt(t, e) {
  var s = (
    /** @type {Effect} */
    Ys
  );
  s.nodes === null && (s.nodes = { start: t, end: e, a: null, t: null });
}
// @__NO_SIDE_EFFECTS__
function X(t, e) {
  var s = (e & Bs) !== 0, r = (e & Hs) !== 0, a, i = !t.startsWith("<!>");
  return () => {
    a === void 0 && (a = yr(i ? t : "<!>" + t), s || (a = /** @type {TemplateNode} */
    Ft(a)));
    var o = (
      /** @type {TemplateNode} */
      r || Us ? document.importNode(a, !0) : a.cloneNode(!0)
    );
    if (s) {
      var l = (
        /** @type {TemplateNode} */
        Ft(o)
      ), u = (
        /** @type {TemplateNode} */
        o.lastChild
      );
      Kt(l, u);
    } else
      Kt(o, o);
    return o;
  };
}
function G(t, e) {
  t !== null && t.before(
    /** @type {Node} */
    e
  );
}
class gs {
  /** @type {TemplateNode} */
  anchor;
  /** @type {Map<Batch, Key>} */
  #t = /* @__PURE__ */ new Map();
  /**
   * Map of keys to effects that are currently rendered in the DOM.
   * These effects are visible and actively part of the document tree.
   * Example:
   * ```
   * {#if condition}
   * 	foo
   * {:else}
   * 	bar
   * {/if}
   * ```
   * Can result in the entries `true->Effect` and `false->Effect`
   * @type {Map<Key, Effect>}
   */
  #s = /* @__PURE__ */ new Map();
  /**
   * Similar to #onscreen with respect to the keys, but contains branches that are not yet
   * in the DOM, because their insertion is deferred.
   * @type {Map<Key, Branch>}
   */
  #e = /* @__PURE__ */ new Map();
  /**
   * Keys of effects that are currently outroing
   * @type {Set<Key>}
   */
  #r = /* @__PURE__ */ new Set();
  /**
   * Whether to pause (i.e. outro) on change, or destroy immediately.
   * This is necessary for `<svelte:element>`
   */
  #i = !0;
  /**
   * @param {TemplateNode} anchor
   * @param {boolean} transition
   */
  constructor(e, s = !0) {
    this.anchor = e, this.#i = s;
  }
  #a = () => {
    var e = (
      /** @type {Batch} */
      ut
    );
    if (this.#t.has(e)) {
      var s = (
        /** @type {Key} */
        this.#t.get(e)
      ), r = this.#s.get(s);
      if (r)
        pt(r), this.#r.delete(s);
      else {
        var a = this.#e.get(s);
        a && (this.#s.set(s, a.effect), this.#e.delete(s), a.fragment.lastChild.remove(), this.anchor.before(a.fragment), r = a.effect);
      }
      for (const [i, o] of this.#t) {
        if (this.#t.delete(i), i === e)
          break;
        const l = this.#e.get(o);
        l && (Xe(l.effect), this.#e.delete(o));
      }
      for (const [i, o] of this.#s) {
        if (i === s || this.#r.has(i)) continue;
        const l = () => {
          if (Array.from(this.#t.values()).includes(i)) {
            var _ = document.createDocumentFragment();
            Ks(o, _), _.append(Je()), this.#e.set(i, { effect: o, fragment: _ });
          } else
            Xe(o);
          this.#r.delete(i), this.#s.delete(i);
        };
        this.#i || !r ? (this.#r.add(i), _t(o, l, !1)) : l();
      }
    }
  };
  /**
   * @param {Batch} batch
   */
  #n = (e) => {
    this.#t.delete(e);
    const s = Array.from(this.#t.values());
    for (const [r, a] of this.#e)
      s.includes(r) || (Xe(a.effect), this.#e.delete(r));
  };
  /**
   *
   * @param {any} key
   * @param {null | ((target: TemplateNode) => void)} fn
   */
  ensure(e, s) {
    var r = (
      /** @type {Batch} */
      ut
    ), a = ps();
    if (s && !this.#s.has(e) && !this.#e.has(e))
      if (a) {
        var i = document.createDocumentFragment(), o = Je();
        i.append(o), this.#e.set(e, {
          effect: Ue(() => s(o)),
          fragment: i
        });
      } else
        this.#s.set(
          e,
          Ue(() => s(this.anchor))
        );
    if (this.#t.set(r, e), a) {
      for (const [l, u] of this.#s)
        l === e ? r.skipped_effects.delete(u) : r.skipped_effects.add(u);
      for (const [l, u] of this.#e)
        l === e ? r.skipped_effects.delete(u.effect) : r.skipped_effects.add(u.effect);
      r.oncommit(this.#a), r.ondiscard(this.#n);
    } else
      this.#a();
  }
}
function bs(t) {
  _s === null && vs(), Te(() => {
    const e = He(t);
    if (typeof e == "function") return (
      /** @type {() => void} */
      e
    );
  });
}
function mr(t) {
  _s === null && vs(), bs(() => () => He(t));
}
function qe(t, e, s = !1) {
  var r = new gs(t), a = s ? Ws : 0;
  function i(o, l) {
    r.ensure(o, l);
  }
  vt(() => {
    var o = !1;
    e((l, u = !0) => {
      o = !0, i(u, l);
    }), o || i(!1, null);
  }, a);
}
function Wt(t, e, s) {
  var r = new gs(t);
  vt(() => {
    var a = e();
    r.ensure(a, s);
  });
}
function Gt(t, e) {
  return e;
}
function kr(t, e, s) {
  for (var r = [], a = e.length, i, o = e.length, l = 0; l < a; l++) {
    let m = e[l];
    _t(
      m,
      () => {
        if (i) {
          if (i.pending.delete(m), i.done.add(m), i.pending.size === 0) {
            var y = (
              /** @type {Set<EachOutroGroup>} */
              t.outrogroups
            );
            ft(gt(i.done)), y.delete(i), y.size === 0 && (t.outrogroups = null);
          }
        } else
          o -= 1;
      },
      !1
    );
  }
  if (o === 0) {
    var u = r.length === 0 && s !== null;
    if (u) {
      var _ = (
        /** @type {Element} */
        s
      ), c = (
        /** @type {Element} */
        _.parentNode
      );
      Qs(c), c.append(_), t.items.clear();
    }
    ft(e, !u);
  } else
    i = {
      pending: new Set(e),
      done: /* @__PURE__ */ new Set()
    }, (t.outrogroups ??= /* @__PURE__ */ new Set()).add(i);
}
function ft(t, e = !0) {
  for (var s = 0; s < t.length; s++)
    Xe(t[s], e);
}
var Xt;
function it(t, e, s, r, a, i = null) {
  var o = t, l = /* @__PURE__ */ new Map(), u = null, _ = Gs(() => {
    var w = s();
    return dt(w) ? w : w == null ? [] : gt(w);
  }), c, m = !0;
  function y() {
    h.fallback = u, wr(h, c, o, e, r), u !== null && (c.length === 0 ? (u.f & ue) === 0 ? pt(u) : (u.f ^= ue, Fe(u, null, o)) : _t(u, () => {
      u = null;
    }));
  }
  var M = vt(() => {
    c = /** @type {V[]} */
    v(_);
    for (var w = c.length, R = /* @__PURE__ */ new Set(), S = (
      /** @type {Batch} */
      ut
    ), x = ps(), C = 0; C < w; C += 1) {
      var $ = c[C], q = r($, C), N = m ? null : l.get(q);
      N ? (N.v && Ut(N.v, $), N.i && Ut(N.i, C), x && S.skipped_effects.delete(N.e)) : (N = xr(
        l,
        m ? o : Xt ??= Je(),
        $,
        q,
        C,
        a,
        e,
        s
      ), m || (N.e.f |= ue), l.set(q, N)), R.add(q);
    }
    if (w === 0 && i && !u && (m ? u = Ue(() => i(o)) : (u = Ue(() => i(Xt ??= Je())), u.f |= ue)), !m)
      if (x) {
        for (const [Z, I] of l)
          R.has(Z) || S.skipped_effects.add(I.e);
        S.oncommit(y), S.ondiscard(() => {
        });
      } else
        y();
    v(_);
  }), h = { effect: M, items: l, outrogroups: null, fallback: u };
  m = !1;
}
function wr(t, e, s, r, a) {
  var i = e.length, o = t.items, l = t.effect.first, u, _ = null, c = [], m = [], y, M, h, w;
  for (w = 0; w < i; w += 1) {
    if (y = e[w], M = a(y, w), h = /** @type {EachItem} */
    o.get(M).e, t.outrogroups !== null)
      for (const I of t.outrogroups)
        I.pending.delete(h), I.done.delete(h);
    if ((h.f & ue) !== 0)
      if (h.f ^= ue, h === l)
        Fe(h, null, s);
      else {
        var R = _ ? _.next : l;
        h === t.effect.last && (t.effect.last = h.prev), h.prev && (h.prev.next = h.next), h.next && (h.next.prev = h.prev), ne(t, _, h), ne(t, h, R), Fe(h, R, s), _ = h, c = [], m = [], l = _.next;
        continue;
      }
    if ((h.f & rt) !== 0 && pt(h), h !== l) {
      if (u !== void 0 && u.has(h)) {
        if (c.length < m.length) {
          var S = m[0], x;
          _ = S.prev;
          var C = c[0], $ = c[c.length - 1];
          for (x = 0; x < c.length; x += 1)
            Fe(c[x], S, s);
          for (x = 0; x < m.length; x += 1)
            u.delete(m[x]);
          ne(t, C.prev, $.next), ne(t, _, C), ne(t, $, S), l = S, _ = $, w -= 1, c = [], m = [];
        } else
          u.delete(h), Fe(h, l, s), ne(t, h.prev, h.next), ne(t, h, _ === null ? t.effect.first : _.next), ne(t, _, h), _ = h;
        continue;
      }
      for (c = [], m = []; l !== null && l !== h; )
        (u ??= /* @__PURE__ */ new Set()).add(l), m.push(l), l = l.next;
      if (l === null)
        continue;
    }
    (h.f & ue) === 0 && c.push(h), _ = h, l = h.next;
  }
  if (t.outrogroups !== null) {
    for (const I of t.outrogroups)
      I.pending.size === 0 && (ft(gt(I.done)), t.outrogroups?.delete(I));
    t.outrogroups.size === 0 && (t.outrogroups = null);
  }
  if (l !== null || u !== void 0) {
    var q = [];
    if (u !== void 0)
      for (h of u)
        (h.f & rt) === 0 && q.push(h);
    for (; l !== null; )
      (l.f & rt) === 0 && l !== t.fallback && q.push(l), l = l.next;
    var N = q.length;
    if (N > 0) {
      var Z = null;
      kr(t, q, Z);
    }
  }
}
function xr(t, e, s, r, a, i, o, l) {
  var u = (o & Zs) !== 0 ? (o & Js) === 0 ? Vs(s, !1, !1) : Bt(s) : null, _ = (o & Xs) !== 0 ? Bt(a) : null;
  return {
    v: u,
    i: _,
    e: Ue(() => (i(e, u ?? s, _ ?? a, l), () => {
      t.delete(r);
    }))
  };
}
function Fe(t, e, s) {
  if (t.nodes)
    for (var r = t.nodes.start, a = t.nodes.end, i = e && (e.f & ue) === 0 ? (
      /** @type {EffectNodes} */
      e.nodes.start
    ) : s; r !== null; ) {
      var o = (
        /** @type {TemplateNode} */
        js(r)
      );
      if (i.before(r), r === a)
        return;
      r = o;
    }
}
function ne(t, e, s) {
  e === null ? t.effect.first = s : e.next = s, s === null ? t.effect.last = e : s.prev = e;
}
const Zt = [...` 	
\r\f \v\uFEFF`];
function zr(t, e, s) {
  var r = t == null ? "" : "" + t;
  if (s) {
    for (var a in s)
      if (s[a])
        r = r ? r + " " + a : a;
      else if (r.length)
        for (var i = a.length, o = 0; (o = r.indexOf(a, o)) >= 0; ) {
          var l = o + i;
          (o === 0 || Zt.includes(r[o - 1])) && (l === r.length || Zt.includes(r[l])) ? r = (o === 0 ? "" : r.substring(0, o)) + r.substring(l + 1) : o = l;
        }
  }
  return r === "" ? null : r;
}
function Jt(t, e = !1) {
  var s = e ? " !important;" : ";", r = "";
  for (var a in t) {
    var i = t[a];
    i != null && i !== "" && (r += " " + a + ": " + i + s);
  }
  return r;
}
function Mr(t, e) {
  if (e) {
    var s = "", r, a;
    return Array.isArray(e) ? (r = e[0], a = e[1]) : r = e, r && (s += Jt(r)), a && (s += Jt(a, !0)), s = s.trim(), s === "" ? null : s;
  }
  return String(t);
}
function Ee(t, e, s, r, a, i) {
  var o = t.__className;
  if (o !== s || o === void 0) {
    var l = zr(s, r, i);
    l == null ? t.removeAttribute("class") : t.className = l, t.__className = s;
  } else if (i && a !== i)
    for (var u in i) {
      var _ = !!i[u];
      (a == null || _ !== !!a[u]) && t.classList.toggle(u, _);
    }
  return i;
}
function at(t, e = {}, s, r) {
  for (var a in s) {
    var i = s[a];
    e[a] !== i && (s[a] == null ? t.style.removeProperty(a) : t.style.setProperty(a, i, r));
  }
}
function nt(t, e, s, r) {
  var a = t.__style;
  if (a !== e) {
    var i = Mr(e, r);
    i == null ? t.removeAttribute("style") : t.style.cssText = i, t.__style = e;
  } else r && (Array.isArray(r) ? (at(t, s?.[0], r[0]), at(t, s?.[1], r[1], "important")) : at(t, s, r));
  return r;
}
function ys(t, e, s = !1) {
  if (t.multiple) {
    if (e == null)
      return;
    if (!dt(e))
      return tr();
    for (var r of t.options)
      r.selected = e.includes(Vt(r));
    return;
  }
  for (r of t.options) {
    var a = Vt(r);
    if (sr(a, e)) {
      r.selected = !0;
      return;
    }
  }
  (!s || e !== void 0) && (t.selectedIndex = -1);
}
function qr(t) {
  var e = new MutationObserver(() => {
    ys(t, t.__value);
  });
  e.observe(t, {
    // Listen to option element changes
    childList: !0,
    subtree: !0,
    // because of <optgroup>
    // Listen to option element value attribute changes
    // (doesn't get notified of select value changes,
    // because that property is not reflected as an attribute)
    attributes: !0,
    attributeFilter: ["value"]
  }), er(() => {
    e.disconnect();
  });
}
function Vt(t) {
  return "__value" in t ? t.__value : t.value;
}
const Er = /* @__PURE__ */ Symbol("is custom element"), Tr = /* @__PURE__ */ Symbol("is html");
function Oe(t, e) {
  var s = bt(t);
  s.value === (s.value = // treat null and undefined the same for the initial value
  e ?? void 0) || // @ts-expect-error
  // `progress` elements always need their value set when it's `0`
  t.value === e && (e !== 0 || t.nodeName !== "PROGRESS") || (t.value = e ?? "");
}
function Cr(t, e) {
  var s = bt(t);
  s.checked !== (s.checked = // treat null and undefined the same for the initial value
  e ?? void 0) && (t.checked = e);
}
function ee(t, e, s, r) {
  var a = bt(t);
  a[e] !== (a[e] = s) && (e === "loading" && (t[rr] = s), s == null ? t.removeAttribute(e) : typeof s != "string" && Sr(t).includes(e) ? t[e] = s : t.setAttribute(e, s));
}
function bt(t) {
  return (
    /** @type {Record<string | symbol, unknown>} **/
    // @ts-expect-error
    t.__attributes ??= {
      [Er]: t.nodeName.includes("-"),
      [Tr]: t.namespaceURI === ir
    }
  );
}
var Qt = /* @__PURE__ */ new Map();
function Sr(t) {
  var e = t.getAttribute("is") || t.nodeName, s = Qt.get(e);
  if (s) return s;
  Qt.set(e, s = []);
  for (var r, a = t, i = Element.prototype; i !== a; ) {
    r = ar(a);
    for (var o in r)
      r[o].set && s.push(o);
    a = ds(a);
  }
  return s;
}
function jt(t, e) {
  return t === e || t?.[cr] === e;
}
function Ge(t = {}, e, s, r) {
  return nr(() => {
    var a, i;
    return or(() => {
      a = i, i = [], He(() => {
        t !== s(...i) && (e(t, ...i), a && jt(s(...a), t) && e(null, ...a));
      });
    }), () => {
      lr(() => {
        i && jt(s(...i), t) && e(null, ...i);
      });
    };
  }), t;
}
function Ir(t, e, s) {
  if (t == null)
    return e(void 0), ur;
  const r = He(
    () => t.subscribe(
      e,
      // @ts-expect-error
      s
    )
  );
  return r.unsubscribe ? () => r.unsubscribe() : r;
}
function Ar(t) {
  let e;
  return Ir(t, (s) => e = s)(), e;
}
const Rr = {
  get(t, e) {
    if (!t.exclude.includes(e))
      return t.props[e];
  },
  set(t, e) {
    return !1;
  },
  getOwnPropertyDescriptor(t, e) {
    if (!t.exclude.includes(e) && e in t.props)
      return {
        enumerable: !0,
        configurable: !0,
        value: t.props[e]
      };
  },
  has(t, e) {
    return t.exclude.includes(e) ? !1 : e in t.props;
  },
  ownKeys(t) {
    return Reflect.ownKeys(t.props).filter((e) => !t.exclude.includes(e));
  }
};
// @__NO_SIDE_EFFECTS__
function Lr(t, e, s) {
  return new Proxy(
    { props: t, exclude: e },
    Rr
  );
}
const Pr = [
  { color: "red", primary: 600, secondary: 100 },
  { color: "green", primary: 600, secondary: 100 },
  { color: "blue", primary: 600, secondary: 100 },
  { color: "yellow", primary: 500, secondary: 100 },
  { color: "purple", primary: 600, secondary: 100 },
  { color: "teal", primary: 600, secondary: 100 },
  { color: "orange", primary: 600, secondary: 100 },
  { color: "cyan", primary: 600, secondary: 100 },
  { color: "lime", primary: 500, secondary: 100 },
  { color: "pink", primary: 600, secondary: 100 }
], es = {
  inherit: "inherit",
  current: "currentColor",
  transparent: "transparent",
  black: "#000",
  white: "#fff",
  slate: {
    50: "#f8fafc",
    100: "#f1f5f9",
    200: "#e2e8f0",
    300: "#cbd5e1",
    400: "#94a3b8",
    500: "#64748b",
    600: "#475569",
    700: "#334155",
    800: "#1e293b",
    900: "#0f172a",
    950: "#020617"
  },
  gray: {
    50: "#f9fafb",
    100: "#f3f4f6",
    200: "#e5e7eb",
    300: "#d1d5db",
    400: "#9ca3af",
    500: "#6b7280",
    600: "#4b5563",
    700: "#374151",
    800: "#1f2937",
    900: "#111827",
    950: "#030712"
  },
  zinc: {
    50: "#fafafa",
    100: "#f4f4f5",
    200: "#e4e4e7",
    300: "#d4d4d8",
    400: "#a1a1aa",
    500: "#71717a",
    600: "#52525b",
    700: "#3f3f46",
    800: "#27272a",
    900: "#18181b",
    950: "#09090b"
  },
  neutral: {
    50: "#fafafa",
    100: "#f5f5f5",
    200: "#e5e5e5",
    300: "#d4d4d4",
    400: "#a3a3a3",
    500: "#737373",
    600: "#525252",
    700: "#404040",
    800: "#262626",
    900: "#171717",
    950: "#0a0a0a"
  },
  stone: {
    50: "#fafaf9",
    100: "#f5f5f4",
    200: "#e7e5e4",
    300: "#d6d3d1",
    400: "#a8a29e",
    500: "#78716c",
    600: "#57534e",
    700: "#44403c",
    800: "#292524",
    900: "#1c1917",
    950: "#0c0a09"
  },
  red: {
    50: "#fef2f2",
    100: "#fee2e2",
    200: "#fecaca",
    300: "#fca5a5",
    400: "#f87171",
    500: "#ef4444",
    600: "#dc2626",
    700: "#b91c1c",
    800: "#991b1b",
    900: "#7f1d1d",
    950: "#450a0a"
  },
  orange: {
    50: "#fff7ed",
    100: "#ffedd5",
    200: "#fed7aa",
    300: "#fdba74",
    400: "#fb923c",
    500: "#f97316",
    600: "#ea580c",
    700: "#c2410c",
    800: "#9a3412",
    900: "#7c2d12",
    950: "#431407"
  },
  amber: {
    50: "#fffbeb",
    100: "#fef3c7",
    200: "#fde68a",
    300: "#fcd34d",
    400: "#fbbf24",
    500: "#f59e0b",
    600: "#d97706",
    700: "#b45309",
    800: "#92400e",
    900: "#78350f",
    950: "#451a03"
  },
  yellow: {
    50: "#fefce8",
    100: "#fef9c3",
    200: "#fef08a",
    300: "#fde047",
    400: "#facc15",
    500: "#eab308",
    600: "#ca8a04",
    700: "#a16207",
    800: "#854d0e",
    900: "#713f12",
    950: "#422006"
  },
  lime: {
    50: "#f7fee7",
    100: "#ecfccb",
    200: "#d9f99d",
    300: "#bef264",
    400: "#a3e635",
    500: "#84cc16",
    600: "#65a30d",
    700: "#4d7c0f",
    800: "#3f6212",
    900: "#365314",
    950: "#1a2e05"
  },
  green: {
    50: "#f0fdf4",
    100: "#dcfce7",
    200: "#bbf7d0",
    300: "#86efac",
    400: "#4ade80",
    500: "#22c55e",
    600: "#16a34a",
    700: "#15803d",
    800: "#166534",
    900: "#14532d",
    950: "#052e16"
  },
  emerald: {
    50: "#ecfdf5",
    100: "#d1fae5",
    200: "#a7f3d0",
    300: "#6ee7b7",
    400: "#34d399",
    500: "#10b981",
    600: "#059669",
    700: "#047857",
    800: "#065f46",
    900: "#064e3b",
    950: "#022c22"
  },
  teal: {
    50: "#f0fdfa",
    100: "#ccfbf1",
    200: "#99f6e4",
    300: "#5eead4",
    400: "#2dd4bf",
    500: "#14b8a6",
    600: "#0d9488",
    700: "#0f766e",
    800: "#115e59",
    900: "#134e4a",
    950: "#042f2e"
  },
  cyan: {
    50: "#ecfeff",
    100: "#cffafe",
    200: "#a5f3fc",
    300: "#67e8f9",
    400: "#22d3ee",
    500: "#06b6d4",
    600: "#0891b2",
    700: "#0e7490",
    800: "#155e75",
    900: "#164e63",
    950: "#083344"
  },
  sky: {
    50: "#f0f9ff",
    100: "#e0f2fe",
    200: "#bae6fd",
    300: "#7dd3fc",
    400: "#38bdf8",
    500: "#0ea5e9",
    600: "#0284c7",
    700: "#0369a1",
    800: "#075985",
    900: "#0c4a6e",
    950: "#082f49"
  },
  blue: {
    50: "#eff6ff",
    100: "#dbeafe",
    200: "#bfdbfe",
    300: "#93c5fd",
    400: "#60a5fa",
    500: "#3b82f6",
    600: "#2563eb",
    700: "#1d4ed8",
    800: "#1e40af",
    900: "#1e3a8a",
    950: "#172554"
  },
  indigo: {
    50: "#eef2ff",
    100: "#e0e7ff",
    200: "#c7d2fe",
    300: "#a5b4fc",
    400: "#818cf8",
    500: "#6366f1",
    600: "#4f46e5",
    700: "#4338ca",
    800: "#3730a3",
    900: "#312e81",
    950: "#1e1b4b"
  },
  violet: {
    50: "#f5f3ff",
    100: "#ede9fe",
    200: "#ddd6fe",
    300: "#c4b5fd",
    400: "#a78bfa",
    500: "#8b5cf6",
    600: "#7c3aed",
    700: "#6d28d9",
    800: "#5b21b6",
    900: "#4c1d95",
    950: "#2e1065"
  },
  purple: {
    50: "#faf5ff",
    100: "#f3e8ff",
    200: "#e9d5ff",
    300: "#d8b4fe",
    400: "#c084fc",
    500: "#a855f7",
    600: "#9333ea",
    700: "#7e22ce",
    800: "#6b21a8",
    900: "#581c87",
    950: "#3b0764"
  },
  fuchsia: {
    50: "#fdf4ff",
    100: "#fae8ff",
    200: "#f5d0fe",
    300: "#f0abfc",
    400: "#e879f9",
    500: "#d946ef",
    600: "#c026d3",
    700: "#a21caf",
    800: "#86198f",
    900: "#701a75",
    950: "#4a044e"
  },
  pink: {
    50: "#fdf2f8",
    100: "#fce7f3",
    200: "#fbcfe8",
    300: "#f9a8d4",
    400: "#f472b6",
    500: "#ec4899",
    600: "#db2777",
    700: "#be185d",
    800: "#9d174d",
    900: "#831843",
    950: "#500724"
  },
  rose: {
    50: "#fff1f2",
    100: "#ffe4e6",
    200: "#fecdd3",
    300: "#fda4af",
    400: "#fb7185",
    500: "#f43f5e",
    600: "#e11d48",
    700: "#be123c",
    800: "#9f1239",
    900: "#881337",
    950: "#4c0519"
  }
};
Pr.reduce((t, { color: e, primary: s, secondary: r }) => ({
  ...t,
  [e]: {
    primary: es[e][s],
    secondary: es[e][r]
  }
}), {});
function Dr(t) {
  let e;
  const s = hr((a) => {
    let i = !1;
    const o = t.subscribe((l) => {
      e = l, i && a();
    });
    return i = !0, o;
  });
  function r() {
    return fr() ? (s(), e) : Ar(t);
  }
  return "set" in t ? {
    get current() {
      return r();
    },
    set current(a) {
      t.set(a);
    }
  } : {
    get current() {
      return r();
    }
  };
}
const $r = "__i18n__", Nr = [
  "label",
  "info",
  "placeholder",
  "description",
  "title",
  "value"
], Or = [
  "elem_id",
  "elem_classes",
  "visible",
  "interactive",
  "server_fns",
  "server",
  "id",
  "target",
  "theme_mode",
  "version",
  "root",
  "autoscroll",
  "max_file_size",
  "formatter",
  "client",
  "load_component",
  "scale",
  "min_width",
  "theme",
  "padding",
  "loading_status",
  "label",
  "show_label",
  "validation_error",
  "show_progress",
  "api_prefix",
  "container",
  "attached_events",
  "register_component",
  "unregister_component",
  "dispatcher"
];
function Fr(t) {
  return typeof t == "string" && t.includes($r);
}
class Ur {
  load_component;
  #t = ce(Ht({}));
  get shared() {
    return v(this.#t);
  }
  set shared(e) {
    F(this.#t, e, !0);
  }
  #s = ce(Ht({}));
  get props() {
    return v(this.#s);
  }
  set props(e) {
    F(this.#s, e, !0);
  }
  #e = ce((e) => e);
  get i18n() {
    return v(this.#e);
  }
  set i18n(e) {
    F(this.#e, e, !0);
  }
  i18n_store;
  _i18n_from_store;
  translatable_props = {};
  dispatcher;
  last_update = null;
  shared_props = Or;
  mounted = !1;
  old_value;
  register_component;
  unregister_component;
  set_data_callback;
  get_data_callback;
  registered_id = null;
  last_shared_props;
  last_props;
  constructor(e, s) {
    for (const r in e.shared_props)
      this.shared[r] = e.shared_props[r];
    for (const r in e.props)
      r !== "i18n_store" && (this.props[r] = e.props[r]);
    if (s)
      for (const r in s)
        this.props[r] === void 0 && (this.props[r] = s[r]);
    this.i18n = this.props.i18n ?? ((r) => r), this.i18n_store = e.props.i18n_store, this._i18n_from_store = this.i18n_store ? Dr(this.i18n_store) : void 0;
    for (const r of Nr)
      this.shared[r] = this._translate_and_store(
        "shared",
        r,
        // @ts-ignore
        e.shared_props[r]
      ), this.props[r] = this._translate_and_store(
        "props",
        r,
        // @ts-ignore
        e.props[r]
      );
    this.load_component = this.shared.load_component, this.register_component = this.shared.register_component || (() => {
    }), this.unregister_component = this.shared.unregister_component || (() => {
    }), this.dispatcher = this.shared.dispatcher || (() => {
    }), this.set_data_callback = this.set_data.bind(this), this.get_data_callback = this.get_data.bind(this), this.register_component(
      this.shared.id,
      // @ts-ignore
      this.set_data_callback,
      this.get_data_callback
    ), this.registered_id = this.shared.id, this.last_shared_props = e.shared_props, this.last_props = e.props, Te(() => {
      const r = e.shared_props.id;
      if (this.last_shared_props !== e.shared_props) {
        for (const a in e.shared_props) {
          const i = e.shared_props[a];
          i !== void 0 && (this._is_i18n_managed(`shared.${a}`, i) || (this.shared[a] = i));
        }
        this.last_shared_props = e.shared_props;
      }
      if (this.last_props !== e.props) {
        for (const a in e.props) {
          if (a === "i18n_store") continue;
          const i = e.props[a];
          i !== void 0 && (this._is_i18n_managed(`props.${a}`, i) || (this.props[a] = i));
        }
        this.last_props = e.props;
      }
      this.registered_id !== null && this.registered_id !== r && this.unregister_component(this.registered_id, this.set_data_callback), this.register_component(
        r,
        // @ts-ignore
        this.set_data_callback,
        this.get_data_callback
      ), this.registered_id = r, He(() => {
        this.shared.id = r;
      });
    }), Te(() => () => {
      this.registered_id !== null && this.unregister_component(this.registered_id, this.set_data_callback);
    }), Te(() => this.i18n_store ? this.i18n_store.subscribe(() => {
      for (const [a, i] of Object.entries(this.translatable_props)) {
        const [o, l] = a.split("."), u = this.i18n(i);
        o === "shared" ? this.shared[l] = u : this.props[l] = u;
      }
    }) : void 0);
  }
  // check if props are translatable
  _is_i18n_managed(e, s) {
    const r = this.translatable_props[e];
    return r ? s === r ? !0 : (delete this.translatable_props[e], !1) : !1;
  }
  _translate_and_store(e, s, r) {
    if (typeof r != "string") return r;
    const a = this.i18n(r);
    return a !== r && (this.translatable_props[`${e}.${s}`] = r), a;
  }
  // Reactive variant of `i18n`. Reading it inside a derived or template
  // subscribes to the live locale store (via Svelte's createSubscriber), so
  // the caller re-runs when the locale changes at runtime. The store is only
  // the reactivity trigger; translation always goes through `this.i18n` so a
  // custom formatter passed via props keeps taking effect.
  live_i18n = (e) => (this._i18n_from_store?.current, this.i18n(e));
  dispatch(e, s) {
    this.dispatcher(this.shared.id, e, s);
  }
  async get_data() {
    return br(this.props);
  }
  update(e) {
    this.set_data(e);
  }
  set_data(e) {
    for (const s in e) {
      const r = e[s], a = Fr(r) ? this._translate_and_store(this.shared_props.includes(s) ? "shared" : "props", s, r) : r;
      if (this.shared_props.includes(s)) {
        const i = s;
        this.shared[i] = a;
        continue;
      }
      this.props[s] = a;
    }
  }
  watch_for_change() {
    Te(() => {
      this.mounted || (this.old_value = this.props.value, this.mounted = !0), this.old_value != this.props.value && (this.old_value = this.props.value, this.dispatch("change"));
    });
  }
}
const { PI: Br } = Math, Be = Br + 1e-4, ts = 0.5, ss = [1, 1];
function rs(t, e, s, r = (a) => a) {
  return t * r(0.5 - e * (0.5 - s));
}
const { min: ot } = Math;
function ms(t, e, s) {
  let r = ot(1, e / s);
  return ot(1, t + (ot(1, 1 - r) - t) * (r * 0.275));
}
function Hr(t) {
  return [-t[0], -t[1]];
}
function V(t, e) {
  return [t[0] + e[0], t[1] + e[1]];
}
function is(t, e, s) {
  return t[0] = e[0] + s[0], t[1] = e[1] + s[1], t;
}
function he(t, e) {
  return [t[0] - e[0], t[1] - e[1]];
}
function ht(t, e, s) {
  return t[0] = e[0] - s[0], t[1] = e[1] - s[1], t;
}
function fe(t, e) {
  return [t[0] * e, t[1] * e];
}
function lt(t, e, s) {
  return t[0] = e[0] * s, t[1] = e[1] * s, t;
}
function Yr(t, e) {
  return [t[0] / e, t[1] / e];
}
function ks(t) {
  return [t[1], -t[0]];
}
function ct(t, e) {
  let s = e[0];
  return t[0] = e[1], t[1] = -s, t;
}
function as(t, e) {
  return t[0] * e[0] + t[1] * e[1];
}
function Kr(t, e) {
  return t[0] === e[0] && t[1] === e[1];
}
function Wr(t) {
  return Math.hypot(t[0], t[1]);
}
function ns(t, e) {
  let s = t[0] - e[0], r = t[1] - e[1];
  return s * s + r * r;
}
function ws(t) {
  return Yr(t, Wr(t));
}
function Gr(t, e) {
  return Math.hypot(t[1] - e[1], t[0] - e[0]);
}
function yt(t, e, s) {
  let r = Math.sin(s), a = Math.cos(s), i = t[0] - e[0], o = t[1] - e[1], l = i * a - o * r, u = i * r + o * a;
  return [l + e[0], u + e[1]];
}
function os(t, e, s, r) {
  let a = Math.sin(r), i = Math.cos(r), o = e[0] - s[0], l = e[1] - s[1], u = o * i - l * a, _ = o * a + l * i;
  return t[0] = u + s[0], t[1] = _ + s[1], t;
}
function ls(t, e, s) {
  return V(t, fe(he(e, t), s));
}
function Xr(t, e, s, r) {
  let a = s[0] - e[0], i = s[1] - e[1];
  return t[0] = e[0] + a * r, t[1] = e[1] + i * r, t;
}
function xs(t, e, s) {
  return V(t, fe(e, s));
}
const O = [0, 0], oe = [0, 0], le = [0, 0];
function Zr(t, e) {
  let s = xs(t, ws(ks(he(t, V(t, [1, 1])))), -e), r = [], a = 1 / 13;
  for (let i = a; i <= 1; i += a) r.push(yt(s, t, Be * 2 * i));
  return r;
}
function Jr(t, e, s) {
  let r = [], a = 1 / s;
  for (let i = a; i <= 1; i += a) r.push(yt(e, t, Be * i));
  return r;
}
function Vr(t, e, s) {
  let r = he(e, s), a = fe(r, 0.5), i = fe(r, 0.51);
  return [he(t, a), he(t, i), V(t, i), V(t, a)];
}
function Qr(t, e, s, r) {
  let a = [], i = xs(t, e, s), o = 1 / r;
  for (let l = o; l < 1; l += o) a.push(yt(i, t, Be * 3 * l));
  return a;
}
function jr(t, e, s) {
  return [V(t, fe(e, s)), V(t, fe(e, s * 0.99)), he(t, fe(e, s * 0.99)), he(t, fe(e, s))];
}
function cs(t, e, s) {
  return t === !1 || t === void 0 ? 0 : t === !0 ? Math.max(e, s) : t;
}
function ei(t, e, s) {
  return t.slice(0, 10).reduce((r, a) => {
    let i = a.pressure;
    return e && (i = ms(r, a.distance, s)), (r + i) / 2;
  }, t[0].pressure);
}
function ti(t, e = {}) {
  let { size: s = 16, smoothing: r = 0.5, thinning: a = 0.5, simulatePressure: i = !0, easing: o = (E) => E, start: l = {}, end: u = {}, last: _ = !1 } = e, { cap: c = !0, easing: m = (E) => E * (2 - E) } = l, { cap: y = !0, easing: M = (E) => --E * E * E + 1 } = u;
  if (t.length === 0 || s <= 0) return [];
  let h = t[t.length - 1].runningLength, w = cs(l.taper, s, h), R = cs(u.taper, s, h), S = (s * r) ** 2, x = [], C = [], $ = ei(t, i, s), q = rs(s, a, t[t.length - 1].pressure, o), N, Z = t[0].vector, I = t[0].point, de = I, P = I, Q = de, se = !1;
  for (let E = 0; E < t.length; E++) {
    let { pressure: we } = t[E], { point: K, vector: ge, distance: Ve, runningLength: re } = t[E], xe = E === t.length - 1;
    if (!xe && h - re < 3) continue;
    a ? (i && (we = ms($, Ve, s)), q = rs(s, a, we, o)) : q = s / 2, N === void 0 && (N = q);
    let Qe = re < w ? m(re / w) : 1, Ye = h - re < R ? M((h - re) / R) : 1;
    q = Math.max(0.01, q * Math.min(Qe, Ye));
    let Ce = (xe ? t[E] : t[E + 1]).vector, Se = xe ? 1 : as(ge, Ce), Ie = as(ge, Z) < 0 && !se, Ae = Se !== null && Se < 0;
    if (Ie || Ae) {
      ct(O, Z), lt(O, O, q);
      for (let be = 0; be <= 1; be += 0.07692307692307693) ht(oe, K, O), os(oe, oe, K, Be * be), P = [oe[0], oe[1]], x.push(P), is(le, K, O), os(le, le, K, Be * -be), Q = [le[0], le[1]], C.push(Q);
      I = P, de = Q, Ae && (se = !0);
      continue;
    }
    if (se = !1, xe) {
      ct(O, ge), lt(O, O, q), x.push(he(K, O)), C.push(V(K, O));
      continue;
    }
    Xr(O, Ce, ge, Se), ct(O, O), lt(O, O, q), ht(oe, K, O), P = [oe[0], oe[1]], (E <= 1 || ns(I, P) > S) && (x.push(P), I = P), is(le, K, O), Q = [le[0], le[1]], (E <= 1 || ns(de, Q) > S) && (C.push(Q), de = Q), $ = we, Z = ge;
  }
  let pe = [t[0].point[0], t[0].point[1]], ke = t.length > 1 ? [t[t.length - 1].point[0], t[t.length - 1].point[1]] : V(t[0].point, [1, 1]), _e = [], ve = [];
  if (t.length === 1) {
    if (!(w || R) || _) return Zr(pe, N || q);
  } else {
    w || R && t.length === 1 || (c ? _e.push(...Jr(pe, C[0], 13)) : _e.push(...Vr(pe, x[0], C[0])));
    let E = ks(Hr(t[t.length - 1].vector));
    R || w && t.length === 1 ? ve.push(ke) : y ? ve.push(...Qr(ke, E, q, 29)) : ve.push(...jr(ke, E, q));
  }
  return x.concat(ve, C.reverse(), _e);
}
const us = [0, 0];
function fs(t) {
  return t != null && t >= 0;
}
function si(t, e = {}) {
  let { streamline: s = 0.5, size: r = 16, last: a = !1 } = e;
  if (t.length === 0) return [];
  let i = 0.15 + (1 - s) * 0.85, o = Array.isArray(t[0]) ? t : t.map(({ x: y, y: M, pressure: h = ts }) => [y, M, h]);
  if (o.length === 2) {
    let y = o[1];
    o = o.slice(0, -1);
    for (let M = 1; M < 5; M++) o.push(ls(o[0], y, M / 4));
  }
  o.length === 1 && (o = [...o, [...V(o[0], ss), ...o[0].slice(2)]]);
  let l = [{ point: [o[0][0], o[0][1]], pressure: fs(o[0][2]) ? o[0][2] : 0.25, vector: [...ss], distance: 0, runningLength: 0 }], u = !1, _ = 0, c = l[0], m = o.length - 1;
  for (let y = 1; y < o.length; y++) {
    let M = a && y === m ? [o[y][0], o[y][1]] : ls(c.point, o[y], i);
    if (Kr(c.point, M)) continue;
    let h = Gr(M, c.point);
    if (_ += h, y < m && !u) {
      if (_ < r) continue;
      u = !0;
    }
    ht(us, c.point, M), c = { point: M, pressure: fs(o[y][2]) ? o[y][2] : ts, vector: ws(us), distance: h, runningLength: _ }, l.push(c);
  }
  return l[0].vector = l[1]?.vector || [0, 0], l;
}
function ri(t, e = {}) {
  return ti(si(t, e), e);
}
const ii = "#ff2d6f", ai = 60, hs = 0.02, ni = 64;
function te(t, e) {
  const s = document.createElement("canvas");
  return s.width = t, s.height = e, s;
}
function oi(t) {
  const e = new Path2D();
  if (!t.length) return e;
  e.moveTo(t[0][0], t[0][1]);
  for (let s = 1; s < t.length; s++) {
    const [r, a] = t[s], [i, o] = t[(s + 1) % t.length];
    e.quadraticCurveTo(r, a, (r + i) / 2, (a + o) / 2);
  }
  return e.closePath(), e;
}
let li = 1;
class ci {
  constructor(e, { on_change: s, on_state: r }) {
    this.display = e, this.ctx = e.getContext("2d"), this.on_change = s, this.on_state = r, this.width = 0, this.height = 0, this.background = null, this.background_url = null, this.layers = [], this.active = null, this.view = { scale: 1, ox: 0, oy: 0 }, this.tool = "brush", this.brush = { size: 12, opacity: 1, hardness: 1, color: "#000000", pressure: "size" }, this.undo_stack = [], this.redo_stack = [], this.stroke = null, this.stroke_canvas = null, this.work_canvas = null, this.frame = 0, this.dpr = window.devicePixelRatio || 1, this.backdrop = null;
  }
  // ------------------------------------------------------------------ document
  has_page() {
    return this.width > 0 && this.height > 0;
  }
  new_layer(e) {
    const s = te(this.width, this.height);
    return {
      id: li++,
      name: e.name,
      kind: e.kind || "paint",
      canvas: s,
      visible: e.visible !== !1,
      opacity: e.opacity ?? (e.kind === "mask" ? 0.55 : 1),
      url: null,
      dirty: !0
    };
  }
  // A new page: background (canvas or null), size, and the given layer specs, all empty. History is kept
  // only when `undoable` (an upload can be undone; a value set by Python starts a new history).
  set_page(e, s, r, a, i, o) {
    const l = o ? this.snapshot() : null;
    if (this.width = e, this.height = s, this.background = r, this.background_url = a, this.layers = i.map((u) => this.new_layer(u)), this.stroke_canvas = te(e, s), this.work_canvas = te(e, s), this.layers.some((u) => u.id === this.active) || (this.active = this.layers.length ? this.layers[this.layers.length - 1].id : null), l) {
      const u = this.snapshot();
      this.push({ undo: () => this.restore(l), redo: () => this.restore(u) });
    } else
      this.undo_stack = [], this.redo_stack = [];
    this.fit(), this.changed();
  }
  snapshot() {
    return {
      width: this.width,
      height: this.height,
      background: this.background,
      background_url: this.background_url,
      active: this.active,
      layers: this.layers.map((e) => {
        const s = te(e.canvas.width, e.canvas.height);
        return s.getContext("2d").drawImage(e.canvas, 0, 0), { ...e, canvas: s };
      })
    };
  }
  restore(e) {
    const s = e.width !== this.width || e.height !== this.height;
    this.width = e.width, this.height = e.height, this.background = e.background, this.background_url = e.background_url, this.active = e.active, this.layers = e.layers.map((r) => {
      const a = te(r.canvas.width, r.canvas.height);
      return a.getContext("2d").drawImage(r.canvas, 0, 0), { ...r, canvas: a, dirty: !0 };
    }), s && (this.stroke_canvas = te(this.width, this.height), this.work_canvas = te(this.width, this.height), this.fit()), this.changed();
  }
  layer(e) {
    return this.layers.find((s) => s.id === e) || null;
  }
  layer_named(e) {
    return this.layers.find((s) => s.name === e) || null;
  }
  // ------------------------------------------------------------------ history
  push(e) {
    this.undo_stack.push(e), this.undo_stack.length > ai && this.undo_stack.shift(), this.redo_stack = [];
  }
  undo() {
    const e = this.undo_stack.pop();
    return e ? (e.undo(), this.redo_stack.push(e), this.changed(), !0) : !1;
  }
  redo() {
    const e = this.redo_stack.pop();
    return e ? (e.redo(), this.undo_stack.push(e), this.changed(), !0) : !1;
  }
  // Layer-property edits (hide, opacity, order, add) go through here so each is one undoable step.
  edit(e, s) {
    e(), this.push({ undo: s, redo: e }), this.changed();
  }
  put_region(e, s, r) {
    e.canvas.getContext("2d").putImageData(r, s.x, s.y), e.dirty = !0;
  }
  clear_layer(e) {
    const s = this.layer(e);
    if (!s) return;
    const r = { x: 0, y: 0, w: this.width, h: this.height }, i = s.canvas.getContext("2d").getImageData(0, 0, r.w, r.h), o = () => {
      s.canvas.getContext("2d").clearRect(0, 0, r.w, r.h), s.dirty = !0;
    };
    o(), this.push({ undo: () => this.put_region(s, r, i), redo: o }), this.changed();
  }
  add_layer(e = "paint") {
    const s = this.layers.filter((o) => o.kind === e).length, r = this.new_layer({ name: `${e}-${s + 1}`, kind: e }), a = this.layers.length, i = this.active;
    this.edit(
      () => {
        this.layers.splice(a, 0, r), this.active = r.id;
      },
      () => {
        this.layers = this.layers.filter((o) => o !== r), this.active = i;
      }
    );
  }
  set_visible(e, s) {
    const r = this.layer(e);
    !r || r.visible === s || this.edit(
      () => r.visible = s,
      () => r.visible = !s
    );
  }
  set_opacity(e, s) {
    const r = this.layer(e);
    if (!r || r.opacity === s) return;
    const a = r.opacity;
    this.edit(
      () => r.opacity = s,
      () => r.opacity = a
    );
  }
  move_layer(e, s) {
    const r = this.layers.findIndex((l) => l.id === e), a = r + s;
    if (r < 0 || a < 0 || a >= this.layers.length) return;
    const i = this.layers.slice(), o = () => {
      const l = i.slice();
      [l[r], l[a]] = [l[a], l[r]], this.layers = l;
    };
    this.edit(o, () => this.layers = i.slice());
  }
  // ------------------------------------------------------------------ strokes
  doc_point(e, s) {
    const r = this.display.getBoundingClientRect();
    return [
      (e - r.left - this.view.ox) / this.view.scale,
      (s - r.top - this.view.oy) / this.view.scale
    ];
  }
  begin_stroke(e, s, r, a) {
    const i = this.layer(this.active);
    return !i || !this.has_page() ? !1 : (this.stroke = { points: [[e, s, r]], pen: a, layer: i, eraser: this.tool === "eraser", firmest: r }, this.draw_stroke(!1), !0);
  }
  extend_stroke(e, s, r) {
    this.stroke && (this.stroke.points.push([e, s, r]), this.stroke.firmest = Math.max(this.stroke.firmest, r), this.draw_stroke(!1));
  }
  stroke_size() {
    return Math.max(0.5, this.brush.size / this.view.scale);
  }
  pressure_drives(e, s = this.stroke) {
    return s.pen && (this.brush.pressure === e || this.brush.pressure === "both");
  }
  // One opacity per stroke, from the firmest pressure it reached: overlaps within a stroke never build up
  // (as with the opacity slider), and the preview only ever darkens while the pen presses harder.
  stroke_alpha(e) {
    const s = this.pressure_drives("opacity", e) ? e.firmest : 1;
    return this.brush.opacity * (0.1 + 0.9 * s);
  }
  stroke_options(e) {
    const s = this.pressure_drives("size") ? 0.7 : 0;
    return {
      size: this.stroke_size() / (1 + s),
      thinning: s,
      smoothing: 0.5,
      streamline: this.stroke.pen ? 0.3 : 0.45,
      simulatePressure: !1,
      last: e,
      start: { cap: !0 },
      end: { cap: !0 }
    };
  }
  draw_stroke(e) {
    const s = this.stroke, r = this.stroke_canvas.getContext("2d");
    if (r.clearRect(0, 0, this.width, this.height), r.fillStyle = s.layer.kind === "mask" ? ii : this.brush.color, s.points.length === 1) {
      const [a, i, o] = s.points[0], l = this.stroke_size() / 2 * (this.pressure_drives("size") ? 0.3 + 0.7 * o : 1);
      r.beginPath(), r.arc(a, i, Math.max(0.35, l), 0, Math.PI * 2), r.fill();
    } else
      r.fill(oi(ri(s.points, this.stroke_options(e))));
    this.request_render();
  }
  stroke_box() {
    const e = this.stroke_size() + 4 + this.blur_radius() * 3;
    let s = 1 / 0, r = 1 / 0, a = -1 / 0, i = -1 / 0;
    for (const [c, m] of this.stroke.points)
      s = Math.min(s, c), r = Math.min(r, m), a = Math.max(a, c), i = Math.max(i, m);
    const o = Math.max(0, Math.floor(s - e)), l = Math.max(0, Math.floor(r - e)), u = Math.min(this.width, Math.ceil(a + e)) - o, _ = Math.min(this.height, Math.ceil(i + e)) - l;
    return { x: o, y: l, w: u, h: _ };
  }
  blur_radius() {
    return (1 - this.brush.hardness) * this.stroke_size() * 0.25;
  }
  apply_stroke_to(e, s) {
    e.save(), e.globalAlpha = this.stroke_alpha(s), e.globalCompositeOperation = s.eraser ? "destination-out" : "source-over";
    const r = this.blur_radius();
    r > 0.2 && (e.filter = `blur(${r}px)`), e.drawImage(this.stroke_canvas, 0, 0), e.restore();
  }
  end_stroke() {
    const e = this.stroke;
    if (!e) return;
    this.draw_stroke(!0);
    const s = this.stroke_box();
    if (this.stroke = null, s.w > 0 && s.h > 0) {
      const r = e.layer.canvas.getContext("2d"), a = r.getImageData(s.x, s.y, s.w, s.h);
      this.apply_stroke_to(r, e);
      const i = r.getImageData(s.x, s.y, s.w, s.h);
      e.layer.dirty = !0;
      const o = e.layer;
      this.push({
        undo: () => this.put_region(o, s, a),
        redo: () => this.put_region(o, s, i)
      });
    }
    this.stroke_canvas.getContext("2d").clearRect(0, 0, this.width, this.height), this.changed();
  }
  cancel_stroke() {
    this.stroke && (this.stroke = null, this.stroke_canvas.getContext("2d").clearRect(0, 0, this.width, this.height), this.request_render());
  }
  // The colour the artist sees at a page point: background and visible paint layers.
  pick(e, s) {
    if (e < 0 || s < 0 || e >= this.width || s >= this.height) return null;
    const a = te(1, 1).getContext("2d", { willReadFrequently: !0 });
    a.fillStyle = "#ffffff", a.fillRect(0, 0, 1, 1), this.background && a.drawImage(this.background, -Math.floor(e), -Math.floor(s));
    for (const u of this.layers)
      !u.visible || u.kind === "mask" || (a.globalAlpha = u.opacity, a.drawImage(u.canvas, -Math.floor(e), -Math.floor(s)));
    const [i, o, l] = a.getImageData(0, 0, 1, 1).data;
    return "#" + [i, o, l].map((u) => u.toString(16).padStart(2, "0")).join("");
  }
  // ------------------------------------------------------------------ view
  resize_display(e, s) {
    this.dpr = window.devicePixelRatio || 1, this.display.width = Math.max(1, Math.round(e * this.dpr)), this.display.height = Math.max(1, Math.round(s * this.dpr)), this.css_w = e, this.css_h = s, this.request_render();
  }
  fit() {
    if (!this.has_page() || !this.css_w) return;
    const e = 24, s = Math.max(hs, Math.min((this.css_w - e) / this.width, (this.css_h - e) / this.height));
    this.set_view(s, (this.css_w - this.width * s) / 2, (this.css_h - this.height * s) / 2);
  }
  actual_size() {
    const e = this.css_w / 2, s = this.css_h / 2;
    this.zoom_at(e, s, 1 / this.view.scale);
  }
  zoom_at(e, s, r) {
    const a = Math.min(ni, Math.max(hs, this.view.scale * r)), i = a / this.view.scale;
    this.set_view(a, e - (e - this.view.ox) * i, s - (s - this.view.oy) * i);
  }
  pan_by(e, s) {
    this.set_view(this.view.scale, this.view.ox + e, this.view.oy + s);
  }
  set_view(e, s, r) {
    this.view = { scale: e, ox: s, oy: r }, this.request_render(), this.on_state();
  }
  // ------------------------------------------------------------------ rendering
  changed() {
    this.request_render(), this.on_state(), this.on_change();
  }
  request_render() {
    this.frame || (this.frame = requestAnimationFrame(() => {
      this.frame = 0, this.render();
    }));
  }
  backdrop_pattern() {
    if (!this.backdrop) {
      const e = te(16, 16), s = e.getContext("2d");
      s.fillStyle = "#9a9a9a", s.fillRect(0, 0, 16, 16), s.fillStyle = "#8a8a8a", s.fillRect(0, 0, 8, 8), s.fillRect(8, 8, 8, 8), this.backdrop = this.ctx.createPattern(e, "repeat");
    }
    return this.backdrop;
  }
  render() {
    const e = this.ctx, { scale: s, ox: r, oy: a } = this.view;
    if (e.setTransform(1, 0, 0, 1, 0, 0), e.fillStyle = this.backdrop_pattern(), e.fillRect(0, 0, this.display.width, this.display.height), !this.has_page()) return;
    const i = this.dpr;
    e.setTransform(i * s, 0, 0, i * s, i * r, i * a), e.imageSmoothingEnabled = s < 2, e.fillStyle = "#ffffff", e.globalAlpha = 1, this.background ? e.drawImage(this.background, 0, 0) : (e.fillStyle = "#f4f4f4", e.fillRect(0, 0, this.width, this.height));
    for (const c of this.layers) {
      if (!c.visible) continue;
      let m = c.canvas;
      if (this.stroke && this.stroke.layer === c) {
        const y = this.work_canvas.getContext("2d");
        y.clearRect(0, 0, this.width, this.height), y.drawImage(c.canvas, 0, 0), this.apply_stroke_to(y, this.stroke), m = this.work_canvas;
      }
      e.globalAlpha = c.opacity, e.drawImage(m, 0, 0);
    }
    e.globalAlpha = 1, e.setTransform(i, 0, 0, i, 0, 0);
    const o = r, l = a, u = this.width * s, _ = this.height * s;
    e.lineWidth = 1, e.strokeStyle = "rgba(0,0,0,0.85)", e.strokeRect(Math.round(o) - 0.5, Math.round(l) - 0.5, Math.round(u) + 1, Math.round(_) + 1), e.strokeStyle = "rgba(255,255,255,0.9)", e.strokeRect(Math.round(o) - 1.5, Math.round(l) - 1.5, Math.round(u) + 3, Math.round(_) + 3);
  }
  // ------------------------------------------------------------------ value
  // Layers changed since the last call are encoded again; the others reuse their PNG.
  encode() {
    return this.has_page() ? {
      width: this.width,
      height: this.height,
      background: this.background_url,
      layers: this.layers.map((e) => (e.dirty && (e.url = e.canvas.toDataURL("image/png"), e.dirty = !1), { name: e.name, kind: e.kind, png: e.url, visible: e.visible, opacity: e.opacity }))
    } : null;
  }
}
var ui = /* @__PURE__ */ X('<span class="lc-label svelte-49zqag"> </span>'), fi = /* @__PURE__ */ X('<button type="button"> </button>'), hi = /* @__PURE__ */ X('<button type="button"></button>'), di = /* @__PURE__ */ X('<button type="button" data-canvas-action="upload" title="Open a picture as the background (or drop / paste it)" class="svelte-49zqag">Upload</button>'), pi = /* @__PURE__ */ X(`<!> <label class="lc-field svelte-49zqag" title="Brush size in screen pixels ([ and ])">Size <input type="range" min="1" max="200" data-canvas-field="size" class="svelte-49zqag"/> <span data-canvas-readout="size"> </span></label> <label class="lc-field svelte-49zqag">Opacity <input type="range" min="0.05" max="1" step="0.05" data-canvas-field="opacity" class="svelte-49zqag"/></label> <label class="lc-field svelte-49zqag" title="What a pen's pressure changes (a mouse always draws at full pressure)">Pressure <select data-canvas-field="pressure" class="svelte-49zqag"><option>size</option><option>opacity</option><option>both</option></select></label> <label class="lc-field svelte-49zqag">Hardness <input type="range" min="0" max="1" step="0.05" data-canvas-field="hardness" class="svelte-49zqag"/></label> <span class="lc-swatches svelte-49zqag"><!> <input type="color" data-canvas-field="colour" title="Pick a colour"/></span> <span class="lc-sep svelte-49zqag"></span> <button type="button" data-canvas-action="undo" title="Undo (Ctrl+Z)" class="svelte-49zqag">Undo</button> <button type="button" data-canvas-action="redo" title="Redo (Ctrl+Shift+Z, Ctrl+Y)" class="svelte-49zqag">Redo</button> <button type="button" data-canvas-action="clear" title="Clear the selected layer (Ctrl+Z brings it back)" class="svelte-49zqag">Clear</button> <span class="lc-sep svelte-49zqag"></span> <button type="button" data-canvas-action="fit" title="Fit the page (F)" class="svelte-49zqag">Fit</button> <button type="button" data-canvas-action="actual" title="One picture pixel per screen pixel" class="svelte-49zqag">100%</button> <span class="lc-zoom" data-canvas-readout="zoom"> </span> <!> <button type="button" data-canvas-action="help" title="Shortcuts (?)" class="svelte-49zqag">?</button>`, 1), _i = /* @__PURE__ */ X('<div class="lc-empty svelte-49zqag">Drop a picture here, paste it, or press Upload.</div>'), vi = /* @__PURE__ */ X('<div class="lc-help svelte-49zqag" role="dialog" aria-label="Canvas shortcuts" data-canvas-help=""><b>Canvas shortcuts</b> (while the pointer or focus is on the canvas) <ul><li><kbd class="svelte-49zqag">B</kbd> brush, <kbd class="svelte-49zqag">E</kbd> eraser, <kbd class="svelte-49zqag">I</kbd> eyedropper</li> <li><kbd class="svelte-49zqag">[</kbd> / <kbd class="svelte-49zqag">]</kbd> smaller / bigger brush</li> <li><kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Z</kbd> undo; <kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Shift</kbd>+<kbd class="svelte-49zqag">Z</kbd> or <kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Y</kbd> redo</li> <li><kbd class="svelte-49zqag">Space</kbd>+drag or middle button: pan; wheel: zoom at the pointer; <kbd class="svelte-49zqag">F</kbd> fit</li> <li>Touch: two fingers pinch to zoom and drag to pan</li> <li><kbd class="svelte-49zqag">?</kbd> this help, <kbd class="svelte-49zqag">Esc</kbd> closes it</li></ul></div>'), gi = /* @__PURE__ */ X('<div><input type="checkbox" title="Show" data-layer-action="visible" class="svelte-49zqag"/> <button type="button" class="lc-layer-name svelte-49zqag" data-layer-action="select"> <small class="svelte-49zqag"> </small></button> <button type="button" title="Up" data-layer-action="up" class="svelte-49zqag">▲</button> <button type="button" title="Down" data-layer-action="down" class="svelte-49zqag">▼</button> <input type="range" min="0" max="1" step="0.05" title="Layer opacity" data-layer-action="opacity" class="svelte-49zqag"/></div>'), bi = /* @__PURE__ */ X('<button type="button" data-canvas-action="add-layer" class="svelte-49zqag">+ Paint layer</button>'), yi = /* @__PURE__ */ X("<!> <!>", 1), mi = /* @__PURE__ */ X('<div class="lc-message svelte-49zqag" role="alert" data-canvas-message=""> </div>'), ki = /* @__PURE__ */ X('<div><!> <div class="lc-root svelte-49zqag" tabindex="0" role="application" aria-label="Drawing canvas"><div class="lc-toolbar svelte-49zqag"><!></div> <div class="lc-main svelte-49zqag"><div><canvas class="lc-surface svelte-49zqag" data-canvas-surface=""></canvas> <div></div> <!> <!></div> <div class="lc-layers svelte-49zqag" data-canvas-layers=""><!></div></div> <!> <input type="file" accept="image/*" class="hidden svelte-49zqag"/></div></div>');
function xi(t, e) {
  vr(e, !0);
  var s = this && this.__awaiter || function(n, f, p, d) {
    function z(g) {
      return g instanceof p ? g : new p(function(b) {
        b(g);
      });
    }
    return new (p || (p = Promise))(function(g, b) {
      function H(T) {
        try {
          U(d.next(T));
        } catch (J) {
          b(J);
        }
      }
      function W(T) {
        try {
          U(d.throw(T));
        } catch (J) {
          b(J);
        }
      }
      function U(T) {
        T.done ? g(T.value) : z(T.value).then(H, W);
      }
      U((d = d.apply(n, f || [])).next());
    });
  };
  class r extends Ur {
    constructor() {
      super(...arguments), this.flush = () => {
      };
    }
    get_data() {
      const f = Object.create(null, { get_data: { get: () => super.get_data } });
      return s(this, void 0, void 0, function* () {
        return this.flush(), f.get_data.call(this);
      });
    }
  }
  const a = /* @__PURE__ */ Lr(e, ["$$slots", "$$events", "$$legacy"]), i = new r(a);
  let o, l, u, _, c, m = ce(
    0
    // bumped when the engine's toolbar state changes
  ), y = ce(!1), M = ce(""), h = ce(!1), w = null, R = null;
  const S = /* @__PURE__ */ new Map();
  let x = null, C = null, $ = ce(!1), q = "", N = 0, Z = !1, I;
  const de = () => i.props.layers || [{ name: "paint", kind: "paint" }];
  function P() {
    _r(m);
  }
  function Q() {
    F($, !0), clearTimeout(C), C = setTimeout(se, 180);
  }
  function se(n = "change") {
    clearTimeout(C);
    const f = c.encode();
    q = `${Date.now()}-${++N}`, f && (f.token = q), i.props.value = f, F($, !1), i.dispatch("change"), i.dispatch("input"), n !== "change" && i.dispatch(n);
  }
  function pe(n) {
    return new Promise((f, p) => {
      const d = new Image();
      d.onload = () => f(d), d.onerror = () => p(new Error("not a picture")), d.src = n;
    });
  }
  function ke(n, f, p) {
    const d = document.createElement("canvas");
    return d.width = f, d.height = p, d.getContext("2d").drawImage(n, 0, 0), d;
  }
  function _e(n, f) {
    var p;
    const d = (p = i.props.brush_fraction) !== null && p !== void 0 ? p : 0.02;
    c.brush.size = Math.max(1, Math.round(Math.min(n, f) * d * c.view.scale));
  }
  function ve(n) {
    return s(this, void 0, void 0, function* () {
      if (n && n.token && n.token === q) return;
      if (!n) {
        c.set_page(0, 0, null, null, [], !1);
        return;
      }
      const f = n.background ? ke(yield pe(n.background), n.width, n.height) : null, p = new Map((n.layers || []).map((g) => [g.name, g])), d = de().map((g) => Object.assign(Object.assign({}, g), p.get(g.name) || {}));
      for (const g of n.layers || []) d.some((b) => b.name === g.name) || d.push(g);
      c.set_page(n.width, n.height, f, n.background || null, d, !1);
      for (const g of d) {
        if (!g.png) continue;
        const b = c.layer_named(g.name);
        b?.canvas.getContext("2d").drawImage(yield pe(g.png), 0, 0), b && (b.dirty = !0);
      }
      const z = c.layer_named(i.props.active_layer);
      z && (c.active = z.id), _e(n.width, n.height), c.changed(), F($, !1), clearTimeout(C);
    });
  }
  function E(n) {
    return s(this, void 0, void 0, function* () {
      var f;
      if (F(M, ""), !n.type.startsWith("image/")) {
        F(M, `${n.name} is not a picture. Drop a PNG, JPEG or WebP picture.`);
        return;
      }
      const p = yield new Promise((U) => {
        const T = new FileReader();
        T.onload = () => U(T.result), T.readAsDataURL(n);
      });
      let d;
      try {
        d = yield pe(p);
      } catch {
        F(M, `${n.name} could not be read as a picture; it may be damaged.`);
        return;
      }
      const z = (f = i.props.max_side) !== null && f !== void 0 ? f : 4096;
      if (Math.max(d.naturalWidth, d.naturalHeight) > z) {
        F(M, `The picture is ${d.naturalWidth}x${d.naturalHeight} pixels, over the limit of ${z} per side. Scale it down first.`);
        return;
      }
      const g = d.naturalWidth, b = d.naturalHeight, H = ke(d, g, b);
      c.set_page(g, b, H, H.toDataURL("image/png"), de(), !0);
      const W = c.layer_named(i.props.active_layer);
      W && (c.active = W.id), _e(g, b), se("upload");
    });
  }
  function we(n) {
    return n.pointerType === "mouse" || n.pointerType === "touch" && (n.pressure === 0 || n.pressure === 0.5) ? 1 : Math.max(0.02, Math.min(1, n.pressure || 0));
  }
  function K(n) {
    const f = l.getBoundingClientRect();
    return { x: n.clientX - f.left, y: n.clientY - f.top };
  }
  function ge(n) {
    if (o.focus({ preventScroll: !0 }), F(y, !1), l.setPointerCapture(n.pointerId), n.pointerType === "touch" && (S.set(n.pointerId, K(n)), S.size === 2)) {
      c.cancel_stroke(), R = null;
      const [d, z] = [...S.values()];
      x = {
        d: Math.hypot(d.x - z.x, d.y - z.y) || 1,
        mx: (d.x + z.x) / 2,
        my: (d.y + z.y) / 2,
        scale: c.view.scale,
        ox: c.view.ox,
        oy: c.view.oy
      };
      return;
    }
    if (n.button === 1 || v(h)) {
      n.preventDefault(), w = K(n);
      return;
    }
    if (n.button !== 0 || R !== null) return;
    const [f, p] = c.doc_point(n.clientX, n.clientY);
    if (c.tool === "picker") {
      const d = c.pick(f, p);
      d && (c.brush.color = d, c.tool = "brush", P());
      return;
    }
    c.begin_stroke(f, p, we(n), n.pointerType !== "mouse") && (R = n.pointerId);
  }
  function Ve(n) {
    const f = K(n), p = c.brush.size;
    if (u.style.transform = `translate(${f.x - p / 2}px, ${f.y - p / 2}px)`, u.style.width = u.style.height = `${p}px`, x && S.has(n.pointerId)) {
      S.set(n.pointerId, f);
      const [z, g] = [...S.values()], b = Math.hypot(z.x - g.x, z.y - g.y) || 1, H = (z.x + g.x) / 2, W = (z.y + g.y) / 2, U = Math.min(64, Math.max(0.02, x.scale * (b / x.d))), T = U / x.scale;
      c.set_view(U, H - (x.mx - x.ox) * T, W - (x.my - x.oy) * T);
      return;
    }
    if (w) {
      c.pan_by(f.x - w.x, f.y - w.y), w = f;
      return;
    }
    if (R !== n.pointerId) return;
    const d = typeof n.getCoalescedEvents == "function" ? n.getCoalescedEvents() : [];
    for (const z of d.length ? d : [n]) {
      const [g, b] = c.doc_point(z.clientX, z.clientY);
      c.extend_stroke(g, b, we(z));
    }
  }
  function re(n) {
    S.delete(n.pointerId), S.size < 2 && (x = null), w && (w = null), R === n.pointerId && (R = null, c.end_stroke());
  }
  function xe() {
    v($) && R === null && se();
  }
  function Qe(n) {
    n.preventDefault();
    const f = K(n);
    n.ctrlKey || !n.shiftKey ? c.zoom_at(f.x, f.y, Math.exp(-n.deltaY * 15e-4)) : c.pan_by(-n.deltaY, 0);
  }
  function Ye(n) {
    if (!n) return !1;
    const f = n.tagName;
    return n.isContentEditable || f === "TEXTAREA" || f === "INPUT" && !["range", "checkbox", "button", "color", "file"].includes(n.type);
  }
  function Ce() {
    if (!o || !o.getClientRects().length) return !1;
    const n = document.activeElement;
    return (o.contains(n) || o.matches(":hover")) && !Ye(n);
  }
  function Se(n) {
    if (c.active = n.id, n.kind === "region") {
      const f = c.layers.filter((d) => d.kind === "region").indexOf(n), p = (i.props.colors || [])[f];
      p && (c.brush.color = p);
    }
    P();
  }
  function Ie(n, f = !0) {
    c.brush.size = Math.max(1, Math.min(400, Math.round(n))), u.style.width = u.style.height = `${c.brush.size}px`, f && P();
  }
  function Ae(n) {
    if (n.key === "Escape" && v(y)) {
      F(y, !1);
      return;
    }
    if (!Ce()) return;
    const f = n.ctrlKey || n.metaKey, p = n.key.toLowerCase();
    let d = !0;
    f && p === "z" ? n.shiftKey ? c.redo() : c.undo() : f && p === "y" ? c.redo() : f ? d = !1 : n.key === " " ? F(h, !0) : p === "b" ? (c.tool = "brush", P()) : p === "e" ? (c.tool = "eraser", P()) : p === "i" ? (c.tool = "picker", P()) : n.key === "]" ? Ie(c.brush.size * 1.25 + 1) : n.key === "[" ? Ie(c.brush.size / 1.25) : n.key === "?" || p === "h" ? F(y, !v(y)) : p === "f" ? c.fit() : d = !1, d && (n.preventDefault(), n.stopPropagation());
  }
  function be(n) {
    n.key === " " && F(h, !1);
  }
  function mt(n) {
    var f;
    if (!Ce() || i.props.uploads === !1) return;
    const p = [
      ...((f = n.clipboardData) === null || f === void 0 ? void 0 : f.files) || []
    ].find((d) => d.type.startsWith("image/"));
    p && (n.preventDefault(), E(p));
  }
  function zs(n) {
    var f, p;
    if (n.preventDefault(), i.props.uploads === !1) return;
    const d = (p = (f = n.dataTransfer) === null || f === void 0 ? void 0 : f.files) === null || p === void 0 ? void 0 : p[0];
    d && E(d);
  }
  bs(() => {
    c = new ci(l, { on_change: Q, on_state: P }), i.flush = () => {
      v($) && se();
    }, c.brush.color = i.props.default_color || "#000000", c.brush.pressure = i.props.pressure || "size", I = new ResizeObserver(() => {
      const n = l.getBoundingClientRect();
      c.resize_display(n.width, n.height), !Z && c.has_page() && (Z = !0, c.fit(), _e(c.width, c.height));
    }), I.observe(l), window.addEventListener("keydown", Ae, !0), window.addEventListener("keyup", be, !0), window.addEventListener("paste", mt), l.addEventListener("wheel", Qe, { passive: !1 }), ve(i.props.value);
  }), mr(() => {
    I?.disconnect(), window.removeEventListener("keydown", Ae, !0), window.removeEventListener("keyup", be, !0), window.removeEventListener("paste", mt), clearTimeout(C);
  });
  let kt;
  Te(() => {
    const n = i.props.value;
    !c || n === kt || (kt = n, ve(n).catch((f) => F(M, `The canvas could not show the picture: ${f.message}`)));
  });
  const Ms = [
    { id: "brush", label: "Brush", key: "B" },
    { id: "eraser", label: "Eraser", key: "E" },
    { id: "picker", label: "Eyedropper", key: "I" }
  ], Y = () => (v(m), c);
  var ze = ki();
  let wt, xt;
  var zt = A(ze);
  {
    var qs = (n) => {
      var f = ui(), p = A(f);
      ye(() => me(p, i.shared.label)), G(n, f);
    };
    qe(zt, (n) => {
      i.shared.show_label && i.shared.label && n(qs);
    });
  }
  var Re = k(zt, 2), Mt = A(Re), Es = A(Mt);
  Wt(Es, () => v(m), (n) => {
    var f = pi(), p = Yt(f);
    it(p, 17, () => Ms, Gt, (L, D) => {
      var B = fi();
      B.__click = () => {
        c.tool = v(D).id, P();
      };
      let j;
      var Me = A(B);
      ye(
        (Ne) => {
          ee(B, "data-canvas-action", v(D).id), ee(B, "title", `${v(D).label} (${v(D).key})`), j = Ee(B, 1, "svelte-49zqag", null, j, Ne), me(Me, v(D).label);
        },
        [() => ({ active: Y()?.tool === v(D).id })]
      ), G(L, B);
    });
    var d = k(p, 2), z = k(A(d));
    z.__input = (L) => Ie(+L.currentTarget.value, !1);
    var g = k(z, 2), b = A(g), H = k(d, 2), W = k(A(H));
    W.__input = (L) => {
      c.brush.opacity = +L.currentTarget.value;
    };
    var U = k(H, 2), T = k(A(U));
    T.__change = (L) => {
      c.brush.pressure = L.currentTarget.value, P();
    };
    var J = A(T);
    J.value = J.__value = "size";
    var Le = k(J);
    Le.value = Le.__value = "opacity";
    var Ke = k(Le);
    Ke.value = Ke.__value = "both";
    var Pe;
    qr(T);
    var De = k(U, 2), $e = k(A(De));
    $e.__input = (L) => {
      c.brush.hardness = +L.currentTarget.value;
    };
    var ae = k(De, 2), Rt = A(ae);
    it(Rt, 17, () => i.props.colors || [], Gt, (L, D) => {
      var B = hi();
      let j;
      B.__click = () => {
        c.brush.color = v(D), c.tool === "picker" && (c.tool = "brush"), P();
      };
      let Me;
      ye(
        (Ne) => {
          j = Ee(B, 1, "lc-swatch svelte-49zqag", null, j, Ne), ee(B, "title", v(D)), ee(B, "aria-label", `Colour ${v(D)}`), ee(B, "data-canvas-colour", v(D)), Me = nt(B, "", Me, { background: v(D) });
        },
        [() => ({ active: Y()?.brush.color === v(D) })]
      ), G(L, B);
    });
    var Lt = k(Rt, 2);
    Lt.__input = (L) => {
      c.brush.color = L.currentTarget.value;
    };
    var tt = k(ae, 4);
    tt.__click = () => c.undo();
    var st = k(tt, 2);
    st.__click = () => c.redo();
    var Pt = k(st, 2);
    Pt.__click = () => c.clear_layer(c.active);
    var Dt = k(Pt, 4);
    Dt.__click = () => c.fit();
    var $t = k(Dt, 2);
    $t.__click = () => c.actual_size();
    var Nt = k($t, 2), Ls = A(Nt), Ot = k(Nt, 2);
    {
      var Ps = (L) => {
        var D = di();
        D.__click = () => _.click(), G(L, D);
      };
      qe(Ot, (L) => {
        i.props.uploads !== !1 && L(Ps);
      });
    }
    var Ds = k(Ot, 2);
    Ds.__click = () => F(y, !v(y)), ye(
      (L, D, B, j, Me, Ne, $s, Ns, Os) => {
        Oe(z, L), me(b, D), Oe(W, B), Pe !== (Pe = j) && (T.value = (T.__value = j) ?? "", ys(T, j)), Oe($e, Me), Oe(Lt, Ne), tt.disabled = $s, st.disabled = Ns, me(Ls, `${Os ?? ""}%`);
      },
      [
        () => Y()?.brush.size ?? 12,
        () => Y()?.brush.size ?? "",
        () => Y()?.brush.opacity ?? 1,
        () => Y()?.brush.pressure ?? "size",
        () => Y()?.brush.hardness ?? 1,
        () => Y()?.brush.color ?? "#000000",
        () => !Y()?.undo_stack.length,
        () => !Y()?.redo_stack.length,
        () => Math.round((Y()?.view.scale ?? 1) * 100)
      ]
    ), G(n, f);
  });
  var qt = k(Mt, 2), je = A(qt);
  let Et;
  var ie = A(je);
  ie.__pointerdown = ge, ie.__pointermove = Ve, ie.__pointerup = re, ie.__contextmenu = (n) => n.preventDefault();
  let Tt;
  Ge(ie, (n) => l = n, () => l);
  var et = k(ie, 2);
  let Ct;
  Ge(et, (n) => u = n, () => u);
  var St = k(et, 2);
  {
    var Ts = (n) => {
      var f = _i();
      G(n, f);
    };
    qe(St, (n) => {
      Y()?.has_page() || n(Ts);
    });
  }
  var Cs = k(St, 2);
  {
    var Ss = (n) => {
      var f = vi();
      G(n, f);
    };
    qe(Cs, (n) => {
      v(y) && n(Ss);
    });
  }
  var Is = k(je, 2), As = A(Is);
  Wt(As, () => v(m), (n) => {
    var f = yi(), p = Yt(f);
    it(p, 17, () => [...Y()?.layers || []].reverse(), (g) => g.id, (g, b) => {
      var H = gi();
      let W;
      var U = A(H);
      U.__change = (ae) => c.set_visible(v(b).id, ae.currentTarget.checked);
      var T = k(U, 2);
      T.__click = () => Se(v(b));
      var J = A(T), Le = k(J), Ke = A(Le), Pe = k(T, 2);
      Pe.__click = () => c.move_layer(v(b).id, 1);
      var De = k(Pe, 2);
      De.__click = () => c.move_layer(v(b).id, -1);
      var $e = k(De, 2);
      $e.__change = (ae) => c.set_opacity(v(b).id, +ae.currentTarget.value), ye(
        (ae) => {
          W = Ee(H, 1, "lc-layer svelte-49zqag", null, W, ae), ee(H, "data-layer", v(b).name), ee(H, "data-layer-kind", v(b).kind), Cr(U, v(b).visible), me(J, v(b).name), me(Ke, v(b).kind), Oe($e, v(b).opacity);
        },
        [() => ({ active: v(b).id === Y()?.active })]
      ), G(g, H);
    });
    var d = k(p, 2);
    {
      var z = (g) => {
        var b = bi();
        b.__click = () => c.add_layer("paint"), G(g, b);
      };
      qe(d, (g) => {
        i.props.can_add_layers !== !1 && g(z);
      });
    }
    G(n, f);
  });
  var It = k(qt, 2);
  {
    var Rs = (n) => {
      var f = mi(), p = A(f);
      ye(() => me(p, v(M))), G(n, f);
    };
    qe(It, (n) => {
      v(M) && n(Rs);
    });
  }
  var At = k(It, 2);
  At.__change = (n) => {
    const f = n.currentTarget.files?.[0];
    f && E(f), n.currentTarget.value = "";
  }, Ge(At, (n) => _ = n, () => _), Ge(Re, (n) => o = n, () => o), ye(() => {
    wt = Ee(ze, 1, "lc-block svelte-49zqag", null, wt, { hidden: i.shared.visible === !1 }), ee(ze, "id", i.shared.elem_id), ee(ze, "data-pending", v($) ? "1" : "0"), xt = nt(ze, "", xt, {
      "min-width": i.shared.min_width ? `${i.shared.min_width}px` : void 0
    }), Et = Ee(je, 1, "lc-stage svelte-49zqag", null, Et, { panning: v(h) || w }), Tt = nt(ie, "", Tt, { height: `${i.props.canvas_height ?? 480}px` }), Ct = Ee(et, 1, "lc-cursor svelte-49zqag", null, Ct, { hidden: v(h) });
  }), We("pointerleave", Re, xe), We("dragover", Re, (n) => n.preventDefault()), We("drop", Re, zs), We("pointercancel", ie, re), G(t, ze), pr();
}
dr([
  "click",
  "input",
  "change",
  "pointerdown",
  "pointermove",
  "pointerup",
  "contextmenu"
]);
export {
  xi as default
};
