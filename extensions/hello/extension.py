"""Hello: the template to copy. A setting, a tab, a route, and a hook that signs the infotext.

Copy this folder to extensions/<your-name>/, rename things, and read docs/EXTENSIONS.md.
"""

from __future__ import annotations

from modules import extension_api as ext

API_VERSION = 1  # the extension API this was written for; the loader refuses versions it does not know


def greeting(name: str, template: str) -> str:
    return template.replace("{name}", name.strip() or "artist")


def setup(api: ext.ExtensionApi) -> None:
    api.add_setting("greeting", "Hello, {name}!", label="Greeting ({name} is replaced)")
    api.add_setting("sign_infotext", False, label="Add 'Hello: yes' to the infotext of every picture")

    def build_tab(ctx: ext.TabContext) -> None:
        import gradio as gr  # only the UI needs gradio: keep it out of the module's import

        name = gr.Textbox(label="Your name", elem_id="hello_name")
        answer = gr.Markdown(elem_id="hello_answer")
        name.submit(lambda text: greeting(text, ctx.settings.get("greeting")), inputs=[name], outputs=[answer])

    api.add_tab("Hello", build_tab)

    # GET /ext/hello/greet?name=Ada -> {"greeting": "Hello, Ada!"} (behind the app's login)
    api.add_route("/greet", lambda name="artist": {"greeting": greeting(name, api.settings.get("greeting"))})

    @api.after_generate
    def sign(result) -> None:
        if api.settings.get("sign_infotext"):
            ext.add_infotext_fields(result, {"Hello": "yes"})
