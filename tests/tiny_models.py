"""Tiny random models built locally (no hub, no download), shared by tests and benchmarks.

    build_tiny_sd_pipeline(path) -> path   # a Stable Diffusion pipeline folder of a few
                                           # thousand parameters, loadable with
                                           # AutoPipelineForText2Image.from_pretrained(path)

The `tiny_sd_pipeline` fixture builds it once per test session; import it in a test
module (`from tests.tiny_models import tiny_sd_pipeline  # noqa: F401`) to use it.
"""
from __future__ import annotations

from pathlib import Path

import pytest


def _byte_vocab() -> dict[str, int]:
    """A CLIP byte-level BPE vocabulary with no merges: every byte, alone and word-final."""
    printable = (list(range(ord("!"), ord("~") + 1)) + list(range(ord("\xa1"), ord("\xac") + 1))
                 + list(range(ord("\xae"), ord("\xff") + 1)))
    chars = [chr(b) for b in printable]
    extra = 0
    for byte in range(256):  # the GPT-2 byte -> unicode table CLIP's BPE works on
        if byte not in printable:
            chars.append(chr(256 + extra))
            extra += 1
    vocab: dict[str, int] = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for char in chars:
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    return vocab


def build_tiny_sd_pipeline(path: Path, seed: int = 0) -> Path:
    """Build and save_pretrained a tiny random Stable Diffusion pipeline at `path`."""
    import torch
    from diffusers import AutoencoderKL, DDIMScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

    path = Path(path)
    torch.manual_seed(seed)
    unet = UNet2DConditionModel(
        block_out_channels=(4, 8), layers_per_block=1, sample_size=16,
        in_channels=4, out_channels=4, norm_num_groups=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=8, attention_head_dim=2)
    vae = AutoencoderKL(
        block_out_channels=(4, 8), in_channels=3, out_channels=3, latent_channels=4,
        norm_num_groups=2, layers_per_block=1, sample_size=32,
        down_block_types=("DownEncoderBlock2D", "DownEncoderBlock2D"),
        up_block_types=("UpDecoderBlock2D", "UpDecoderBlock2D"))
    vocab = _byte_vocab()
    text_encoder = CLIPTextModel(CLIPTextConfig(
        bos_token_id=0, eos_token_id=1, pad_token_id=1, hidden_size=8, intermediate_size=16,
        num_attention_heads=2, num_hidden_layers=2, vocab_size=len(vocab),
        max_position_embeddings=77, projection_dim=8))
    tokenizer = CLIPTokenizer(vocab=vocab, merges=[], model_max_length=77)
    scheduler = DDIMScheduler(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
                              clip_sample=False, set_alpha_to_one=False, steps_offset=1)
    pipe = StableDiffusionPipeline(unet=unet, vae=vae, text_encoder=text_encoder,
                                   tokenizer=tokenizer, scheduler=scheduler,
                                   safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    pipe.save_pretrained(path)
    return path


@pytest.fixture(scope="session")
def tiny_sd_pipeline(tmp_path_factory) -> Path:
    """A tiny Stable Diffusion pipeline folder, built once per test session."""
    return build_tiny_sd_pipeline(tmp_path_factory.mktemp("tiny-sd") / "pipeline")
