"""The one typed configuration of a generator; it travels inside every exported `.safetensors` file."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, fields


@dataclass(frozen=True)
class ModelConfig:
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
    text_encoder: str = "all-MiniLM-L6-v2"  # the encoder the model was trained with
    dataset: str = "shapes"  # the data the model was trained on (for eval defaults and metadata)

    def __post_init__(self):
        side = self.resolution
        if side < 32 or side > 256 or side & (side - 1):
            raise ValueError(f"resolution must be a power of two from 32 to 256, got {side}")
        if self.critic_head_kernel not in (1, 3):
            raise ValueError(f"critic_head_kernel must be 1 or 3, got {self.critic_head_kernel}")
        if self.rgb_shuffle not in (1, 2, 4) or side // self.rgb_shuffle < 16:
            raise ValueError(f"rgb_shuffle must be 1, 2 or 4 and leave features of at least 16 x 16, "
                             f"got {self.rgb_shuffle}")
        object.__setattr__(self, "attention_resolutions", tuple(self.attention_resolutions))

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
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"model config has unknown fields {sorted(unknown)}: made by a newer llmimg?")
        return cls(**data)
