"""One registry of generator families and named presets, so no other module branches on the family.

A family names the module that turns (noise, text) into images and the critic that trains it; a preset is a
ModelConfig with a name (`gan-64`). Everything downstream — training, generation, export, eval — asks the registry.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from torch import nn

from llmimg.models.config import ModelConfig
from llmimg.models.gan import Discriminator, Generator
from llmimg.models.slots import SlotGenerator
from llmimg.models.vae import PosteriorEncoder


@dataclass(frozen=True)
class Family:
    """How to build one generator family: the sampling network (exported) and its training partner."""

    generator: Callable[[ModelConfig], nn.Module]  # (noise, tokens, mask, pooled) -> images in [-1, 1]
    critic: Callable[[ModelConfig], nn.Module]  # the discriminator (GAN) or the encoder q(z | x, text) (VAE)


def drawing_network(config: ModelConfig) -> nn.Module:
    """The network that draws: DF-GAN's generator, or the object-slot one when the config asks for slots."""
    return SlotGenerator(config) if config.slots else Generator(config)


FAMILIES: dict[str, Family] = {
    "gan": Family(generator=drawing_network, critic=Discriminator),
    "vae": Family(generator=drawing_network, critic=PosteriorEncoder),  # decoder p(x | z, text), q(z | x, text)
}

PRESETS: dict[str, ModelConfig] = {
    "gan-32": ModelConfig(family="gan", resolution=32, channels=32),
    "gan-64": ModelConfig(family="gan", resolution=64, channels=16),
    # features stop at 32 x 32 and sub-pixel convolutions draw the 2 x 2 patches (issue 14: fewer pixels per step)
    "gan2-64": ModelConfig(family="gan", resolution=64, channels=16, rgb_shuffle=2, noise_dim=32,
                           critic_head_kernel=1),
    # gan2 plus position features in every block of both networks (CoordConv): "where" apart from "what"
    "gan3-64": ModelConfig(family="gan", resolution=64, channels=16, rgb_shuffle=2, noise_dim=32,
                           critic_head_kernel=1, position_features=True),
    # objects drawn apart in slots and laid over a background (models/slots.py); the critic as gan3-64's
    "slots-64": ModelConfig(family="gan", resolution=64, channels=16, rgb_shuffle=2, noise_dim=32,
                            critic_head_kernel=1, position_features=True, slots=2),
    "gan-128": ModelConfig(family="gan", resolution=128, channels=8, attention_resolutions=(8, 16)),
    "gan-tiny": ModelConfig(family="gan", resolution=32, channels=4, max_channels=16, cond_dim=16,
                            noise_dim=8, attention_heads=2),  # for tests
    "gan2-tiny": ModelConfig(family="gan", resolution=32, channels=4, max_channels=16, cond_dim=16, noise_dim=8,
                             attention_heads=2, rgb_shuffle=2, critic_head_kernel=1),  # for tests
    "gan3-tiny": ModelConfig(family="gan", resolution=32, channels=4, max_channels=16, cond_dim=16, noise_dim=8,
                             attention_heads=2, rgb_shuffle=2, critic_head_kernel=1,
                             position_features=True),  # for tests
    "slots-tiny": ModelConfig(family="gan", resolution=32, channels=4, max_channels=16, cond_dim=16, noise_dim=8,
                              attention_heads=2, rgb_shuffle=2, critic_head_kernel=1, position_features=True,
                              slots=2),  # for tests
    "vae-32": ModelConfig(family="vae", resolution=32, channels=32, noise_dim=16),
    "vae-64": ModelConfig(family="vae", resolution=64, channels=16, noise_dim=16),
    "vae-tiny": ModelConfig(family="vae", resolution=32, channels=4, max_channels=16, cond_dim=16,
                            noise_dim=8, attention_heads=2),  # for tests
}
# the VAEs of the gan2 networks (the first stage of the training recipes): the same network, the VAE family
PRESETS.update({f"vae{v}-{size}": replace(PRESETS[f"gan{v}-{size}"], family="vae")
                for v in ("2", "3") for size in ("64", "tiny")})


