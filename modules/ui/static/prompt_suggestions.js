// Prompt help from history: while a prompt is typed in txt2img or img2img, a list under the box offers
// completions of the fragment being typed (the text after the last comma) from the user's own past prompts
// and the LoRA and embedding names, ranked by use (GET api/v1/prompt-suggestions, the user's own only).
// Up/Down choose, Enter or Tab take the one chosen (Tab: the first when none is), Escape closes the list
// (and does not interrupt the job); Ctrl+Enter still generates. A click takes a suggestion too.
(() => {
  const BOXES = ["txt2img_prompt", "txt2img_neg_prompt", "img2img_prompt", "img2img_neg_prompt"];
  const SELECTOR = BOXES.map((id) => `#${id} textarea`).join(", ");
  const LIMIT = 8;
  const DELAY_MS = 120;
  let list = null; // the <ul role="listbox">, made once
  let state = null; // {textarea, items, active, start, end}
  let timer = 0;
  let pending = null; // the AbortController of the request in flight

  function ensureList() {
    if (list) return list;
    list = document.createElement("ul");
    list.id = "prompt_suggestions";
    list.setAttribute("role", "listbox");
    list.hidden = true;
    list.style.cssText = "position:absolute;z-index:1000;margin:0;padding:2px 0;list-style:none;max-height:16em;" +
      "overflow-y:auto;min-width:16em;background:var(--background-fill-primary,#fff);" +
      "color:var(--body-text-color,#111);border:1px solid var(--border-color-primary,#ccc);border-radius:6px;" +
      "box-shadow:0 4px 12px rgba(0,0,0,.18);font-size:var(--text-md,14px)";
    // mousedown, not click: the textarea keeps the focus (and the caret) while a suggestion is taken
    list.addEventListener("mousedown", (event) => {
      const option = event.target.closest("li[data-index]");
      if (!option) return;
      event.preventDefault();
      take(Number(option.dataset.index));
    });
    document.body.appendChild(list);
    return list;
  }

  function close() {
    if (list) {
      list.hidden = true;
      list.replaceChildren();
    }
    if (state && state.textarea) state.textarea.removeAttribute("aria-activedescendant");
    state = null;
  }

  // The fragment before the caret: after the last comma or line break, or from an unclosed "<" (a LoRA tag
  // being typed in the middle of a fragment).
  function fragmentAt(textarea) {
    const end = textarea.selectionStart;
    if (end !== textarea.selectionEnd) return null;
    const before = textarea.value.slice(0, end);
    let start = Math.max(before.lastIndexOf(",") + 1, before.lastIndexOf("\n") + 1);
    const tag = before.lastIndexOf("<");
    if (tag >= start && before.indexOf(">", tag) === -1) start = tag;
    while (start < end && /\s/.test(before[start])) start += 1;
    return { start, end, prefix: before.slice(start) };
  }

  function ask(textarea) {
    const fragment = fragmentAt(textarea);
    if (!fragment || !fragment.prefix.trim()) {
      close();
      return;
    }
    if (pending) pending.abort();
    pending = new AbortController();
    const url = new URL("api/v1/prompt-suggestions", window.location.href);
    url.search = new URLSearchParams({ prefix: fragment.prefix.slice(-200), limit: String(LIMIT) }).toString();
    fetch(url, { signal: pending.signal, credentials: "same-origin", headers: { Accept: "application/json" } })
      .then((response) => (response.ok ? response.json() : { items: [] }))
      .then((answer) => {
        if (document.activeElement !== textarea) return;
        const now = fragmentAt(textarea);
        if (!now || now.prefix !== fragment.prefix) return; // typed on meanwhile: a newer answer comes
        show(textarea, answer.items || [], fragment);
      })
      .catch((error) => {
        if (error.name !== "AbortError") close();
      });
  }

  function show(textarea, items, fragment) {
    if (!items.length) {
      close();
      return;
    }
    const box = ensureList();
    state = { textarea, items, active: -1, start: fragment.start, end: fragment.end };
    box.replaceChildren(...items.map((item, index) => {
      const option = document.createElement("li");
      option.id = `prompt_suggestion_${index}`;
      option.dataset.index = String(index);
      option.setAttribute("role", "option");
      option.style.cssText = "padding:3px 10px;cursor:pointer;display:flex;gap:1em;justify-content:space-between";
      const text = document.createElement("span");
      text.textContent = item.text;
      const note = document.createElement("small");
      note.style.opacity = "0.65";
      note.textContent = item.kind === "prompt" ? `${item.uses}×` : `${item.kind}${item.uses ? ` · ${item.uses}×` : ""}`;
      option.append(text, note);
      return option;
    }));
    const rect = textarea.getBoundingClientRect();
    box.style.left = `${rect.left + window.scrollX}px`;
    box.style.top = `${rect.bottom + window.scrollY + 2}px`;
    box.style.width = `${Math.max(rect.width / 2, 256)}px`;
    box.hidden = false;
    highlight(-1);
  }

  function highlight(index) {
    if (!state) return;
    state.active = index;
    list.querySelectorAll("li").forEach((option, i) => {
      const on = i === index;
      option.setAttribute("aria-selected", on ? "true" : "false");
      option.style.background = on ? "var(--color-accent-soft,#dbeafe)" : "";
      if (on) option.scrollIntoView({ block: "nearest" });
    });
    if (index >= 0) state.textarea.setAttribute("aria-activedescendant", `prompt_suggestion_${index}`);
  }

  function take(index) {
    if (!state || index < 0 || index >= state.items.length) return;
    const { textarea, start, end } = state;
    const value = textarea.value;
    const after = value.slice(end);
    const joiner = /^\s*,/.test(after) ? "" : ", ";
    const inserted = state.items[index].text + joiner;
    textarea.value = value.slice(0, start) + inserted + after;
    const caret = start + inserted.length;
    textarea.setSelectionRange(caret, caret);
    close();
    // Gradio reads the box's value from its input event.
    textarea.dispatchEvent(new Event("input", { bubbles: true }));
  }

  document.addEventListener("input", (event) => {
    const textarea = event.target;
    if (!(textarea instanceof HTMLTextAreaElement) || !textarea.matches(SELECTOR)) return;
    if (!event.isTrusted) return; // our own event after taking a suggestion
    clearTimeout(timer);
    timer = setTimeout(() => ask(textarea), DELAY_MS);
  });

  // Capture phase: the list's keys are handled before the page's shortcuts (shortcuts.js) see them.
  document.addEventListener("keydown", (event) => {
    if (!state || list.hidden || event.target !== state.textarea) return;
    const count = state.items.length;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      close(); // Ctrl+Enter generates, as always
      return;
    }
    if (event.key === "ArrowDown" || event.key === "ArrowUp") {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      highlight(state.active < 0 && step < 0 ? count - 1 : (state.active + step + count) % count);
    } else if (event.key === "Tab" && !event.shiftKey) {
      event.preventDefault();
      take(state.active >= 0 ? state.active : 0);
    } else if (event.key === "Enter" && !event.shiftKey && !event.altKey && state.active >= 0) {
      event.preventDefault();
      take(state.active);
    } else if (event.key === "Escape") {
      event.preventDefault(); // the list was open: Escape closes it, it does not interrupt the job
      event.stopPropagation();
      close();
    }
  }, true);

  document.addEventListener("focusout", (event) => {
    if (state && event.target === state.textarea) setTimeout(() => {
      if (state && document.activeElement !== state.textarea) close();
    }, 150);
  });
  window.addEventListener("resize", close);
})();
