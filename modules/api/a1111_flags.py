"""A1111 1.10's command-line flags, as `GET /sdapi/v1/cmd-flags` serves them: argparse's `dest` names with A1111's
defaults, filled in from this server's Settings where a flag has a counterpart here.

Clients read a few of these to learn how the server runs (`api`, `listen`, `nowebui`, the model folders...).
A1111 answers with its raw arguments, passwords included; here credentials are never sent back: a set one reads
as "<hidden>".
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from modules.service.services import Services

HIDDEN = "<hidden>"

_FALSE = (
    "update_all_extensions skip_python_version_check skip_torch_cuda_test reinstall_xformers reinstall_torch "
    "update_check test_server log_startup skip_prepare_environment skip_install dump_sysinfo do_not_download_clip "
    "no_half no_half_vae no_progressbar_hiding allow_code medvram medvram_sdxl lowvram lowram "
    "always_batch_cond_uncond unload_gfpgan upcast_sampling share enable_insecure_extension_access xformers "
    "force_enable_xformers xformers_flash_attention deepdanbooru opt_split_attention opt_sub_quad_attention "
    "opt_split_attention_invokeai opt_split_attention_v1 opt_sdp_attention opt_sdp_no_mem_attention "
    "disable_opt_split_attention disable_nan_check use_ipex disable_model_loading_ram_optimization listen "
    "show_negative_prompt hide_ui_dir_config freeze_settings gradio_debug opt_channelslast autolaunch "
    "use_textbox_seed disable_console_progressbars enable_console_prompts disable_safe_unpickle api api_log nowebui "
    "ui_debug_mode administrator no_gradio_queue skip_version_check no_hashing no_download_sd_model add_stop_route "
    "api_server_stop disable_all_extensions disable_extra_extensions skip_load_model_at_start "
    "unix_filenames_sanitization no_prompt_history f"
).split()
_NONE = (
    "loglevel ckpt ckpt_dir vae_dir gfpgan_dir gfpgan_model ngrok clip_models_path sub_quad_kv_chunk_size "
    "sub_quad_chunk_threshold port freeze_settings_in_sections freeze_specific_settings gradio_auth gradio_auth_path "
    "gradio_img2img_tool gradio_inpaint_tool theme vae_path api_auth device_id cors_allow_origins "
    "cors_allow_origins_regex tls_keyfile tls_certfile disable_tls_verify server_name subpath"
).split()
A1111_DEFAULTS: dict[str, Any] = {
    **dict.fromkeys(_FALSE, False),
    **dict.fromkeys(_NONE),
    "data_dir": ".", "models_dir": "models", "config": "configs/v1-inference.yaml",
    "ckpt": "model.ckpt", "max_batch_count": 16, "embeddings_dir": "embeddings",
    "textual_inversion_templates_dir": "textual_inversion_templates", "hypernetwork_dir": "models/hypernetworks",
    "localizations_dir": "localizations", "precision": "autocast", "ngrok_region": "", "ngrok_options": {},
    "codeformer_models_path": "models/Codeformer", "gfpgan_models_path": "models/GFPGAN",
    "esrgan_models_path": "models/ESRGAN", "bsrgan_models_path": "models/BSRGAN",
    "realesrgan_models_path": "models/RealESRGAN", "dat_models_path": "models/DAT",
    "sub_quad_q_chunk_size": 1024, "use_cpu": [], "ui_config_file": "ui-config.json",
    "ui_settings_file": "config.json", "gradio_allowed_path": [], "styles_file": [], "gradio_queue": True,
    "timeout_keep_alive": 30, "filenames_max_length": 128,
    # The built-in Lora extension's flags.
    "lora_dir": "models/Lora", "lyco_dir_backcompat": "models/LyCORIS",
}


def cmd_flags(services: Services) -> dict[str, Any]:
    """A1111's flags with this server's values where they have a counterpart."""
    settings, paths = services.settings, services.settings.paths
    fp32 = "float32" in str(services.device.dtype)
    ours: dict[str, Any] = {
        "listen": settings.listen, "port": settings.port, "api": True,  # the API is always served here
        "ckpt_dir": str(paths.checkpoints), "vae_dir": str(paths.vaes), "lora_dir": str(paths.loras),
        "embeddings_dir": str(paths.embeddings), "models_dir": str(paths.checkpoints.parent),
        "ui_settings_file": str(paths.settings_file), "no_half": fp32, "no_half_vae": fp32,
        "precision": "full" if fp32 else "autocast",
        "medvram": settings.memory == "offload", "lowvram": settings.memory == "lowvram",
        "use_cpu": ["all"] if str(services.device.device) == "cpu" else [],
        "enable_insecure_extension_access": settings.enable_insecure_extension_access,
        "disable_all_extensions": settings.disable_all_extensions,
        "tls_keyfile": str(settings.tls_keyfile) if settings.tls_keyfile else None,
        "tls_certfile": str(settings.tls_certfile) if settings.tls_certfile else None,
        "max_batch_count": services.processor.limits.max_batch_count,
        "gradio_auth": HIDDEN if settings.auth else None,
        "gradio_auth_path": HIDDEN if settings.auth_file else None,
        "api_auth": HIDDEN if settings.auth or settings.auth_file else None,
    }
    if paths.upscalers is not None:  # A1111's models/ folder, holding one folder per upscaler kind
        for name, sub in (("esrgan_models_path", "ESRGAN"), ("realesrgan_models_path", "RealESRGAN"),
                          ("dat_models_path", "DAT")):
            ours[name] = str(paths.upscalers / sub)
    for name, folder in (("gfpgan_models_path", paths.gfpgan), ("codeformer_models_path", paths.codeformer)):
        if folder is not None:
            ours[name] = str(folder)
    return {**A1111_DEFAULTS, **ours}
