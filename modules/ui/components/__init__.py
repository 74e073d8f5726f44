"""Gradio custom components of the UI, each with its built frontend shipped beside it (no node needed)."""
