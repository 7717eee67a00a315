"""Recipes: each builds its stages and takes one step of each on a tiny preset; flags beside --recipe override it;
a GAN stage starts from the VAE stage's decoder and encoder; a one-stage recipe ships its VAE."""

import json

import pytest
import torch

from llmimg.cli.main import main
from llmimg.model_file import load_model
from llmimg.training.recipes import RECIPES, VAE_OF, stages
from llmimg.training.trainer import Trainer, train

# each recipe's networks: (VAE stage, GAN stage or None), and the tiny presets of the same networks
NETWORKS = {"shapes": (("slots19-vae-64", None), "slots19-tiny"),
            "fashion": (("vae2-grey-64", "gan2-grey-64"), "gan2-grey-tiny"),
            "emoji": (("vae2-white-64", "gan2-white-64"), "gan2-white-tiny")}


def test_every_recipe_is_listed_here():
    assert set(NETWORKS) == set(RECIPES)


@pytest.mark.parametrize("name", sorted(RECIPES))
def test_each_recipe_runs_one_step_of_each_stage_on_a_tiny_preset(tmp_path, name, caplog, text_encoder):
    networks, tiny = NETWORKS[name]
    recipe = RECIPES[name]
    assert (recipe.vae.model, recipe.gan and recipe.gan.model) == networks
    vae, gan = stages(name, tmp_path, model=tiny, batch_size=4, dry_run=True)
    assert vae.model == VAE_OF[tiny]
    assert (gan is None) if networks[1] is None else (gan.model == tiny)
    with caplog.at_level("INFO"):
        for stage in (vae, gan) if gan else (vae,):
            assert train(stage, text_encoder) is None
    assert caplog.text.count("dry run: one step") == (2 if gan else 1)
    assert "reconstruction" in caplog.text.split("dry run: one step")[-1]  # a GAN stage keeps the VAE's term


@pytest.mark.slow
def test_a_one_stage_recipe_ships_its_vae_and_steps_set_its_length(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--recipe", "shapes", "--model", "slots19-tiny", "--steps", "2", "--batch-size", "4",
                 "--eval-n", "2", "--out", str(out)]) == 0
    assert json.loads((out / "vae" / "train_config.json").read_text())["steps"] == 2
    assert not (out / "gan").exists()
    assert load_model(out / "model.safetensors").config.family == "vae"


@pytest.mark.slow
def test_flags_beside_a_recipe_override_it_and_the_gan_starts_from_the_vae(tmp_path):
    out = tmp_path / "run"
    assert main(["train", "--recipe", "fashion", "--model", "gan2-tiny", "--steps", "2", "--vae-steps", "3",
                 "--batch-size", "4", "--eval-n", "2", "--no-channels-last", "--out", str(out)]) == 0
    vae_config, gan_config = (json.loads((out / stage / "train_config.json").read_text()) for stage in ("vae", "gan"))
    assert (gan_config["steps"], vae_config["steps"]) == (2, 3)  # --steps: the GAN's, --vae-steps: the VAE's
    assert vae_config["batch_size"] == gan_config["batch_size"] == 4  # the other flags: both stages
    assert vae_config["channels_last"] is gan_config["channels_last"] is False
    assert gan_config["init_from"] == str(out / "vae" / "model.safetensors")
    assert load_model(out / "model.safetensors").config.family == "gan"


def test_gan_stage_starts_from_the_vae_encoder(tmp_path, text_encoder):
    vae, gan = stages("fashion", tmp_path, 1, model="gan2-tiny", steps=1, batch_size=4, eval_n=2,
                      precompute_text=False)  # about encoder weights: the caption store (tested elsewhere) not needed
    train(vae, text_encoder)
    vae_state = torch.load(next((tmp_path / "vae" / "checkpoints").iterdir()), weights_only=True)
    trainer = Trainer(gan, text_encoder)
    for name, value in trainer.encoder.state_dict().items():
        assert torch.equal(value, vae_state["critic"][name])


def test_a_stopped_stage_ends_the_recipe(tmp_path, monkeypatch):
    """A stage that stopped short of its steps (SIGTERM) must not hand a partial model to the next stage."""
    import llmimg.training.trainer as trainer_module
    from llmimg.training.recipes import run_recipe

    started = []

    def stopped_early(config):
        started.append(config.out)
        return tmp_path / "vae" / "model.safetensors"  # as train() returns after a stop, with no checkpoint at steps

    monkeypatch.setattr(trainer_module, "train", stopped_early)
    assert run_recipe("fashion", tmp_path, model="gan2-tiny") is None
    assert started == [str(tmp_path / "vae")]


def test_unknown_recipe_and_model_are_refused(capsys):
    with pytest.raises(SystemExit):
        main(["train", "--recipe", "flowers"])
    assert "invalid choice: 'flowers'" in capsys.readouterr().err
    with pytest.raises(ValueError, match="recipes train"):
        stages("shapes", "runs/x", model="gan-64")


def test_every_network_recipes_train_has_its_vae_preset():
    """recipes.VAE_OF is a literal (the CLI's --help must not import torch): it names presets that exist, and every
    slot network the registry has."""
    from llmimg.models.registry import PRESETS

    assert all(network in PRESETS and PRESETS[vae].family == "vae" for network, vae in VAE_OF.items())
    assert {name for name in PRESETS if name.startswith("slots") and "-vae-" not in name} <= set(VAE_OF)


def test_only_the_emoji_recipe_augments_what_its_critic_sees():
    assert {name: recipe.gan.augment for name, recipe in RECIPES.items() if recipe.gan} == \
        {"fashion": "", "emoji": "translation,cutout"}
    vae, gan = stages("emoji", "out", model="gan2-white-tiny")
    assert gan.augment == "translation,cutout" and vae.model == "vae2-white-tiny"
