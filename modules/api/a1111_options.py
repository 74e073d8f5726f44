"""A1111 1.10's settings, as `/sdapi/v1/options` serves them: every key with A1111's default, and what this
server does with it. Written from A1111's `shared_options.py` and the options its built-in extensions add.

Each key is one of three kinds:
- EFFECT: changes the caller's own generations (checkpoint, VAE, clip skip, ENSD, DDIM eta, colour correction,
  inpainting mask weight, fixed img2img steps); stored per user and turned into request fields by
  `generation_fields`.
- STORED: the UI's look, saving layout, training, interrogation...: nothing an API job depends on here. Stored per
  user and returned, so clients that keep their preferences on the server find them again.
- FIXED: decided by this server (the admin's flags and settings) or a feature it does not have. A POST may send
  the value in force (clients send back the whole dict they read); any other value is refused with the reason,
  never stored and ignored.

Types are A1111's (the type of the default): a string for a bool is refused with a 422; numbers may come as
numeric strings, as everywhere in this API.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from modules.core.requests import RequestError
from modules.core.user_options import REQUEST_FIELDS

if TYPE_CHECKING:
    from modules.service.services import Services

EFFECT, STORED, FIXED, DERIVED = "effect", "stored", "fixed", "derived"
UNSUPPORTED = "this server does not support it yet"
SERVER = "the server's admin sets it (command-line flags or the Settings tab), not each user"


@dataclass(frozen=True)
class Option:
    default: Any  # A1111 1.10's default; its type is the option's type
    kind: str = STORED
    reason: str = ""  # FIXED: why another value is refused
    ours: Any = None  # FIXED: the value in force here when it is not A1111's default (None: A1111's)
    nullable: bool = False  # A1111's default is None: a string or null
    low: float | None = None  # bounds of a number, as A1111's slider
    high: float | None = None

    @property
    def in_force(self) -> Any:
        return self.default if self.ours is None else self.ours


def _section(kind: str, values: Mapping[str, Any], reason: str = "") -> dict[str, Option]:
    return {key: Option(value, kind, reason) for key, value in values.items()}


def _fixed(reason: str, values: Mapping[str, Any]) -> dict[str, Option]:
    return _section(FIXED, values, reason)


SAVING = _section(STORED, {
    "samples_save": True, "samples_filename_pattern": "", "save_images_add_number": True,
    "save_images_replace_action": "Replace", "grid_save": True, "grid_format": "png", "grid_extended_filename": False,
    "grid_only_if_multiple": True, "grid_prevent_empty_spots": False, "grid_zip_filename_pattern": "", "n_rows": -1,
    "font": "", "grid_text_active_color": "#000000", "grid_text_inactive_color": "#999999",
    "grid_background_color": "#ffffff", "save_images_before_face_restoration": False,
    "save_images_before_highres_fix": False, "save_images_before_color_correction": False, "save_mask": False,
    "save_mask_composite": False, "jpeg_quality": 80, "webp_lossless": False, "export_for_4chan": True,
    "img_downscale_threshold": 4.0, "target_side_length": 4000.0, "img_max_size_mp": 200.0,
    "use_original_name_batch": True, "use_upscaler_name_as_suffix": False, "save_selected_only": True,
    "save_write_log_csv": True, "save_init_img": False, "temp_dir": "", "clean_temp_dir_at_start": False,
    "save_incomplete_images": False, "notification_audio": True, "notification_volume": 100,
    "save_to_dirs": True, "grid_save_to_dirs": True, "use_save_to_dirs_for_ui": False,
    "directories_filename_pattern": "[date]", "directories_max_prompt_words": 8,
})
PATHS = _fixed("output folders are the server's (--outputs-dir), per user when accounts exist", {
    "outdir_samples": "", "outdir_txt2img_samples": "outputs/txt2img-images",
    "outdir_img2img_samples": "outputs/img2img-images", "outdir_extras_samples": "outputs/extras-images",
    "outdir_grids": "", "outdir_txt2img_grids": "outputs/txt2img-grids",
    "outdir_img2img_grids": "outputs/img2img-grids",
    "outdir_save": "log/images", "outdir_init_images": "outputs/init-images",
})
UPSCALING = {
    **_fixed(SERVER, {"ESRGAN_tile": 192, "ESRGAN_tile_overlap": 8, "DAT_tile": 192, "DAT_tile_overlap": 8,
                      "SWIN_tile": 192, "SWIN_tile_overlap": 8, "SCUNET_tile": 256, "SCUNET_tile_overlap": 8}),
    **_section(STORED, {"realesrgan_enabled_models": ["R-ESRGAN 4x+", "R-ESRGAN 4x+ Anime6B"],
                        "dat_enabled_models": ["DAT x2", "DAT x3", "DAT x4"],
                        "set_scale_by_when_changing_upscaler": False,
                        "SWIN_torch_compile": False, "ldsr_steps": 100, "ldsr_cached": False}),
    "upscaler_for_img2img": Option(None, FIXED, "img2img resizes its input with Lanczos here", nullable=True),
}
# Face restoration reads these per job (convert.py): the user's value, else the server's Settings.
FACES = {
    "face_restoration": Option(False, EFFECT), "face_restoration_model": Option("CodeFormer", EFFECT),
    "code_former_weight": Option(0.5, EFFECT, low=0.0, high=1.0),
    "face_restoration_unload": Option(False, FIXED, SERVER),
}
SYSTEM = _fixed(SERVER, {
    "auto_launch_browser": "Local", "enable_console_prompts": False, "show_warnings": False,
    "show_gradio_deprecation_warnings": True, "memmon_poll_rate": 8, "samples_log_stdout": False, "multiple_tqdm": True,
    "enable_upscale_progressbar": True, "print_hypernet_extra": False, "list_hidden_files": True,
    "disable_mmap_load_safetensors": False, "hide_ldm_prints": True, "dump_stacks_on_signal": False,
    "profiling_enable": False, "profiling_activities": ["CPU"], "profiling_record_shapes": True,
    "profiling_profile_memory": True, "profiling_with_stack": True, "profiling_filename": "trace.json",
    "api_enable_requests": True, "api_forbid_local_requests": True, "api_useragent": "",
    "disabled_extensions": [], "disable_all_extensions": "none", "restore_config_state_file": "",
})
TRAINING = _section(STORED, {
    "unload_models_when_training": False, "pin_memory": False, "save_optimizer_state": False,
    "save_training_settings_to_txt": True, "dataset_filename_word_regex": "", "dataset_filename_join_string": " ",
    "training_image_repeats_per_epoch": 1, "training_write_csv_every": 500, "training_xattention_optimizations": False,
    "training_enable_tensorboard": False, "training_tensorboard_save_images": False,
    "training_tensorboard_flush_every": 120,
})
STABLE_DIFFUSION = {
    "sd_model_checkpoint": Option(None, EFFECT, nullable=True),
    # Read-only: the hash of the caller's sd_model_checkpoint. A client sending back the dict it read (with the old
    # hash and a new checkpoint) must not fail, so a POST passes over it, as A1111 overwrites it on the next load.
    "sd_checkpoint_hash": Option("", DERIVED),
    # Full (the VAE) or TAESD (the tiny decoder of models/VAE-approx): the caller's jobs decode with it.
    "sd_vae_decode_method": Option("Full", EFFECT),
    "CLIP_stop_at_last_layers": Option(1, EFFECT, low=1, high=12),
    **_fixed(SERVER, {"sd_checkpoints_limit": 1, "sd_checkpoints_keep_in_cpu": True, "sd_checkpoint_cache": 0,
                      "sd_vae_checkpoint_cache": 0, "sd_unet": "Automatic", "cross_attention_optimization": "Automatic",
                      "persistent_cond_cache": True, "batch_cond_uncond": True, "fp8_storage": "Disable",
                      "cache_fp16_weight": False, "auto_vae_precision_bfloat16": False, "auto_vae_precision": True,
                      "upcast_attn": False, "sd_vae_overrides_per_model_preferences": True}),
    **_fixed(UNSUPPORTED, {
        "enable_quantization": False, "emphasis": "Original", "enable_prompt_comments": True,
        "enable_batch_seeds": True, "comma_padding_backtrack": 20, "sdxl_clip_l_skip": False, "tiling": False,
        "hires_fix_refiner_pass": "second pass",
        "sdxl_crop_top": 0, "sdxl_crop_left": 0, "sd3_enable_t5": False, "sd_vae_encode_method": "Full",
        "initial_noise_multiplier": 1.0, "img2img_extra_noise": 0.0,
        "img2img_background_color": "#ffffff", "s_min_uncond": 0.0, "s_min_uncond_all": False,
        "token_merging_ratio": 0.0, "token_merging_ratio_img2img": 0.0, "token_merging_ratio_hr": 0.0,
        "pad_cond_uncond": False, "pad_cond_uncond_v0": False, "auto_backcompat": True,
        "use_old_emphasis_implementation": False, "use_old_karras_scheduler_sigmas": False,
        "no_dpmpp_sde_batch_determinism": False, "use_old_hires_fix_width_height": False,
        "hires_fix_use_firstpass_conds": False, "use_old_scheduling": False, "use_downcasted_alpha_bar": False,
        "refiner_switch_by_sample_steps": False, "sd_hypernetwork": "None",
    }),
    # Noise is drawn on the CPU from each image's seed (modules/engine/latents.py): A1111's "CPU" source.
    "randn_source": Option("GPU", FIXED, "noise is always drawn on the CPU here, so seeds match across machines",
                           ours="CPU"),
    "sd_vae": Option("Automatic", EFFECT),
    # Forge's: the text-encoder and VAE files (paths or names) a checkpoint without them runs with.
    "forge_additional_modules": Option([], EFFECT),
    # Used by SDXL refiner checkpoints (as the main checkpoint or as the refiner).
    "sdxl_refiner_high_aesthetic_score": Option(6.0, EFFECT, low=0.0, high=10.0),
    "sdxl_refiner_low_aesthetic_score": Option(2.5, EFFECT, low=0.0, high=10.0),
}
IMG2IMG = {
    "inpainting_mask_weight": Option(1.0, EFFECT, low=0.0, high=1.0),
    "img2img_color_correction": Option(False, EFFECT),
    "img2img_fix_steps": Option(False, EFFECT),
    **_section(STORED, {"img2img_editor_height": 720, "img2img_sketch_default_brush_color": "#ffffff",
                        "img2img_inpaint_mask_brush_color": "#ffffff",
                        "img2img_inpaint_sketch_default_brush_color": "#ffffff", "img2img_batch_show_results_limit": 32,
                        "overlay_inpaint": True}),
    **_fixed(UNSUPPORTED, {"return_mask": False, "return_mask_composite": False}),
}
INTERROGATE = _section(STORED, {
    "interrogate_keep_models_in_memory": False, "interrogate_return_ranks": False, "interrogate_clip_num_beams": 1,
    "interrogate_clip_min_length": 24, "interrogate_clip_max_length": 48, "interrogate_clip_dict_limit": 1500,
    "interrogate_clip_skip_categories": [], "interrogate_deepbooru_score_threshold": 0.5, "deepbooru_sort_alpha": True,
    "deepbooru_use_spaces": True, "deepbooru_escape": True, "deepbooru_filter_tags": "",
})
USER_INTERFACE = _section(STORED, {
    "extra_networks_show_hidden_directories": True, "extra_networks_dir_button_function": False,
    "extra_networks_hidden_models": "When searched", "extra_networks_default_multiplier": 1.0,
    "extra_networks_card_width": 0, "extra_networks_card_height": 0, "extra_networks_card_text_scale": 1.0,
    "extra_networks_card_show_desc": True, "extra_networks_card_description_is_html": False,
    "extra_networks_card_order_field": "Path", "extra_networks_card_order": "Ascending",
    "extra_networks_tree_view_style": "Dirs", "extra_networks_tree_view_default_enabled": True,
    "extra_networks_tree_view_default_width": 180.0, "extra_networks_add_text_separator": " ",
    "ui_extra_networks_tab_reorder": "", "textual_inversion_print_at_load": False,
    "textual_inversion_add_hashes_to_infotext": True, "keyedit_precision_attention": 0.1,
    "keyedit_precision_extra": 0.05, "keyedit_delimiters": ".,\\/!?%^*;:{}=`~() ",
    "keyedit_delimiters_whitespace": ["Tab", "Carriage Return", "Line Feed"], "keyedit_move": True,
    "keyedit_convert": True, "hires_button_gallery_insert": False,
    "disable_token_counters": False, "include_styles_into_token_counters": True, "return_grid": True,
    "do_not_show_images": False, "js_modal_lightbox": True, "js_modal_lightbox_initially_zoomed": True,
    "js_modal_lightbox_gamepad": False, "js_modal_lightbox_gamepad_repeat": 250.0,
    "sd_webui_modal_lightbox_icon_opacity": 1.0, "sd_webui_modal_lightbox_toolbar_opacity": 0.9, "gallery_height": "",
    "open_dir_button_choice": "Subdirectory", "compact_prompt_box": False, "samplers_in_dropdown": True,
    "dimensions_and_batch_together": True, "sd_checkpoint_dropdown_use_short": False, "hires_fix_show_sampler": False,
    "hires_fix_show_prompts": False, "txt2img_settings_accordion": False, "img2img_settings_accordion": False,
    "interrupt_after_current": True, "localization": "None", "quicksettings_list": ["sd_model_checkpoint"],
    "ui_tab_order": [], "hidden_tabs": [], "ui_reorder_list": [], "gradio_theme": "Default",
    "gradio_themes_cache": True, "show_progress_in_title": True, "send_seed": True, "send_size": True,
    "enable_reloading_ui_scripts": False, "add_model_name_to_info": True, "add_model_hash_to_info": True,
    "add_vae_name_to_info": True, "add_vae_hash_to_info": True, "add_user_name_to_info": False,
    "add_version_to_infotext": True, "disable_weights_auto_swap": True, "infotext_skip_pasting": [],
    "infotext_styles": "Apply if any", "show_progressbar": True, "live_previews_image_format": "png",
    "show_progress_grid": True, "show_progress_type": "Approx NN", "live_preview_allow_lowvram_full": False,
    "live_preview_content": "Prompt", "live_preview_refresh_period": 1000.0, "live_preview_fast_interrupt": False,
    "js_live_preview_in_modal_lightbox": False, "prevent_screen_sleep_during_generation": True,
    "hide_samplers": [], "postprocessing_enable_in_main_ui": [], "postprocessing_disable_in_extras": [],
    "postprocessing_operation_order": [], "upscaling_max_images_in_cache": 5,
    "postprocessing_existing_caption_action": "Ignore",
    # built-in extensions: Lora, canvas zoom, extra options, hypertile
    "lora_preferred_name": "Alias from file", "lora_add_hashes_to_infotext": True, "lora_bundled_ti_to_infotext": True,
    "lora_show_all": False, "lora_hide_unknown_for_versions": [], "lora_in_memory_limit": 0,
    "lora_not_found_warning_console": False, "lora_not_found_gradio_warning": False,
    "canvas_hotkey_zoom": "Alt", "canvas_hotkey_adjust": "Ctrl", "canvas_hotkey_shrink_brush": "Q",
    "canvas_hotkey_grow_brush": "W", "canvas_hotkey_move": "F", "canvas_hotkey_fullscreen": "S",
    "canvas_hotkey_reset": "R", "canvas_hotkey_overlap": "O", "canvas_show_tooltip": True, "canvas_auto_expand": True,
    "canvas_blur_prompt": False, "canvas_disabled_functions": ["Overlap"], "extra_options_txt2img": [],
    "extra_options_img2img": [], "extra_options_cols": 1, "extra_options_accordion": False,
})
PREVIEWS_AND_FILES = _fixed(SERVER, {
    "samples_format": "png", "enable_pnginfo": True, "save_txt": False, "live_previews_enable": True,
    "show_progress_every_n_steps": 10,
    # A1111's "Live preview method": the Settings tab sets it here (TAESD, or Approx cheap: the linear map).
    "show_progress_type": "Approx NN",
})
SAMPLING = {
    "eta_noise_seed_delta": Option(0, EFFECT, low=0, high=2**32 - 1),
    "eta_ddim": Option(0.0, EFFECT, low=0.0, high=1.0),
    **_fixed(UNSUPPORTED + " (diffusers' ancestral samplers always use eta 1)", {"eta_ancestral": 1.0}),
    **_fixed(UNSUPPORTED, {
        "ddim_discretize": "uniform", "s_churn": 0.0, "s_tmin": 0.0, "s_tmax": 0.0, "s_noise": 1.0, "sigma_min": 0.0,
        "sigma_max": 0.0, "rho": 0.0, "always_discard_next_to_last_sigma": False, "sgm_noise_multiplier": False,
        "sd_noise_schedule": "Default", "skip_early_cond": 0.0, "beta_dist_alpha": 0.6, "beta_dist_beta": 0.6,
        "lora_functional": False, "sd_lora": "None", "hypertile_enable_unet": False,
        "hypertile_enable_unet_secondpass": False, "hypertile_max_depth_unet": 3, "hypertile_max_tile_unet": 256,
        "hypertile_swap_size_unet": 3, "hypertile_enable_vae": False, "hypertile_max_depth_vae": 3,
        "hypertile_max_tile_vae": 128, "hypertile_swap_size_vae": 3,
    }),
    # This server's UniPC runs with A1111's UniPC settings (modules/engine/samplers.py); other values are refused.
    **_fixed(UNSUPPORTED + " (UniPC runs with A1111's defaults)", {
        "uni_pc_variant": "bh1", "uni_pc_skip_type": "time_uniform", "uni_pc_order": 3,
        "uni_pc_lower_order_final": True}),
}

# sd-webui-controlnet's own options that its API clients set. convert.py reads control_net_no_detectmap per job.
CONTROLNET = {
    "control_net_no_detectmap": Option(False, EFFECT),  # True: no maps after the pictures in `images`
    **_fixed("ControlNet maps are shown and returned, never saved as pictures here", {
        "control_net_detectmap_autosaving": False, "control_net_detectedmap_dir": "detected_maps"}),
}

OPTIONS: dict[str, Option] = {
    **SAVING, **PATHS, **UPSCALING, **FACES, **SYSTEM, **TRAINING, **STABLE_DIFFUSION, **IMG2IMG, **INTERROGATE,
    **USER_INTERFACE, **PREVIEWS_AND_FILES, **SAMPLING, **CONTROLNET,
}


# ---------------------------------------------------------------------------------------------- checking values
def _number(key: str, value: Any, whole: bool) -> int | float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise RequestError(f"Option {key} must be a number, but is {type(value).__name__} {repr(value)[:60]}.")
    try:
        number = float(value)
    except (ValueError, OverflowError):
        raise RequestError(f"Option {key} must be a number, but is {repr(value)[:60]}.") from None
    if not math.isfinite(number):
        raise RequestError(f"Option {key} must be a finite number, but is {repr(value)[:60]}.")
    if whole:
        if number != int(number):
            raise RequestError(f"Option {key} must be a whole number, but is {repr(value)[:60]}.")
        return int(number)
    return number


def check_value(key: str, option: Option, value: Any) -> Any:
    """The value normalised to the option's A1111 type, or RequestError naming the option and what it takes."""
    default = option.default
    if value is None:
        if option.nullable:
            return None
        raise RequestError(f"Option {key} cannot be null; A1111's default is {default!r}.")
    if isinstance(default, bool):
        if not isinstance(value, bool):
            raise RequestError(f"Option {key} must be true or false, but is {type(value).__name__} {repr(value)[:60]}.")
        checked: Any = value
    elif isinstance(default, (int, float)):
        checked = _number(key, value, whole=isinstance(default, int))
        if (option.low is not None and checked < option.low) or (option.high is not None and checked > option.high):
            raise RequestError(f"Option {key} must be from {option.low:g} to {option.high:g}, but is {checked!r}.")
    elif isinstance(default, list):
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise RequestError(f"Option {key} must be a list of strings, but is {repr(value)[:80]}.")
        checked = list(value)
    else:  # strings, and the options whose default is None
        if not isinstance(value, str):
            raise RequestError(f"Option {key} must be a string, but is {type(value).__name__} {repr(value)[:60]}.")
        checked = value
    return checked