def _both_sizes(name: str, base: str, **fields) -> None:
    """Presets `name`-64 and `name`-tiny: `base`'s of each size with `fields` changed."""
    for size in ("64", "tiny"):
        PRESETS[f"{name}-{size}"] = replace(PRESETS[f"{base}-{size}"], **fields)


# gan2 drawing grey pictures, and its VAE: the fashion recipe's (Fashion-MNIST has no colour)
_both_sizes("gan2-grey", "gan2", grey=True)
_both_sizes("vae2-grey", "vae2", grey=True)
# gan2 compositing over white, and its VAE: the emoji recipe's (Twemoji is drawn on a white page)
_both_sizes("gan2-white", "gan2", backdrop=1.0)
_both_sizes("vae2-white", "vae2", backdrop=1.0)

# slots2: the noise only places the objects (and says whether each is there); their look comes from the words
PRESETS["slots2-64"] = replace(PRESETS["slots-64"], slot_noise="where")
# slots3: slots2 reading the prompt as ordered segments (one object a phrase), each placed after the one before
PRESETS["slots3-64"] = replace(PRESETS["slots2-64"], slot_read="segments")
PRESETS["slots3-tiny"] = replace(PRESETS["slots-tiny"], slot_noise="where", slot_read="segments")
# slots4: slots3 with objects kept apart, as in every `shapes` scene: a slot stands at least 16 px (0.5 of [-1, 1],
# two small objects' half-sides and the dataset's 4 px gap) from the one before it, so an object a one-object
# prompt does not name cannot hide under the other, and the relation words only choose the direction
_both_sizes("slots4", "slots3", slot_separation=0.5)
# slots5: slots4 whose cut is "whether" from the sentence times "where" from a softmax over the words: slots4's
# per-token boundaries were pushed down everywhere (one-object prompts must not cut), the second slot with them
_both_sizes("slots5", "slots4", slot_read="gated-cuts")
# slots6: slots5 without "whether": the cut always falls somewhere, on [SEP] for one object (what slots5 learned to
# do, its sentence gate staying near 0.5 for every prompt, which kept the segments soft)
_both_sizes("slots6", "slots4", slot_read="cuts")
# slots7: slots5 placing the second object in a direction the words choose (the relation), the noise only turning
# it by up to 30 degrees and setting the distance: slots5's second object stood anywhere around the first
_both_sizes("slots7", "slots5", slot_direction="words")
# slots8: slots5 whose distance from the first object is an output of its own, bounded: slots5's step length set
# both how sharp its direction was and how far it went, and the recipe's run of slots5 diverged (KL 30 -> 10^8)
# as its encoder lengthened the step to sharpen the direction and pushed the second object off the canvas
_both_sizes("slots8", "slots5", slot_distance="own")
# slots9: slots8 with probes of what each slot reads (colour, shape, size) and of its relation to the slot before,
# for --slot-probe-weight: slots8 cut the prompt inside the second object's phrase (its colour word went to the
# first slot) and kept its cut's gate near 0.6 for one object and two alike
_both_sizes("slots9", "slots8", slot_probe=(6, 3, 2, 4))
# slots10: slots9 placing the second object in the direction its words say (slots7's slot_direction "words": the
# noise turns it by at most 30 degrees) at slots8's bounded distance: slots9 read each object's words cleanly, but
# its VAE took the direction from the posterior's noise, and at prior noise the relation held in 2 of 8 scenes
_both_sizes("slots10", "slots9", slot_direction="words")
# slots11: slots8 whose noise has a prior of the words' (learned_prior): slots8 put the second object where the
# posterior's noise said, which at N(0, I) noise is any side of the first whatever the relation (slots10, which took
# the side from the words instead, stopped drawing the second object); a CVAE's prior network (Sohn et al. 2015)
# learns from the KL which noise the posterior gives images of "to the left of", and samples from there
_both_sizes("slots11", "slots8", learned_prior=True)
# slots12: slots11 with slots9's probes (--slot-probe-weight)
_both_sizes("slots12", "slots11", slot_probe=(6, 3, 2, 4))
# slots13 / slots14: slots8 / slots12 drawing each object in the 32 x 32 square of pixels nearest its centre
# (render_window): a quarter of the drawer's pixels for training and generation alike; the bundled slots8 model drew
# the same pictures in it, to within 0.5 / 255 a pixel (docs/MODELS.md)
PRESETS["slots13-64"] = replace(PRESETS["slots8-64"], render_window=32)
PRESETS["slots13-tiny"] = replace(PRESETS["slots8-tiny"], render_window=16)
PRESETS["slots14-64"] = replace(PRESETS["slots12-64"], render_window=32)
PRESETS["slots14-tiny"] = replace(PRESETS["slots12-tiny"], render_window=16)
# slots15: slots14 drawing each object from its own words alone (slot_look "words"): slots14 drew the first-named
# object in the first slot about half the time whatever the relation, so its relations were at chance
_both_sizes("slots15", "slots14", slot_look="words")
# slots16: slots15 whose empty segment has presence 0, not 0.02 (slot_presence "exact"): slots15 drew a pale ghost
# of a second object beside every one-object prompt
_both_sizes("slots16", "slots15", slot_presence="exact")
# slots17: slots15 with an empty segment's presence 0.02 in training (its drawing learns; slots16 starved it) and 0 in
# eval mode, when it draws for a user (no ghost; the shipped slots15 tensors drawn so: FID 53.2, was 58.7)
_both_sizes("slots17", "slots15", slot_presence="exact-in-eval")
# slots18: slots17 weighing each word in its segment (slot_word_gate): words around the scene ("please draw ...
# on a white background") were read as part of an object and drew it wrong
_both_sizes("slots18", "slots17", slot_word_gate=True)
# slots19: slots18 drawing hard edges in eval mode (slot_alpha "hard-in-eval"): `shapes` is drawn without
# anti-aliasing, and the soft coverage a VAE learns blurred every edge; training is slots18's, step for step
_both_sizes("slots19", "slots18", slot_alpha="hard-in-eval")
# slots20: slots19 reading its words from noisy token vectors while training (slot_read_noise 0.5; where the prompt
# is cut stays on the clean ones): slots19 read a held-out synonym ("pyramid", "block") wrong more often than a
# linear probe of the text encoder's own vectors does (docs/MODELS.md, 2026-12-07); trained as run AS, it read the
# held-out wordings no better (0.45 against 0.48) and is not shipped
_both_sizes("slots20", "slots19", slot_read_noise=0.5)
PRESETS.update({name.replace("-", "-vae-"): replace(PRESETS[name], family="vae")  # each slot network's VAE
                for name in list(PRESETS) if name.startswith("slots")})


