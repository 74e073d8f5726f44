"""Face restoration (A1111's "Restore faces" and Extras' GFPGAN/CodeFormer sliders): find faces, restore each with
a GFPGAN, CodeFormer or RestoreFormer model, paste it back. `detection` finds faces, `restoration` crops, runs a
model and blends, `restorers` finds and loads the model files."""
