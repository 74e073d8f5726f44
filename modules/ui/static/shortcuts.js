// A1111's keyboard habits, and names for the icon buttons. Loaded once in the page's <head>.
// Ctrl+Enter (Cmd+Enter on a Mac) in txt2img or img2img clicks that tab's Generate; Escape interrupts the
// running job of the tab in view. Buttons drawn with an emoji get a tooltip and an accessible name, so they
// keep their meaning for screen readers and on machines without an emoji font.
(() => {
  const TABS = ["txt2img", "img2img"];

  function shownTab() {
    return TABS.find((tab) => {
      const panel = document.getElementById(`tab_${tab}`);
      return panel && panel.offsetParent !== null;
    });
  }

  function tabOf(element) {
    return TABS.find((tab) => element && element.closest && element.closest(`#tab_${tab}`));
  }

  // Escape belongs first to whatever is open: a dropdown's list, a gallery's preview, a dialog.
  function escapeIsTaken(event) {
    const target = event.target;
    if (event.defaultPrevented) return true;
    if (target && target.closest && target.closest('[role="listbox"], [role="dialog"], .preview, dialog')) {
      return true;
    }
    return Boolean(document.querySelector('ul.options, [role="listbox"]:not([hidden])'));
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !event.altKey) {
      const tab = tabOf(event.target);
      const button = tab && document.getElementById(`${tab}_generate`);
      if (button) {
        event.preventDefault();
        button.click();
      }
    } else if (event.key === "Escape" && !escapeIsTaken(event)) {
      const tab = shownTab();
      const running = tab && document.querySelector(`#${tab}_status .status-running`);
      const button = running && document.getElementById(`${tab}_interrupt`);
      if (button) {
        event.preventDefault();
        button.click();
      }
    }
  });

  // A result arriving opens the output gallery on its first picture, and Gradio then focuses that thumbnail:
  // the caret left the prompt being typed in, and Escape went to the gallery instead of the running job.
  // Focus that no key or pointer asked for goes back where it was: asked means a click or key inside the
  // gallery, or Tab, in the last half second (an Escape that just ended a job does not count).
  const OUTPUT_GALLERIES = TABS.map((tab) => `#${tab}_gallery`).join(", ");
  let lastAsked = 0;
  let lastFocused = null;
  for (const type of ["pointerdown", "keydown"]) {
    document.addEventListener(type, (event) => {
      const inside = event.target && event.target.closest && event.target.closest(OUTPUT_GALLERIES);
      if (inside || event.key === "Tab") lastAsked = performance.now();
    }, true);
  }
  document.addEventListener("focusin", (event) => {
    const target = event.target;
    const unasked = performance.now() - lastAsked > 500;
    if (unasked && target.closest && target.closest(OUTPUT_GALLERIES)) {
      if (lastFocused && lastFocused.isConnected) {
        lastFocused.focus({ preventScroll: true });
      } else {
        target.blur();
      }
      return;
    }
    lastFocused = target;
  }, true);

  function nameButtons() {
    const names = window.webuiButtonNames || {};
    for (const [id, name] of Object.entries(names)) {
      const element = document.getElementById(id);
      if (!element) continue;
      const button = element.tagName === "BUTTON" ? element : element.querySelector("button");
      if (button && button.getAttribute("aria-label") !== name) {
        button.setAttribute("aria-label", name);
        button.setAttribute("title", name);
      }
    }
  }

  // Gradio renders (and re-renders) components after load: name them whenever the page changes, at most
  // once per frame.
  let pending = false;
  const observer = new MutationObserver(() => {
    if (pending) return;
    pending = true;
    requestAnimationFrame(() => {
      pending = false;
      nameButtons();
    });
  });
  function start() {
    nameButtons();
    observer.observe(document.body, { childList: true, subtree: true });
  }
  if (document.readyState === "loading") {
    document.addEventListener("DOMContentLoaded", start);
  } else {
    start();
  }
})();