def check_changes(body: Mapping[str, Any], in_force: Callable[[str], Any],
                  specials: Mapping[str, Callable[[Any], Any]]) -> dict[str, Any]:
    """The values to store for a POST: every key checked first, so a bad one leaves everything unchanged.

    Unknown keys are refused rather than stored: A1111 fails them too (a KeyError), and storing them would make a
    typo (`eta_noise_seed_detla`) look accepted while it does nothing. `in_force(key)` gives a FIXED option's
    value here; `specials` check EFFECT values further (a checkpoint that exists, a known VAE).
    """
    unknown = sorted(str(key) for key in body if key not in OPTIONS)
    if unknown:
        listed = ", ".join(unknown[:10]) + (" ..." if len(unknown) > 10 else "")
        raise RequestError(f"Unknown option(s): {listed}. This server has A1111 1.10's options; GET /sdapi/v1/options "
                           "lists them.")
    changes: dict[str, Any] = {}
    for key, value in body.items():
        option = OPTIONS[key]
        if option.kind == DERIVED:
            continue
        checked = check_value(key, option, value)
        if option.kind == FIXED:
            current = in_force(key)
            if checked != current:
                raise RequestError(f"Option {key} cannot be set to {checked!r} (it is {current!r}): {option.reason}.")
            continue
        if key in specials:
            checked = specials[key](checked)
        changes[key] = checked
    return changes


