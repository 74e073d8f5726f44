import { i as is, g as ns, o as Is, a as Re, b as As, T as Rs, c as Ls, d as Ps, e as le, r as ue, f as Xt, p as he, h as Jt, j as Ft, m as Ds, s as os, k as ls, u as St, l as Bt, n as de, E as $s, q as v, t as Le, v as Ns, w as Os, x as Pe, y as Fs, z as Us, A as Bs, B as pe, C as ct, I as ee, D as Hs, F as Ys, L as Ks, N as Ws, G as Gs, H as Xs, J as Zs, K as Js, S as Vs, M as Qs, O as js, P as tr, Q as lt, R as De, U as F, V as er, W as yt, X as Wt, Y as sr, Z as L, _ as k, $ as rr, a0 as ar, a1 as $e, a2 as mt } from "./render-BWHS4s6_.js";
function cs(e) {
  throw new Error("https://svelte.dev/e/lifecycle_outside_component");
}
const ir = [];
function nr(e, t = !1, s = !1) {
  return Zt(e, /* @__PURE__ */ new Map(), "", ir, null, s);
}
function Zt(e, t, s, r, i = null, a = !1) {
  if (typeof e == "object" && e !== null) {
    var o = t.get(e);
    if (o !== void 0) return o;
    if (e instanceof Map) return (
      /** @type {Snapshot<T>} */
      new Map(e)
    );
    if (e instanceof Set) return (
      /** @type {Snapshot<T>} */
      new Set(e)
    );
    if (is(e)) {
      var l = (
        /** @type {Snapshot<any>} */
        Array(e.length)
      );
      t.set(e, l), i !== null && t.set(i, l);
      for (var f = 0; f < e.length; f += 1) {
        var _ = e[f];
        f in e && (l[f] = Zt(_, t, s, r, null, a));
      }
      return l;
    }
    if (ns(e) === Is) {
      l = {}, t.set(e, l), i !== null && t.set(i, l);
      for (var c in e)
        l[c] = Zt(
          // @ts-expect-error
          e[c],
          t,
          s,
          r,
          null,
          a
        );
      return l;
    }
    if (e instanceof Date)
      return (
        /** @type {Snapshot<T>} */
        structuredClone(e)
      );
    if (typeof /** @type {T & { toJSON?: any } } */
    e.toJSON == "function" && !a)
      return Zt(
        /** @type {T & { toJSON(): any } } */
        e.toJSON(),
        t,
        s,
        r,
        // Associate the instance with the toJSON clone
        e
      );
  }
  if (e instanceof EventTarget)
    return (
      /** @type {Snapshot<T>} */
      e
    );
  try {
    return (
      /** @type {Snapshot<T>} */
      structuredClone(e)
    );
  } catch {
    return (
      /** @type {Snapshot<T>} */
      e
    );
  }
}
function or(e) {
  var t = document.createElement("template");
  return t.innerHTML = e.replaceAll("<!>", "<!---->"), t.content;
}
function Ne(e, t) {
  var s = (
    /** @type {Effect} */
    Ps
  );
  s.nodes === null && (s.nodes = { start: e, end: t, a: null, t: null });
}
// @__NO_SIDE_EFFECTS__
function X(e, t) {
  var s = (t & Rs) !== 0, r = (t & Ls) !== 0, i, a = !e.startsWith("<!>");
  return () => {
    i === void 0 && (i = or(a ? e : "<!>" + e), s || (i = /** @type {TemplateNode} */
    Re(i)));
    var o = (
      /** @type {TemplateNode} */
      r || As ? document.importNode(i, !0) : i.cloneNode(!0)
    );
    if (s) {
      var l = (
        /** @type {TemplateNode} */
        Re(o)
      ), f = (
        /** @type {TemplateNode} */
        o.lastChild
      );
      Ne(l, f);
    } else
      Ne(o, o);
    return o;
  };
}
function G(e, t) {
  e !== null && e.before(
    /** @type {Node} */
    t
  );
}
class fs {
  /** @type {TemplateNode} */
  anchor;
  /** @type {Map<Batch, Key>} */
  #e = /* @__PURE__ */ new Map();
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
  #t = /* @__PURE__ */ new Map();
  /**
   * Keys of effects that are currently outroing
   * @type {Set<Key>}
   */
  #r = /* @__PURE__ */ new Set();
  /**
   * Whether to pause (i.e. outro) on change, or destroy immediately.
   * This is necessary for `<svelte:element>`
   */
  #a = !0;
  /**
   * @param {TemplateNode} anchor
   * @param {boolean} transition
   */
  constructor(t, s = !0) {
    this.anchor = t, this.#a = s;
  }
  #i = () => {
    var t = (
      /** @type {Batch} */
      le
    );
    if (this.#e.has(t)) {
      var s = (
        /** @type {Key} */
        this.#e.get(t)
      ), r = this.#s.get(s);
      if (r)
        ue(r), this.#r.delete(s);
      else {
        var i = this.#t.get(s);
        i && (this.#s.set(s, i.effect), this.#t.delete(s), i.fragment.lastChild.remove(), this.anchor.before(i.fragment), r = i.effect);
      }
      for (const [a, o] of this.#e) {
        if (this.#e.delete(a), a === t)
          break;
        const l = this.#t.get(o);
        l && (Xt(l.effect), this.#t.delete(o));
      }
      for (const [a, o] of this.#s) {
        if (a === s || this.#r.has(a)) continue;
        const l = () => {
          if (Array.from(this.#e.values()).includes(a)) {
            var _ = document.createDocumentFragment();
            Ds(o, _), _.append(Jt()), this.#t.set(a, { effect: o, fragment: _ });
          } else
            Xt(o);
          this.#r.delete(a), this.#s.delete(a);
        };
        this.#a || !r ? (this.#r.add(a), he(o, l, !1)) : l();
      }
    }
  };
  /**
   * @param {Batch} batch
   */
  #n = (t) => {
    this.#e.delete(t);
    const s = Array.from(this.#e.values());
    for (const [r, i] of this.#t)
      s.includes(r) || (Xt(i.effect), this.#t.delete(r));
  };
  /**
   *
   * @param {any} key
   * @param {null | ((target: TemplateNode) => void)} fn
   */
  ensure(t, s) {
    var r = (
      /** @type {Batch} */
      le
    ), i = os();
    if (s && !this.#s.has(t) && !this.#t.has(t))
      if (i) {
        var a = document.createDocumentFragment(), o = Jt();
        a.append(o), this.#t.set(t, {
          effect: Ft(() => s(o)),
          fragment: a
        });
      } else
        this.#s.set(
          t,
          Ft(() => s(this.anchor))
        );
    if (this.#e.set(r, t), i) {
      for (const [l, f] of this.#s)
        l === t ? r.skipped_effects.delete(f) : r.skipped_effects.add(f);
      for (const [l, f] of this.#t)
        l === t ? r.skipped_effects.delete(f.effect) : r.skipped_effects.add(f.effect);
      r.oncommit(this.#i), r.ondiscard(this.#n);
    } else
      this.#i();
  }
}
function us(e) {
  ls === null && cs(), St(() => {
    const t = Bt(e);
    if (typeof t == "function") return (
      /** @type {() => void} */
      t
    );
  });
}
function lr(e) {
  ls === null && cs(), us(() => () => Bt(e));
}
function Tt(e, t, s = !1) {
  var r = new fs(e), i = s ? $s : 0;
  function a(o, l) {
    r.ensure(o, l);
  }
  de(() => {
    var o = !1;
    t((l, f = !0) => {
      o = !0, a(f, l);
    }), o || a(!1, null);
  }, i);
}
function Oe(e, t, s) {
  var r = new fs(e);
  de(() => {
    var i = t();
    r.ensure(i, s);
  });
}
function Fe(e, t) {
  return t;
}
function cr(e, t, s) {
  for (var r = [], i = t.length, a, o = t.length, l = 0; l < i; l++) {
    let m = t[l];
    he(
      m,
      () => {
        if (a) {
          if (a.pending.delete(m), a.done.add(m), a.pending.size === 0) {
            var y = (
              /** @type {Set<EachOutroGroup>} */
              e.outrogroups
            );
            ce(pe(a.done)), y.delete(a), y.size === 0 && (e.outrogroups = null);
          }
        } else
          o -= 1;
      },
      !1
    );
  }
  if (o === 0) {
    var f = r.length === 0 && s !== null;
    if (f) {
      var _ = (
        /** @type {Element} */
        s
      ), c = (
        /** @type {Element} */
        _.parentNode
      );
      Hs(c), c.append(_), e.items.clear();
    }
    ce(t, !f);
  } else
    a = {
      pending: new Set(t),
      done: /* @__PURE__ */ new Set()
    }, (e.outrogroups ??= /* @__PURE__ */ new Set()).add(a);
}
function ce(e, t = !0) {
  for (var s = 0; s < e.length; s++)
    Xt(e[s], t);
}
var Ue;
function se(e, t, s, r, i, a = null) {
  var o = e, l = /* @__PURE__ */ new Map(), f = null, _ = Ns(() => {
    var w = s();
    return is(w) ? w : w == null ? [] : pe(w);
  }), c, m = !0;
  function y() {
    h.fallback = f, fr(h, c, o, t, r), f !== null && (c.length === 0 ? (f.f & ct) === 0 ? ue(f) : (f.f ^= ct, Ot(f, null, o)) : he(f, () => {
      f = null;
    }));
  }
  var M = de(() => {
    c = /** @type {V[]} */
    v(_);
    for (var w = c.length, A = /* @__PURE__ */ new Set(), C = (
      /** @type {Batch} */
      le
    ), x = os(), T = 0; T < w; T += 1) {
      var P = c[T], q = r(P, T), D = m ? null : l.get(q);
      D ? (D.v && Le(D.v, P), D.i && Le(D.i, T), x && C.skipped_effects.delete(D.e)) : (D = ur(
        l,
        m ? o : Ue ??= Jt(),
        P,
        q,
        T,
        i,
        t,
        s
      ), m || (D.e.f |= ct), l.set(q, D)), A.add(q);
    }
    if (w === 0 && a && !f && (m ? f = Ft(() => a(o)) : (f = Ft(() => a(Ue ??= Jt())), f.f |= ct)), !m)
      if (x) {
        for (const [Z, I] of l)
          A.has(Z) || C.skipped_effects.add(I.e);
        C.oncommit(y), C.ondiscard(() => {
        });
      } else
        y();
    v(_);
  }), h = { effect: M, items: l, outrogroups: null, fallback: f };
  m = !1;
}
function fr(e, t, s, r, i) {
  var a = t.length, o = e.items, l = e.effect.first, f, _ = null, c = [], m = [], y, M, h, w;
  for (w = 0; w < a; w += 1) {
    if (y = t[w], M = i(y, w), h = /** @type {EachItem} */
    o.get(M).e, e.outrogroups !== null)
      for (const I of e.outrogroups)
        I.pending.delete(h), I.done.delete(h);
    if ((h.f & ct) !== 0)
      if (h.f ^= ct, h === l)
        Ot(h, null, s);
      else {
        var A = _ ? _.next : l;
        h === e.effect.last && (e.effect.last = h.prev), h.prev && (h.prev.next = h.next), h.next && (h.next.prev = h.prev), it(e, _, h), it(e, h, A), Ot(h, A, s), _ = h, c = [], m = [], l = _.next;
        continue;
      }
    if ((h.f & ee) !== 0 && ue(h), h !== l) {
      if (f !== void 0 && f.has(h)) {
        if (c.length < m.length) {
          var C = m[0], x;
          _ = C.prev;
          var T = c[0], P = c[c.length - 1];
          for (x = 0; x < c.length; x += 1)
            Ot(c[x], C, s);
          for (x = 0; x < m.length; x += 1)
            f.delete(m[x]);
          it(e, T.prev, P.next), it(e, _, T), it(e, P, C), l = C, _ = P, w -= 1, c = [], m = [];
        } else
          f.delete(h), Ot(h, l, s), it(e, h.prev, h.next), it(e, h, _ === null ? e.effect.first : _.next), it(e, _, h), _ = h;
        continue;
      }
      for (c = [], m = []; l !== null && l !== h; )
        (f ??= /* @__PURE__ */ new Set()).add(l), m.push(l), l = l.next;
      if (l === null)
        continue;
    }
    (h.f & ct) === 0 && c.push(h), _ = h, l = h.next;
  }
  if (e.outrogroups !== null) {
    for (const I of e.outrogroups)
      I.pending.size === 0 && (ce(pe(I.done)), e.outrogroups?.delete(I));
    e.outrogroups.size === 0 && (e.outrogroups = null);
  }
  if (l !== null || f !== void 0) {
    var q = [];
    if (f !== void 0)
      for (h of f)
        (h.f & ee) === 0 && q.push(h);
    for (; l !== null; )
      (l.f & ee) === 0 && l !== e.fallback && q.push(l), l = l.next;
    var D = q.length;
    if (D > 0) {
      var Z = null;
      cr(e, q, Z);
    }
  }
}
function ur(e, t, s, r, i, a, o, l) {
  var f = (o & Fs) !== 0 ? (o & Us) === 0 ? Bs(s, !1, !1) : Pe(s) : null, _ = (o & Os) !== 0 ? Pe(i) : null;
  return {
    v: f,
    i: _,
    e: Ft(() => (a(t, f ?? s, _ ?? i, l), () => {
      e.delete(r);
    }))
  };
}
function Ot(e, t, s) {
  if (e.nodes)
    for (var r = e.nodes.start, i = e.nodes.end, a = t && (t.f & ct) === 0 ? (
      /** @type {EffectNodes} */
      t.nodes.start
    ) : s; r !== null; ) {
      var o = (
        /** @type {TemplateNode} */
        Ys(r)
      );
      if (a.before(r), r === i)
        return;
      r = o;
    }
}
function it(e, t, s) {
  t === null ? e.effect.first = s : t.next = s, s === null ? e.effect.last = t : s.prev = t;
}
const Be = [...` 	
\r\f \v\uFEFF`];
function hr(e, t, s) {
  var r = e == null ? "" : "" + e;
  if (s) {
    for (var i in s)
      if (s[i])
        r = r ? r + " " + i : i;
      else if (r.length)
        for (var a = i.length, o = 0; (o = r.indexOf(i, o)) >= 0; ) {
          var l = o + a;
          (o === 0 || Be.includes(r[o - 1])) && (l === r.length || Be.includes(r[l])) ? r = (o === 0 ? "" : r.substring(0, o)) + r.substring(l + 1) : o = l;
        }
  }
  return r === "" ? null : r;
}
function He(e, t = !1) {
  var s = t ? " !important;" : ";", r = "";
  for (var i in e) {
    var a = e[i];
    a != null && a !== "" && (r += " " + i + ": " + a + s);
  }
  return r;
}
function dr(e, t) {
  if (t) {
    var s = "", r, i;
    return Array.isArray(t) ? (r = t[0], i = t[1]) : r = t, r && (s += He(r)), i && (s += He(i, !0)), s = s.trim(), s === "" ? null : s;
  }
  return String(e);
}
function Ct(e, t, s, r, i, a) {
  var o = e.__className;
  if (o !== s || o === void 0) {
    var l = hr(s, r, a);
    l == null ? e.removeAttribute("class") : e.className = l, e.__className = s;
  } else if (a && i !== a)
    for (var f in a) {
      var _ = !!a[f];
      (i == null || _ !== !!i[f]) && e.classList.toggle(f, _);
    }
  return a;
}
function re(e, t = {}, s, r) {
  for (var i in s) {
    var a = s[i];
    t[i] !== a && (s[i] == null ? e.style.removeProperty(i) : e.style.setProperty(i, a, r));
  }
}
function ae(e, t, s, r) {
  var i = e.__style;
  if (i !== t) {
    var a = dr(t, r);
    a == null ? e.removeAttribute("style") : e.style.cssText = a, e.__style = t;
  } else r && (Array.isArray(r) ? (re(e, s?.[0], r[0]), re(e, s?.[1], r[1], "important")) : re(e, s, r));
  return r;
}
const pr = /* @__PURE__ */ Symbol("is custom element"), _r = /* @__PURE__ */ Symbol("is html");
function Nt(e, t) {
  var s = _e(e);
  s.value === (s.value = // treat null and undefined the same for the initial value
  t ?? void 0) || // @ts-expect-error
  // `progress` elements always need their value set when it's `0`
  e.value === t && (t !== 0 || e.nodeName !== "PROGRESS") || (e.value = t ?? "");
}
function vr(e, t) {
  var s = _e(e);
  s.checked !== (s.checked = // treat null and undefined the same for the initial value
  t ?? void 0) && (e.checked = t);
}
function j(e, t, s, r) {
  var i = _e(e);
  i[t] !== (i[t] = s) && (t === "loading" && (e[Ks] = s), s == null ? e.removeAttribute(t) : typeof s != "string" && gr(e).includes(t) ? e[t] = s : e.setAttribute(t, s));
}
function _e(e) {
  return (
    /** @type {Record<string | symbol, unknown>} **/
    // @ts-expect-error
    e.__attributes ??= {
      [pr]: e.nodeName.includes("-"),
      [_r]: e.namespaceURI === Ws
    }
  );
}
var Ye = /* @__PURE__ */ new Map();
function gr(e) {
  var t = e.getAttribute("is") || e.nodeName, s = Ye.get(t);
  if (s) return s;
  Ye.set(t, s = []);
  for (var r, i = e, a = Element.prototype; a !== i; ) {
    r = Gs(i);
    for (var o in r)
      r[o].set && s.push(o);
    i = ns(i);
  }
  return s;
}
function Ke(e, t) {
  return e === t || e?.[Vs] === t;
}
function Gt(e = {}, t, s, r) {
  return Xs(() => {
    var i, a;
    return Zs(() => {
      i = a, a = [], Bt(() => {
        e !== s(...a) && (t(e, ...a), i && Ke(s(...i), e) && t(null, ...i));
      });
    }), () => {
      Js(() => {
        a && Ke(s(...a), e) && t(null, ...a);
      });
    };
  }), e;
}
function br(e, t, s) {
  if (e == null)
    return t(void 0), Qs;
  const r = Bt(
    () => e.subscribe(
      t,
      // @ts-expect-error
      s
    )
  );
  return r.unsubscribe ? () => r.unsubscribe() : r;
}
function yr(e) {
  let t;
  return br(e, (s) => t = s)(), t;
}
const mr = {
  get(e, t) {
    if (!e.exclude.includes(t))
      return e.props[t];
  },
  set(e, t) {
    return !1;
  },
  getOwnPropertyDescriptor(e, t) {
    if (!e.exclude.includes(t) && t in e.props)
      return {
        enumerable: !0,
        configurable: !0,
        value: e.props[t]
      };
  },
  has(e, t) {
    return e.exclude.includes(t) ? !1 : t in e.props;
  },
  ownKeys(e) {
    return Reflect.ownKeys(e.props).filter((t) => !e.exclude.includes(t));
  }
};
// @__NO_SIDE_EFFECTS__
function kr(e, t, s) {
  return new Proxy(
    { props: e, exclude: t },
    mr
  );
}
const wr = [
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
], We = {
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
wr.reduce((e, { color: t, primary: s, secondary: r }) => ({
  ...e,
  [t]: {
    primary: We[t][s],
    secondary: We[t][r]
  }
}), {});
function xr(e) {
  let t;
  const s = tr((i) => {
    let a = !1;
    const o = e.subscribe((l) => {
      t = l, a && i();
    });
    return a = !0, o;
  });
  function r() {
    return js() ? (s(), t) : yr(e);
  }
  return "set" in e ? {
    get current() {
      return r();
    },
    set current(i) {
      e.set(i);
    }
  } : {
    get current() {
      return r();
    }
  };
}
const zr = "__i18n__", Mr = [
  "label",
  "info",
  "placeholder",
  "description",
  "title",
  "value"
], qr = [
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
function Er(e) {
  return typeof e == "string" && e.includes(zr);
}
class Tr {
  load_component;
  #e = lt(De({}));
  get shared() {
    return v(this.#e);
  }
  set shared(t) {
    F(this.#e, t, !0);
  }
  #s = lt(De({}));
  get props() {
    return v(this.#s);
  }
  set props(t) {
    F(this.#s, t, !0);
  }
  #t = lt((t) => t);
  get i18n() {
    return v(this.#t);
  }
  set i18n(t) {
    F(this.#t, t, !0);
  }
  i18n_store;
  _i18n_from_store;
  translatable_props = {};
  dispatcher;
  last_update = null;
  shared_props = qr;
  mounted = !1;
  old_value;
  register_component;
  unregister_component;
  set_data_callback;
  get_data_callback;
  registered_id = null;
  last_shared_props;
  last_props;
  constructor(t, s) {
    for (const r in t.shared_props)
      this.shared[r] = t.shared_props[r];
    for (const r in t.props)
      r !== "i18n_store" && (this.props[r] = t.props[r]);
    if (s)
      for (const r in s)
        this.props[r] === void 0 && (this.props[r] = s[r]);
    this.i18n = this.props.i18n ?? ((r) => r), this.i18n_store = t.props.i18n_store, this._i18n_from_store = this.i18n_store ? xr(this.i18n_store) : void 0;
    for (const r of Mr)
      this.shared[r] = this._translate_and_store(
        "shared",
        r,
        // @ts-ignore
        t.shared_props[r]
      ), this.props[r] = this._translate_and_store(
        "props",
        r,
        // @ts-ignore
        t.props[r]
      );
    this.load_component = this.shared.load_component, this.register_component = this.shared.register_component || (() => {
    }), this.unregister_component = this.shared.unregister_component || (() => {
    }), this.dispatcher = this.shared.dispatcher || (() => {
    }), this.set_data_callback = this.set_data.bind(this), this.get_data_callback = this.get_data.bind(this), this.register_component(
      this.shared.id,
      // @ts-ignore
      this.set_data_callback,
      this.get_data_callback
    ), this.registered_id = this.shared.id, this.last_shared_props = t.shared_props, this.last_props = t.props, St(() => {
      const r = t.shared_props.id;
      if (this.last_shared_props !== t.shared_props) {
        for (const i in t.shared_props) {
          const a = t.shared_props[i];
          a !== void 0 && (this._is_i18n_managed(`shared.${i}`, a) || (this.shared[i] = a));
        }
        this.last_shared_props = t.shared_props;
      }
      if (this.last_props !== t.props) {
        for (const i in t.props) {
          if (i === "i18n_store") continue;
          const a = t.props[i];
          a !== void 0 && (this._is_i18n_managed(`props.${i}`, a) || (this.props[i] = a));
        }
        this.last_props = t.props;
      }
      this.registered_id !== null && this.registered_id !== r && this.unregister_component(this.registered_id, this.set_data_callback), this.register_component(
        r,
        // @ts-ignore
        this.set_data_callback,
        this.get_data_callback
      ), this.registered_id = r, Bt(() => {
        this.shared.id = r;
      });
    }), St(() => () => {
      this.registered_id !== null && this.unregister_component(this.registered_id, this.set_data_callback);
    }), St(() => this.i18n_store ? this.i18n_store.subscribe(() => {
      for (const [i, a] of Object.entries(this.translatable_props)) {
        const [o, l] = i.split("."), f = this.i18n(a);
        o === "shared" ? this.shared[l] = f : this.props[l] = f;
      }
    }) : void 0);
  }
  // check if props are translatable
  _is_i18n_managed(t, s) {
    const r = this.translatable_props[t];
    return r ? s === r ? !0 : (delete this.translatable_props[t], !1) : !1;
  }
  _translate_and_store(t, s, r) {
    if (typeof r != "string") return r;
    const i = this.i18n(r);
    return i !== r && (this.translatable_props[`${t}.${s}`] = r), i;
  }
  // Reactive variant of `i18n`. Reading it inside a derived or template
  // subscribes to the live locale store (via Svelte's createSubscriber), so
  // the caller re-runs when the locale changes at runtime. The store is only
  // the reactivity trigger; translation always goes through `this.i18n` so a
  // custom formatter passed via props keeps taking effect.
  live_i18n = (t) => (this._i18n_from_store?.current, this.i18n(t));
  dispatch(t, s) {
    this.dispatcher(this.shared.id, t, s);
  }
  async get_data() {
    return nr(this.props);
  }
  update(t) {
    this.set_data(t);
  }
  set_data(t) {
    for (const s in t) {
      const r = t[s], i = Er(r) ? this._translate_and_store(this.shared_props.includes(s) ? "shared" : "props", s, r) : r;
      if (this.shared_props.includes(s)) {
        const a = s;
        this.shared[a] = i;
        continue;
      }
      this.props[s] = i;
    }
  }
  watch_for_change() {
    St(() => {
      this.mounted || (this.old_value = this.props.value, this.mounted = !0), this.old_value != this.props.value && (this.old_value = this.props.value, this.dispatch("change"));
    });
  }
}
const { PI: Cr } = Math, Ut = Cr + 1e-4, Ge = 0.5, Xe = [1, 1];
function Ze(e, t, s, r = (i) => i) {
  return e * r(0.5 - t * (0.5 - s));
}
const { min: ie } = Math;
function hs(e, t, s) {
  let r = ie(1, t / s);
  return ie(1, e + (ie(1, 1 - r) - e) * (r * 0.275));
}
function Sr(e) {
  return [-e[0], -e[1]];
}
function J(e, t) {
  return [e[0] + t[0], e[1] + t[1]];
}
function Je(e, t, s) {
  return e[0] = t[0] + s[0], e[1] = t[1] + s[1], e;
}
function ut(e, t) {
  return [e[0] - t[0], e[1] - t[1]];
}
function fe(e, t, s) {
  return e[0] = t[0] - s[0], e[1] = t[1] - s[1], e;
}
function ft(e, t) {
  return [e[0] * t, e[1] * t];
}
function ne(e, t, s) {
  return e[0] = t[0] * s, e[1] = t[1] * s, e;
}
function Ir(e, t) {
  return [e[0] / t, e[1] / t];
}
function ds(e) {
  return [e[1], -e[0]];
}
function oe(e, t) {
  let s = t[0];
  return e[0] = t[1], e[1] = -s, e;
}
function Ve(e, t) {
  return e[0] * t[0] + e[1] * t[1];
}
function Ar(e, t) {
  return e[0] === t[0] && e[1] === t[1];
}
function Rr(e) {
  return Math.hypot(e[0], e[1]);
}
function Qe(e, t) {
  let s = e[0] - t[0], r = e[1] - t[1];
  return s * s + r * r;
}
function ps(e) {
  return Ir(e, Rr(e));
}
function Lr(e, t) {
  return Math.hypot(e[1] - t[1], e[0] - t[0]);
}
function ve(e, t, s) {
  let r = Math.sin(s), i = Math.cos(s), a = e[0] - t[0], o = e[1] - t[1], l = a * i - o * r, f = a * r + o * i;
  return [l + t[0], f + t[1]];
}
function je(e, t, s, r) {
  let i = Math.sin(r), a = Math.cos(r), o = t[0] - s[0], l = t[1] - s[1], f = o * a - l * i, _ = o * i + l * a;
  return e[0] = f + s[0], e[1] = _ + s[1], e;
}
function ts(e, t, s) {
  return J(e, ft(ut(t, e), s));
}
function Pr(e, t, s, r) {
  let i = s[0] - t[0], a = s[1] - t[1];
  return e[0] = t[0] + i * r, e[1] = t[1] + a * r, e;
}
function _s(e, t, s) {
  return J(e, ft(t, s));
}
const O = [0, 0], nt = [0, 0], ot = [0, 0];
function Dr(e, t) {
  let s = _s(e, ps(ds(ut(e, J(e, [1, 1])))), -t), r = [], i = 1 / 13;
  for (let a = i; a <= 1; a += i) r.push(ve(s, e, Ut * 2 * a));
  return r;
}
function $r(e, t, s) {
  let r = [], i = 1 / s;
  for (let a = i; a <= 1; a += i) r.push(ve(t, e, Ut * a));
  return r;
}
function Nr(e, t, s) {
  let r = ut(t, s), i = ft(r, 0.5), a = ft(r, 0.51);
  return [ut(e, i), ut(e, a), J(e, a), J(e, i)];
}
function Or(e, t, s, r) {
  let i = [], a = _s(e, t, s), o = 1 / r;
  for (let l = o; l < 1; l += o) i.push(ve(a, e, Ut * 3 * l));
  return i;
}
function Fr(e, t, s) {
  return [J(e, ft(t, s)), J(e, ft(t, s * 0.99)), ut(e, ft(t, s * 0.99)), ut(e, ft(t, s))];
}
function es(e, t, s) {
  return e === !1 || e === void 0 ? 0 : e === !0 ? Math.max(t, s) : e;
}
function Ur(e, t, s) {
  return e.slice(0, 10).reduce((r, i) => {
    let a = i.pressure;
    return t && (a = hs(r, i.distance, s)), (r + a) / 2;
  }, e[0].pressure);
}
function Br(e, t = {}) {
  let { size: s = 16, smoothing: r = 0.5, thinning: i = 0.5, simulatePressure: a = !0, easing: o = (E) => E, start: l = {}, end: f = {}, last: _ = !1 } = t, { cap: c = !0, easing: m = (E) => E * (2 - E) } = l, { cap: y = !0, easing: M = (E) => --E * E * E + 1 } = f;
  if (e.length === 0 || s <= 0) return [];
  let h = e[e.length - 1].runningLength, w = es(l.taper, s, h), A = es(f.taper, s, h), C = (s * r) ** 2, x = [], T = [], P = Ur(e, a, s), q = Ze(s, i, e[e.length - 1].pressure, o), D, Z = e[0].vector, I = e[0].point, ht = I, $ = I, V = ht, et = !1;
  for (let E = 0; E < e.length; E++) {
    let { pressure: wt } = e[E], { point: Y, vector: vt, distance: Vt, runningLength: st } = e[E], xt = E === e.length - 1;
    if (!xt && h - st < 3) continue;
    i ? (a && (wt = hs(P, Vt, s)), q = Ze(s, i, wt, o)) : q = s / 2, D === void 0 && (D = q);
    let Qt = st < w ? m(st / w) : 1, Ht = h - st < A ? M((h - st) / A) : 1;
    q = Math.max(0.01, q * Math.min(Qt, Ht));
    let It = (xt ? e[E] : e[E + 1]).vector, At = xt ? 1 : Ve(vt, It), Rt = Ve(vt, Z) < 0 && !et, Lt = At !== null && At < 0;
    if (Rt || Lt) {
      oe(O, Z), ne(O, O, q);
      for (let gt = 0; gt <= 1; gt += 0.07692307692307693) fe(nt, Y, O), je(nt, nt, Y, Ut * gt), $ = [nt[0], nt[1]], x.push($), Je(ot, Y, O), je(ot, ot, Y, Ut * -gt), V = [ot[0], ot[1]], T.push(V);
      I = $, ht = V, Lt && (et = !0);
      continue;
    }
    if (et = !1, xt) {
      oe(O, vt), ne(O, O, q), x.push(ut(Y, O)), T.push(J(Y, O));
      continue;
    }
    Pr(O, It, vt, At), oe(O, O), ne(O, O, q), fe(nt, Y, O), $ = [nt[0], nt[1]], (E <= 1 || Qe(I, $) > C) && (x.push($), I = $), Je(ot, Y, O), V = [ot[0], ot[1]], (E <= 1 || Qe(ht, V) > C) && (T.push(V), ht = V), P = wt, Z = vt;
  }
  let dt = [e[0].point[0], e[0].point[1]], kt = e.length > 1 ? [e[e.length - 1].point[0], e[e.length - 1].point[1]] : J(e[0].point, [1, 1]), pt = [], _t = [];
  if (e.length === 1) {
    if (!(w || A) || _) return Dr(dt, D || q);
  } else {
    w || A && e.length === 1 || (c ? pt.push(...$r(dt, T[0], 13)) : pt.push(...Nr(dt, x[0], T[0])));
    let E = ds(Sr(e[e.length - 1].vector));
    A || w && e.length === 1 ? _t.push(kt) : y ? _t.push(...Or(kt, E, q, 29)) : _t.push(...Fr(kt, E, q));
  }
  return x.concat(_t, T.reverse(), pt);
}
const ss = [0, 0];
function rs(e) {
  return e != null && e >= 0;
}
function Hr(e, t = {}) {
  let { streamline: s = 0.5, size: r = 16, last: i = !1 } = t;
  if (e.length === 0) return [];
  let a = 0.15 + (1 - s) * 0.85, o = Array.isArray(e[0]) ? e : e.map(({ x: y, y: M, pressure: h = Ge }) => [y, M, h]);
  if (o.length === 2) {
    let y = o[1];
    o = o.slice(0, -1);
    for (let M = 1; M < 5; M++) o.push(ts(o[0], y, M / 4));
  }
  o.length === 1 && (o = [...o, [...J(o[0], Xe), ...o[0].slice(2)]]);
  let l = [{ point: [o[0][0], o[0][1]], pressure: rs(o[0][2]) ? o[0][2] : 0.25, vector: [...Xe], distance: 0, runningLength: 0 }], f = !1, _ = 0, c = l[0], m = o.length - 1;
  for (let y = 1; y < o.length; y++) {
    let M = i && y === m ? [o[y][0], o[y][1]] : ts(c.point, o[y], a);
    if (Ar(c.point, M)) continue;
    let h = Lr(M, c.point);
    if (_ += h, y < m && !f) {
      if (_ < r) continue;
      f = !0;
    }
    fe(ss, c.point, M), c = { point: M, pressure: rs(o[y][2]) ? o[y][2] : Ge, vector: ps(ss), distance: h, runningLength: _ }, l.push(c);
  }
  return l[0].vector = l[1]?.vector || [0, 0], l;
}
function Yr(e, t = {}) {
  return Br(Hr(e, t), t);
}
const Kr = "#ff2d6f", Wr = 60, as = 0.02, Gr = 64;
function tt(e, t) {
  const s = document.createElement("canvas");
  return s.width = e, s.height = t, s;
}
function Xr(e) {
  const t = new Path2D();
  if (!e.length) return t;
  t.moveTo(e[0][0], e[0][1]);
  for (let s = 1; s < e.length; s++) {
    const [r, i] = e[s], [a, o] = e[(s + 1) % e.length];
    t.quadraticCurveTo(r, i, (r + a) / 2, (i + o) / 2);
  }
  return t.closePath(), t;
}
let Zr = 1;
class Jr {
  constructor(t, { on_change: s, on_state: r }) {
    this.display = t, this.ctx = t.getContext("2d"), this.on_change = s, this.on_state = r, this.width = 0, this.height = 0, this.background = null, this.background_url = null, this.layers = [], this.active = null, this.view = { scale: 1, ox: 0, oy: 0 }, this.tool = "brush", this.brush = { size: 12, opacity: 1, hardness: 1, color: "#000000" }, this.undo_stack = [], this.redo_stack = [], this.stroke = null, this.stroke_canvas = null, this.work_canvas = null, this.frame = 0, this.dpr = window.devicePixelRatio || 1, this.backdrop = null;
  }
  // ------------------------------------------------------------------ document
  has_page() {
    return this.width > 0 && this.height > 0;
  }
  new_layer(t) {
    const s = tt(this.width, this.height);
    return {
      id: Zr++,
      name: t.name,
      kind: t.kind || "paint",
      canvas: s,
      visible: t.visible !== !1,
      opacity: t.opacity ?? (t.kind === "mask" ? 0.55 : 1),
      url: null,
      dirty: !0
    };
  }
  // A new page: background (canvas or null), size, and the given layer specs, all empty. History is kept
  // only when `undoable` (an upload can be undone; a value set by Python starts a new history).
  set_page(t, s, r, i, a, o) {
    const l = o ? this.snapshot() : null;
    if (this.width = t, this.height = s, this.background = r, this.background_url = i, this.layers = a.map((f) => this.new_layer(f)), this.stroke_canvas = tt(t, s), this.work_canvas = tt(t, s), this.layers.some((f) => f.id === this.active) || (this.active = this.layers.length ? this.layers[this.layers.length - 1].id : null), l) {
      const f = this.snapshot();
      this.push({ undo: () => this.restore(l), redo: () => this.restore(f) });
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
      layers: this.layers.map((t) => {
        const s = tt(t.canvas.width, t.canvas.height);
        return s.getContext("2d").drawImage(t.canvas, 0, 0), { ...t, canvas: s };
      })
    };
  }
  restore(t) {
    const s = t.width !== this.width || t.height !== this.height;
    this.width = t.width, this.height = t.height, this.background = t.background, this.background_url = t.background_url, this.active = t.active, this.layers = t.layers.map((r) => {
      const i = tt(r.canvas.width, r.canvas.height);
      return i.getContext("2d").drawImage(r.canvas, 0, 0), { ...r, canvas: i, dirty: !0 };
    }), s && (this.stroke_canvas = tt(this.width, this.height), this.work_canvas = tt(this.width, this.height), this.fit()), this.changed();
  }
  layer(t) {
    return this.layers.find((s) => s.id === t) || null;
  }
  layer_named(t) {
    return this.layers.find((s) => s.name === t) || null;
  }
  // ------------------------------------------------------------------ history
  push(t) {
    this.undo_stack.push(t), this.undo_stack.length > Wr && this.undo_stack.shift(), this.redo_stack = [];
  }
  undo() {
    const t = this.undo_stack.pop();
    return t ? (t.undo(), this.redo_stack.push(t), this.changed(), !0) : !1;
  }
  redo() {
    const t = this.redo_stack.pop();
    return t ? (t.redo(), this.undo_stack.push(t), this.changed(), !0) : !1;
  }
  // Layer-property edits (hide, opacity, order, add) go through here so each is one undoable step.
  edit(t, s) {
    t(), this.push({ undo: s, redo: t }), this.changed();
  }
  put_region(t, s, r) {
    t.canvas.getContext("2d").putImageData(r, s.x, s.y), t.dirty = !0;
  }
  clear_layer(t) {
    const s = this.layer(t);
    if (!s) return;
    const r = { x: 0, y: 0, w: this.width, h: this.height }, a = s.canvas.getContext("2d").getImageData(0, 0, r.w, r.h), o = () => {
      s.canvas.getContext("2d").clearRect(0, 0, r.w, r.h), s.dirty = !0;
    };
    o(), this.push({ undo: () => this.put_region(s, r, a), redo: o }), this.changed();
  }
  add_layer(t = "paint") {
    const s = this.layers.filter((o) => o.kind === t).length, r = this.new_layer({ name: `${t}-${s + 1}`, kind: t }), i = this.layers.length, a = this.active;
    this.edit(
      () => {
        this.layers.splice(i, 0, r), this.active = r.id;
      },
      () => {
        this.layers = this.layers.filter((o) => o !== r), this.active = a;
      }
    );
  }
  set_visible(t, s) {
    const r = this.layer(t);
    !r || r.visible === s || this.edit(
      () => r.visible = s,
      () => r.visible = !s
    );
  }
  set_opacity(t, s) {
    const r = this.layer(t);
    if (!r || r.opacity === s) return;
    const i = r.opacity;
    this.edit(
      () => r.opacity = s,
      () => r.opacity = i
    );
  }
  move_layer(t, s) {
    const r = this.layers.findIndex((l) => l.id === t), i = r + s;
    if (r < 0 || i < 0 || i >= this.layers.length) return;
    const a = this.layers.slice(), o = () => {
      const l = a.slice();
      [l[r], l[i]] = [l[i], l[r]], this.layers = l;
    };
    this.edit(o, () => this.layers = a.slice());
  }
  // ------------------------------------------------------------------ strokes
  doc_point(t, s) {
    const r = this.display.getBoundingClientRect();
    return [
      (t - r.left - this.view.ox) / this.view.scale,
      (s - r.top - this.view.oy) / this.view.scale
    ];
  }
  begin_stroke(t, s, r, i) {
    const a = this.layer(this.active);
    return !a || !this.has_page() ? !1 : (this.stroke = { points: [[t, s, r]], pen: i, layer: a, eraser: this.tool === "eraser" }, this.draw_stroke(!1), !0);
  }
  extend_stroke(t, s, r) {
    this.stroke && (this.stroke.points.push([t, s, r]), this.draw_stroke(!1));
  }
  stroke_size() {
    return Math.max(0.5, this.brush.size / this.view.scale);
  }
  stroke_options(t) {
    const s = this.stroke.pen, r = s ? 0.7 : 0;
    return {
      size: this.stroke_size() / (1 + r),
      thinning: r,
      smoothing: 0.5,
      streamline: s ? 0.3 : 0.45,
      simulatePressure: !1,
      last: t,
      start: { cap: !0 },
      end: { cap: !0 }
    };
  }
  draw_stroke(t) {
    const s = this.stroke, r = this.stroke_canvas.getContext("2d");
    if (r.clearRect(0, 0, this.width, this.height), r.fillStyle = s.layer.kind === "mask" ? Kr : this.brush.color, s.points.length === 1) {
      const [i, a, o] = s.points[0], l = this.stroke_size() / 2 * (s.pen ? 0.3 + 0.7 * o : 1);
      r.beginPath(), r.arc(i, a, Math.max(0.35, l), 0, Math.PI * 2), r.fill();
    } else
      r.fill(Xr(Yr(s.points, this.stroke_options(t))));
    this.request_render();
  }
  stroke_box() {
    const t = this.stroke_size() + 4 + this.blur_radius() * 3;
    let s = 1 / 0, r = 1 / 0, i = -1 / 0, a = -1 / 0;
    for (const [c, m] of this.stroke.points)
      s = Math.min(s, c), r = Math.min(r, m), i = Math.max(i, c), a = Math.max(a, m);
    const o = Math.max(0, Math.floor(s - t)), l = Math.max(0, Math.floor(r - t)), f = Math.min(this.width, Math.ceil(i + t)) - o, _ = Math.min(this.height, Math.ceil(a + t)) - l;
    return { x: o, y: l, w: f, h: _ };
  }
  blur_radius() {
    return (1 - this.brush.hardness) * this.stroke_size() * 0.25;
  }
  apply_stroke_to(t, s) {
    t.save(), t.globalAlpha = this.brush.opacity, t.globalCompositeOperation = s ? "destination-out" : "source-over";
    const r = this.blur_radius();
    r > 0.2 && (t.filter = `blur(${r}px)`), t.drawImage(this.stroke_canvas, 0, 0), t.restore();
  }
  end_stroke() {
    const t = this.stroke;
    if (!t) return;
    this.draw_stroke(!0);
    const s = this.stroke_box();
    if (this.stroke = null, s.w > 0 && s.h > 0) {
      const r = t.layer.canvas.getContext("2d"), i = r.getImageData(s.x, s.y, s.w, s.h);
      this.apply_stroke_to(r, t.eraser);
      const a = r.getImageData(s.x, s.y, s.w, s.h);
      t.layer.dirty = !0;
      const o = t.layer;
      this.push({
        undo: () => this.put_region(o, s, i),
        redo: () => this.put_region(o, s, a)
      });
    }
    this.stroke_canvas.getContext("2d").clearRect(0, 0, this.width, this.height), this.changed();
  }
  cancel_stroke() {
    this.stroke && (this.stroke = null, this.stroke_canvas.getContext("2d").clearRect(0, 0, this.width, this.height), this.request_render());
  }
  // The colour the artist sees at a page point: background and visible paint layers.
  pick(t, s) {
    if (t < 0 || s < 0 || t >= this.width || s >= this.height) return null;
    const i = tt(1, 1).getContext("2d", { willReadFrequently: !0 });
    i.fillStyle = "#ffffff", i.fillRect(0, 0, 1, 1), this.background && i.drawImage(this.background, -Math.floor(t), -Math.floor(s));
    for (const f of this.layers)
      !f.visible || f.kind === "mask" || (i.globalAlpha = f.opacity, i.drawImage(f.canvas, -Math.floor(t), -Math.floor(s)));
    const [a, o, l] = i.getImageData(0, 0, 1, 1).data;
    return "#" + [a, o, l].map((f) => f.toString(16).padStart(2, "0")).join("");
  }
  // ------------------------------------------------------------------ view
  resize_display(t, s) {
    this.dpr = window.devicePixelRatio || 1, this.display.width = Math.max(1, Math.round(t * this.dpr)), this.display.height = Math.max(1, Math.round(s * this.dpr)), this.css_w = t, this.css_h = s, this.request_render();
  }
  fit() {
    if (!this.has_page() || !this.css_w) return;
    const t = 24, s = Math.max(as, Math.min((this.css_w - t) / this.width, (this.css_h - t) / this.height));
    this.set_view(s, (this.css_w - this.width * s) / 2, (this.css_h - this.height * s) / 2);
  }
  actual_size() {
    const t = this.css_w / 2, s = this.css_h / 2;
    this.zoom_at(t, s, 1 / this.view.scale);
  }
  zoom_at(t, s, r) {
    const i = Math.min(Gr, Math.max(as, this.view.scale * r)), a = i / this.view.scale;
    this.set_view(i, t - (t - this.view.ox) * a, s - (s - this.view.oy) * a);
  }
  pan_by(t, s) {
    this.set_view(this.view.scale, this.view.ox + t, this.view.oy + s);
  }
  set_view(t, s, r) {
    this.view = { scale: t, ox: s, oy: r }, this.request_render(), this.on_state();
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
      const t = tt(16, 16), s = t.getContext("2d");
      s.fillStyle = "#9a9a9a", s.fillRect(0, 0, 16, 16), s.fillStyle = "#8a8a8a", s.fillRect(0, 0, 8, 8), s.fillRect(8, 8, 8, 8), this.backdrop = this.ctx.createPattern(t, "repeat");
    }
    return this.backdrop;
  }
  render() {
    const t = this.ctx, { scale: s, ox: r, oy: i } = this.view;
    if (t.setTransform(1, 0, 0, 1, 0, 0), t.fillStyle = this.backdrop_pattern(), t.fillRect(0, 0, this.display.width, this.display.height), !this.has_page()) return;
    const a = this.dpr;
    t.setTransform(a * s, 0, 0, a * s, a * r, a * i), t.imageSmoothingEnabled = s < 2, t.fillStyle = "#ffffff", t.globalAlpha = 1, this.background ? t.drawImage(this.background, 0, 0) : (t.fillStyle = "#f4f4f4", t.fillRect(0, 0, this.width, this.height));
    for (const c of this.layers) {
      if (!c.visible) continue;
      let m = c.canvas;
      if (this.stroke && this.stroke.layer === c) {
        const y = this.work_canvas.getContext("2d");
        y.clearRect(0, 0, this.width, this.height), y.drawImage(c.canvas, 0, 0), this.apply_stroke_to(y, this.stroke.eraser), m = this.work_canvas;
      }
      t.globalAlpha = c.opacity, t.drawImage(m, 0, 0);
    }
    t.globalAlpha = 1, t.setTransform(a, 0, 0, a, 0, 0);
    const o = r, l = i, f = this.width * s, _ = this.height * s;
    t.lineWidth = 1, t.strokeStyle = "rgba(0,0,0,0.85)", t.strokeRect(Math.round(o) - 0.5, Math.round(l) - 0.5, Math.round(f) + 1, Math.round(_) + 1), t.strokeStyle = "rgba(255,255,255,0.9)", t.strokeRect(Math.round(o) - 1.5, Math.round(l) - 1.5, Math.round(f) + 3, Math.round(_) + 3);
  }
  // ------------------------------------------------------------------ value
  // Layers changed since the last call are encoded again; the others reuse their PNG.
  encode() {
    return this.has_page() ? {
      width: this.width,
      height: this.height,
      background: this.background_url,
      layers: this.layers.map((t) => (t.dirty && (t.url = t.canvas.toDataURL("image/png"), t.dirty = !1), { name: t.name, kind: t.kind, png: t.url, visible: t.visible, opacity: t.opacity }))
    } : null;
  }
}
var Vr = /* @__PURE__ */ X('<span class="lc-label svelte-49zqag"> </span>'), Qr = /* @__PURE__ */ X('<button type="button"> </button>'), jr = /* @__PURE__ */ X('<button type="button"></button>'), ta = /* @__PURE__ */ X('<button type="button" data-canvas-action="upload" title="Open a picture as the background (or drop / paste it)" class="svelte-49zqag">Upload</button>'), ea = /* @__PURE__ */ X('<!> <label class="lc-field svelte-49zqag" title="Brush size in screen pixels ([ and ])">Size <input type="range" min="1" max="200" data-canvas-field="size" class="svelte-49zqag"/> <span data-canvas-readout="size"> </span></label> <label class="lc-field svelte-49zqag">Opacity <input type="range" min="0.05" max="1" step="0.05" data-canvas-field="opacity" class="svelte-49zqag"/></label> <label class="lc-field svelte-49zqag">Hardness <input type="range" min="0" max="1" step="0.05" data-canvas-field="hardness" class="svelte-49zqag"/></label> <span class="lc-swatches svelte-49zqag"><!> <input type="color" data-canvas-field="colour" title="Pick a colour"/></span> <span class="lc-sep svelte-49zqag"></span> <button type="button" data-canvas-action="undo" title="Undo (Ctrl+Z)" class="svelte-49zqag">Undo</button> <button type="button" data-canvas-action="redo" title="Redo (Ctrl+Shift+Z, Ctrl+Y)" class="svelte-49zqag">Redo</button> <button type="button" data-canvas-action="clear" title="Clear the selected layer (Ctrl+Z brings it back)" class="svelte-49zqag">Clear</button> <span class="lc-sep svelte-49zqag"></span> <button type="button" data-canvas-action="fit" title="Fit the page (F)" class="svelte-49zqag">Fit</button> <button type="button" data-canvas-action="actual" title="One picture pixel per screen pixel" class="svelte-49zqag">100%</button> <span class="lc-zoom" data-canvas-readout="zoom"> </span> <!> <button type="button" data-canvas-action="help" title="Shortcuts (?)" class="svelte-49zqag">?</button>', 1), sa = /* @__PURE__ */ X('<div class="lc-empty svelte-49zqag">Drop a picture here, paste it, or press Upload.</div>'), ra = /* @__PURE__ */ X('<div class="lc-help svelte-49zqag" role="dialog" aria-label="Canvas shortcuts" data-canvas-help=""><b>Canvas shortcuts</b> (while the pointer or focus is on the canvas) <ul><li><kbd class="svelte-49zqag">B</kbd> brush, <kbd class="svelte-49zqag">E</kbd> eraser, <kbd class="svelte-49zqag">I</kbd> eyedropper</li> <li><kbd class="svelte-49zqag">[</kbd> / <kbd class="svelte-49zqag">]</kbd> smaller / bigger brush</li> <li><kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Z</kbd> undo; <kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Shift</kbd>+<kbd class="svelte-49zqag">Z</kbd> or <kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Y</kbd> redo</li> <li><kbd class="svelte-49zqag">Space</kbd>+drag or middle button: pan; wheel: zoom at the pointer; <kbd class="svelte-49zqag">F</kbd> fit</li> <li>Touch: two fingers pinch to zoom and drag to pan</li> <li><kbd class="svelte-49zqag">?</kbd> this help, <kbd class="svelte-49zqag">Esc</kbd> closes it</li></ul></div>'), aa = /* @__PURE__ */ X('<div><input type="checkbox" title="Show" data-layer-action="visible" class="svelte-49zqag"/> <button type="button" class="lc-layer-name svelte-49zqag" data-layer-action="select"> <small class="svelte-49zqag"> </small></button> <button type="button" title="Up" data-layer-action="up" class="svelte-49zqag">▲</button> <button type="button" title="Down" data-layer-action="down" class="svelte-49zqag">▼</button> <input type="range" min="0" max="1" step="0.05" title="Layer opacity" data-layer-action="opacity" class="svelte-49zqag"/></div>'), ia = /* @__PURE__ */ X('<button type="button" data-canvas-action="add-layer" class="svelte-49zqag">+ Paint layer</button>'), na = /* @__PURE__ */ X("<!> <!>", 1), oa = /* @__PURE__ */ X('<div class="lc-message svelte-49zqag" role="alert" data-canvas-message=""> </div>'), la = /* @__PURE__ */ X('<div><!> <div class="lc-root svelte-49zqag" tabindex="0" role="application" aria-label="Drawing canvas"><div class="lc-toolbar svelte-49zqag"><!></div> <div class="lc-main svelte-49zqag"><div><canvas class="lc-surface svelte-49zqag" data-canvas-surface=""></canvas> <div></div> <!> <!></div> <div class="lc-layers svelte-49zqag" data-canvas-layers=""><!></div></div> <!> <input type="file" accept="image/*" class="hidden svelte-49zqag"/></div></div>');
function fa(e, t) {
  ar(t, !0);
  var s = this && this.__awaiter || function(n, u, p, d) {
    function z(g) {
      return g instanceof p ? g : new p(function(b) {
        b(g);
      });
    }
    return new (p || (p = Promise))(function(g, b) {
      function H(S) {
        try {
          U(d.next(S));
        } catch (Q) {
          b(Q);
        }
      }
      function W(S) {
        try {
          U(d.throw(S));
        } catch (Q) {
          b(Q);
        }
      }
      function U(S) {
        S.done ? g(S.value) : z(S.value).then(H, W);
      }
      U((d = d.apply(n, u || [])).next());
    });
  };
  class r extends Tr {
    constructor() {
      super(...arguments), this.flush = () => {
      };
    }
    get_data() {
      const u = Object.create(null, { get_data: { get: () => super.get_data } });
      return s(this, void 0, void 0, function* () {
        return this.flush(), u.get_data.call(this);
      });
    }
  }
  const i = /* @__PURE__ */ kr(t, ["$$slots", "$$events", "$$legacy"]), a = new r(i);
  let o, l, f, _, c, m = lt(
    0
    // bumped when the engine's toolbar state changes
  ), y = lt(!1), M = lt(""), h = lt(!1), w = null, A = null;
  const C = /* @__PURE__ */ new Map();
  let x = null, T = null, P = lt(!1), q = "", D = 0, Z = !1, I;
  const ht = () => a.props.layers || [{ name: "paint", kind: "paint" }];
  function $() {
    rr(m);
  }
  function V() {
    F(P, !0), clearTimeout(T), T = setTimeout(et, 180);
  }
  function et(n = "change") {
    clearTimeout(T);
    const u = c.encode();
    q = `${Date.now()}-${++D}`, u && (u.token = q), a.props.value = u, F(P, !1), a.dispatch("change"), a.dispatch("input"), n !== "change" && a.dispatch(n);
  }
  function dt(n) {
    return new Promise((u, p) => {
      const d = new Image();
      d.onload = () => u(d), d.onerror = () => p(new Error("not a picture")), d.src = n;
    });
  }
  function kt(n, u, p) {
    const d = document.createElement("canvas");
    return d.width = u, d.height = p, d.getContext("2d").drawImage(n, 0, 0), d;
  }
  function pt(n, u) {
    var p;
    const d = (p = a.props.brush_fraction) !== null && p !== void 0 ? p : 0.02;
    c.brush.size = Math.max(1, Math.round(Math.min(n, u) * d * c.view.scale));
  }
  function _t(n) {
    return s(this, void 0, void 0, function* () {
      if (n && n.token && n.token === q) return;
      if (!n) {
        c.set_page(0, 0, null, null, [], !1);
        return;
      }
      const u = n.background ? kt(yield dt(n.background), n.width, n.height) : null, p = new Map((n.layers || []).map((g) => [g.name, g])), d = ht().map((g) => Object.assign(Object.assign({}, g), p.get(g.name) || {}));
      for (const g of n.layers || []) d.some((b) => b.name === g.name) || d.push(g);
      c.set_page(n.width, n.height, u, n.background || null, d, !1);
      for (const g of d) {
        if (!g.png) continue;
        const b = c.layer_named(g.name);
        b?.canvas.getContext("2d").drawImage(yield dt(g.png), 0, 0), b && (b.dirty = !0);
      }
      const z = c.layer_named(a.props.active_layer);
      z && (c.active = z.id), pt(n.width, n.height), c.changed(), F(P, !1), clearTimeout(T);
    });
  }
  function E(n) {
    return s(this, void 0, void 0, function* () {
      var u;
      if (F(M, ""), !n.type.startsWith("image/")) {
        F(M, `${n.name} is not a picture. Drop a PNG, JPEG or WebP picture.`);
        return;
      }
      const p = yield new Promise((U) => {
        const S = new FileReader();
        S.onload = () => U(S.result), S.readAsDataURL(n);
      });
      let d;
      try {
        d = yield dt(p);
      } catch {
        F(M, `${n.name} could not be read as a picture; it may be damaged.`);
        return;
      }
      const z = (u = a.props.max_side) !== null && u !== void 0 ? u : 4096;
      if (Math.max(d.naturalWidth, d.naturalHeight) > z) {
        F(M, `The picture is ${d.naturalWidth}x${d.naturalHeight} pixels, over the limit of ${z} per side. Scale it down first.`);
        return;
      }
      const g = d.naturalWidth, b = d.naturalHeight, H = kt(d, g, b);
      c.set_page(g, b, H, H.toDataURL("image/png"), ht(), !0);
      const W = c.layer_named(a.props.active_layer);
      W && (c.active = W.id), pt(g, b), et("upload");
    });
  }
  function wt(n) {
    return n.pointerType === "mouse" || n.pointerType === "touch" && (n.pressure === 0 || n.pressure === 0.5) ? 1 : Math.max(0.02, Math.min(1, n.pressure || 0));
  }
  function Y(n) {
    const u = l.getBoundingClientRect();
    return { x: n.clientX - u.left, y: n.clientY - u.top };
  }
  function vt(n) {
    if (o.focus({ preventScroll: !0 }), F(y, !1), l.setPointerCapture(n.pointerId), n.pointerType === "touch" && (C.set(n.pointerId, Y(n)), C.size === 2)) {
      c.cancel_stroke(), A = null;
      const [d, z] = [...C.values()];
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
      n.preventDefault(), w = Y(n);
      return;
    }
    if (n.button !== 0 || A !== null) return;
    const [u, p] = c.doc_point(n.clientX, n.clientY);
    if (c.tool === "picker") {
      const d = c.pick(u, p);
      d && (c.brush.color = d, c.tool = "brush", $());
      return;
    }
    c.begin_stroke(u, p, wt(n), n.pointerType !== "mouse") && (A = n.pointerId);
  }
  function Vt(n) {
    const u = Y(n), p = c.brush.size;
    if (f.style.transform = `translate(${u.x - p / 2}px, ${u.y - p / 2}px)`, f.style.width = f.style.height = `${p}px`, x && C.has(n.pointerId)) {
      C.set(n.pointerId, u);
      const [z, g] = [...C.values()], b = Math.hypot(z.x - g.x, z.y - g.y) || 1, H = (z.x + g.x) / 2, W = (z.y + g.y) / 2, U = Math.min(64, Math.max(0.02, x.scale * (b / x.d))), S = U / x.scale;
      c.set_view(U, H - (x.mx - x.ox) * S, W - (x.my - x.oy) * S);
      return;
    }
    if (w) {
      c.pan_by(u.x - w.x, u.y - w.y), w = u;
      return;
    }
    if (A !== n.pointerId) return;
    const d = typeof n.getCoalescedEvents == "function" ? n.getCoalescedEvents() : [];
    for (const z of d.length ? d : [n]) {
      const [g, b] = c.doc_point(z.clientX, z.clientY);
      c.extend_stroke(g, b, wt(z));
    }
  }
  function st(n) {
    C.delete(n.pointerId), C.size < 2 && (x = null), w && (w = null), A === n.pointerId && (A = null, c.end_stroke());
  }
  function xt() {
    v(P) && A === null && et();
  }
  function Qt(n) {
    n.preventDefault();
    const u = Y(n);
    n.ctrlKey || !n.shiftKey ? c.zoom_at(u.x, u.y, Math.exp(-n.deltaY * 15e-4)) : c.pan_by(-n.deltaY, 0);
  }
  function Ht(n) {
    if (!n) return !1;
    const u = n.tagName;
    return n.isContentEditable || u === "TEXTAREA" || u === "INPUT" && !["range", "checkbox", "button", "color", "file"].includes(n.type);
  }
  function It() {
    if (!o || !o.getClientRects().length) return !1;
    const n = document.activeElement;
    return (o.contains(n) || o.matches(":hover")) && !Ht(n);
  }
  function At(n) {
    if (c.active = n.id, n.kind === "region") {
      const u = c.layers.filter((d) => d.kind === "region").indexOf(n), p = (a.props.colors || [])[u];
      p && (c.brush.color = p);
    }
    $();
  }
  function Rt(n, u = !0) {
    c.brush.size = Math.max(1, Math.min(400, Math.round(n))), f.style.width = f.style.height = `${c.brush.size}px`, u && $();
  }
  function Lt(n) {
    if (n.key === "Escape" && v(y)) {
      F(y, !1);
      return;
    }
    if (!It()) return;
    const u = n.ctrlKey || n.metaKey, p = n.key.toLowerCase();
    let d = !0;
    u && p === "z" ? n.shiftKey ? c.redo() : c.undo() : u && p === "y" ? c.redo() : u ? d = !1 : n.key === " " ? F(h, !0) : p === "b" ? (c.tool = "brush", $()) : p === "e" ? (c.tool = "eraser", $()) : p === "i" ? (c.tool = "picker", $()) : n.key === "]" ? Rt(c.brush.size * 1.25 + 1) : n.key === "[" ? Rt(c.brush.size / 1.25) : n.key === "?" || p === "h" ? F(y, !v(y)) : p === "f" ? c.fit() : d = !1, d && (n.preventDefault(), n.stopPropagation());
  }
  function gt(n) {
    n.key === " " && F(h, !1);
  }
  function ge(n) {
    var u;
    if (!It() || a.props.uploads === !1) return;
    const p = [
      ...((u = n.clipboardData) === null || u === void 0 ? void 0 : u.files) || []
    ].find((d) => d.type.startsWith("image/"));
    p && (n.preventDefault(), E(p));
  }
  function vs(n) {
    var u, p;
    if (n.preventDefault(), a.props.uploads === !1) return;
    const d = (p = (u = n.dataTransfer) === null || u === void 0 ? void 0 : u.files) === null || p === void 0 ? void 0 : p[0];
    d && E(d);
  }
  us(() => {
    c = new Jr(l, { on_change: V, on_state: $ }), a.flush = () => {
      v(P) && et();
    }, c.brush.color = a.props.default_color || "#000000", I = new ResizeObserver(() => {
      const n = l.getBoundingClientRect();
      c.resize_display(n.width, n.height), !Z && c.has_page() && (Z = !0, c.fit(), pt(c.width, c.height));
    }), I.observe(l), window.addEventListener("keydown", Lt, !0), window.addEventListener("keyup", gt, !0), window.addEventListener("paste", ge), l.addEventListener("wheel", Qt, { passive: !1 }), _t(a.props.value);
  }), lr(() => {
    I?.disconnect(), window.removeEventListener("keydown", Lt, !0), window.removeEventListener("keyup", gt, !0), window.removeEventListener("paste", ge), clearTimeout(T);
  });
  let be;
  St(() => {
    const n = a.props.value;
    !c || n === be || (be = n, _t(n).catch((u) => F(M, `The canvas could not show the picture: ${u.message}`)));
  });
  const gs = [
    { id: "brush", label: "Brush", key: "B" },
    { id: "eraser", label: "Eraser", key: "E" },
    { id: "picker", label: "Eyedropper", key: "I" }
  ], K = () => (v(m), c);
  var zt = la();
  let ye, me;
  var ke = L(zt);
  {
    var bs = (n) => {
      var u = Vr(), p = L(u);
      yt(() => mt(p, a.shared.label)), G(n, u);
    };
    Tt(ke, (n) => {
      a.shared.show_label && a.shared.label && n(bs);
    });
  }
  var Pt = k(ke, 2), we = L(Pt), ys = L(we);
  Oe(ys, () => v(m), (n) => {
    var u = ea(), p = $e(u);
    se(p, 17, () => gs, Fe, (N, R) => {
      var B = Qr();
      B.__click = () => {
        c.tool = v(R).id, $();
      };
      let bt;
      var Et = L(B);
      yt(
        ($t) => {
          j(B, "data-canvas-action", v(R).id), j(B, "title", `${v(R).label} (${v(R).key})`), bt = Ct(B, 1, "svelte-49zqag", null, bt, $t), mt(Et, v(R).label);
        },
        [() => ({ active: K()?.tool === v(R).id })]
      ), G(N, B);
    });
    var d = k(p, 2), z = k(L(d));
    z.__input = (N) => Rt(+N.currentTarget.value, !1);
    var g = k(z, 2), b = L(g), H = k(d, 2), W = k(L(H));
    W.__input = (N) => {
      c.brush.opacity = +N.currentTarget.value;
    };
    var U = k(H, 2), S = k(L(U));
    S.__input = (N) => {
      c.brush.hardness = +N.currentTarget.value;
    };
    var Q = k(U, 2), Yt = L(Q);
    se(Yt, 17, () => a.props.colors || [], Fe, (N, R) => {
      var B = jr();
      let bt;
      B.__click = () => {
        c.brush.color = v(R), c.tool === "picker" && (c.tool = "brush"), $();
      };
      let Et;
      yt(
        ($t) => {
          bt = Ct(B, 1, "lc-swatch svelte-49zqag", null, bt, $t), j(B, "title", v(R)), j(B, "aria-label", `Colour ${v(R)}`), j(B, "data-canvas-colour", v(R)), Et = ae(B, "", Et, { background: v(R) });
        },
        [() => ({ active: K()?.brush.color === v(R) })]
      ), G(N, B);
    });
    var Kt = k(Yt, 2);
    Kt.__input = (N) => {
      c.brush.color = N.currentTarget.value;
    };
    var Mt = k(Q, 4);
    Mt.__click = () => c.undo();
    var qt = k(Mt, 2);
    qt.__click = () => c.redo();
    var Dt = k(qt, 2);
    Dt.__click = () => c.clear_layer(c.active);
    var at = k(Dt, 4);
    at.__click = () => c.fit();
    var Se = k(at, 2);
    Se.__click = () => c.actual_size();
    var Ie = k(Se, 2), qs = L(Ie), Ae = k(Ie, 2);
    {
      var Es = (N) => {
        var R = ta();
        R.__click = () => _.click(), G(N, R);
      };
      Tt(Ae, (N) => {
        a.props.uploads !== !1 && N(Es);
      });
    }
    var Ts = k(Ae, 2);
    Ts.__click = () => F(y, !v(y)), yt(
      (N, R, B, bt, Et, $t, Cs, Ss) => {
        Nt(z, N), mt(b, R), Nt(W, B), Nt(S, bt), Nt(Kt, Et), Mt.disabled = $t, qt.disabled = Cs, mt(qs, `${Ss ?? ""}%`);
      },
      [
        () => K()?.brush.size ?? 12,
        () => K()?.brush.size ?? "",
        () => K()?.brush.opacity ?? 1,
        () => K()?.brush.hardness ?? 1,
        () => K()?.brush.color ?? "#000000",
        () => !K()?.undo_stack.length,
        () => !K()?.redo_stack.length,
        () => Math.round((K()?.view.scale ?? 1) * 100)
      ]
    ), G(n, u);
  });
  var xe = k(we, 2), jt = L(xe);
  let ze;
  var rt = L(jt);
  rt.__pointerdown = vt, rt.__pointermove = Vt, rt.__pointerup = st, rt.__contextmenu = (n) => n.preventDefault();
  let Me;
  Gt(rt, (n) => l = n, () => l);
  var te = k(rt, 2);
  let qe;
  Gt(te, (n) => f = n, () => f);
  var Ee = k(te, 2);
  {
    var ms = (n) => {
      var u = sa();
      G(n, u);
    };
    Tt(Ee, (n) => {
      K()?.has_page() || n(ms);
    });
  }
  var ks = k(Ee, 2);
  {
    var ws = (n) => {
      var u = ra();
      G(n, u);
    };
    Tt(ks, (n) => {
      v(y) && n(ws);
    });
  }
  var xs = k(jt, 2), zs = L(xs);
  Oe(zs, () => v(m), (n) => {
    var u = na(), p = $e(u);
    se(p, 17, () => [...K()?.layers || []].reverse(), (g) => g.id, (g, b) => {
      var H = aa();
      let W;
      var U = L(H);
      U.__change = (at) => c.set_visible(v(b).id, at.currentTarget.checked);
      var S = k(U, 2);
      S.__click = () => At(v(b));
      var Q = L(S), Yt = k(Q), Kt = L(Yt), Mt = k(S, 2);
      Mt.__click = () => c.move_layer(v(b).id, 1);
      var qt = k(Mt, 2);
      qt.__click = () => c.move_layer(v(b).id, -1);
      var Dt = k(qt, 2);
      Dt.__change = (at) => c.set_opacity(v(b).id, +at.currentTarget.value), yt(
        (at) => {
          W = Ct(H, 1, "lc-layer svelte-49zqag", null, W, at), j(H, "data-layer", v(b).name), j(H, "data-layer-kind", v(b).kind), vr(U, v(b).visible), mt(Q, v(b).name), mt(Kt, v(b).kind), Nt(Dt, v(b).opacity);
        },
        [() => ({ active: v(b).id === K()?.active })]
      ), G(g, H);
    });
    var d = k(p, 2);
    {
      var z = (g) => {
        var b = ia();
        b.__click = () => c.add_layer("paint"), G(g, b);
      };
      Tt(d, (g) => {
        a.props.can_add_layers !== !1 && g(z);
      });
    }
    G(n, u);
  });
  var Te = k(xe, 2);
  {
    var Ms = (n) => {
      var u = oa(), p = L(u);
      yt(() => mt(p, v(M))), G(n, u);
    };
    Tt(Te, (n) => {
      v(M) && n(Ms);
    });
  }
  var Ce = k(Te, 2);
  Ce.__change = (n) => {
    const u = n.currentTarget.files?.[0];
    u && E(u), n.currentTarget.value = "";
  }, Gt(Ce, (n) => _ = n, () => _), Gt(Pt, (n) => o = n, () => o), yt(() => {
    ye = Ct(zt, 1, "lc-block svelte-49zqag", null, ye, { hidden: a.shared.visible === !1 }), j(zt, "id", a.shared.elem_id), j(zt, "data-pending", v(P) ? "1" : "0"), me = ae(zt, "", me, {
      "min-width": a.shared.min_width ? `${a.shared.min_width}px` : void 0
    }), ze = Ct(jt, 1, "lc-stage svelte-49zqag", null, ze, { panning: v(h) || w }), Me = ae(rt, "", Me, { height: `${a.props.canvas_height ?? 480}px` }), qe = Ct(te, 1, "lc-cursor svelte-49zqag", null, qe, { hidden: v(h) });
  }), Wt("pointerleave", Pt, xt), Wt("dragover", Pt, (n) => n.preventDefault()), Wt("drop", Pt, vs), Wt("pointercancel", rt, st), G(e, zt), sr();
}
er([
  "click",
  "input",
  "pointerdown",
  "pointermove",
  "pointerup",
  "contextmenu",
  "change"
]);
export {
  fa as default
};