def family(name: str) -> Family:
    if name not in FAMILIES:
        raise ValueError(f"unknown model family {name!r}; choose one of {', '.join(sorted(FAMILIES))}")
    return FAMILIES[name]


def preset(name: str, **overrides) -> ModelConfig:
    """A named ModelConfig, with any fields overridden (e.g. resolution=128)."""
    if name not in PRESETS:
        raise ValueError(f"unknown model preset {name!r}; choose one of {', '.join(sorted(PRESETS))}")
    return replace(PRESETS[name], **overrides)


def resolve_preset(name: str, family_name: str | None = None, resolution: int | None = None,
                   **overrides) -> ModelConfig:
    """The config a training run asks for: `--model-type vae` picks `vae-<resolution>` (or `vae-64` resized),
    otherwise the preset `name`; `--resolution` overrides the preset's."""
    if family_name is not None:
        family(family_name)
        name = f"{family_name}-{resolution or 64}"
        if name not in PRESETS:
            name = f"{family_name}-64"
    if resolution is not None:
        overrides["resolution"] = resolution
    return preset(name, **overrides)


def build_generator(config: ModelConfig) -> nn.Module:
    return family(config.family).generator(config)


def build_critic(config: ModelConfig) -> nn.Module:
    return family(config.family).critic(config)


def build_encoder(config: ModelConfig) -> nn.Module:
    """A posterior encoder q(z | image, text) for the generator of `config` (the VAE family's critic)."""
    return family("vae").critic(config)
