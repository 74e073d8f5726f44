"""Write the ControlNet config.json for each SD family from the shipped UNet configs (no weights are built).

    python tools/make_controlnet_configs.py

Single-file ControlNets (control_*.safetensors / .pth) carry no config; diffusers needs one to load them
offline, and it is the UNet's, as ControlNetModel.from_unet derives it.
"""

from pathlib import Path

from accelerate import init_empty_weights
from diffusers import ControlNetModel, UNet2DConditionModel

CONFIGS = Path(__file__).resolve().parent.parent / "modules" / "engine" / "models" / "configs"

for family in ("sd1", "sd2", "sdxl"):
    with init_empty_weights():
        unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(CONFIGS / family / "unet"))
        controlnet = ControlNetModel.from_unet(unet, load_weights_from_unet=False)
    out = CONFIGS / f"controlnet-{family}"
    out.mkdir(exist_ok=True)
    controlnet.save_config(out)
    print("wrote", out / "config.json")
