const Dn = 1, In = 2, Ln = 16, jn = 1, qn = 2, y = /* @__PURE__ */ Symbol(), Vn = "http://www.w3.org/1999/xhtml", Fe = !1;
var Mt = Array.isArray, Pt = Array.prototype.indexOf, Dt = Array.from, It = Object.defineProperty, _e = Object.getOwnPropertyDescriptor, Bn = Object.getOwnPropertyDescriptors, Lt = Object.prototype, jt = Array.prototype, qt = Object.getPrototypeOf, Ge = Object.isExtensible;
const Un = () => {
};
function Vt(e) {
  for (var t = 0; t < e.length; t++)
    e[t]();
}
function Qe() {
  var e, t, n = new Promise((r, i) => {
    e = r, t = i;
  });
  return { promise: n, resolve: e, reject: t };
}
const E = 2, be = 4, Se = 8, et = 1 << 24, B = 16, U = 32, re = 64, Ie = 128, k = 512, b = 1024, m = 2048, Y = 4096, P = 8192, $ = 16384, Le = 32768, ve = 65536, Ke = 1 << 17, tt = 1 << 18, ae = 1 << 19, Bt = 1 << 20, Yn = 1 << 25, te = 32768, Oe = 1 << 21, je = 1 << 22, z = 1 << 23, he = /* @__PURE__ */ Symbol("$state"), Hn = /* @__PURE__ */ Symbol(""), se = new class extends Error {
  name = "StaleReactionError";
  message = "The reaction that called `getAbortSignal()` was re-run or destroyed";
}();
function Ut() {
  throw new Error("https://svelte.dev/e/async_derived_orphan");
}
function Yt(e) {
  throw new Error("https://svelte.dev/e/effect_in_teardown");
}
function Ht() {
  throw new Error("https://svelte.dev/e/effect_in_unowned_derived");
}
function Gt(e) {
  throw new Error("https://svelte.dev/e/effect_orphan");
}
function Kt() {
  throw new Error("https://svelte.dev/e/effect_update_depth_exceeded");
}
function Wt() {
  throw new Error("https://svelte.dev/e/state_descriptors_fixed");
}
function $t() {
  throw new Error("https://svelte.dev/e/state_prototype_fixed");
}
function zt() {
  throw new Error("https://svelte.dev/e/state_unsafe_mutation");
}
function Xt() {
  throw new Error("https://svelte.dev/e/svelte_boundary_reset_onerror");
}
function Kn() {
  console.warn("https://svelte.dev/e/select_multiple_invalid_value");
}
function Zt() {
  console.warn("https://svelte.dev/e/svelte_boundary_reset_noop");
}
function nt(e) {
  return e === this.v;
}
function Jt(e, t) {
  return e != e ? t == t : e !== t || e !== null && typeof e == "object" || typeof e == "function";
}
function rt(e) {
  return !Jt(e, this.v);
}
let Qt = !1, R = null;
function le(e) {
  R = e;
}
function en(e, t = !1, n) {
  R = {
    p: R,
    i: !1,
    c: null,
    e: null,
    s: e,
    x: null,
    l: null
  };
}
function tn(e) {
  var t = (
    /** @type {ComponentContext} */
    R
  ), n = t.e;
  if (n !== null) {
    t.e = null;
    for (var r of n)
      Et(r);
  }
  return t.i = !0, R = t.p, /** @type {T} */
  {};
}
function it() {
  return !0;
}
let fe = [];
function nn() {
  var e = fe;
  fe = [], Vt(e);
}
function ke(e) {
  if (fe.length === 0) {
    var t = fe;
    queueMicrotask(() => {
      t === fe && nn();
    });
  }
  fe.push(e);
}
function st(e) {
  var t = v;
  if (t === null)
    return d.f |= z, e;
  if ((t.f & Le) === 0) {
    if ((t.f & Ie) === 0)
      throw e;
    t.b.error(e);
  } else
    ue(e, t);
}
function ue(e, t) {
  for (; t !== null; ) {
    if ((t.f & Ie) !== 0)
      try {
        t.b.error(e);
        return;
      } catch (n) {
        e = n;
      }
    t = t.parent;
  }
  throw e;
}
const rn = -7169;
function w(e, t) {
  e.f = e.f & rn | t;
}
function qe(e) {
  (e.f & k) !== 0 || e.deps === null ? w(e, b) : w(e, Y);
}
function ft(e) {
  if (e !== null)
    for (const t of e)
      (t.f & E) === 0 || (t.f & te) === 0 || (t.f ^= te, ft(
        /** @type {Derived} */
        t.deps
      ));
}
function lt(e, t, n) {
  (e.f & m) !== 0 ? t.add(e) : (e.f & Y) !== 0 && n.add(e), ft(e.deps), w(e, b);
}
const ye = /* @__PURE__ */ new Set();
let g = null, C = null, N = [], Ve = null, Ne = !1;
class M {
  committed = !1;
  /**
   * The current values of any sources that are updated in this batch
   * They keys of this map are identical to `this.#previous`
   * @type {Map<Source, any>}
   */
  current = /* @__PURE__ */ new Map();
  /**
   * The values of any sources that are updated in this batch _before_ those updates took place.
   * They keys of this map are identical to `this.#current`
   * @type {Map<Source, any>}
   */
  previous = /* @__PURE__ */ new Map();
  /**
   * When the batch is committed (and the DOM is updated), we need to remove old branches
   * and append new ones by calling the functions added inside (if/each/key/etc) blocks
   * @type {Set<() => void>}
   */
  #t = /* @__PURE__ */ new Set();
  /**
   * If a fork is discarded, we need to destroy any effects that are no longer needed
   * @type {Set<(batch: Batch) => void>}
   */
  #_ = /* @__PURE__ */ new Set();
  /**
   * The number of async effects that are currently in flight
   */
  #r = 0;
  /**
   * The number of async effects that are currently in flight, _not_ inside a pending boundary
   */
  #f = 0;
  /**
   * A deferred that resolves when the batch is committed, used with `settled()`
   * TODO replace with Promise.withResolvers once supported widely enough
   * @type {{ promise: Promise<void>, resolve: (value?: any) => void, reject: (reason: unknown) => void } | null}
   */
  #i = null;
  /**
   * Deferred effects (which run after async work has completed) that are DIRTY
   * @type {Set<Effect>}
   */
  #n = /* @__PURE__ */ new Set();
  /**
   * Deferred effects that are MAYBE_DIRTY
   * @type {Set<Effect>}
   */
  #e = /* @__PURE__ */ new Set();
  /**
   * A set of branches that still exist, but will be destroyed when this batch
   * is committed — we skip over these during `process`
   * @type {Set<Effect>}
   */
  skipped_effects = /* @__PURE__ */ new Set();
  is_fork = !1;
  is_deferred() {
    return this.is_fork || this.#f > 0;
  }
  /**
   *
   * @param {Effect[]} root_effects
   */
  process(t) {
    N = [], this.apply();
    var n = [], r = [];
    for (const i of t)
      this.#s(i, n, r);
    this.is_fork || this.#u(), this.is_deferred() ? (this.#l(r), this.#l(n)) : (g = null, We(r), We(n), this.#i?.resolve()), C = null;
  }
  /**
   * Traverse the effect tree, executing effects or stashing
   * them for later execution as appropriate
   * @param {Effect} root
   * @param {Effect[]} effects
   * @param {Effect[]} render_effects
   */
  #s(t, n, r) {
    t.f ^= b;
    for (var i = t.first, s = null; i !== null; ) {
      var l = i.f, u = (l & (U | re)) !== 0, f = u && (l & b) !== 0, a = f || (l & P) !== 0 || this.skipped_effects.has(i);
      if (!a && i.fn !== null) {
        u ? i.f ^= b : s !== null && (l & (be | Se | et)) !== 0 ? s.b.defer_effect(i) : (l & be) !== 0 ? n.push(i) : we(i) && ((l & B) !== 0 && this.#n.add(i), pe(i));
        var o = i.first;
        if (o !== null) {
          i = o;
          continue;
        }
      }
      var h = i.parent;
      for (i = i.next; i === null && h !== null; )
        h === s && (s = null), i = h.next, h = h.parent;
    }
  }
  /**
   * @param {Effect[]} effects
   */
  #l(t) {
    for (var n = 0; n < t.length; n += 1)
      lt(t[n], this.#n, this.#e);
  }
  /**
   * Associate a change to a given source with the current
   * batch, noting its previous and current values
   * @param {Source} source
   * @param {any} value
   */
  capture(t, n) {
    n !== y && !this.previous.has(t) && this.previous.set(t, n), (t.f & z) === 0 && (this.current.set(t, t.v), C?.set(t, t.v));
  }
  activate() {
    g = this, this.apply();
  }
  deactivate() {
    g === this && (g = null, C = null);
  }
  flush() {
    if (this.activate(), N.length > 0) {
      if (sn(), g !== null && g !== this)
        return;
    } else this.#r === 0 && this.process([]);
    this.deactivate();
  }
  discard() {
    for (const t of this.#_) t(this);
    this.#_.clear();
  }
  #u() {
    if (this.#f === 0) {
      for (const t of this.#t) t();
      this.#t.clear();
    }
    this.#r === 0 && this.#a();
  }
  #a() {
    if (ye.size > 1) {
      this.previous.clear();
      var t = C, n = !0;
      for (const i of ye) {
        if (i === this) {
          n = !1;
          continue;
        }
        const s = [];
        for (const [u, f] of this.current) {
          if (i.current.has(u))
            if (n && f !== i.current.get(u))
              i.current.set(u, f);
            else
              continue;
          s.push(u);
        }
        if (s.length === 0)
          continue;
        const l = [...i.current.keys()].filter((u) => !this.current.has(u));
        if (l.length > 0) {
          var r = N;
          N = [];
          const u = /* @__PURE__ */ new Set(), f = /* @__PURE__ */ new Map();
          for (const a of s)
            ut(a, l, u, f);
          if (N.length > 0) {
            g = i, i.apply();
            for (const a of N)
              i.#s(a, [], []);
            i.deactivate();
          }
          N = r;
        }
      }
      g = null, C = t;
    }
    this.committed = !0, ye.delete(this);
  }
  /**
   *
   * @param {boolean} blocking
   */
  increment(t) {
    this.#r += 1, t && (this.#f += 1);
  }
  /**
   *
   * @param {boolean} blocking
   */
  decrement(t) {
    this.#r -= 1, t && (this.#f -= 1), this.revive();
  }
  revive() {
    for (const t of this.#n)
      this.#e.delete(t), w(t, m), V(t);
    for (const t of this.#e)
      w(t, Y), V(t);
    this.flush();
  }
  /** @param {() => void} fn */
  oncommit(t) {
    this.#t.add(t);
  }
  /** @param {(batch: Batch) => void} fn */
  ondiscard(t) {
    this.#_.add(t);
  }
  settled() {
    return (this.#i ??= Qe()).promise;
  }
  static ensure() {
    if (g === null) {
      const t = g = new M();
      ye.add(g), M.enqueue(() => {
        g === t && t.flush();
      });
    }
    return g;
  }
  /** @param {() => void} task */
  static enqueue(t) {
    ke(t);
  }
  apply() {
  }
}
function sn() {
  var e = Q;
  Ne = !0;
  var t = null;
  try {
    var n = 0;
    for (Te(!0); N.length > 0; ) {
      var r = M.ensure();
      if (n++ > 1e3) {
        var i, s;
        fn();
      }
      r.process(N), X.clear();
    }
  } finally {
    Ne = !1, Te(e), Ve = null;
  }
}
function fn() {
  try {
    Kt();
  } catch (e) {
    ue(e, Ve);
  }
}
let j = null;
function We(e) {
  var t = e.length;
  if (t !== 0) {
    for (var n = 0; n < t; ) {
      var r = e[n++];
      if ((r.f & ($ | P)) === 0 && we(r) && (j = /* @__PURE__ */ new Set(), pe(r), r.deps === null && r.first === null && r.nodes === null && (r.teardown === null && r.ac === null ? xt(r) : r.fn = null), j?.size > 0)) {
        X.clear();
        for (const i of j) {
          if ((i.f & ($ | P)) !== 0) continue;
          const s = [i];
          let l = i.parent;
          for (; l !== null; )
            j.has(l) && (j.delete(l), s.push(l)), l = l.parent;
          for (let u = s.length - 1; u >= 0; u--) {
            const f = s[u];
            (f.f & ($ | P)) === 0 && pe(f);
          }
        }
        j.clear();
      }
    }
    j = null;
  }
}
function ut(e, t, n, r) {
  if (!n.has(e) && (n.add(e), e.reactions !== null))
    for (const i of e.reactions) {
      const s = i.f;
      (s & E) !== 0 ? ut(
        /** @type {Derived} */
        i,
        t,
        n,
        r
      ) : (s & (je | B)) !== 0 && (s & m) === 0 && at(i, t, r) && (w(i, m), V(
        /** @type {Effect} */
        i
      ));
    }
}
function at(e, t, n) {
  const r = n.get(e);
  if (r !== void 0) return r;
  if (e.deps !== null)
    for (const i of e.deps) {
      if (t.includes(i))
        return !0;
      if ((i.f & E) !== 0 && at(
        /** @type {Derived} */
        i,
        t,
        n
      ))
        return n.set(
          /** @type {Derived} */
          i,
          !0
        ), !0;
    }
  return n.set(e, !1), !1;
}
function V(e) {
  for (var t = Ve = e; t.parent !== null; ) {
    t = t.parent;
    var n = t.f;
    if (Ne && t === v && (n & B) !== 0 && (n & tt) === 0)
      return;
    if ((n & (re | U)) !== 0) {
      if ((n & b) === 0) return;
      t.f ^= b;
    }
  }
  N.push(t);
}
function ln(e) {
  let t = 0, n = ge(0), r;
  return () => {
    Ye() && (W(n), mn(() => (t === 0 && (r = Fn(() => e(() => de(n)))), t += 1, () => {
      ke(() => {
        t -= 1, t === 0 && (r?.(), r = void 0, de(n));
      });
    })));
  };
}
var un = ve | ae | Ie;
function an(e, t, n) {
  new on(e, t, n);
}
class on {
  /** @type {Boundary | null} */
  parent;
  is_pending = !1;
  /** @type {TemplateNode} */
  #t;
  /** @type {TemplateNode | null} */
  #_ = null;
  /** @type {BoundaryProps} */
  #r;
  /** @type {((anchor: Node) => void)} */
  #f;
  /** @type {Effect} */
  #i;
  /** @type {Effect | null} */
  #n = null;
  /** @type {Effect | null} */
  #e = null;
  /** @type {Effect | null} */
  #s = null;
  /** @type {DocumentFragment | null} */
  #l = null;
  /** @type {TemplateNode | null} */
  #u = null;
  #a = 0;
  #o = 0;
  #h = !1;
  /** @type {Set<Effect>} */
  #d = /* @__PURE__ */ new Set();
  /** @type {Set<Effect>} */
  #v = /* @__PURE__ */ new Set();
  /**
   * A source containing the number of pending async deriveds/expressions.
   * Only created if `$effect.pending()` is used inside the boundary,
   * otherwise updating the source results in needless `Batch.ensure()`
   * calls followed by no-op flushes
   * @type {Source<number> | null}
   */
  #c = null;
  #E = ln(() => (this.#c = ge(this.#a), () => {
    this.#c = null;
  }));
  /**
   * @param {TemplateNode} node
   * @param {BoundaryProps} props
   * @param {((anchor: Node) => void)} children
   */
  constructor(t, n, r) {
    this.#t = t, this.#r = n, this.#f = r, this.parent = /** @type {Effect} */
    v.b, this.is_pending = !!this.#r.pending, this.#i = xn(() => {
      v.b = this;
      {
        var i = this.#w();
        try {
          this.#n = Z(() => r(i));
        } catch (s) {
          this.error(s);
        }
        this.#o > 0 ? this.#g() : this.is_pending = !1;
      }
      return () => {
        this.#u?.remove();
      };
    }, un);
  }
  #b() {
    try {
      this.#n = Z(() => this.#f(this.#t));
    } catch (t) {
      this.error(t);
    }
  }
  #m() {
    const t = this.#r.pending;
    t && (this.#e = Z(() => t(this.#t)), M.enqueue(() => {
      var n = this.#w();
      this.#n = this.#p(() => (M.ensure(), Z(() => this.#f(n)))), this.#o > 0 ? this.#g() : (Ee(
        /** @type {Effect} */
        this.#e,
        () => {
          this.#e = null;
        }
      ), this.is_pending = !1);
    }));
  }
  #w() {
    var t = this.#t;
    return this.is_pending && (this.#u = gt(), this.#t.before(this.#u), t = this.#u), t;
  }
  /**
   * Defer an effect inside a pending boundary until the boundary resolves
   * @param {Effect} effect
   */
  defer_effect(t) {
    lt(t, this.#d, this.#v);
  }
  /**
   * Returns `false` if the effect exists inside a boundary whose pending snippet is shown
   * @returns {boolean}
   */
  is_rendered() {
    return !this.is_pending && (!this.parent || this.parent.is_rendered());
  }
  has_pending_snippet() {
    return !!this.#r.pending;
  }
  /**
   * @param {() => Effect | null} fn
   */
  #p(t) {
    var n = v, r = d, i = R;
    I(this.#i), T(this.#i), le(this.#i.ctx);
    try {
      return t();
    } catch (s) {
      return st(s), null;
    } finally {
      I(n), T(r), le(i);
    }
  }
  #g() {
    const t = (
      /** @type {(anchor: Node) => void} */
      this.#r.pending
    );
    this.#n !== null && (this.#l = document.createDocumentFragment(), this.#l.append(
      /** @type {TemplateNode} */
      this.#u
    ), Sn(this.#n, this.#l)), this.#e === null && (this.#e = Z(() => t(this.#t)));
  }
  /**
   * Updates the pending count associated with the currently visible pending snippet,
   * if any, such that we can replace the snippet with content once work is done
   * @param {1 | -1} d
   */
  #y(t) {
    if (!this.has_pending_snippet()) {
      this.parent && this.parent.#y(t);
      return;
    }
    if (this.#o += t, this.#o === 0) {
      this.is_pending = !1;
      for (const n of this.#d)
        w(n, m), V(n);
      for (const n of this.#v)
        w(n, Y), V(n);
      this.#d.clear(), this.#v.clear(), this.#e && Ee(this.#e, () => {
        this.#e = null;
      }), this.#l && (this.#t.before(this.#l), this.#l = null);
    }
  }
  /**
   * Update the source that powers `$effect.pending()` inside this boundary,
   * and controls when the current `pending` snippet (if any) is removed.
   * Do not call from inside the class
   * @param {1 | -1} d
   */
  update_pending_count(t) {
    this.#y(t), this.#a += t, this.#c && xe(this.#c, this.#a);
  }
  get_effect_pending() {
    return this.#E(), W(
      /** @type {Source<number>} */
      this.#c
    );
  }
  /** @param {unknown} error */
  error(t) {
    var n = this.#r.onerror;
    let r = this.#r.failed;
    if (this.#h || !n && !r)
      throw t;
    this.#n && (D(this.#n), this.#n = null), this.#e && (D(this.#e), this.#e = null), this.#s && (D(this.#s), this.#s = null);
    var i = !1, s = !1;
    const l = () => {
      if (i) {
        Zt();
        return;
      }
      i = !0, s && Xt(), M.ensure(), this.#a = 0, this.#s !== null && Ee(this.#s, () => {
        this.#s = null;
      }), this.is_pending = this.has_pending_snippet(), this.#n = this.#p(() => (this.#h = !1, Z(() => this.#f(this.#t)))), this.#o > 0 ? this.#g() : this.is_pending = !1;
    };
    var u = d;
    try {
      T(null), s = !0, n?.(t, l), s = !1;
    } catch (f) {
      ue(f, this.#i && this.#i.parent);
    } finally {
      T(u);
    }
    r && ke(() => {
      this.#s = this.#p(() => {
        M.ensure(), this.#h = !0;
        try {
          return Z(() => {
            r(
              this.#t,
              () => t,
              () => l
            );
          });
        } catch (f) {
          return ue(
            f,
            /** @type {Effect} */
            this.#i.parent
          ), null;
        } finally {
          this.#h = !1;
        }
      });
    });
  }
}
function cn(e, t, n, r) {
  const i = ot;
  if (n.length === 0 && e.length === 0) {
    r(t.map(i));
    return;
  }
  var s = g, l = (
    /** @type {Effect} */
    v
  ), u = _n();
  function f() {
    Promise.all(n.map((a) => /* @__PURE__ */ hn(a))).then((a) => {
      u();
      try {
        r([...t.map(i), ...a]);
      } catch (o) {
        (l.f & $) === 0 && ue(o, l);
      }
      s?.deactivate(), me();
    }).catch((a) => {
      ue(a, l);
    });
  }
  e.length > 0 ? Promise.all(e).then(() => {
    u();
    try {
      return f();
    } finally {
      s?.deactivate(), me();
    }
  }) : f();
}
function _n() {
  var e = v, t = d, n = R, r = g;
  return function(s = !0) {
    I(e), T(t), le(n), s && r?.activate();
  };
}
function me() {
  I(null), T(null), le(null);
}
// @__NO_SIDE_EFFECTS__
function ot(e) {
  var t = E | m, n = d !== null && (d.f & E) !== 0 ? (
    /** @type {Derived} */
    d
  ) : null;
  return v !== null && (v.f |= ae), {
    ctx: R,
    deps: null,
    effects: null,
    equals: nt,
    f: t,
    fn: e,
    reactions: null,
    rv: 0,
    v: (
      /** @type {V} */
      y
    ),
    wv: 0,
    parent: n ?? v,
    ac: null
  };
}
// @__NO_SIDE_EFFECTS__
function hn(e, t, n) {
  let r = (
    /** @type {Effect | null} */
    v
  );
  r === null && Ut();
  var i = (
    /** @type {Boundary} */
    r.b
  ), s = (
    /** @type {Promise<V>} */
    /** @type {unknown} */
    void 0
  ), l = ge(
    /** @type {V} */
    y
  ), u = !d, f = /* @__PURE__ */ new Map();
  return bn(() => {
    var a = Qe();
    s = a.promise;
    try {
      Promise.resolve(e()).then(a.resolve, a.reject).then(() => {
        o === g && o.committed && o.deactivate(), me();
      });
    } catch (_) {
      a.reject(_), me();
    }
    var o = (
      /** @type {Batch} */
      g
    );
    if (u) {
      var h = i.is_rendered();
      i.update_pending_count(1), o.increment(h), f.get(o)?.reject(se), f.delete(o), f.set(o, a);
    }
    const c = (_, p = void 0) => {
      if (o.activate(), p)
        p !== se && (l.f |= z, xe(l, p));
      else {
        (l.f & z) !== 0 && (l.f ^= z), xe(l, _);
        for (const [O, L] of f) {
          if (f.delete(O), O === o) break;
          L.reject(se);
        }
      }
      u && (i.update_pending_count(-1), o.decrement(h));
    };
    a.promise.then(c, (_) => c(null, _ || "unknown"));
  }), yt(() => {
    for (const a of f.values())
      a.reject(se);
  }), new Promise((a) => {
    function o(h) {
      function c() {
        h === s ? a(l) : o(s);
      }
      h.then(c, c);
    }
    o(s);
  });
}
// @__NO_SIDE_EFFECTS__
function Wn(e) {
  const t = /* @__PURE__ */ ot(e);
  return t.equals = rt, t;
}
function ct(e) {
  var t = e.effects;
  if (t !== null) {
    e.effects = null;
    for (var n = 0; n < t.length; n += 1)
      D(
        /** @type {Effect} */
        t[n]
      );
  }
}
function dn(e) {
  for (var t = e.parent; t !== null; ) {
    if ((t.f & E) === 0)
      return (t.f & $) === 0 ? (
        /** @type {Effect} */
        t
      ) : null;
    t = t.parent;
  }
  return null;
}
function Be(e) {
  var t, n = v;
  I(dn(e));
  try {
    e.f &= ~te, ct(e), t = Ct(e);
  } finally {
    I(n);
  }
  return t;
}
function _t(e) {
  var t = Be(e);
  if (!e.equals(t) && (e.wv = kt(), (!g?.is_fork || e.deps === null) && (e.v = t, e.deps === null))) {
    w(e, b);
    return;
  }
  ne || (C !== null ? (Ye() || g?.is_fork) && C.set(e, t) : qe(e));
}
let Me = /* @__PURE__ */ new Set();
const X = /* @__PURE__ */ new Map();
let ht = !1;
function ge(e, t) {
  var n = {
    f: 0,
    // TODO ideally we could skip this altogether, but it causes type errors
    v: e,
    reactions: null,
    equals: nt,
    rv: 0,
    wv: 0
  };
  return n;
}
// @__NO_SIDE_EFFECTS__
function G(e, t) {
  const n = ge(e);
  return kn(n), n;
}
// @__NO_SIDE_EFFECTS__
function $n(e, t = !1, n = !0) {
  const r = ge(e);
  return t || (r.equals = rt), r;
}
function K(e, t, n = !1) {
  d !== null && // since we are untracking the function inside `$inspect.with` we need to add this check
  // to ensure we error if state is set inside an inspect effect
  (!F || (d.f & Ke) !== 0) && it() && (d.f & (E | B | je | Ke)) !== 0 && !q?.includes(e) && zt();
  let r = n ? oe(t) : t;
  return xe(e, r);
}
function xe(e, t) {
  if (!e.equals(t)) {
    var n = e.v;
    ne ? X.set(e, t) : X.set(e, n), e.v = t;
    var r = M.ensure();
    if (r.capture(e, n), (e.f & E) !== 0) {
      const i = (
        /** @type {Derived} */
        e
      );
      (e.f & m) !== 0 && Be(i), qe(i);
    }
    e.wv = kt(), dt(e, m), v !== null && (v.f & b) !== 0 && (v.f & (U | re)) === 0 && (S === null ? Rn([e]) : S.push(e)), !r.is_fork && Me.size > 0 && !ht && vn();
  }
  return t;
}
function vn() {
  ht = !1;
  var e = Q;
  Te(!0);
  const t = Array.from(Me);
  try {
    for (const n of t)
      (n.f & b) !== 0 && w(n, Y), we(n) && pe(n);
  } finally {
    Te(e);
  }
  Me.clear();
}
function zn(e, t = 1) {
  var n = W(e), r = t === 1 ? n++ : n--;
  return K(e, n), r;
}
function de(e) {
  K(e, e.v + 1);
}
function dt(e, t) {
  var n = e.reactions;
  if (n !== null)
    for (var r = n.length, i = 0; i < r; i++) {
      var s = n[i], l = s.f, u = (l & m) === 0;
      if (u && w(s, t), (l & E) !== 0) {
        var f = (
          /** @type {Derived} */
          s
        );
        C?.delete(f), (l & te) === 0 && (l & k && (s.f |= te), dt(f, Y));
      } else u && ((l & B) !== 0 && j !== null && j.add(
        /** @type {Effect} */
        s
      ), V(
        /** @type {Effect} */
        s
      ));
    }
}
function oe(e) {
  if (typeof e != "object" || e === null || he in e)
    return e;
  const t = qt(e);
  if (t !== Lt && t !== jt)
    return e;
  var n = /* @__PURE__ */ new Map(), r = Mt(e), i = /* @__PURE__ */ G(0), s = ee, l = (u) => {
    if (ee === s)
      return u();
    var f = d, a = ee;
    T(null), Ze(s);
    var o = u();
    return T(f), Ze(a), o;
  };
  return r && n.set("length", /* @__PURE__ */ G(
    /** @type {any[]} */
    e.length
  )), new Proxy(
    /** @type {any} */
    e,
    {
      defineProperty(u, f, a) {
        (!("value" in a) || a.configurable === !1 || a.enumerable === !1 || a.writable === !1) && Wt();
        var o = n.get(f);
        return o === void 0 ? o = l(() => {
          var h = /* @__PURE__ */ G(a.value);
          return n.set(f, h), h;
        }) : K(o, a.value, !0), !0;
      },
      deleteProperty(u, f) {
        var a = n.get(f);
        if (a === void 0) {
          if (f in u) {
            const o = l(() => /* @__PURE__ */ G(y));
            n.set(f, o), de(i);
          }
        } else
          K(a, y), de(i);
        return !0;
      },
      get(u, f, a) {
        if (f === he)
          return e;
        var o = n.get(f), h = f in u;
        if (o === void 0 && (!h || _e(u, f)?.writable) && (o = l(() => {
          var _ = oe(h ? u[f] : y), p = /* @__PURE__ */ G(_);
          return p;
        }), n.set(f, o)), o !== void 0) {
          var c = W(o);
          return c === y ? void 0 : c;
        }
        return Reflect.get(u, f, a);
      },
      getOwnPropertyDescriptor(u, f) {
        var a = Reflect.getOwnPropertyDescriptor(u, f);
        if (a && "value" in a) {
          var o = n.get(f);
          o && (a.value = W(o));
        } else if (a === void 0) {
          var h = n.get(f), c = h?.v;
          if (h !== void 0 && c !== y)
            return {
              enumerable: !0,
              configurable: !0,
              value: c,
              writable: !0
            };
        }
        return a;
      },
      has(u, f) {
        if (f === he)
          return !0;
        var a = n.get(f), o = a !== void 0 && a.v !== y || Reflect.has(u, f);
        if (a !== void 0 || v !== null && (!o || _e(u, f)?.writable)) {
          a === void 0 && (a = l(() => {
            var c = o ? oe(u[f]) : y, _ = /* @__PURE__ */ G(c);
            return _;
          }), n.set(f, a));
          var h = W(a);
          if (h === y)
            return !1;
        }
        return o;
      },
      set(u, f, a, o) {
        var h = n.get(f), c = f in u;
        if (r && f === "length")
          for (var _ = a; _ < /** @type {Source<number>} */
          h.v; _ += 1) {
            var p = n.get(_ + "");
            p !== void 0 ? K(p, y) : _ in u && (p = l(() => /* @__PURE__ */ G(y)), n.set(_ + "", p));
          }
        if (h === void 0)
          (!c || _e(u, f)?.writable) && (h = l(() => /* @__PURE__ */ G(void 0)), K(h, oe(a)), n.set(f, h));
        else {
          c = h.v !== y;
          var O = l(() => oe(a));
          K(h, O);
        }
        var L = Reflect.getOwnPropertyDescriptor(u, f);
        if (L?.set && L.set.call(o, a), !c) {
          if (r && typeof f == "string") {
            var He = (
              /** @type {Source<number>} */
              n.get("length")
            ), Ce = Number(f);
            Number.isInteger(Ce) && Ce >= He.v && K(He, Ce + 1);
          }
          de(i);
        }
        return !0;
      },
      ownKeys(u) {
        W(i);
        var f = Reflect.ownKeys(u).filter((h) => {
          var c = n.get(h);
          return c === void 0 || c.v !== y;
        });
        for (var [a, o] of n)
          o.v !== y && !(a in u) && f.push(a);
        return f;
      },
      setPrototypeOf() {
        $t();
      }
    }
  );
}
function $e(e) {
  try {
    if (e !== null && typeof e == "object" && he in e)
      return e[he];
  } catch {
  }
  return e;
}
function Xn(e, t) {
  return Object.is($e(e), $e(t));
}
var ze, pn, vt, pt;
function gn() {
  if (ze === void 0) {
    ze = window, pn = /Firefox/.test(navigator.userAgent);
    var e = Element.prototype, t = Node.prototype, n = Text.prototype;
    vt = _e(t, "firstChild").get, pt = _e(t, "nextSibling").get, Ge(e) && (e.__click = void 0, e.__className = void 0, e.__attributes = null, e.__style = void 0, e.__e = void 0), Ge(n) && (n.__t = void 0);
  }
}
function gt(e = "") {
  return document.createTextNode(e);
}
// @__NO_SIDE_EFFECTS__
function wt(e) {
  return (
    /** @type {TemplateNode | null} */
    vt.call(e)
  );
}
// @__NO_SIDE_EFFECTS__
function Re(e) {
  return (
    /** @type {TemplateNode | null} */
    pt.call(e)
  );
}
function Zn(e, t) {
  return /* @__PURE__ */ wt(e);
}
function Jn(e, t = !1) {
  {
    var n = /* @__PURE__ */ wt(e);
    return n instanceof Comment && n.data === "" ? /* @__PURE__ */ Re(n) : n;
  }
}
function Qn(e, t = 1, n = !1) {
  let r = e;
  for (; t--; )
    r = /** @type {TemplateNode} */
    /* @__PURE__ */ Re(r);
  return r;
}
function er(e) {
  e.textContent = "";
}
function tr() {
  return !1;
}
function Ue(e) {
  var t = d, n = v;
  T(null), I(null);
  try {
    return e();
  } finally {
    T(t), I(n);
  }
}
function wn(e) {
  v === null && (d === null && Gt(), Ht()), ne && Yt();
}
function yn(e, t) {
  var n = t.last;
  n === null ? t.last = t.first = e : (n.next = e, e.prev = n, t.last = e);
}
function H(e, t, n) {
  var r = v;
  r !== null && (r.f & P) !== 0 && (e |= P);
  var i = {
    ctx: R,
    deps: null,
    nodes: null,
    f: e | m | k,
    first: null,
    fn: t,
    last: null,
    next: null,
    parent: r,
    b: r && r.b,
    prev: null,
    teardown: null,
    wv: 0,
    ac: null
  };
  if (n)
    try {
      pe(i), i.f |= Le;
    } catch (u) {
      throw D(i), u;
    }
  else t !== null && V(i);
  var s = i;
  if (n && s.deps === null && s.teardown === null && s.nodes === null && s.first === s.last && // either `null`, or a singular child
  (s.f & ae) === 0 && (s = s.first, (e & B) !== 0 && (e & ve) !== 0 && s !== null && (s.f |= ve)), s !== null && (s.parent = r, r !== null && yn(s, r), d !== null && (d.f & E) !== 0 && (e & re) === 0)) {
    var l = (
      /** @type {Derived} */
      d
    );
    (l.effects ??= []).push(s);
  }
  return i;
}
function Ye() {
  return d !== null && !F;
}
function yt(e) {
  const t = H(Se, null, !1);
  return w(t, b), t.teardown = e, t;
}
function nr(e) {
  wn();
  var t = (
    /** @type {Effect} */
    v.f
  ), n = !d && (t & U) !== 0 && (t & Le) === 0;
  if (n) {
    var r = (
      /** @type {ComponentContext} */
      R
    );
    (r.e ??= []).push(e);
  } else
    return Et(e);
}
function Et(e) {
  return H(be | Bt, e, !1);
}
function En(e) {
  M.ensure();
  const t = H(re | ae, e, !0);
  return (n = {}) => new Promise((r) => {
    n.outro ? Ee(t, () => {
      D(t), r(void 0);
    }) : (D(t), r(void 0));
  });
}
function rr(e) {
  return H(be, e, !1);
}
function bn(e) {
  return H(je | ae, e, !0);
}
function mn(e, t = 0) {
  return H(Se | t, e, !0);
}
function ir(e, t = [], n = [], r = []) {
  cn(r, t, n, (i) => {
    H(Se, () => e(...i.map(W)), !0);
  });
}
function xn(e, t = 0) {
  var n = H(B | t, e, !0);
  return n;
}
function Z(e) {
  return H(U | ae, e, !0);
}
function bt(e) {
  var t = e.teardown;
  if (t !== null) {
    const n = ne, r = d;
    Xe(!0), T(null);
    try {
      t.call(null);
    } finally {
      Xe(n), T(r);
    }
  }
}
function mt(e, t = !1) {
  var n = e.first;
  for (e.first = e.last = null; n !== null; ) {
    const i = n.ac;
    i !== null && Ue(() => {
      i.abort(se);
    });
    var r = n.next;
    (n.f & re) !== 0 ? n.parent = null : D(n, t), n = r;
  }
}
function Tn(e) {
  for (var t = e.first; t !== null; ) {
    var n = t.next;
    (t.f & U) === 0 && D(t), t = n;
  }
}
function D(e, t = !0) {
  var n = !1;
  (t || (e.f & tt) !== 0) && e.nodes !== null && e.nodes.end !== null && (An(
    e.nodes.start,
    /** @type {TemplateNode} */
    e.nodes.end
  ), n = !0), mt(e, t && !n), Ae(e, 0), w(e, $);
  var r = e.nodes && e.nodes.t;
  if (r !== null)
    for (const s of r)
      s.stop();
  bt(e);
  var i = e.parent;
  i !== null && i.first !== null && xt(e), e.next = e.prev = e.teardown = e.ctx = e.deps = e.fn = e.nodes = e.ac = null;
}
function An(e, t) {
  for (; e !== null; ) {
    var n = e === t ? null : /* @__PURE__ */ Re(e);
    e.remove(), e = n;
  }
}
function xt(e) {
  var t = e.parent, n = e.prev, r = e.next;
  n !== null && (n.next = r), r !== null && (r.prev = n), t !== null && (t.first === e && (t.first = r), t.last === e && (t.last = n));
}
function Ee(e, t, n = !0) {
  var r = [];
  Tt(e, r, !0);
  var i = () => {
    n && D(e), t && t();
  }, s = r.length;
  if (s > 0) {
    var l = () => --s || i();
    for (var u of r)
      u.out(l);
  } else
    i();
}
function Tt(e, t, n) {
  if ((e.f & P) === 0) {
    e.f ^= P;
    var r = e.nodes && e.nodes.t;
    if (r !== null)
      for (const u of r)
        (u.is_global || n) && t.push(u);
    for (var i = e.first; i !== null; ) {
      var s = i.next, l = (i.f & ve) !== 0 || // If this is a branch effect without a block effect parent,
      // it means the parent block effect was pruned. In that case,
      // transparency information was transferred to the branch effect.
      (i.f & U) !== 0 && (e.f & B) !== 0;
      Tt(i, t, l ? n : !1), i = s;
    }
  }
}
function sr(e) {
  At(e, !0);
}
function At(e, t) {
  if ((e.f & P) !== 0) {
    e.f ^= P, (e.f & b) === 0 && (w(e, m), V(e));
    for (var n = e.first; n !== null; ) {
      var r = n.next, i = (n.f & ve) !== 0 || (n.f & U) !== 0;
      At(n, i ? t : !1), n = r;
    }
    var s = e.nodes && e.nodes.t;
    if (s !== null)
      for (const l of s)
        (l.is_global || t) && l.in();
  }
}
function Sn(e, t) {
  if (e.nodes)
    for (var n = e.nodes.start, r = e.nodes.end; n !== null; ) {
      var i = n === r ? null : /* @__PURE__ */ Re(n);
      t.append(n), n = i;
    }
}
let Q = !1;
function Te(e) {
  Q = e;
}
let ne = !1;
function Xe(e) {
  ne = e;
}
let d = null, F = !1;
function T(e) {
  d = e;
}
let v = null;
function I(e) {
  v = e;
}
let q = null;
function kn(e) {
  d !== null && (q === null ? q = [e] : q.push(e));
}
let x = null, A = 0, S = null;
function Rn(e) {
  S = e;
}
let St = 1, J = 0, ee = J;
function Ze(e) {
  ee = e;
}
function kt() {
  return ++St;
}
function we(e) {
  var t = e.f;
  if ((t & m) !== 0)
    return !0;
  if (t & E && (e.f &= ~te), (t & Y) !== 0) {
    for (var n = (
      /** @type {Value[]} */
      e.deps
    ), r = n.length, i = 0; i < r; i++) {
      var s = n[i];
      if (we(
        /** @type {Derived} */
        s
      ) && _t(
        /** @type {Derived} */
        s
      ), s.wv > e.wv)
        return !0;
    }
    (t & k) !== 0 && // During time traveling we don't want to reset the status so that
    // traversal of the graph in the other batches still happens
    C === null && w(e, b);
  }
  return !1;
}
function Rt(e, t, n = !0) {
  var r = e.reactions;
  if (r !== null && !q?.includes(e))
    for (var i = 0; i < r.length; i++) {
      var s = r[i];
      (s.f & E) !== 0 ? Rt(
        /** @type {Derived} */
        s,
        t,
        !1
      ) : t === s && (n ? w(s, m) : (s.f & b) !== 0 && w(s, Y), V(
        /** @type {Effect} */
        s
      ));
    }
}
function Ct(e) {
  var t = x, n = A, r = S, i = d, s = q, l = R, u = F, f = ee, a = e.f;
  x = /** @type {null | Value[]} */
  null, A = 0, S = null, d = (a & (U | re)) === 0 ? e : null, q = null, le(e.ctx), F = !1, ee = ++J, e.ac !== null && (Ue(() => {
    e.ac.abort(se);
  }), e.ac = null);
  try {
    e.f |= Oe;
    var o = (
      /** @type {Function} */
      e.fn
    ), h = o(), c = e.deps;
    if (x !== null) {
      var _;
      if (Ae(e, A), c !== null && A > 0)
        for (c.length = A + x.length, _ = 0; _ < x.length; _++)
          c[A + _] = x[_];
      else
        e.deps = c = x;
      if (Ye() && (e.f & k) !== 0)
        for (_ = A; _ < c.length; _++)
          (c[_].reactions ??= []).push(e);
    } else c !== null && A < c.length && (Ae(e, A), c.length = A);
    if (it() && S !== null && !F && c !== null && (e.f & (E | Y | m)) === 0)
      for (_ = 0; _ < /** @type {Source[]} */
      S.length; _++)
        Rt(
          S[_],
          /** @type {Effect} */
          e
        );
    if (i !== null && i !== e) {
      if (J++, i.deps !== null)
        for (let p = 0; p < n; p += 1)
          i.deps[p].rv = J;
      if (t !== null)
        for (const p of t)
          p.rv = J;
      S !== null && (r === null ? r = S : r.push(.../** @type {Source[]} */
      S));
    }
    return (e.f & z) !== 0 && (e.f ^= z), h;
  } catch (p) {
    return st(p);
  } finally {
    e.f ^= Oe, x = t, A = n, S = r, d = i, q = s, le(l), F = u, ee = f;
  }
}
function Cn(e, t) {
  let n = t.reactions;
  if (n !== null) {
    var r = Pt.call(n, e);
    if (r !== -1) {
      var i = n.length - 1;
      i === 0 ? n = t.reactions = null : (n[r] = n[i], n.pop());
    }
  }
  if (n === null && (t.f & E) !== 0 && // Destroying a child effect while updating a parent effect can cause a dependency to appear
  // to be unused, when in fact it is used by the currently-updating parent. Checking `new_deps`
  // allows us to skip the expensive work of disconnecting and immediately reconnecting it
  (x === null || !x.includes(t))) {
    var s = (
      /** @type {Derived} */
      t
    );
    (s.f & k) !== 0 && (s.f ^= k, s.f &= ~te), qe(s), ct(s), Ae(s, 0);
  }
}
function Ae(e, t) {
  var n = e.deps;
  if (n !== null)
    for (var r = t; r < n.length; r++)
      Cn(e, n[r]);
}
function pe(e) {
  var t = e.f;
  if ((t & $) === 0) {
    w(e, b);
    var n = v, r = Q;
    v = e, Q = !0;
    try {
      (t & (B | et)) !== 0 ? Tn(e) : mt(e), bt(e);
      var i = Ct(e);
      e.teardown = typeof i == "function" ? i : null, e.wv = St;
      var s;
      Fe && Qt && (e.f & m) !== 0 && e.deps;
    } finally {
      Q = r, v = n;
    }
  }
}
function W(e) {
  var t = e.f, n = (t & E) !== 0;
  if (d !== null && !F) {
    var r = v !== null && (v.f & $) !== 0;
    if (!r && !q?.includes(e)) {
      var i = d.deps;
      if ((d.f & Oe) !== 0)
        e.rv < J && (e.rv = J, x === null && i !== null && i[A] === e ? A++ : x === null ? x = [e] : x.push(e));
      else {
        (d.deps ??= []).push(e);
        var s = e.reactions;
        s === null ? e.reactions = [d] : s.includes(d) || s.push(d);
      }
    }
  }
  if (ne && X.has(e))
    return X.get(e);
  if (n) {
    var l = (
      /** @type {Derived} */
      e
    );
    if (ne) {
      var u = l.v;
      return ((l.f & b) === 0 && l.reactions !== null || Ot(l)) && (u = Be(l)), X.set(l, u), u;
    }
    var f = (l.f & k) === 0 && !F && d !== null && (Q || (d.f & k) !== 0), a = l.deps === null;
    we(l) && (f && (l.f |= k), _t(l)), f && !a && Ft(l);
  }
  if (C?.has(e))
    return C.get(e);
  if ((e.f & z) !== 0)
    throw e.v;
  return e.v;
}
function Ft(e) {
  if (e.deps !== null) {
    e.f |= k;
    for (const t of e.deps)
      (t.reactions ??= []).push(e), (t.f & E) !== 0 && (t.f & k) === 0 && Ft(
        /** @type {Derived} */
        t
      );
  }
}
function Ot(e) {
  if (e.v === y) return !0;
  if (e.deps === null) return !1;
  for (const t of e.deps)
    if (X.has(t) || (t.f & E) !== 0 && Ot(
      /** @type {Derived} */
      t
    ))
      return !0;
  return !1;
}
function Fn(e) {
  var t = F;
  try {
    return F = !0, e();
  } finally {
    F = t;
  }
}
const Nt = /* @__PURE__ */ new Set(), Pe = /* @__PURE__ */ new Set();
function On(e, t, n, r = {}) {
  function i(s) {
    if (r.capture || ce.call(t, s), !s.cancelBubble)
      return Ue(() => n?.call(this, s));
  }
  return e.startsWith("pointer") || e.startsWith("touch") || e === "wheel" ? ke(() => {
    t.addEventListener(e, i, r);
  }) : t.addEventListener(e, i, r), i;
}
function fr(e, t, n, r, i) {
  var s = { capture: r, passive: i }, l = On(e, t, n, s);
  (t === document.body || // @ts-ignore
  t === window || // @ts-ignore
  t === document || // Firefox has quirky behavior, it can happen that we still get "canplay" events when the element is already removed
  t instanceof HTMLMediaElement) && yt(() => {
    t.removeEventListener(e, l, s);
  });
}
function lr(e) {
  for (var t = 0; t < e.length; t++)
    Nt.add(e[t]);
  for (var n of Pe)
    n(e);
}
let Je = null;
function ce(e) {
  var t = this, n = (
    /** @type {Node} */
    t.ownerDocument
  ), r = e.type, i = e.composedPath?.() || [], s = (
    /** @type {null | Element} */
    i[0] || e.target
  );
  Je = e;
  var l = 0, u = Je === e && e.__root;
  if (u) {
    var f = i.indexOf(u);
    if (f !== -1 && (t === document || t === /** @type {any} */
    window)) {
      e.__root = t;
      return;
    }
    var a = i.indexOf(t);
    if (a === -1)
      return;
    f <= a && (l = f);
  }
  if (s = /** @type {Element} */
  i[l] || e.target, s !== t) {
    It(e, "currentTarget", {
      configurable: !0,
      get() {
        return s || n;
      }
    });
    var o = d, h = v;
    T(null), I(null);
    try {
      for (var c, _ = []; s !== null; ) {
        var p = s.assignedSlot || s.parentNode || /** @type {any} */
        s.host || null;
        try {
          var O = s["__" + r];
          O != null && (!/** @type {any} */
          s.disabled || // DOM could've been updated already by the time this is reached, so we check this as well
          // -> the target could not have been disabled because it emits the event in the first place
          e.target === s) && O.call(s, e);
        } catch (L) {
          c ? _.push(L) : c = L;
        }
        if (e.cancelBubble || p === t || p === null)
          break;
        s = p;
      }
      if (c) {
        for (let L of _)
          queueMicrotask(() => {
            throw L;
          });
        throw c;
      }
    } finally {
      e.__root = t, delete e.currentTarget, T(o), I(h);
    }
  }
}
const Nn = ["touchstart", "touchmove"];
function Mn(e) {
  return Nn.includes(e);
}
function ur(e, t) {
  var n = t == null ? "" : typeof t == "object" ? t + "" : t;
  n !== (e.__t ??= e.nodeValue) && (e.__t = n, e.nodeValue = n + "");
}
function ar(e, t) {
  return Pn(e, t);
}
const ie = /* @__PURE__ */ new Map();
function Pn(e, { target: t, anchor: n, props: r = {}, events: i, context: s, intro: l = !0 }) {
  gn();
  var u = /* @__PURE__ */ new Set(), f = (h) => {
    for (var c = 0; c < h.length; c++) {
      var _ = h[c];
      if (!u.has(_)) {
        u.add(_);
        var p = Mn(_);
        t.addEventListener(_, ce, { passive: p });
        var O = ie.get(_);
        O === void 0 ? (document.addEventListener(_, ce, { passive: p }), ie.set(_, 1)) : ie.set(_, O + 1);
      }
    }
  };
  f(Dt(Nt)), Pe.add(f);
  var a = void 0, o = En(() => {
    var h = n ?? t.appendChild(gt());
    return an(
      /** @type {TemplateNode} */
      h,
      {
        pending: () => {
        }
      },
      (c) => {
        if (s) {
          en({});
          var _ = (
            /** @type {ComponentContext} */
            R
          );
          _.c = s;
        }
        i && (r.$$events = i), a = e(c, r) || {}, s && tn();
      }
    ), () => {
      for (var c of u) {
        t.removeEventListener(c, ce);
        var _ = (
          /** @type {number} */
          ie.get(c)
        );
        --_ === 0 ? (document.removeEventListener(c, ce), ie.delete(c)) : ie.set(c, _);
      }
      Pe.delete(f), h !== n && h.parentNode?.removeChild(h);
    };
  });
  return De.set(a, o), a;
}
let De = /* @__PURE__ */ new WeakMap();
function or(e, t) {
  const n = De.get(e);
  return n ? (De.delete(e), n(t)) : Promise.resolve();
}
export {
  tn as $,
  $n as A,
  Dt as B,
  Yn as C,
  er as D,
  ve as E,
  Re as F,
  yt as G,
  Kn as H,
  P as I,
  Xn as J,
  Bn as K,
  Hn as L,
  rr as M,
  Vn as N,
  mn as O,
  ke as P,
  Un as Q,
  Ye as R,
  he as S,
  jn as T,
  ln as U,
  G as V,
  oe as W,
  K as X,
  lr as Y,
  ir as Z,
  fr as _,
  wt as a,
  Zn as a0,
  Qn as a1,
  zn as a2,
  en as a3,
  Jn as a4,
  ur as a5,
  ar as a6,
  or as a7,
  pn as b,
  qn as c,
  v as d,
  g as e,
  D as f,
  qt as g,
  gt as h,
  Mt as i,
  Z as j,
  R as k,
  Fn as l,
  Sn as m,
  xn as n,
  Lt as o,
  Ee as p,
  W as q,
  sr as r,
  tr as s,
  xe as t,
  nr as u,
  Wn as v,
  In as w,
  ge as x,
  Dn as y,
  Ln as z
};