def in_force(services: Services, key: str) -> Any:
    """A server-wide option's value here: from the admin's flags and settings where it has a counterpart."""
    preview_every = int(services.ui_settings.get("preview_every") or 0)
    server = {"sd_checkpoints_limit": services.settings.models_in_ram, "live_previews_enable": preview_every > 0,
              "show_progress_every_n_steps": preview_every}
    if key in server:
        return server[key]
    # The admin's Settings tab keeps some of A1111's options under their A1111 names (ESRGAN_tile, the face
    # restorer...): theirs is the value in force, and every user's default.
    configured = services.ui_settings.get(key)
    if configured is not None and not isinstance(configured, dict):
        return configured
    return OPTIONS[key].in_force


def values_for(user_values: Mapping[str, Any], in_force: Callable[[str], Any]) -> dict[str, Any]:
    """Every option's value for one user: theirs where they set one, else the value in force here."""
    values = {}
    for key, option in OPTIONS.items():
        if option.kind in (EFFECT, STORED) and key in user_values:
            values[key] = user_values[key]
        else:
            values[key] = in_force(key)
    return values


# ---------------------------------------------------------------------------------------------- into requests
# The EFFECT options read here are core.user_options.REQUEST_FIELDS (the UI reads them too); the checkpoint, VAE
# and clip skip are read by convert.payload_to_request itself.
OPTION_OF_FIELD = {field_name: key for key, field_name in REQUEST_FIELDS.items()}
HANDLED_BY_CONVERT = ("sd_model_checkpoint", "sd_vae", "CLIP_stop_at_last_layers", "forge_additional_modules")


def request_fields(user_values: Mapping[str, Any], overrides: Mapping[str, Any], in_force: Callable[[str], Any],
                   warnings: list[str]) -> dict[str, Any]:
    """Request fields from the user's options, with a payload's `override_settings` over them for this job.

    An override is checked like a POST: a wrong type or a FIXED option at another value is refused. An unknown
    key only warns: payloads are tolerant (A1111 clients send their extensions' settings here too).
    """
    unknown = sorted(str(key) for key in overrides if key not in OPTIONS)
    if unknown:
        warnings.append(f"override_settings: unknown option(s) {', '.join(unknown[:10])} ignored.")
    known = {key: value for key, value in overrides.items() if key in OPTIONS and key not in HANDLED_BY_CONVERT}
    checked = check_changes(known, in_force, {})
    fields = {}
    for key, field_name in REQUEST_FIELDS.items():
        if key in checked:
            fields[field_name] = checked[key]
        elif key in user_values:
            fields[field_name] = user_values[key]
    return fields
