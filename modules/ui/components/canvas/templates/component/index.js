import { i as is, g as as, o as Ss, a as Ae, b as Is, T as As, c as Rs, d as Ls, e as le, r as he, f as Jt, p as ue, h as Qt, j as Nt, m as Ps, s as ns, k as os, u as It, l as Ft, n as de, E as Ds, q as v, t as Re, v as $s, w as Ns, x as Le, y as Os, z as Fs, A as Us, B as pe, C as ft, I as ee, D as Bs, F as Hs, L as Ys, N as Ks, G as Ws, H as Gs, J as Xs, K as Zs, S as Js, M as Vs, O as Qs, P as js, Q as ct, R as Pe, U as N, V as tr, W as mt, X as Xt, Y as er, Z as L, _ as k, $ as sr, a0 as rr, a1 as De, a2 as kt } from "./render-BWHS4s6_.js";
function ls(e) {
  throw new Error("https://svelte.dev/e/lifecycle_outside_component");
}
const ir = [];
function ar(e, t = !1, s = !1) {
  return Vt(e, /* @__PURE__ */ new Map(), "", ir, null, s);
}
function Vt(e, t, s, r, i = null, a = !1) {
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
        var c = e[f];
        f in e && (l[f] = Vt(c, t, s, r, null, a));
      }
      return l;
    }
    if (as(e) === Ss) {
      l = {}, t.set(e, l), i !== null && t.set(i, l);
      for (var _ in e)
        l[_] = Vt(
          // @ts-expect-error
          e[_],
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
      return Vt(
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
function nr(e) {
  var t = document.createElement("template");
  return t.innerHTML = e.replaceAll("<!>", "<!---->"), t.content;
}
function $e(e, t) {
  var s = (
    /** @type {Effect} */
    Ls
  );
  s.nodes === null && (s.nodes = { start: e, end: t, a: null, t: null });
}
// @__NO_SIDE_EFFECTS__
function X(e, t) {
  var s = (t & As) !== 0, r = (t & Rs) !== 0, i, a = !e.startsWith("<!>");
  return () => {
    i === void 0 && (i = nr(a ? e : "<!>" + e), s || (i = /** @type {TemplateNode} */
    Ae(i)));
    var o = (
      /** @type {TemplateNode} */
      r || Is ? document.importNode(i, !0) : i.cloneNode(!0)
    );
    if (s) {
      var l = (
        /** @type {TemplateNode} */
        Ae(o)
      ), f = (
        /** @type {TemplateNode} */
        o.lastChild
      );
      $e(l, f);
    } else
      $e(o, o);
    return o;
  };
}
function G(e, t) {
  e !== null && e.before(
    /** @type {Node} */
    t
  );
}
class cs {
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
  #i = !0;
  /**
   * @param {TemplateNode} anchor
   * @param {boolean} transition
   */
  constructor(t, s = !0) {
    this.anchor = t, this.#i = s;
  }
  #a = () => {
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
        he(r), this.#r.delete(s);
      else {
        var i = this.#t.get(s);
        i && (this.#s.set(s, i.effect), this.#t.delete(s), i.fragment.lastChild.remove(), this.anchor.before(i.fragment), r = i.effect);
      }
      for (const [a, o] of this.#e) {
        if (this.#e.delete(a), a === t)
          break;
        const l = this.#t.get(o);
        l && (Jt(l.effect), this.#t.delete(o));
      }
      for (const [a, o] of this.#s) {
        if (a === s || this.#r.has(a)) continue;
        const l = () => {
          if (Array.from(this.#e.values()).includes(a)) {
            var c = document.createDocumentFragment();
            Ps(o, c), c.append(Qt()), this.#t.set(a, { effect: o, fragment: c });
          } else
            Jt(o);
          this.#r.delete(a), this.#s.delete(a);
        };
        this.#i || !r ? (this.#r.add(a), ue(o, l, !1)) : l();
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
      s.includes(r) || (Jt(i.effect), this.#t.delete(r));
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
    ), i = ns();
    if (s && !this.#s.has(t) && !this.#t.has(t))
      if (i) {
        var a = document.createDocumentFragment(), o = Qt();
        a.append(o), this.#t.set(t, {
          effect: Nt(() => s(o)),
          fragment: a
        });
      } else
        this.#s.set(
          t,
          Nt(() => s(this.anchor))
        );
    if (this.#e.set(r, t), i) {
      for (const [l, f] of this.#s)
        l === t ? r.skipped_effects.delete(f) : r.skipped_effects.add(f);
      for (const [l, f] of this.#t)
        l === t ? r.skipped_effects.delete(f.effect) : r.skipped_effects.add(f.effect);
      r.oncommit(this.#a), r.ondiscard(this.#n);
    } else
      this.#a();
  }
}
function fs(e) {
  os === null && ls(), It(() => {
    const t = Ft(e);
    if (typeof t == "function") return (
      /** @type {() => void} */
      t
    );
  });
}
function or(e) {
  os === null && ls(), fs(() => () => Ft(e));
}
function Ct(e, t, s = !1) {
  var r = new cs(e), i = s ? Ds : 0;
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
function Ne(e, t, s) {
  var r = new cs(e);
  de(() => {
    var i = t();
    r.ensure(i, s);
  });
}
function Oe(e, t) {
  return t;
}
function lr(e, t, s) {
  for (var r = [], i = t.length, a, o = t.length, l = 0; l < i; l++) {
    let g = t[l];
    ue(
      g,
      () => {
        if (a) {
          if (a.pending.delete(g), a.done.add(g), a.pending.size === 0) {
            var m = (
              /** @type {Set<EachOutroGroup>} */
              e.outrogroups
            );
            ce(pe(a.done)), m.delete(a), m.size === 0 && (e.outrogroups = null);
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
      var c = (
        /** @type {Element} */
        s
      ), _ = (
        /** @type {Element} */
        c.parentNode
      );
      Bs(_), _.append(c), e.items.clear();
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
    Jt(e[s], t);
}
var Fe;
function se(e, t, s, r, i, a = null) {
  var o = e, l = /* @__PURE__ */ new Map(), f = null, c = $s(() => {
    var w = s();
    return is(w) ? w : w == null ? [] : pe(w);
  }), _, g = !0;
  function m() {
    u.fallback = f, cr(u, _, o, t, r), f !== null && (_.length === 0 ? (f.f & ft) === 0 ? he(f) : (f.f ^= ft, $t(f, null, o)) : ue(f, () => {
      f = null;
    }));
  }
  var M = de(() => {
    _ = /** @type {V[]} */
    v(c);
    for (var w = _.length, I = /* @__PURE__ */ new Set(), q = (
      /** @type {Batch} */
      le
    ), E = ns(), C = 0; C < w; C += 1) {
      var B = _[C], T = r(B, C), A = g ? null : l.get(T);
      A ? (A.v && Re(A.v, B), A.i && Re(A.i, C), E && q.skipped_effects.delete(A.e)) : (A = fr(
        l,
        g ? o : Fe ??= Qt(),
        B,
        T,
        C,
        i,
        t,
        s
      ), g || (A.e.f |= ft), l.set(T, A)), I.add(T);
    }
    if (w === 0 && a && !f && (g ? f = Nt(() => a(o)) : (f = Nt(() => a(Fe ??= Qt())), f.f |= ft)), !g)
      if (E) {
        for (const [Y, P] of l)
          I.has(Y) || q.skipped_effects.add(P.e);
        q.oncommit(m), q.ondiscard(() => {
        });
      } else
        m();
    v(c);
  }), u = { effect: M, items: l, outrogroups: null, fallback: f };
  g = !1;
}
function cr(e, t, s, r, i) {
  var a = t.length, o = e.items, l = e.effect.first, f, c = null, _ = [], g = [], m, M, u, w;
  for (w = 0; w < a; w += 1) {
    if (m = t[w], M = i(m, w), u = /** @type {EachItem} */
    o.get(M).e, e.outrogroups !== null)
      for (const P of e.outrogroups)
        P.pending.delete(u), P.done.delete(u);
    if ((u.f & ft) !== 0)
      if (u.f ^= ft, u === l)
        $t(u, null, s);
      else {
        var I = c ? c.next : l;
        u === e.effect.last && (e.effect.last = u.prev), u.prev && (u.prev.next = u.next), u.next && (u.next.prev = u.prev), nt(e, c, u), nt(e, u, I), $t(u, I, s), c = u, _ = [], g = [], l = c.next;
        continue;
      }
    if ((u.f & ee) !== 0 && he(u), u !== l) {
      if (f !== void 0 && f.has(u)) {
        if (_.length < g.length) {
          var q = g[0], E;
          c = q.prev;
          var C = _[0], B = _[_.length - 1];
          for (E = 0; E < _.length; E += 1)
            $t(_[E], q, s);
          for (E = 0; E < g.length; E += 1)
            f.delete(g[E]);
          nt(e, C.prev, B.next), nt(e, c, C), nt(e, B, q), l = q, c = B, w -= 1, _ = [], g = [];
        } else
          f.delete(u), $t(u, l, s), nt(e, u.prev, u.next), nt(e, u, c === null ? e.effect.first : c.next), nt(e, c, u), c = u;
        continue;
      }
      for (_ = [], g = []; l !== null && l !== u; )
        (f ??= /* @__PURE__ */ new Set()).add(l), g.push(l), l = l.next;
      if (l === null)
        continue;
    }
    (u.f & ft) === 0 && _.push(u), c = u, l = u.next;
  }
  if (e.outrogroups !== null) {
    for (const P of e.outrogroups)
      P.pending.size === 0 && (ce(pe(P.done)), e.outrogroups?.delete(P));
    e.outrogroups.size === 0 && (e.outrogroups = null);
  }
  if (l !== null || f !== void 0) {
    var T = [];
    if (f !== void 0)
      for (u of f)
        (u.f & ee) === 0 && T.push(u);
    for (; l !== null; )
      (l.f & ee) === 0 && l !== e.fallback && T.push(l), l = l.next;
    var A = T.length;
    if (A > 0) {
      var Y = null;
      lr(e, T, Y);
    }
  }
}
function fr(e, t, s, r, i, a, o, l) {
  var f = (o & Os) !== 0 ? (o & Fs) === 0 ? Us(s, !1, !1) : Le(s) : null, c = (o & Ns) !== 0 ? Le(i) : null;
  return {
    v: f,
    i: c,
    e: Nt(() => (a(t, f ?? s, c ?? i, l), () => {
      e.delete(r);
    }))
  };
}
function $t(e, t, s) {
  if (e.nodes)
    for (var r = e.nodes.start, i = e.nodes.end, a = t && (t.f & ft) === 0 ? (
      /** @type {EffectNodes} */
      t.nodes.start
    ) : s; r !== null; ) {
      var o = (
        /** @type {TemplateNode} */
        Hs(r)
      );
      if (a.before(r), r === i)
        return;
      r = o;
    }
}
function nt(e, t, s) {
  t === null ? e.effect.first = s : t.next = s, s === null ? e.effect.last = t : s.prev = t;
}
const Ue = [...` 	
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
          (o === 0 || Ue.includes(r[o - 1])) && (l === r.length || Ue.includes(r[l])) ? r = (o === 0 ? "" : r.substring(0, o)) + r.substring(l + 1) : o = l;
        }
  }
  return r === "" ? null : r;
}
function Be(e, t = !1) {
  var s = t ? " !important;" : ";", r = "";
  for (var i in e) {
    var a = e[i];
    a != null && a !== "" && (r += " " + i + ": " + a + s);
  }
  return r;
}
function ur(e, t) {
  if (t) {
    var s = "", r, i;
    return Array.isArray(t) ? (r = t[0], i = t[1]) : r = t, r && (s += Be(r)), i && (s += Be(i, !0)), s = s.trim(), s === "" ? null : s;
  }
  return String(e);
}
function St(e, t, s, r, i, a) {
  var o = e.__className;
  if (o !== s || o === void 0) {
    var l = hr(s, r, a);
    l == null ? e.removeAttribute("class") : e.className = l, e.__className = s;
  } else if (a && i !== a)
    for (var f in a) {
      var c = !!a[f];
      (i == null || c !== !!i[f]) && e.classList.toggle(f, c);
    }
  return a;
}
function re(e, t = {}, s, r) {
  for (var i in s) {
    var a = s[i];
    t[i] !== a && (s[i] == null ? e.style.removeProperty(i) : e.style.setProperty(i, a, r));
  }
}
function ie(e, t, s, r) {
  var i = e.__style;
  if (i !== t) {
    var a = ur(t, r);
    a == null ? e.removeAttribute("style") : e.style.cssText = a, e.__style = t;
  } else r && (Array.isArray(r) ? (re(e, s?.[0], r[0]), re(e, s?.[1], r[1], "important")) : re(e, s, r));
  return r;
}
const dr = /* @__PURE__ */ Symbol("is custom element"), pr = /* @__PURE__ */ Symbol("is html");
function Dt(e, t) {
  var s = _e(e);
  s.value === (s.value = // treat null and undefined the same for the initial value
  t ?? void 0) || // @ts-expect-error
  // `progress` elements always need their value set when it's `0`
  e.value === t && (t !== 0 || e.nodeName !== "PROGRESS") || (e.value = t ?? "");
}
function _r(e, t) {
  var s = _e(e);
  s.checked !== (s.checked = // treat null and undefined the same for the initial value
  t ?? void 0) && (e.checked = t);
}
function tt(e, t, s, r) {
  var i = _e(e);
  i[t] !== (i[t] = s) && (t === "loading" && (e[Ys] = s), s == null ? e.removeAttribute(t) : typeof s != "string" && vr(e).includes(t) ? e[t] = s : e.setAttribute(t, s));
}
function _e(e) {
  return (
    /** @type {Record<string | symbol, unknown>} **/
    // @ts-expect-error
    e.__attributes ??= {
      [dr]: e.nodeName.includes("-"),
      [pr]: e.namespaceURI === Ks
    }
  );
}
var He = /* @__PURE__ */ new Map();
function vr(e) {
  var t = e.getAttribute("is") || e.nodeName, s = He.get(t);
  if (s) return s;
  He.set(t, s = []);
  for (var r, i = e, a = Element.prototype; a !== i; ) {
    r = Ws(i);
    for (var o in r)
      r[o].set && s.push(o);
    i = as(i);
  }
  return s;
}
function Ye(e, t) {
  return e === t || e?.[Js] === t;
}
function Zt(e = {}, t, s, r) {
  return Gs(() => {
    var i, a;
    return Xs(() => {
      i = a, a = [], Ft(() => {
        e !== s(...a) && (t(e, ...a), i && Ye(s(...i), e) && t(null, ...i));
      });
    }), () => {
      Zs(() => {
        a && Ye(s(...a), e) && t(null, ...a);
      });
    };
  }), e;
}
function gr(e, t, s) {
  if (e == null)
    return t(void 0), Vs;
  const r = Ft(
    () => e.subscribe(
      t,
      // @ts-expect-error
      s
    )
  );
  return r.unsubscribe ? () => r.unsubscribe() : r;
}
function br(e) {
  let t;
  return gr(e, (s) => t = s)(), t;
}
const yr = {
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
function mr(e, t, s) {
  return new Proxy(
    { props: e, exclude: t },
    yr
  );
}
const kr = [
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
], Ke = {
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
kr.reduce((e, { color: t, primary: s, secondary: r }) => ({
  ...e,
  [t]: {
    primary: Ke[t][s],
    secondary: Ke[t][r]
  }
}), {});
function wr(e) {
  let t;
  const s = js((i) => {
    let a = !1;
    const o = e.subscribe((l) => {
      t = l, a && i();
    });
    return a = !0, o;
  });
  function r() {
    return Qs() ? (s(), t) : br(e);
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
const xr = "__i18n__", zr = [
  "label",
  "info",
  "placeholder",
  "description",
  "title",
  "value"
], Mr = [
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
function qr(e) {
  return typeof e == "string" && e.includes(xr);
}
class Er {
  load_component;
  #e = ct(Pe({}));
  get shared() {
    return v(this.#e);
  }
  set shared(t) {
    N(this.#e, t, !0);
  }
  #s = ct(Pe({}));
  get props() {
    return v(this.#s);
  }
  set props(t) {
    N(this.#s, t, !0);
  }
  #t = ct((t) => t);
  get i18n() {
    return v(this.#t);
  }
  set i18n(t) {
    N(this.#t, t, !0);
  }
  i18n_store;
  _i18n_from_store;
  translatable_props = {};
  dispatcher;
  last_update = null;
  shared_props = Mr;
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
    this.i18n = this.props.i18n ?? ((r) => r), this.i18n_store = t.props.i18n_store, this._i18n_from_store = this.i18n_store ? wr(this.i18n_store) : void 0;
    for (const r of zr)
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
    ), this.registered_id = this.shared.id, this.last_shared_props = t.shared_props, this.last_props = t.props, It(() => {
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
      ), this.registered_id = r, Ft(() => {
        this.shared.id = r;
      });
    }), It(() => () => {
      this.registered_id !== null && this.unregister_component(this.registered_id, this.set_data_callback);
    }), It(() => this.i18n_store ? this.i18n_store.subscribe(() => {
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
    return ar(this.props);
  }
  update(t) {
    this.set_data(t);
  }
  set_data(t) {
    for (const s in t) {
      const r = t[s], i = qr(r) ? this._translate_and_store(this.shared_props.includes(s) ? "shared" : "props", s, r) : r;
      if (this.shared_props.includes(s)) {
        const a = s;
        this.shared[a] = i;
        continue;
      }
      this.props[s] = i;
    }
  }
  watch_for_change() {
    It(() => {
      this.mounted || (this.old_value = this.props.value, this.mounted = !0), this.old_value != this.props.value && (this.old_value = this.props.value, this.dispatch("change"));
    });
  }
}
const { PI: Tr } = Math, Ot = Tr + 1e-4, We = 0.5, Ge = [1, 1];
function Xe(e, t, s, r = (i) => i) {
  return e * r(0.5 - t * (0.5 - s));
}
const { min: ae } = Math;
function hs(e, t, s) {
  let r = ae(1, t / s);
  return ae(1, e + (ae(1, 1 - r) - e) * (r * 0.275));
}
function Cr(e) {
  return [-e[0], -e[1]];
}
function V(e, t) {
  return [e[0] + t[0], e[1] + t[1]];
}
function Ze(e, t, s) {
  return e[0] = t[0] + s[0], e[1] = t[1] + s[1], e;
}
function ut(e, t) {
  return [e[0] - t[0], e[1] - t[1]];
}
function fe(e, t, s) {
  return e[0] = t[0] - s[0], e[1] = t[1] - s[1], e;
}
function ht(e, t) {
  return [e[0] * t, e[1] * t];
}
function ne(e, t, s) {
  return e[0] = t[0] * s, e[1] = t[1] * s, e;
}
function Sr(e, t) {
  return [e[0] / t, e[1] / t];
}
function us(e) {
  return [e[1], -e[0]];
}
function oe(e, t) {
  let s = t[0];
  return e[0] = t[1], e[1] = -s, e;
}
function Je(e, t) {
  return e[0] * t[0] + e[1] * t[1];
}
function Ir(e, t) {
  return e[0] === t[0] && e[1] === t[1];
}
function Ar(e) {
  return Math.hypot(e[0], e[1]);
}
function Ve(e, t) {
  let s = e[0] - t[0], r = e[1] - t[1];
  return s * s + r * r;
}
function ds(e) {
  return Sr(e, Ar(e));
}
function Rr(e, t) {
  return Math.hypot(e[1] - t[1], e[0] - t[0]);
}
function ve(e, t, s) {
  let r = Math.sin(s), i = Math.cos(s), a = e[0] - t[0], o = e[1] - t[1], l = a * i - o * r, f = a * r + o * i;
  return [l + t[0], f + t[1]];
}
function Qe(e, t, s, r) {
  let i = Math.sin(r), a = Math.cos(r), o = t[0] - s[0], l = t[1] - s[1], f = o * a - l * i, c = o * i + l * a;
  return e[0] = f + s[0], e[1] = c + s[1], e;
}
function je(e, t, s) {
  return V(e, ht(ut(t, e), s));
}
function Lr(e, t, s, r) {
  let i = s[0] - t[0], a = s[1] - t[1];
  return e[0] = t[0] + i * r, e[1] = t[1] + a * r, e;
}
function ps(e, t, s) {
  return V(e, ht(t, s));
}
const $ = [0, 0], ot = [0, 0], lt = [0, 0];
function Pr(e, t) {
  let s = ps(e, ds(us(ut(e, V(e, [1, 1])))), -t), r = [], i = 1 / 13;
  for (let a = i; a <= 1; a += i) r.push(ve(s, e, Ot * 2 * a));
  return r;
}
function Dr(e, t, s) {
  let r = [], i = 1 / s;
  for (let a = i; a <= 1; a += i) r.push(ve(t, e, Ot * a));
  return r;
}
function $r(e, t, s) {
  let r = ut(t, s), i = ht(r, 0.5), a = ht(r, 0.51);
  return [ut(e, i), ut(e, a), V(e, a), V(e, i)];
}
function Nr(e, t, s, r) {
  let i = [], a = ps(e, t, s), o = 1 / r;
  for (let l = o; l < 1; l += o) i.push(ve(a, e, Ot * 3 * l));
  return i;
}
function Or(e, t, s) {
  return [V(e, ht(t, s)), V(e, ht(t, s * 0.99)), ut(e, ht(t, s * 0.99)), ut(e, ht(t, s))];
}
function ts(e, t, s) {
  return e === !1 || e === void 0 ? 0 : e === !0 ? Math.max(t, s) : e;
}
function Fr(e, t, s) {
  return e.slice(0, 10).reduce((r, i) => {
    let a = i.pressure;
    return t && (a = hs(r, i.distance, s)), (r + a) / 2;
  }, e[0].pressure);
}
function Ur(e, t = {}) {
  let { size: s = 16, smoothing: r = 0.5, thinning: i = 0.5, simulatePressure: a = !0, easing: o = (z) => z, start: l = {}, end: f = {}, last: c = !1 } = t, { cap: _ = !0, easing: g = (z) => z * (2 - z) } = l, { cap: m = !0, easing: M = (z) => --z * z * z + 1 } = f;
  if (e.length === 0 || s <= 0) return [];
  let u = e[e.length - 1].runningLength, w = ts(l.taper, s, u), I = ts(f.taper, s, u), q = (s * r) ** 2, E = [], C = [], B = Fr(e, a, s), T = Xe(s, i, e[e.length - 1].pressure, o), A, Y = e[0].vector, P = e[0].point, H = P, Q = P, Z = H, dt = !1;
  for (let z = 0; z < e.length; z++) {
    let { pressure: rt } = e[z], { point: J, vector: _t, distance: Ut, runningLength: vt } = e[z], zt = z === e.length - 1;
    if (!zt && u - vt < 3) continue;
    i ? (a && (rt = hs(B, Ut, s)), T = Xe(s, i, rt, o)) : T = s / 2, A === void 0 && (A = T);
    let Bt = vt < w ? g(vt / w) : 1, Ht = u - vt < I ? M((u - vt) / I) : 1;
    T = Math.max(0.01, T * Math.min(Bt, Ht));
    let Yt = (zt ? e[z] : e[z + 1]).vector, gt = zt ? 1 : Je(_t, Yt), Kt = Je(_t, Y) < 0 && !dt, At = gt !== null && gt < 0;
    if (Kt || At) {
      oe($, Y), ne($, $, T);
      for (let bt = 0; bt <= 1; bt += 0.07692307692307693) fe(ot, J, $), Qe(ot, ot, J, Ot * bt), Q = [ot[0], ot[1]], E.push(Q), Ze(lt, J, $), Qe(lt, lt, J, Ot * -bt), Z = [lt[0], lt[1]], C.push(Z);
      P = Q, H = Z, At && (dt = !0);
      continue;
    }
    if (dt = !1, zt) {
      oe($, _t), ne($, $, T), E.push(ut(J, $)), C.push(V(J, $));
      continue;
    }
    Lr($, Yt, _t, gt), oe($, $), ne($, $, T), fe(ot, J, $), Q = [ot[0], ot[1]], (z <= 1 || Ve(P, Q) > q) && (E.push(Q), P = Q), Ze(lt, J, $), Z = [lt[0], lt[1]], (z <= 1 || Ve(H, Z) > q) && (C.push(Z), H = Z), B = rt, Y = _t;
  }
  let wt = [e[0].point[0], e[0].point[1]], pt = e.length > 1 ? [e[e.length - 1].point[0], e[e.length - 1].point[1]] : V(e[0].point, [1, 1]), xt = [], st = [];
  if (e.length === 1) {
    if (!(w || I) || c) return Pr(wt, A || T);
  } else {
    w || I && e.length === 1 || (_ ? xt.push(...Dr(wt, C[0], 13)) : xt.push(...$r(wt, E[0], C[0])));
    let z = us(Cr(e[e.length - 1].vector));
    I || w && e.length === 1 ? st.push(pt) : m ? st.push(...Nr(pt, z, T, 29)) : st.push(...Or(pt, z, T));
  }
  return E.concat(st, C.reverse(), xt);
}
const es = [0, 0];
function ss(e) {
  return e != null && e >= 0;
}
function Br(e, t = {}) {
  let { streamline: s = 0.5, size: r = 16, last: i = !1 } = t;
  if (e.length === 0) return [];
  let a = 0.15 + (1 - s) * 0.85, o = Array.isArray(e[0]) ? e : e.map(({ x: m, y: M, pressure: u = We }) => [m, M, u]);
  if (o.length === 2) {
    let m = o[1];
    o = o.slice(0, -1);
    for (let M = 1; M < 5; M++) o.push(je(o[0], m, M / 4));
  }
  o.length === 1 && (o = [...o, [...V(o[0], Ge), ...o[0].slice(2)]]);
  let l = [{ point: [o[0][0], o[0][1]], pressure: ss(o[0][2]) ? o[0][2] : 0.25, vector: [...Ge], distance: 0, runningLength: 0 }], f = !1, c = 0, _ = l[0], g = o.length - 1;
  for (let m = 1; m < o.length; m++) {
    let M = i && m === g ? [o[m][0], o[m][1]] : je(_.point, o[m], a);
    if (Ir(_.point, M)) continue;
    let u = Rr(M, _.point);
    if (c += u, m < g && !f) {
      if (c < r) continue;
      f = !0;
    }
    fe(es, _.point, M), _ = { point: M, pressure: ss(o[m][2]) ? o[m][2] : We, vector: ds(es), distance: u, runningLength: c }, l.push(_);
  }
  return l[0].vector = l[1]?.vector || [0, 0], l;
}
function Hr(e, t = {}) {
  return Ur(Br(e, t), t);
}
const Yr = "#ff2d6f", Kr = 60, rs = 0.02, Wr = 64;
function et(e, t) {
  const s = document.createElement("canvas");
  return s.width = e, s.height = t, s;
}
function Gr(e) {
  const t = new Path2D();
  if (!e.length) return t;
  t.moveTo(e[0][0], e[0][1]);
  for (let s = 1; s < e.length; s++) {
    const [r, i] = e[s], [a, o] = e[(s + 1) % e.length];
    t.quadraticCurveTo(r, i, (r + a) / 2, (i + o) / 2);
  }
  return t.closePath(), t;
}
let Xr = 1;
class Zr {
  constructor(t, { on_change: s, on_state: r }) {
    this.display = t, this.ctx = t.getContext("2d"), this.on_change = s, this.on_state = r, this.width = 0, this.height = 0, this.background = null, this.background_url = null, this.layers = [], this.active = null, this.view = { scale: 1, ox: 0, oy: 0 }, this.tool = "brush", this.brush = { size: 12, opacity: 1, hardness: 1, color: "#000000" }, this.undo_stack = [], this.redo_stack = [], this.stroke = null, this.stroke_canvas = null, this.work_canvas = null, this.frame = 0, this.dpr = window.devicePixelRatio || 1, this.backdrop = null;
  }
  // ------------------------------------------------------------------ document
  has_page() {
    return this.width > 0 && this.height > 0;
  }
  new_layer(t) {
    const s = et(this.width, this.height);
    return {
      id: Xr++,
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
    if (this.width = t, this.height = s, this.background = r, this.background_url = i, this.layers = a.map((f) => this.new_layer(f)), this.stroke_canvas = et(t, s), this.work_canvas = et(t, s), this.layers.some((f) => f.id === this.active) || (this.active = this.layers.length ? this.layers[this.layers.length - 1].id : null), l) {
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
        const s = et(t.canvas.width, t.canvas.height);
        return s.getContext("2d").drawImage(t.canvas, 0, 0), { ...t, canvas: s };
      })
    };
  }
  restore(t) {
    const s = t.width !== this.width || t.height !== this.height;
    this.width = t.width, this.height = t.height, this.background = t.background, this.background_url = t.background_url, this.active = t.active, this.layers = t.layers.map((r) => {
      const i = et(r.canvas.width, r.canvas.height);
      return i.getContext("2d").drawImage(r.canvas, 0, 0), { ...r, canvas: i, dirty: !0 };
    }), s && (this.stroke_canvas = et(this.width, this.height), this.work_canvas = et(this.width, this.height), this.fit()), this.changed();
  }
  layer(t) {
    return this.layers.find((s) => s.id === t) || null;
  }
  layer_named(t) {
    return this.layers.find((s) => s.name === t) || null;
  }
  // ------------------------------------------------------------------ history
  push(t) {
    this.undo_stack.push(t), this.undo_stack.length > Kr && this.undo_stack.shift(), this.redo_stack = [];
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
    if (r.clearRect(0, 0, this.width, this.height), r.fillStyle = s.layer.kind === "mask" ? Yr : this.brush.color, s.points.length === 1) {
      const [i, a, o] = s.points[0], l = this.stroke_size() / 2 * (s.pen ? 0.3 + 0.7 * o : 1);
      r.beginPath(), r.arc(i, a, Math.max(0.35, l), 0, Math.PI * 2), r.fill();
    } else
      r.fill(Gr(Hr(s.points, this.stroke_options(t))));
    this.request_render();
  }
  stroke_box() {
    const t = this.stroke_size() + 4 + this.blur_radius() * 3;
    let s = 1 / 0, r = 1 / 0, i = -1 / 0, a = -1 / 0;
    for (const [_, g] of this.stroke.points)
      s = Math.min(s, _), r = Math.min(r, g), i = Math.max(i, _), a = Math.max(a, g);
    const o = Math.max(0, Math.floor(s - t)), l = Math.max(0, Math.floor(r - t)), f = Math.min(this.width, Math.ceil(i + t)) - o, c = Math.min(this.height, Math.ceil(a + t)) - l;
    return { x: o, y: l, w: f, h: c };
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
    const i = et(1, 1).getContext("2d", { willReadFrequently: !0 });
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
    const t = 24, s = Math.max(rs, Math.min((this.css_w - t) / this.width, (this.css_h - t) / this.height));
    this.set_view(s, (this.css_w - this.width * s) / 2, (this.css_h - this.height * s) / 2);
  }
  actual_size() {
    const t = this.css_w / 2, s = this.css_h / 2;
    this.zoom_at(t, s, 1 / this.view.scale);
  }
  zoom_at(t, s, r) {
    const i = Math.min(Wr, Math.max(rs, this.view.scale * r)), a = i / this.view.scale;
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
      const t = et(16, 16), s = t.getContext("2d");
      s.fillStyle = "#9a9a9a", s.fillRect(0, 0, 16, 16), s.fillStyle = "#8a8a8a", s.fillRect(0, 0, 8, 8), s.fillRect(8, 8, 8, 8), this.backdrop = this.ctx.createPattern(t, "repeat");
    }
    return this.backdrop;
  }
  render() {
    const t = this.ctx, { scale: s, ox: r, oy: i } = this.view;
    if (t.setTransform(1, 0, 0, 1, 0, 0), t.fillStyle = this.backdrop_pattern(), t.fillRect(0, 0, this.display.width, this.display.height), !this.has_page()) return;
    const a = this.dpr;
    t.setTransform(a * s, 0, 0, a * s, a * r, a * i), t.imageSmoothingEnabled = s < 2, t.fillStyle = "#ffffff", t.globalAlpha = 1, this.background ? t.drawImage(this.background, 0, 0) : (t.fillStyle = "#f4f4f4", t.fillRect(0, 0, this.width, this.height));
    for (const _ of this.layers) {
      if (!_.visible) continue;
      let g = _.canvas;
      if (this.stroke && this.stroke.layer === _) {
        const m = this.work_canvas.getContext("2d");
        m.clearRect(0, 0, this.width, this.height), m.drawImage(_.canvas, 0, 0), this.apply_stroke_to(m, this.stroke.eraser), g = this.work_canvas;
      }
      t.globalAlpha = _.opacity, t.drawImage(g, 0, 0);
    }
    t.globalAlpha = 1, t.setTransform(a, 0, 0, a, 0, 0);
    const o = r, l = i, f = this.width * s, c = this.height * s;
    t.lineWidth = 1, t.strokeStyle = "rgba(0,0,0,0.85)", t.strokeRect(Math.round(o) - 0.5, Math.round(l) - 0.5, Math.round(f) + 1, Math.round(c) + 1), t.strokeStyle = "rgba(255,255,255,0.9)", t.strokeRect(Math.round(o) - 1.5, Math.round(l) - 1.5, Math.round(f) + 3, Math.round(c) + 3);
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
var Jr = /* @__PURE__ */ X('<span class="lc-label svelte-49zqag"> </span>'), Vr = /* @__PURE__ */ X('<button type="button"> </button>'), Qr = /* @__PURE__ */ X('<button type="button"></button>'), jr = /* @__PURE__ */ X('<button type="button" data-canvas-action="upload" title="Open a picture as the background (or drop / paste it)" class="svelte-49zqag">Upload</button>'), ti = /* @__PURE__ */ X('<!> <label class="lc-field svelte-49zqag" title="Brush size in screen pixels ([ and ])">Size <input type="range" min="1" max="200" data-canvas-field="size" class="svelte-49zqag"/> <span data-canvas-readout="size"> </span></label> <label class="lc-field svelte-49zqag">Opacity <input type="range" min="0.05" max="1" step="0.05" data-canvas-field="opacity" class="svelte-49zqag"/></label> <label class="lc-field svelte-49zqag">Hardness <input type="range" min="0" max="1" step="0.05" data-canvas-field="hardness" class="svelte-49zqag"/></label> <span class="lc-swatches svelte-49zqag"><!> <input type="color" data-canvas-field="colour" title="Pick a colour"/></span> <span class="lc-sep svelte-49zqag"></span> <button type="button" data-canvas-action="undo" title="Undo (Ctrl+Z)" class="svelte-49zqag">Undo</button> <button type="button" data-canvas-action="redo" title="Redo (Ctrl+Shift+Z, Ctrl+Y)" class="svelte-49zqag">Redo</button> <button type="button" data-canvas-action="clear" title="Clear the selected layer (Ctrl+Z brings it back)" class="svelte-49zqag">Clear</button> <span class="lc-sep svelte-49zqag"></span> <button type="button" data-canvas-action="fit" title="Fit the page (F)" class="svelte-49zqag">Fit</button> <button type="button" data-canvas-action="actual" title="One picture pixel per screen pixel" class="svelte-49zqag">100%</button> <span class="lc-zoom" data-canvas-readout="zoom"> </span> <!> <button type="button" data-canvas-action="help" title="Shortcuts (?)" class="svelte-49zqag">?</button>', 1), ei = /* @__PURE__ */ X('<div class="lc-empty svelte-49zqag">Drop a picture here, paste it, or press Upload.</div>'), si = /* @__PURE__ */ X('<div class="lc-help svelte-49zqag" role="dialog" aria-label="Canvas shortcuts" data-canvas-help=""><b>Canvas shortcuts</b> (while the pointer or focus is on the canvas) <ul><li><kbd class="svelte-49zqag">B</kbd> brush, <kbd class="svelte-49zqag">E</kbd> eraser, <kbd class="svelte-49zqag">I</kbd> eyedropper</li> <li><kbd class="svelte-49zqag">[</kbd> / <kbd class="svelte-49zqag">]</kbd> smaller / bigger brush</li> <li><kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Z</kbd> undo; <kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Shift</kbd>+<kbd class="svelte-49zqag">Z</kbd> or <kbd class="svelte-49zqag">Ctrl</kbd>+<kbd class="svelte-49zqag">Y</kbd> redo</li> <li><kbd class="svelte-49zqag">Space</kbd>+drag or middle button: pan; wheel: zoom at the pointer; <kbd class="svelte-49zqag">F</kbd> fit</li> <li>Touch: two fingers pinch to zoom and drag to pan</li> <li><kbd class="svelte-49zqag">?</kbd> this help, <kbd class="svelte-49zqag">Esc</kbd> closes it</li></ul></div>'), ri = /* @__PURE__ */ X('<div><input type="checkbox" title="Show" data-layer-action="visible" class="svelte-49zqag"/> <button type="button" class="lc-layer-name svelte-49zqag" data-layer-action="select"> <small class="svelte-49zqag"> </small></button> <button type="button" title="Up" data-layer-action="up" class="svelte-49zqag">▲</button> <button type="button" title="Down" data-layer-action="down" class="svelte-49zqag">▼</button> <input type="range" min="0" max="1" step="0.05" title="Layer opacity" data-layer-action="opacity" class="svelte-49zqag"/></div>'), ii = /* @__PURE__ */ X('<button type="button" data-canvas-action="add-layer" class="svelte-49zqag">+ Paint layer</button>'), ai = /* @__PURE__ */ X("<!> <!>", 1), ni = /* @__PURE__ */ X('<div class="lc-message svelte-49zqag" role="alert" data-canvas-message=""> </div>'), oi = /* @__PURE__ */ X('<div><!> <div class="lc-root svelte-49zqag" tabindex="0" role="application" aria-label="Drawing canvas"><div class="lc-toolbar svelte-49zqag"><!></div> <div class="lc-main svelte-49zqag"><div><canvas class="lc-surface svelte-49zqag" data-canvas-surface=""></canvas> <div></div> <!> <!></div> <div class="lc-layers svelte-49zqag" data-canvas-layers=""><!></div></div> <!> <input type="file" accept="image/*" class="hidden svelte-49zqag"/></div></div>');
function ci(e, t) {
  rr(t, !0);
  var s = this && this.__awaiter || function(n, h, p, d) {
    function x(b) {
      return b instanceof p ? b : new p(function(y) {
        y(b);
      });
    }
    return new (p || (p = Promise))(function(b, y) {
      function U(S) {
        try {
          O(d.next(S));
        } catch (j) {
          y(j);
        }
      }
      function W(S) {
        try {
          O(d.throw(S));
        } catch (j) {
          y(j);
        }
      }
      function O(S) {
        S.done ? b(S.value) : x(S.value).then(U, W);
      }
      O((d = d.apply(n, h || [])).next());
    });
  };
  const r = /* @__PURE__ */ mr(t, ["$$slots", "$$events", "$$legacy"]), i = new Er(r);
  let a, o, l, f, c, _ = ct(
    0
    // bumped when the engine's toolbar state changes
  ), g = ct(!1), m = ct(""), M = ct(!1), u = null, w = null;
  const I = /* @__PURE__ */ new Map();
  let q = null, E = null, C = ct(!1), B = "", T = 0, A = !1, Y;
  const P = () => i.props.layers || [{ name: "paint", kind: "paint" }];
  function H() {
    sr(_);
  }
  function Q() {
    N(C, !0), clearTimeout(E), E = setTimeout(Z, 180);
  }
  function Z(n = "change") {
    clearTimeout(E);
    const h = c.encode();
    B = `${Date.now()}-${++T}`, h && (h.token = B), i.props.value = h, N(C, !1), i.dispatch("change"), i.dispatch("input"), n !== "change" && i.dispatch(n);
  }
  function dt(n) {
    return new Promise((h, p) => {
      const d = new Image();
      d.onload = () => h(d), d.onerror = () => p(new Error("not a picture")), d.src = n;
    });
  }
  function wt(n, h, p) {
    const d = document.createElement("canvas");
    return d.width = h, d.height = p, d.getContext("2d").drawImage(n, 0, 0), d;
  }
  function pt(n, h) {
    var p;
    const d = (p = i.props.brush_fraction) !== null && p !== void 0 ? p : 0.02;
    c.brush.size = Math.max(1, Math.round(Math.min(n, h) * d * c.view.scale));
  }
  function xt(n) {
    return s(this, void 0, void 0, function* () {
      if (n && n.token && n.token === B) return;
      if (!n) {
        c.set_page(0, 0, null, null, [], !1);
        return;
      }
      const h = n.background ? wt(yield dt(n.background), n.width, n.height) : null, p = new Map((n.layers || []).map((b) => [b.name, b])), d = P().map((b) => Object.assign(Object.assign({}, b), p.get(b.name) || {}));
      for (const b of n.layers || []) d.some((y) => y.name === b.name) || d.push(b);
      c.set_page(n.width, n.height, h, n.background || null, d, !1);
      for (const b of d) {
        if (!b.png) continue;
        const y = c.layer_named(b.name);
        y?.canvas.getContext("2d").drawImage(yield dt(b.png), 0, 0), y && (y.dirty = !0);
      }
      const x = c.layer_named(i.props.active_layer);
      x && (c.active = x.id), pt(n.width, n.height), c.changed(), N(C, !1), clearTimeout(E);
    });
  }
  function st(n) {
    return s(this, void 0, void 0, function* () {
      var h;
      if (N(m, ""), !n.type.startsWith("image/")) {
        N(m, `${n.name} is not a picture. Drop a PNG, JPEG or WebP picture.`);
        return;
      }
      const p = yield new Promise((O) => {
        const S = new FileReader();
        S.onload = () => O(S.result), S.readAsDataURL(n);
      });
      let d;
      try {
        d = yield dt(p);
      } catch {
        N(m, `${n.name} could not be read as a picture; it may be damaged.`);
        return;
      }
      const x = (h = i.props.max_side) !== null && h !== void 0 ? h : 4096;
      if (Math.max(d.naturalWidth, d.naturalHeight) > x) {
        N(m, `The picture is ${d.naturalWidth}x${d.naturalHeight} pixels, over the limit of ${x} per side. Scale it down first.`);
        return;
      }
      const b = d.naturalWidth, y = d.naturalHeight, U = wt(d, b, y);
      c.set_page(b, y, U, U.toDataURL("image/png"), P(), !0);
      const W = c.layer_named(i.props.active_layer);
      W && (c.active = W.id), pt(b, y), Z("upload");
    });
  }
  function z(n) {
    return n.pointerType === "mouse" || n.pointerType === "touch" && (n.pressure === 0 || n.pressure === 0.5) ? 1 : Math.max(0.02, Math.min(1, n.pressure || 0));
  }
  function rt(n) {
    const h = o.getBoundingClientRect();
    return { x: n.clientX - h.left, y: n.clientY - h.top };
  }
  function J(n) {
    if (a.focus({ preventScroll: !0 }), N(g, !1), o.setPointerCapture(n.pointerId), n.pointerType === "touch" && (I.set(n.pointerId, rt(n)), I.size === 2)) {
      c.cancel_stroke(), w = null;
      const [d, x] = [...I.values()];
      q = {
        d: Math.hypot(d.x - x.x, d.y - x.y) || 1,
        mx: (d.x + x.x) / 2,
        my: (d.y + x.y) / 2,
        scale: c.view.scale,
        ox: c.view.ox,
        oy: c.view.oy
      };
      return;
    }
    if (n.button === 1 || v(M)) {
      n.preventDefault(), u = rt(n);
      return;
    }
    if (n.button !== 0 || w !== null) return;
    const [h, p] = c.doc_point(n.clientX, n.clientY);
    if (c.tool === "picker") {
      const d = c.pick(h, p);
      d && (c.brush.color = d, c.tool = "brush", H());
      return;
    }
    c.begin_stroke(h, p, z(n), n.pointerType !== "mouse") && (w = n.pointerId);
  }
  function _t(n) {
    const h = rt(n), p = c.brush.size;
    if (l.style.transform = `translate(${h.x - p / 2}px, ${h.y - p / 2}px)`, l.style.width = l.style.height = `${p}px`, q && I.has(n.pointerId)) {
      I.set(n.pointerId, h);
      const [x, b] = [...I.values()], y = Math.hypot(x.x - b.x, x.y - b.y) || 1, U = (x.x + b.x) / 2, W = (x.y + b.y) / 2, O = Math.min(64, Math.max(0.02, q.scale * (y / q.d))), S = O / q.scale;
      c.set_view(O, U - (q.mx - q.ox) * S, W - (q.my - q.oy) * S);
      return;
    }
    if (u) {
      c.pan_by(h.x - u.x, h.y - u.y), u = h;
      return;
    }
    if (w !== n.pointerId) return;
    const d = typeof n.getCoalescedEvents == "function" ? n.getCoalescedEvents() : [];
    for (const x of d.length ? d : [n]) {
      const [b, y] = c.doc_point(x.clientX, x.clientY);
      c.extend_stroke(b, y, z(x));
    }
  }
  function Ut(n) {
    I.delete(n.pointerId), I.size < 2 && (q = null), u && (u = null), w === n.pointerId && (w = null, c.end_stroke());
  }
  function vt() {
    v(C) && w === null && Z();
  }
  function zt(n) {
    n.preventDefault();
    const h = rt(n);
    n.ctrlKey || !n.shiftKey ? c.zoom_at(h.x, h.y, Math.exp(-n.deltaY * 15e-4)) : c.pan_by(-n.deltaY, 0);
  }
  function Bt(n) {
    if (!n) return !1;
    const h = n.tagName;
    return n.isContentEditable || h === "TEXTAREA" || h === "INPUT" && !["range", "checkbox", "button", "color", "file"].includes(n.type);
  }
  function Ht() {
    if (!a || !a.getClientRects().length) return !1;
    const n = document.activeElement;
    return (a.contains(n) || a.matches(":hover")) && !Bt(n);
  }
  function Yt(n) {
    if (c.active = n.id, n.kind === "region") {
      const h = c.layers.filter((d) => d.kind === "region").indexOf(n), p = (i.props.colors || [])[h];
      p && (c.brush.color = p);
    }
    H();
  }
  function gt(n, h = !0) {
    c.brush.size = Math.max(1, Math.min(400, Math.round(n))), l.style.width = l.style.height = `${c.brush.size}px`, h && H();
  }
  function Kt(n) {
    if (n.key === "Escape" && v(g)) {
      N(g, !1);
      return;
    }
    if (!Ht()) return;
    const h = n.ctrlKey || n.metaKey, p = n.key.toLowerCase();
    let d = !0;
    h && p === "z" ? n.shiftKey ? c.redo() : c.undo() : h && p === "y" ? c.redo() : h ? d = !1 : n.key === " " ? N(M, !0) : p === "b" ? (c.tool = "brush", H()) : p === "e" ? (c.tool = "eraser", H()) : p === "i" ? (c.tool = "picker", H()) : n.key === "]" ? gt(c.brush.size * 1.25 + 1) : n.key === "[" ? gt(c.brush.size / 1.25) : n.key === "?" || p === "h" ? N(g, !v(g)) : p === "f" ? c.fit() : d = !1, d && (n.preventDefault(), n.stopPropagation());
  }
  function At(n) {
    n.key === " " && N(M, !1);
  }
  function bt(n) {
    var h;
    if (!Ht() || i.props.uploads === !1) return;
    const p = [
      ...((h = n.clipboardData) === null || h === void 0 ? void 0 : h.files) || []
    ].find((d) => d.type.startsWith("image/"));
    p && (n.preventDefault(), st(p));
  }
  function _s(n) {
    var h, p;
    if (n.preventDefault(), i.props.uploads === !1) return;
    const d = (p = (h = n.dataTransfer) === null || h === void 0 ? void 0 : h.files) === null || p === void 0 ? void 0 : p[0];
    d && st(d);
  }
  fs(() => {
    c = new Zr(o, { on_change: Q, on_state: H }), c.brush.color = i.props.default_color || "#000000", Y = new ResizeObserver(() => {
      const n = o.getBoundingClientRect();
      c.resize_display(n.width, n.height), !A && c.has_page() && (A = !0, c.fit(), pt(c.width, c.height));
    }), Y.observe(o), window.addEventListener("keydown", Kt, !0), window.addEventListener("keyup", At, !0), window.addEventListener("paste", bt), o.addEventListener("wheel", zt, { passive: !1 }), xt(i.props.value);
  }), or(() => {
    Y?.disconnect(), window.removeEventListener("keydown", Kt, !0), window.removeEventListener("keyup", At, !0), window.removeEventListener("paste", bt), clearTimeout(E);
  });
  let ge;
  It(() => {
    const n = i.props.value;
    !c || n === ge || (ge = n, xt(n).catch((h) => N(m, `The canvas could not show the picture: ${h.message}`)));
  });
  const vs = [
    { id: "brush", label: "Brush", key: "B" },
    { id: "eraser", label: "Eraser", key: "E" },
    { id: "picker", label: "Eyedropper", key: "I" }
  ], K = () => (v(_), c);
  var Mt = oi();
  let be, ye;
  var me = L(Mt);
  {
    var gs = (n) => {
      var h = Jr(), p = L(h);
      mt(() => kt(p, i.shared.label)), G(n, h);
    };
    Ct(me, (n) => {
      i.shared.show_label && i.shared.label && n(gs);
    });
  }
  var Rt = k(me, 2), ke = L(Rt), bs = L(ke);
  Ne(bs, () => v(_), (n) => {
    var h = ti(), p = De(h);
    se(p, 17, () => vs, Oe, (D, R) => {
      var F = Vr();
      F.__click = () => {
        c.tool = v(R).id, H();
      };
      let yt;
      var Tt = L(F);
      mt(
        (Pt) => {
          tt(F, "data-canvas-action", v(R).id), tt(F, "title", `${v(R).label} (${v(R).key})`), yt = St(F, 1, "svelte-49zqag", null, yt, Pt), kt(Tt, v(R).label);
        },
        [() => ({ active: K()?.tool === v(R).id })]
      ), G(D, F);
    });
    var d = k(p, 2), x = k(L(d));
    x.__input = (D) => gt(+D.currentTarget.value, !1);
    var b = k(x, 2), y = L(b), U = k(d, 2), W = k(L(U));
    W.__input = (D) => {
      c.brush.opacity = +D.currentTarget.value;
    };
    var O = k(U, 2), S = k(L(O));
    S.__input = (D) => {
      c.brush.hardness = +D.currentTarget.value;
    };
    var j = k(O, 2), Wt = L(j);
    se(Wt, 17, () => i.props.colors || [], Oe, (D, R) => {
      var F = Qr();
      let yt;
      F.__click = () => {
        c.brush.color = v(R), c.tool === "picker" && (c.tool = "brush"), H();
      };
      let Tt;
      mt(
        (Pt) => {
          yt = St(F, 1, "lc-swatch svelte-49zqag", null, yt, Pt), tt(F, "title", v(R)), tt(F, "aria-label", `Colour ${v(R)}`), tt(F, "data-canvas-colour", v(R)), Tt = ie(F, "", Tt, { background: v(R) });
        },
        [() => ({ active: K()?.brush.color === v(R) })]
      ), G(D, F);
    });
    var Gt = k(Wt, 2);
    Gt.__input = (D) => {
      c.brush.color = D.currentTarget.value;
    };
    var qt = k(j, 4);
    qt.__click = () => c.undo();
    var Et = k(qt, 2);
    Et.__click = () => c.redo();
    var Lt = k(Et, 2);
    Lt.__click = () => c.clear_layer(c.active);
    var at = k(Lt, 4);
    at.__click = () => c.fit();
    var Ce = k(at, 2);
    Ce.__click = () => c.actual_size();
    var Se = k(Ce, 2), Ms = L(Se), Ie = k(Se, 2);
    {
      var qs = (D) => {
        var R = jr();
        R.__click = () => f.click(), G(D, R);
      };
      Ct(Ie, (D) => {
        i.props.uploads !== !1 && D(qs);
      });
    }
    var Es = k(Ie, 2);
    Es.__click = () => N(g, !v(g)), mt(
      (D, R, F, yt, Tt, Pt, Ts, Cs) => {
        Dt(x, D), kt(y, R), Dt(W, F), Dt(S, yt), Dt(Gt, Tt), qt.disabled = Pt, Et.disabled = Ts, kt(Ms, `${Cs ?? ""}%`);
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
    ), G(n, h);
  });
  var we = k(ke, 2), jt = L(we);
  let xe;
  var it = L(jt);
  it.__pointerdown = J, it.__pointermove = _t, it.__pointerup = Ut, it.__contextmenu = (n) => n.preventDefault();
  let ze;
  Zt(it, (n) => o = n, () => o);
  var te = k(it, 2);
  let Me;
  Zt(te, (n) => l = n, () => l);
  var qe = k(te, 2);
  {
    var ys = (n) => {
      var h = ei();
      G(n, h);
    };
    Ct(qe, (n) => {
      K()?.has_page() || n(ys);
    });
  }
  var ms = k(qe, 2);
  {
    var ks = (n) => {
      var h = si();
      G(n, h);
    };
    Ct(ms, (n) => {
      v(g) && n(ks);
    });
  }
  var ws = k(jt, 2), xs = L(ws);
  Ne(xs, () => v(_), (n) => {
    var h = ai(), p = De(h);
    se(p, 17, () => [...K()?.layers || []].reverse(), (b) => b.id, (b, y) => {
      var U = ri();
      let W;
      var O = L(U);
      O.__change = (at) => c.set_visible(v(y).id, at.currentTarget.checked);
      var S = k(O, 2);
      S.__click = () => Yt(v(y));
      var j = L(S), Wt = k(j), Gt = L(Wt), qt = k(S, 2);
      qt.__click = () => c.move_layer(v(y).id, 1);
      var Et = k(qt, 2);
      Et.__click = () => c.move_layer(v(y).id, -1);
      var Lt = k(Et, 2);
      Lt.__change = (at) => c.set_opacity(v(y).id, +at.currentTarget.value), mt(
        (at) => {
          W = St(U, 1, "lc-layer svelte-49zqag", null, W, at), tt(U, "data-layer", v(y).name), tt(U, "data-layer-kind", v(y).kind), _r(O, v(y).visible), kt(j, v(y).name), kt(Gt, v(y).kind), Dt(Lt, v(y).opacity);
        },
        [() => ({ active: v(y).id === K()?.active })]
      ), G(b, U);
    });
    var d = k(p, 2);
    {
      var x = (b) => {
        var y = ii();
        y.__click = () => c.add_layer("paint"), G(b, y);
      };
      Ct(d, (b) => {
        i.props.can_add_layers !== !1 && b(x);
      });
    }
    G(n, h);
  });
  var Ee = k(we, 2);
  {
    var zs = (n) => {
      var h = ni(), p = L(h);
      mt(() => kt(p, v(m))), G(n, h);
    };
    Ct(Ee, (n) => {
      v(m) && n(zs);
    });
  }
  var Te = k(Ee, 2);
  Te.__change = (n) => {
    const h = n.currentTarget.files?.[0];
    h && st(h), n.currentTarget.value = "";
  }, Zt(Te, (n) => f = n, () => f), Zt(Rt, (n) => a = n, () => a), mt(() => {
    be = St(Mt, 1, "lc-block svelte-49zqag", null, be, { hidden: i.shared.visible === !1 }), tt(Mt, "id", i.shared.elem_id), tt(Mt, "data-pending", v(C) ? "1" : "0"), ye = ie(Mt, "", ye, {
      "min-width": i.shared.min_width ? `${i.shared.min_width}px` : void 0
    }), xe = St(jt, 1, "lc-stage svelte-49zqag", null, xe, { panning: v(M) || u }), ze = ie(it, "", ze, { height: `${i.props.canvas_height ?? 480}px` }), Me = St(te, 1, "lc-cursor svelte-49zqag", null, Me, { hidden: v(M) });
  }), Xt("pointerleave", Rt, vt), Xt("dragover", Rt, (n) => n.preventDefault()), Xt("drop", Rt, _s), Xt("pointercancel", it, Ut), G(e, Mt), er();
}
tr([
  "click",
  "input",
  "pointerdown",
  "pointermove",
  "pointerup",
  "contextmenu",
  "change"
]);
export {
  ci as default
};
