"""The one typed configuration of a generator; it travels inside every exported `.safetensors` file."""

from __future__ import annotations

import functools
import json
import types as types_module
import typing
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class ModelConfig:
    """Every field is checked on construction: its declared type and, for sizes, its range (SIZES)."""

    family: str = "gan"  # generator family in llmimg.models.registry ("gan", "vae")
    resolution: int = 64  # output side in pixels: a power of two from 32 to 256
    noise_dim: int = 64  # size of the latent noise vector z
    text_dim: int = 384  # hidden size of the text encoder (MiniLM: 384)
    cond_dim: int = 128  # size of the projected text features inside the networks
    channels: int = 16  # feature channels at the output resolution; doubled per halving
    max_channels: int = 256  # cap on feature channels at low resolutions
    attention_resolutions: tuple[int, ...] = (8, 16)  # feature sides where the networks attend to word tokens
    attention_heads: int = 4  # heads of each word-attention layer
    critic_head_kernel: int = 3  # kernel of the critic's image-and-sentence conv at 4 x 4 (1: 9x fewer FLOPs)
    rgb_shuffle: int = 1  # pixel (un)shuffle between RGB and the top feature map: 2 keeps features at resolution / 2
    position_features: bool = False  # add learned functions of (x, y) to every block's features (CoordConv)
    grey: bool = False  # draw one channel, the same in R, G and B: for data without colour (Fashion-MNIST), where
    # Inception reads a generator's faint colour cast (1 grey level in 255 on average) as colour: FID 125 -> 78
    backdrop: float | None = None  # the data's flat background in [-1, 1] (1: white, emoji; -1: black): the network
    # draws an alpha channel besides its colours and composites them over it, so a background can be drawn exact
    slots: int = 0  # > 0: the object-slot generator (models/slots.py) with this many objects, not DF-GAN's
    slot_noise: str = "all"  # what a slot's noise moves: "all" (place and look), or "where" (place, presence only)
    slot_read: str = "compete"  # how slots read the words: "compete" (slot attention); in order: "segments",
    # "gated-cuts" or "cuts" (models/slots.py)
    slot_separation: float = 0.0  # in order: each slot's centre at least this far from the one before ([-1, 1])
    slot_direction: str = "any"  # "words": the direction from the slot before comes from the words alone
    slot_distance: str = "step"  # with a separation: how far past it a slot stands: "step" (the length of the step
    # whose direction it follows), or "own" (an output of its own, bounded: models/slots.py)
    slot_probe: tuple[int, ...] = ()  # training only: classes of each attribute probed from what a slot reads (the
    # last: its relation to the slot before, probed from its state), so a loss can teach reading (models/slots.py)
    learned_prior: bool = False  # slots: z ~ N(mu(text), sigma(text)), learned by a VAE's KL (a CVAE's prior network)
    render_window: int = 0  # slots: each object drawn in a square of this many pixels around its centre, nothing of
    # it outside (0: over the whole canvas); `shapes` objects are at most 24 px across
    slot_look: str = "state"  # what a slot's drawing reads: "state" (its words and the whole sentence, as its place
    # does), or "words" (its own words alone, through a layer of its own: the sentence names every object)
    slot_presence: str = "sigmoid"  # read in order, a slot's presence from its segment's words: "sigmoid" (of
    # 8 x (words - 1/2): 0.02 for an empty segment), "exact" (that rescaled: 0 for an empty segment, 1 from one
    # word), or "exact-in-eval" (sigmoid in training mode, so an empty slot's drawing still learns, exact in eval mode)
    slot_alpha: str = "soft"  # slots: an object's coverage of a pixel: "soft" (the drawer's sigmoid), or
    # "hard-in-eval" (soft in training mode, in eval mode 1 where the sigmoid passes 1/2, else 0: the hard edges of
    # data drawn without anti-aliasing, as `shapes` is, where the soft coverage blurred them)
    slot_word_gate: bool = False  # read in order: each word's weight in its segment's read and presence is learned
    # (a sigmoid a token, starting at 0.98), so words around the scene ("please draw") can weigh nothing
    slot_read_noise: float = 0.0  # read in order, training mode only: what the slots read (not where the cuts fall)
    # comes from token vectors with Gaussian noise of this many times each vector's own standard deviation, so the
    # reading leans on directions that words near ours in the text encoder's space share (held-out synonyms)
    text_encoder: str = "all-MiniLM-L6-v2"  # the encoder the model was trained with
    dataset: str = "shapes"  # the data the model was trained on (for eval defaults and metadata)

    def __post_init__(self):
        self._check_types_and_sizes()
        side = self.resolution
        if side < 32 or side > 256 or side & (side - 1):
            raise ValueError(f"resolution must be a power of two from 32 to 256, got {side}")
        if self.slot_noise not in ("all", "where"):
            raise ValueError(f"slot_noise must be 'all' or 'where', got {self.slot_noise!r}")
        if self.slot_read not in ("compete", "segments", "gated-cuts", "cuts"):
            raise ValueError(f"slot_read must be 'compete', 'segments', 'gated-cuts' or 'cuts', got {self.slot_read!r}")
        if not 0.0 <= self.slot_separation <= 2.0 or (self.slot_separation and self.slot_read == "compete"):
            raise ValueError(f"slot_separation must be from 0 to 2, and not with slot_read 'compete', "
                             f"got {self.slot_separation!r}")
        if self.slot_direction not in ("any", "words") or (self.slot_direction == "words" and (
                not self.slot_separation or self.slot_noise != "where")):
            raise ValueError(f"slot_direction must be 'any' or 'words' (with a slot_separation and slot_noise "
                             f"'where'), got {self.slot_direction!r}")
        if self.slot_distance not in ("step", "own") or (self.slot_distance == "own" and not self.slot_separation):
            raise ValueError(f"slot_distance must be 'step' or 'own' (with a slot_separation), "
                             f"got {self.slot_distance!r}")
        if self.slot_probe and (len(self.slot_probe) < 2 or not all(2 <= classes <= 64 for classes in self.slot_probe)
                                or self.slot_read == "compete" or self.slot_noise != "where"):
            raise ValueError(f"slot_probe must list at least two class counts from 2 to 64 (with slots read in "
                             f"order and slot_noise 'where'), got {list(self.slot_probe)}")
        if self.slot_probe and self.slot_direction == "words" and self.slot_probe[-1] != 4:
            raise ValueError(f"with slot_direction 'words' the relations probed are the four directions (left, "
                             f"right, above, below), got {self.slot_probe[-1]} relation classes")
        if self.slot_look not in ("state", "words") or (self.slot_look == "words" and (
                self.slot_read == "compete" or self.slot_noise != "where")):
            raise ValueError(f"slot_look must be 'state' or 'words' (with slots read in order and slot_noise "
                             f"'where'), got {self.slot_look!r}")
        if self.slot_presence not in ("sigmoid", "exact", "exact-in-eval") or (
                self.slot_presence != "sigmoid" and self.slot_read == "compete"):
            raise ValueError(f"slot_presence must be 'sigmoid', 'exact' or 'exact-in-eval' (with slots read in "
                             f"order), got {self.slot_presence!r}")
        if self.slot_alpha not in ("soft", "hard-in-eval") or (self.slot_alpha != "soft" and not self.slots):
            raise ValueError(f"slot_alpha must be 'soft' or 'hard-in-eval' (a slot generator's), "
                             f"got {self.slot_alpha!r}")
        if self.slot_word_gate and self.slot_read == "compete":
            raise ValueError("slot_word_gate needs slots read in order (slot_read other than 'compete')")
        if not 0.0 <= self.slot_read_noise <= 4.0 or (self.slot_read_noise and self.slot_read == "compete"):
            raise ValueError(f"slot_read_noise must be from 0 to 4, and needs slots read in order (slot_read other "
                             f"than 'compete'), got {self.slot_read_noise!r}")
        if self.grey and self.slots:
            raise ValueError("grey is the DF-GAN network's (slots 0): a slot generator paints its objects' colours")
        if self.backdrop is not None and (self.slots or not -1.0 <= self.backdrop <= 1.0):
            raise ValueError(f"backdrop is the DF-GAN network's (slots 0), a value in [-1, 1], got {self.backdrop}")
        if self.learned_prior and not self.slots:
            raise ValueError("learned_prior is a slot generator's (slots > 0)")
        if self.render_window and (not self.slots or not 8 <= self.render_window <= side):
            raise ValueError(f"render_window is a slot generator's, from 8 pixels to the resolution ({side}), "
                             f"got {self.render_window}")
        if self.critic_head_kernel not in (1, 3):
            raise ValueError(f"critic_head_kernel must be 1 or 3, got {self.critic_head_kernel}")
        if self.rgb_shuffle not in (1, 2, 4) or side // self.rgb_shuffle < 16:
            raise ValueError(f"rgb_shuffle must be 1, 2 or 4 and leave features of at least 16 x 16, "
                             f"got {self.rgb_shuffle}")
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))
        object.__setattr__(self, "slot_probe", tuple(self.slot_probe))

    def _check_types_and_sizes(self) -> None:
        """Every field of its declared type, every size in SIZES: a config read from a file is checked here, before
        anything is allocated (a `channels` of 10**6 would ask for terabytes)."""
        for name, (kind, optional) in _field_types().items():
            value = getattr(self, name)
            if optional and value is None:
                continue
            if kind is tuple:
                ok = isinstance(value, (tuple, list)) and all(_is_int(side) for side in value)
            elif kind is float:  # JSON writes 1.0 as 1.0, but a hand-written 1 is a float too
                ok = _is_int(value) or isinstance(value, float)
                if ok:
                    object.__setattr__(self, name, float(value))
            else:
                ok = _is_int(value) if kind is int else isinstance(value, kind)
            if not ok:
                wanted = "a list of integers" if kind is tuple else f"{'an' if kind is int else 'a'} {kind.__name__}"
                raise ValueError(f"model config {name} must be {wanted}{' or null' if optional else ''}, "
                                 f"got {value!r}")
        for name, (low, high) in SIZES.items():
            if not low <= getattr(self, name) <= high:
                raise ValueError(f"model config {name} must be from {low} to {high}, got {getattr(self, name)}")
        if any(not 4 <= side <= 256 for side in self.attention_resolutions):
            raise ValueError(f"model config attention_resolutions must be feature sides from 4 to 256, "
                             f"got {list(self.attention_resolutions)}")

    def channels_at(self, side: int) -> int:
        """Feature channels at a feature map of `side` x `side`."""
        return min(self.max_channels, self.channels * self.resolution // side)

    @property
    def sides(self) -> list[int]:
        """Feature sides from 4 up to the top feature map: [4, 8, ..., resolution / rgb_shuffle]."""
        return [2**k for k in range(2, (self.resolution // self.rgb_shuffle).bit_length())]

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ModelConfig:
        data = json.loads(text)
        if not isinstance(data, dict):
            # a ValueError, not a TypeError: this is a bad file, which load_model reports as one
            raise ValueError(f"model config must be a JSON object, got {text[:40]!r}")  # noqa: TRY004
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"model config has unknown fields {sorted(unknown)}: made by a newer llmimg?")
        return cls(**data)


@functools.cache
def _field_types() -> dict[str, tuple[type, bool]]:
    """name -> (the class its annotation names, whether it may be None): `tuple[int, ...]` -> (tuple, False),
    `float | None` -> (float, True)."""
    found = {}
    for name, hint in typing.get_type_hints(ModelConfig).items():
        named = [arg for arg in typing.get_args(hint) if arg is not type(None)] \
            if isinstance(hint, types_module.UnionType) else [hint]
        found[name] = (typing.get_origin(named[0]) or named[0], named != [hint])
    return found


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON true is no channel count


# generous bounds: no sane model is near them
SIZES = {"noise_dim": (1, 1024), "text_dim": (1, 4096), "cond_dim": (1, 2048), "channels": (1, 1024),
         "max_channels": (1, 2048), "attention_heads": (1, 64), "slots": (0, 16)}
