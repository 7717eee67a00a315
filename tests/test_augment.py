"""DiffAugment: each image's own whole-pixel shift and half-side square, gradients through both, the policy's
names checked where a config is made, and a GAN step with it that trains the critic on augmented images only."""

import math

import pytest
import torch

from llmimg.training.augment import augment, cutout, translation
from llmimg.training.config import TrainConfig, parse_policy


def _dots(batch: int = 64) -> torch.Tensor:
    """(B, 3, 64, 64) images, each 0 but for one pixel of value 1 at (20, 40), channel c holding c + 1."""
    images = torch.zeros(batch, 3, 64, 64)
    images[:, :, 20, 40] = torch.tensor([1.0, 2.0, 3.0]).view(1, 3)
    return images


def test_translation_moves_each_image_by_its_own_whole_shift_of_at_most_an_eighth():
    torch.manual_seed(0)
    moved = translation(_dots())
    shifts = set()
    for image in moved:
        where = image[0].nonzero()
        assert len(where) == 1  # the dot moved whole: nothing interpolated, nothing lost
        (y, x), = where.tolist()
        assert image[:, y, x].tolist() == [1.0, 2.0, 3.0]  # every channel the same way
        assert abs(y - 20) <= 8 and abs(x - 40) <= 8
        shifts.add((y - 20, x - 40))
    assert len(shifts) > 20  # per image, not one shift for the batch


def test_translation_fills_what_it_uncovers_with_the_border():
    torch.manual_seed(1)
    images = torch.ones(16, 3, 64, 64)
    images[:, :, 28:36, 28:36] = -1.0  # a dark square on a white background, away from the edges
    moved = translation(images)
    assert moved.unique().tolist() == [-1.0, 1.0]  # no other value: the white border fills in
    assert (moved == -1).sum(dim=(1, 2, 3)).tolist() == [3 * 64] * 16  # the square whole in each image


def test_cutout_zeroes_one_square_of_half_the_side_clipped_by_the_edges():
    torch.manual_seed(2)
    images = torch.ones(64, 3, 64, 64)
    cut = cutout(images)
    assert set(cut.unique().tolist()) == {0.0, 1.0}
    zero = cut[:, 0] == 0
    assert torch.equal(zero[:, None].expand_as(cut), cut == 0)  # the same square in every channel
    for mask in zero:
        rows, columns = mask.any(dim=1).nonzero()[:, 0], mask.any(dim=0).nonzero()[:, 0]
        assert mask.sum() == len(rows) * len(columns)  # a rectangle ...
        assert 1 <= len(rows) <= 32 and 1 <= len(columns) <= 32  # ... of at most 32 px a side
        assert (len(rows) == 32 or rows[0] == 0 or rows[-1] == 63)  # shorter only where an edge cuts it
        assert (len(columns) == 32 or columns[0] == 0 or columns[-1] == 63)
    assert zero.float().mean() > 0.15  # about a quarter of the pixels (less where squares leave the image)


def test_gradients_flow_through_both_to_exactly_the_pixels_used():
    torch.manual_seed(3)
    images = torch.randn(8, 3, 64, 64, requires_grad=True)
    out = augment(images, ("translation", "cutout"))
    weight = torch.randn_like(out)
    (out * weight).sum().backward()
    assert torch.isfinite(images.grad).all() and images.grad.abs().sum() > 0
    torch.manual_seed(3)  # the same draws: the gradient of a gather and a mask, by hand
    torch.randn(8, 3, 64, 64)
    by_hand = torch.zeros_like(images)
    shifted = translation(torch.arange(64 * 64.0).view(1, 1, 64, 64).expand(8, 3, -1, -1).contiguous())
    kept = cutout(torch.ones(8, 3, 64, 64))
    by_hand.flatten(2).scatter_add_(2, shifted.flatten(2).long(), (weight * kept).flatten(2))
    assert torch.allclose(images.grad, by_hand)


def test_policy_names_are_checked_where_the_config_is_made():
    assert parse_policy("translation, cutout") == ("translation", "cutout")
    assert parse_policy("") == ()
    with pytest.raises(ValueError, match="--augment: unknown color"):
        TrainConfig(augment="translation,color")


def test_a_gan_step_with_augment_shows_the_critic_augmented_images_only(tmp_path, text_encoder, monkeypatch):
    from llmimg.training import objectives
    from llmimg.training.trainer import Trainer

    config = TrainConfig(out=str(tmp_path / "run"), model="gan-tiny", steps=1, batch_size=4, eval_n=0,
                         sample_every=0, precompute_text=False, augment="translation,cutout", r1_every=1)
    trainer = Trainer(config, text_encoder)
    seen = []
    critic_forward = type(trainer.critic).features
    monkeypatch.setattr(type(trainer.critic), "features",
                        lambda self, images: seen.append(images.detach().clone()) or critic_forward(self, images))
    calls = []
    monkeypatch.setattr(objectives, "augment", lambda images, policy: calls.append(policy) or images * 0 + 0.5)
    images, captions = zip(*(trainer.dataset[i] for i in range(4)))
    losses = trainer.train_step(torch.stack(images), list(captions))
    assert all(math.isfinite(value) for value in losses.values()) and "r1" in losses
    assert calls == [("translation", "cutout")] * 2  # the critic's step (real and generated), the generator's
    assert seen and all(bool((batch == 0.5).all()) for batch in seen)  # never an image the augmentation skipped
