"""The layer-wise conditioning mechanism shared by p_plus and adi (methods/layerwise.py)."""

import pytest
import torch

from actionbench.errors import ActionBenchError
from actionbench.methods.layerwise import (
    IDENTIFIER_TOKEN,
    LayerwiseAttnProcessor,
    check_compatible,
    cross_attention_layers,
    encode_with_identifiers,
    ensure_identifier_token,
    install_layerwise_attention,
    load_identifiers,
    pack_layers,
    save_identifiers,
    unpack_layers,
)
from actionbench.methods.training import encode_prompts

TOKENS = 77


def sd_layout_unet(seed: int = 0):
    """A UNet with Stable Diffusion 1.x/2.x's block layout (3 cross-attention down blocks, a cross-attention
    mid block, 3 cross-attention up blocks, 2 layers per block) at toy width: 16 cross-attention layers."""
    from diffusers import UNet2DConditionModel

    torch.manual_seed(seed)
    return UNet2DConditionModel(
        sample_size=32, in_channels=4, out_channels=4, layers_per_block=2, block_out_channels=(8, 8, 8, 8),
        down_block_types=("CrossAttnDownBlock2D",) * 3 + ("DownBlock2D",),
        up_block_types=("UpBlock2D",) + ("CrossAttnUpBlock2D",) * 3,
        cross_attention_dim=32, attention_head_dim=4, norm_num_groups=4)


def capture_key_inputs(unet, names):
    """Forward hooks recording what each cross-attention layer's key projection reads (its text input)."""
    seen, handles = {}, []
    modules = dict(unet.named_modules())
    for name in names:
        def hook(module, args, output, name=name):
            seen[name] = args[0].detach().clone()
        handles.append(modules[name].to_k.register_forward_hook(hook))
    return seen, handles


