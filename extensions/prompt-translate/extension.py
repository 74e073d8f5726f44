"""Prompt translate: Chinese prompts are translated to English with the shipped glossary before encoding.

The translated prompt is what the model sees and what the infotext's prompt says; the original is kept in
the infotext as "Original prompt" (and "Original negative prompt"), which History also searches, so the
picture is found by the words typed and by the words drawn. Per request:
request.extra["prompt-translate"] = {"enabled": bool}; without it the "translate_by_default" setting decides.
"""

from __future__ import annotations

import functools

from modules import extension_api as ext

from .translate import Translator, has_chinese, load_glossary

API_VERSION = 1
GLOSSARY = "glossary.txt"


def setup(api: ext.ExtensionApi) -> None:
    api.add_setting("translate_by_default", True, label="Translate Chinese prompts when a request does not say")
    api.add_setting("translate_negative", True, label="Translate the negative prompt too")

    @functools.cache
    def translator() -> Translator:
        # Read at first use, not at setup: the app starts without waiting for 2,000 glossary lines.
        return Translator(load_glossary(api.folder / GLOSSARY))

    def wanted(request) -> bool:
        values = api.values(request)
        return bool(values.get("enabled", api.settings.get("translate_by_default")))

    @api.before_generate
    def translate(request):
        if not wanted(request) or not (has_chinese(request.prompt) or has_chinese(request.negative_prompt)):
            return None
        prompt = translator().translate(request.prompt)
        negative = translator().translate(request.negative_prompt) if api.settings.get("translate_negative") else None
        record = {**api.values(request), "original_prompt": request.prompt,
                  "original_negative_prompt": request.negative_prompt,
                  "untranslated": prompt.untranslated + (negative.untranslated if negative else [])}
        return ext.replace(request, prompt=prompt.text or request.prompt,
                           negative_prompt=(negative.text if negative and negative.text else request.negative_prompt),
                           extra={**request.extra, api.name: record})

    @api.after_generate
    def record(result) -> None:
        values = api.values(result.request)
        if "original_prompt" not in values:
            return
        fields = {}
        if values["original_prompt"] != result.request.prompt:
            fields["Original prompt"] = values["original_prompt"]
        if values["original_negative_prompt"] != result.request.negative_prompt:
            fields["Original negative prompt"] = values["original_negative_prompt"]
        if fields:
            fields["Prompt translation"] = "glossary"
        ext.add_infotext_fields(result, fields)
        missing = values.get("untranslated") or []
        if missing:
            result.warnings.append("prompt-translate: no glossary entry for " + ", ".join(missing) +
                                   "; kept as written.")

    def section(ctx: ext.SectionContext) -> dict:
        import gradio as gr

        enabled = gr.Checkbox(value=bool(api.settings.get("translate_by_default")),
                              label="Translate Chinese to English before generating",
                              elem_id=f"{ctx.panel}_translate_enabled")
        if ctx.prompt is not None:
            show = gr.Button("Show the translation", size="sm", elem_id=f"{ctx.panel}_translate_show")
            shown = gr.Textbox(label="Translated prompt", interactive=False, lines=2,
                               elem_id=f"{ctx.panel}_translate_result")

            def preview(prompt: str) -> str:
                done = translator().translate(prompt or "")
                text = done.text or (prompt or "")
                return text + (f"\n(not in the glossary: {', '.join(done.untranslated)})" if done.untranslated else "")

            show.click(preview, inputs=[ctx.prompt], outputs=[shown])
        return {"enabled": enabled}

    api.add_section("Prompt translate (中文 → English)", section)

    def translate_route(text: str = "") -> dict:
        done = translator().translate(text)
        return {"text": done.text or text, "untranslated": done.untranslated}

    api.add_route("/translate", translate_route)