def run_unet(pipe, states):
    latents = torch.randn(states.shape[0], 4, 32, 32, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        return pipe.unet(latents, torch.tensor([500] * states.shape[0]), states).sample


def test_layers_are_counted_from_the_model_in_forward_order(tiny_pipe):
    names = cross_attention_layers(tiny_pipe.unet)
    assert [n.split(".")[0] for n in names] == ["down_blocks"] * 2 + ["mid_block"] + ["up_blocks"] * 3
    assert all(n.endswith("attn2") for n in names)

    sd_names = cross_attention_layers(sd_layout_unet())
    assert len(sd_names) == 16  # SD 1.x/2.x: 6 down, 1 mid, 9 up; per attention layer, not per block (7)
    assert [n.split(".")[0] for n in sd_names] == ["down_blocks"] * 6 + ["mid_block"] + ["up_blocks"] * 9


def test_pack_and_unpack_are_inverse():
    states = torch.randn(5, 2, TOKENS, 8)
    packed = pack_layers(states)
    assert packed.shape == (2, 5 * TOKENS, 8)
    assert torch.equal(packed[1, 3 * TOKENS:4 * TOKENS], states[3, 1])
    assert torch.equal(unpack_layers(packed, 5), states)


def test_the_identifier_replaces_the_token_embedding_exactly(tiny_pipe):
    token_id = ensure_identifier_token(tiny_pipe)
    cat = tiny_pipe.text_encoder.get_input_embeddings().weight[tiny_pipe.tokenizer.encode("cat", add_special_tokens=False)[0]]
    with torch.no_grad():
        substituted = encode_with_identifiers(tiny_pipe, [f"a photo of a {IDENTIFIER_TOKEN}"], cat[None].clone(), token_id)
        written = encode_prompts(tiny_pipe, ["a photo of a cat"])
    assert torch.equal(substituted, written)


def test_each_layer_receives_its_own_identifier(tiny_pipe):
    names = install_layerwise_attention(tiny_pipe.unet, TOKENS)
    token_id = ensure_identifier_token(tiny_pipe)
    identifiers = torch.randn(len(names), 32, generator=torch.Generator().manual_seed(1))
    prompts = [f"a man {IDENTIFIER_TOKEN} on a beach", f"a woman {IDENTIFIER_TOKEN}"]
    seen, handles = capture_key_inputs(tiny_pipe.unet, names)
    with torch.no_grad():
        run_unet(tiny_pipe, encode_with_identifiers(tiny_pipe, prompts, identifiers, token_id))
        first = dict(seen)
        changed = identifiers.clone()
        changed[3] += 1.0
        run_unet(tiny_pipe, encode_with_identifiers(tiny_pipe, prompts, changed, token_id))
        # Layer i reads the prompt encoded with identifier i (a batch of one identifier: rounding only).
        for i, name in enumerate(names):
            alone = encode_with_identifiers(tiny_pipe, prompts, identifiers[i:i + 1], token_id)
            assert torch.allclose(first[name], alone, atol=1e-6), name
    for handle in handles:
        handle.remove()
    for i, name in enumerate(names):
        assert torch.equal(seen[name], first[name]) == (i != 3), name  # only layer 3's input changed


def test_a_shared_condition_passes_through_unchanged(tiny_pipe):
    states = encode_prompts(tiny_pipe, ["a cat"])
    before = run_unet(tiny_pipe, states)
    install_layerwise_attention(tiny_pipe.unet, TOKENS)
    assert torch.equal(run_unet(tiny_pipe, states), before)
    count = len(cross_attention_layers(tiny_pipe.unet))
    assert torch.allclose(run_unet(tiny_pipe, states.repeat(1, count, 1)), before, atol=1e-6)  # same text everywhere


def test_installing_twice_wraps_once(tiny_pipe):
    install_layerwise_attention(tiny_pipe.unet, TOKENS)
    install_layerwise_attention(tiny_pipe.unet, TOKENS)
    wrapped = [p for p in tiny_pipe.unet.attn_processors.values() if isinstance(p, LayerwiseAttnProcessor)]
    assert len(wrapped) == len(cross_attention_layers(tiny_pipe.unet))
    assert not any(isinstance(p.inner, LayerwiseAttnProcessor) for p in wrapped)


def test_a_condition_of_the_wrong_length_fails_loudly(tiny_pipe):
    install_layerwise_attention(tiny_pipe.unet, TOKENS)
    with pytest.raises(ValueError, match="got 154 condition tokens; expected 77 \\(shared\\) or 6 x 77"):
        run_unet(tiny_pipe, torch.zeros(1, 2 * TOKENS, 32))


def test_artifact_round_trip_and_compatibility(tiny_pipe, tmp_path):
    names = cross_attention_layers(tiny_pipe.unet)
    vectors = torch.randn(len(names), 32)
    save_identifiers(tmp_path, vectors, names, tiny_pipe, {"method": "p_plus", "settings": {"steps": 3}})
    loaded = load_identifiers(tmp_path)
    assert torch.equal(loaded.vectors, vectors) and loaded.layer_names == names and loaded.layerwise
    assert loaded.token == IDENTIFIER_TOKEN and loaded.manifest["settings"] == {"steps": 3}
    assert set(loaded.manifest["base"]) == {"name_or_path", "fingerprint"}
    check_compatible(tiny_pipe, loaded)

    tiny_pipe.unet = sd_layout_unet()
    with pytest.raises(ActionBenchError) as error:
        check_compatible(tiny_pipe, loaded)
    assert str(error.value) == ("the identifiers were trained on a UNet with 6 cross-attention layers; this base "
                                "model has 16 with other names: generate with the base model they were trained on.")


def test_a_corrupt_artifact_says_what_to_do(tmp_path):
    (tmp_path / "identifiers.json").write_text("{not json")
    with pytest.raises(ActionBenchError, match=r"holds no readable layer-wise identifiers .*: train again"):
        load_identifiers(tmp_path)


# -- the standalone loader (methods/layerwise_pipeline.py, shipped in every artifact as pipeline.py) ----------


def test_the_shipped_loader_imports_nothing_from_the_suite():
    import ast
    from pathlib import Path

    from actionbench.methods import layerwise_pipeline

    tree = ast.parse(Path(layerwise_pipeline.__file__).read_text())
    imported = {alias.name for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module for node in ast.walk(tree) if isinstance(node, ast.ImportFrom) and node.module}
    assert imported and not any(name.split(".")[0] in ("actionbench", "methods") for name in imported)
    assert not any(isinstance(node, ast.ImportFrom) and node.level for node in ast.walk(tree))  # diffusers refuses them


def saved_identifiers(pipe, folder, count=None):
    names = cross_attention_layers(pipe.unet)
    vectors = torch.randn(count or len(names), 32, generator=torch.Generator().manual_seed(2))
    return save_identifiers(folder, vectors, names, pipe, {"method": "p_plus"}), vectors


def test_after_loading_the_text_encoder_returns_the_packed_encoding_for_prompts_with_the_token(tiny_pipe, tmp_path):
    from actionbench.methods.layerwise_pipeline import load_layerwise_identifiers

    artifact, vectors = saved_identifiers(tiny_pipe, tmp_path)
    plain = encode_prompts(tiny_pipe, ["a cat"])
    load_layerwise_identifiers(tiny_pipe, artifact)
    load_layerwise_identifiers(tiny_pipe, artifact)  # a second load replaces the first
    token_id = ensure_identifier_token(tiny_pipe)
    with torch.no_grad():
        positive, negative = tiny_pipe.encode_prompt([f"a cat {IDENTIFIER_TOKEN}"], "cpu", 1, True)
        expected = encode_with_identifiers(tiny_pipe, [f"a cat {IDENTIFIER_TOKEN}"], vectors, token_id)
        assert torch.equal(positive, expected)  # what training saw, exactly
        # the negative prompt, padded by the pipeline to the packed length, is the empty prompt per layer
        assert torch.equal(negative, encode_prompts(tiny_pipe, [""]).repeat(1, len(vectors), 1))
        assert torch.equal(encode_prompts(tiny_pipe, ["a cat"]), plain)  # no token: untouched


def test_one_shared_identifier_is_plain_textual_inversion(tiny_pipe, tmp_path):
    from actionbench.methods.layerwise_pipeline import HOOKS_ATTRIBUTE, load_layerwise_identifiers
    from actionbench.methods.layerwise_pipeline import LayerwiseAttnProcessor as Wrapper

    artifact, vectors = saved_identifiers(tiny_pipe, tmp_path, count=1)
    load_layerwise_identifiers(tiny_pipe, artifact)
    assert not any(isinstance(p, Wrapper) for p in tiny_pipe.unet.attn_processors.values())
    token_id = ensure_identifier_token(tiny_pipe)
    with torch.no_grad():
        positive, negative = tiny_pipe.encode_prompt([f"a cat {IDENTIFIER_TOKEN}"], "cpu", 1, True)
        getattr(tiny_pipe.text_encoder, HOOKS_ATTRIBUTE).remove()  # the reference: the vector in the table
        tiny_pipe.text_encoder.get_input_embeddings().weight[token_id] = vectors[0]
        assert torch.equal(positive, encode_prompts(tiny_pipe, [f"a cat {IDENTIFIER_TOKEN}"]))
    assert negative.shape == positive.shape == (1, TOKENS, 32)


def test_the_standalone_loader_refuses_another_base_in_one_sentence(tiny_pipe, tmp_path):
    from actionbench.methods.layerwise_pipeline import load_layerwise_identifiers

    artifact, _ = saved_identifiers(tiny_pipe, tmp_path)
    tiny_pipe.unet = sd_layout_unet()
    with pytest.raises(ValueError) as error:
        load_layerwise_identifiers(tiny_pipe, artifact)
    assert str(error.value).startswith("the identifiers were trained on a UNet with 6 cross-attention layers; this "
                                       "pipeline's has 16 with other names: use the base model they were trained on")


def test_from_pipe_gives_a_pipeline_with_the_loader(tiny_pipe, tmp_path, monkeypatch):
    from diffusers import DiffusionPipeline

    monkeypatch.setenv("HF_MODULES_CACHE", str(tmp_path / "modules"))
    artifact, _ = saved_identifiers(tiny_pipe, tmp_path / "artifact")
    pipe = DiffusionPipeline.from_pipe(tiny_pipe, custom_pipeline=str(artifact), trust_remote_code=True)
    assert type(pipe).__name__ == "LayerwiseIdentifiersPipeline"
    assert pipe.load_layerwise_identifiers(artifact)["format"] == "actionbench-layerwise-identifiers/1"
