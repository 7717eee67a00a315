"""An object-slot generator: the prompt is read into a few object slots, each drawn apart and laid over a background.

For scenes of a few objects on a plain background (`shapes`). The DF-GAN generator paints every pixel from one
feature map, so two objects share features: their colours bleed, they fuse, and a size word binds to the wrong one.
Here `slots` learned queries compete for the words (slot attention: a token one slot claims the others do not
read, so one slot can take the first phrase and another the second), or (slot_read "segments") the prompt is cut
into ordered segments, one an object, at boundaries the network scores per token (or, "cuts", each cut on one
word, a softmax over the words, a cut on the last token meaning no further object), a segment with no words
making its slot absent; each slot takes its own share of the noise and
decides where its object stands, whether it is there at all, and what it looks like. A small per-pixel network
draws each object in coordinates relative to its centre (a spatial broadcast decoder, Watters et al. 2019, with
Fourier features), and the objects are laid over a background colour with their alpha masks, in slot order
(object-centric generators: GIRAFFE, GANformer2; slot attention, Locatello et al. 2020). Options: each word of a
segment weighed by a learned gate (slot_word_gate), in training mode only what the slots read taken from noisy
token vectors (slot_read_noise), and, in eval mode only, an empty slot exactly absent
(slot_presence "exact-in-eval") and hard edges (slot_alpha "hard-in-eval"). Same interface as `Generator`:
(noise, tokens, mask, pooled) -> images in [-1, 1].
"""

from __future__ import annotations

import math

import torch
from torch import nn

from llmimg.models.config import ModelConfig
from llmimg.models.layers import RowInvariantLinear, TextProjection

FREQUENCIES = (1.0, 2.0, 4.0, 8.0)  # of the relative coordinates' Fourier features, in half-periods per unit
READ_ROUNDS = 2  # rounds of slot attention over the words
BLOB_LOGIT, BLOB_FALLOFF = 2.0, 40.0  # the initial alpha: sigmoid(2 - 40 r^2), 1/2 at r = 0.22 (7 px of 64)
# slot_read "segments": a token belongs to segment number (boundaries before it), softly, with this spread; a token
# one segment away keeps exp(-1 / (2 * 0.3^2)) = 0.004 of its claim
SEGMENT_WIDTH = 0.3
BOUNDARY_BIAS = -4.0  # boundaries start rare (1.8% a token): the whole prompt starts as the first slot's
GATE_BIAS = 4.0  # slot_word_gate: every word starts at weight sigmoid(4) = 0.98
PRESENCE_SHARPNESS = 8.0  # a segment's presence, sigmoid(8 (claimed tokens - 1/2)): 0.02 empty, 0.98 for one word
MAX_TURN = torch.pi / 6  # slot_direction "words": how far the noise may turn the words' direction, either way
MAX_DISTANCE = 2.0  # slot_distance "own": a slot stands at most this far from the one before (the canvas's width)
# slot_direction "words" with slot_probe: the relation classes are directions from the slot before, in this order
# (shapes.RELATIONS: to the left of, to the right of, above, below; y grows downwards), and the relation probe's
# logits are the words' direction's cosine with each, times RELATION_SHARPNESS (0.96 for the right one when aligned)
RELATION_AXES = ((-1.0, 0.0), (1.0, 0.0), (0.0, -1.0), (0.0, 1.0))
RELATION_SHARPNESS = 5.0
CARRY_AGREEMENT = 0.5  # carry: an edit keeps the picture's places while each slot's step from the one before stays
# within 60 degrees of the one the new words give (a relation turned around, or across, takes the words' places)
PRIOR_LOGVAR = (-6.0, 2.0)  # learned_prior: the prior's log-variance, clamped (a standard deviation of 0.05 to 2.7)


def axis_fourier(offset: torch.Tensor) -> torch.Tensor:
    """(...) offsets along one axis -> (..., 1 + 2F): themselves, then sin and cos of pi * f * each."""
    scaled = torch.pi * offset[..., None] * offset.new_tensor(FREQUENCIES)
    return torch.cat([offset[..., None], scaled.sin(), scaled.cos()], dim=-1)


def order_features(weight: torch.Tensor) -> torch.Tensor:
    """(B, T) token weights (0: not read) -> (B, T, 1 + 2F): each read token's place in the prompt, in (0, 1], and
    its sin and cos at FREQUENCIES."""
    read = (weight > 0).to(weight.dtype)
    place = read.cumsum(1) / read.sum(1, keepdim=True).clamp(min=1)  # (B, T)
    scaled = torch.pi * place[..., None] * place.new_tensor(FREQUENCIES)
    return torch.cat([place[..., None], scaled.sin(), scaled.cos()], dim=-1)


def segment_claims(boundary: torch.Tensor, weight: torch.Tensor, slots: int) -> torch.Tensor:
    """(B, T) boundary probabilities and token weights (0: not read) -> (B, slots, T) claims. A token's place is the
    number of boundaries before it (a boundary token ends its segment), and slot k claims the tokens whose place is
    near k: exp(-(place - k)^2 / (2 SEGMENT_WIDTH^2)); the last slot also claims what lies past its own segment. No
    boundary: slot 0 claims the prompt, the others nothing."""
    boundary = boundary * weight
    place = (boundary.cumsum(1) - boundary).clamp(max=slots - 1)  # (B, T): words past the last cut: last slot's
    number = torch.arange(slots, device=place.device, dtype=place.dtype)
    claims = torch.exp(-(place[:, None, :] - number[None, :, None]).pow(2) / (2 * SEGMENT_WIDTH**2))
    return claims * weight[:, None, :]


def segment_presence(mass: torch.Tensor, kind: str = "sigmoid") -> torch.Tensor:
    """How present a slot is from how many words its segment claims (any shape, in (0, 1)): sigmoid(8 (mass - 1/2)),
    0.018 for an empty segment and 0.982 for one word; "exact" rescales that to 0 and 1 there (clamped beyond):
    slots15's 0.02 was drawn as a pale ghost of a whole second object beside every one-object prompt."""
    presence = torch.sigmoid(PRESENCE_SHARPNESS * (mass - 0.5))
    if kind == "sigmoid":
        return presence
    floor = 1.0 / (1.0 + math.exp(PRESENCE_SHARPNESS / 2))
    return ((presence - floor) / (1.0 - 2.0 * floor)).clamp(0.0, 1.0)


class SlotGenerator(nn.Module):
    """noise (B, noise_dim) + text -> images (B, 3, R, R): `config.slots` objects over a background."""

    def __init__(self, config: ModelConfig):
        super().__init__()
        self.config = config
        width, slots, hidden = config.cond_dim, config.slots, config.channels * 4
        self.text = TextProjection(config.text_dim, width)
        self.queries = nn.Parameter(torch.randn(slots, width) / width**0.5)
        self.noise = nn.Linear(config.noise_dim, slots * width)  # each slot's share of the noise
        self.read_norm = nn.LayerNorm(width)
        # read in order (every slot_read but "compete"): the prompt is cut into ordered segments, one a slot, and
        # each slot is placed knowing where the slot before it stands (for the relation words). "segments": a
        # boundary score a token; "cuts": each of the slots - 1 cuts falls on one word (a softmax over the words,
        # which ignores a bias: none), a cut on the last token ([SEP]) leaving the slots after it empty;
        # "gated-cuts": the sentence also says whether each cut is there
        ordered = config.slot_read != "compete"
        cuts = config.slot_read in ("cuts", "gated-cuts")
        self.boundary = nn.Linear(width, slots - 1 if cuts else 1, bias=not cuts) if ordered else None
        self.cuts = nn.Linear(width, slots - 1) if config.slot_read == "gated-cuts" else None  # one logit a cut
        if self.boundary is not None:
            nn.init.zeros_(self.boundary.weight)
            if not cuts:
                nn.init.constant_(self.boundary.bias, BOUNDARY_BIAS)
        self.read_key_value = nn.Linear(width, (1 if ordered else 2) * width)  # in order: no keys
        # slot_word_gate: how much each word weighs in its segment (words around the scene can learn to weigh nothing)
        self.word_gate = nn.Linear(width, 1) if config.slot_word_gate else None
        if self.word_gate is not None:
            nn.init.zeros_(self.word_gate.weight)
            nn.init.constant_(self.word_gate.bias, GATE_BIAS)
        self.read_order = None if ordered else nn.Linear(1 + 2 * len(FREQUENCIES), width)  # a token's place
        self.read_update = nn.Sequential(nn.LayerNorm(width), nn.Linear(width, width), nn.LeakyReLU(0.2),
                                         nn.Linear(width, width))
        # with slot_noise "where" the noise only places the objects: what they look like comes from the words alone
        self.noise_in_state = config.slot_noise == "all"
        inputs = (3 if self.noise_in_state else 2) * width  # read words, sentence (and the noise)
        self.state = nn.Sequential(nn.Linear(inputs, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                                   nn.LeakyReLU(0.2))
        where_inputs = (width if self.noise_in_state else 2 * width) + (2 if ordered else 0)
        # centre (x, y) and presence logit; read in order, presence is the words' alone (the prompt says how many),
        # and with slot_distance "own" the third output is the distance from the slot before
        own_distance = config.slot_distance == "own"
        self.where = RowInvariantLinear(where_inputs, 3 if own_distance or not ordered else 2)
        if own_distance:  # starting about as far as slots5's first steps: 0.5 + 1.5 sigmoid(-2) = 0.68 (22 px)
            nn.init.constant_(self.where.bias[2], -2.0)
        # slot_direction "words": from the slot before, the direction is the words' (the relation), the distance
        # and a turn of at most MAX_TURN the noise's
        by_words = config.slot_direction == "words"
        self.direction = RowInvariantLinear(width + 2, 2) if by_words else None  # from the state and the centre before
        self.spread = nn.Linear(width, 2) if by_words else None  # from the slot's noise: extra distance, turn
        if by_words and own_distance:  # the distance's logit: starting as far as the where layer's (above)
            nn.init.constant_(self.spread.bias[0], -2.0)
        # slot_look "words": the drawing's state from the slot's own words alone (the sentence names every object:
        # slots14 drew the first-named object in either slot, its place following the words, so half the relations
        # came out mirrored; docs/MODELS.md, run AE)
        self.look = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.2), nn.Linear(width, width),
                                  nn.LeakyReLU(0.2)) if config.slot_look == "words" else None
        self.background = nn.Linear(width, 3)  # from the sentence
        # learned_prior: the noise's prior from the sentence, N(mu, exp(logvar)), starting as N(0, I) (a zero last
        # layer); forward's noise is standard and is moved onto it, so sampling and edits are unchanged
        self.prior_moments = nn.Sequential(nn.Linear(width, width), nn.LeakyReLU(0.2),
                                           nn.Linear(width, 2 * config.noise_dim)) if config.learned_prior else None
        if self.prior_moments is not None:
            nn.init.zeros_(self.prior_moments[-1].weight)
            nn.init.zeros_(self.prior_moments[-1].bias)
        # training only (slot_probe): linear probes of each attribute from what a slot reads, and of its relation to
        # the slot before from its state; a loss on them (training.losses.slot_probe_loss) teaches each slot to read
        # its own object's words, which the pixels alone taught badly (slots8 cut the prompt inside the second
        # object's phrase: its colour word went to the first slot, and the second object came out in mixed colour)
        # (with slot_direction "words" the relation is read off the words' direction itself: RELATION_AXES)
        probe = config.slot_probe
        self.probe = nn.Linear(width, sum(probe[:-1])) if probe else None
        self.relation_probe = nn.Linear(width, probe[-1]) if probe and not by_words else None
        # the per-pixel drawer: relative coordinates' features, modulated by the slot's state (FiLM), to rgb + alpha
        # (its inputs: x and y, then sin of each at each frequency, then cos: f0 x, f0 y, f1 x, ...)
        self.coordinates = nn.Linear(2 + 4 * len(FREQUENCIES), hidden)
        self.film = nn.Linear(width, 2 * hidden)
        self.draw = nn.Sequential(nn.LeakyReLU(0.2), nn.Linear(hidden, hidden), nn.LeakyReLU(0.2),
                                  nn.Linear(hidden, 4))
        nn.init.zeros_(self.background.weight)  # start on white, as every bundled dataset is
        nn.init.ones_(self.background.bias)

    def words(self, tokens: torch.Tensor, pooled: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """The projected words (B, T, C) and sentence (B, C), and the words whose values the slots read: the same,
        but in training mode with slot_read_noise, projected from tokens with Gaussian noise of that many times each
        token vector's own standard deviation."""
        words, sentence = self.text(tokens, pooled)
        scale = self.config.slot_read_noise
        if not (self.training and scale > 0):
            return words, sentence, words
        noisy = tokens + scale * tokens.std(dim=-1, keepdim=True) * torch.randn_like(tokens)
        return words, sentence, self.text(noisy, pooled)[0]

    def read(self, words: torch.Tensor, mask: torch.Tensor, sentence: torch.Tensor,
             values: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor | None]:
        """What each slot reads from the words, (B, T, C) -> (B, slots, C), and when the slots read in order (every
        slot_read but "compete") how present each slot's segment is, (B, slots) in (0, 1) (None otherwise). Read in
        order, the segments are cut on `words` and their means taken of `values` (default: `words`)."""
        normed = self.read_norm(words)
        weight = mask.to(words.dtype) if mask.dtype == torch.bool else mask.to(words.dtype).exp()  # (B, T): 0 drops
        if self.boundary is None:
            return self.compete(*self.read_key_value(normed).chunk(2, dim=-1), weight), None
        # the first token ([CLS]) stands for the whole sentence, which every slot has already: no slot reads it
        weight = torch.cat([torch.zeros_like(weight[:, :1]), weight[:, 1:]], dim=1)
        if self.config.slot_read == "segments":
            boundary = torch.sigmoid(self.boundary(normed)[..., 0])  # (B, T)
        else:  # each cut: where (a softmax over the words read), for gated cuts times whether (the sentence)
            where = self.boundary(normed).masked_fill(weight[..., None] == 0, -1e4).softmax(dim=1)  # (B, T, K-1)
            if self.cuts is not None:
                where = where * torch.sigmoid(self.cuts(sentence))[:, None, :]
            boundary = where.sum(-1)  # (B, T)
        claims = segment_claims(boundary, weight, self.queries.shape[0])  # (B, K, T)
        if self.word_gate is not None:
            claims = claims * torch.sigmoid(self.word_gate(normed))[..., 0][:, None, :]
        mass = claims.sum(-1)  # (B, K): how many tokens each segment holds
        values = normed if values is None else self.read_norm(values)
        read = (claims / mass[..., None].clamp(min=1e-6)) @ self.read_key_value(values)  # (B, K, C): their mean
        kind = self.config.slot_presence
        if kind == "exact-in-eval":
            kind = "sigmoid" if self.training else "exact"
        return self.queries.to(words.dtype) + self.read_update(read), segment_presence(mass, kind)

    def prior(self, tokens, mask, pooled) -> tuple[torch.Tensor, torch.Tensor]:
        """The noise's prior given the text: (mu, logvar), each (B, noise_dim); N(0, I) without learned_prior."""
        if self.prior_moments is None:
            zeros = pooled.new_zeros(pooled.shape[0], self.config.noise_dim)
            return zeros, zeros
        return self._prior(self.text(tokens, pooled)[1])

    def _prior(self, sentence: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.prior_moments(sentence).chunk(2, dim=-1)
        return mu, logvar.clamp(*PRIOR_LOGVAR)

    def carry(self, latent: torch.Tensor, source: tuple, target: tuple) -> torch.Tensor:
        """An edit's latent for other words: `latent` (B, noise_dim) is standard noise under the prior of the
        `source` words (tokens, mask, pooled), as the image encoder gives it; returned is the same noise in the
        network's own units (prior mu + sigma x latent) standardised by the `target` words' prior. The noise sets
        where the objects stand, so they stay where the picture has them when a colour, shape or size changes;
        standardised by the source words' prior and drawn under the target's, a size word's prior moved them
        (docs/EDITING.md). A row whose carried layout would turn a present slot away from the side the target words
        give it (the cosine of its step from the slot before, against the step the target words place at `latent`
        itself, below CARRY_AGREEMENT: a relation changed) keeps `latent`, and the words' places. Without a learned
        prior the latent is the network's noise already, and is returned as it is."""
        if self.prior_moments is None:
            return latent
        source_mu, source_logvar = self.prior(*source)
        target_mu, target_logvar = self.prior(*target)
        carried = (source_mu + torch.exp(0.5 * source_logvar) * latent - target_mu) * torch.exp(-0.5 * target_logvar)
        kept = self.layout(carried, *target)[1]
        _, worded, presence, _ = self.layout(latent, *target)
        turn = nn.functional.cosine_similarity(kept[:, 1:] - kept[:, :-1], worded[:, 1:] - worded[:, :-1], dim=-1)
        agree = ((turn >= CARRY_AGREEMENT) | (presence[:, 1:] < 0.5)).all(dim=1)  # (B,)
        return torch.where(agree[:, None], carried, latent)

    def probe_logits(self, tokens, mask, pooled) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """slot_probe: per slot, the attribute probes' logits from what it reads (B, K, sum of slot_probe[:-1]), the
        relation probe's from its state (B, K, slot_probe[-1]; with slot_direction "words" from the direction the
        words give it, against RELATION_AXES), and its presence (B, K) in (0, 1)."""
        words, sentence, values = self.words(tokens, pooled)
        read, presence = self.read(words, mask, sentence, values)
        state = self.state(torch.cat([read, sentence[:, None].expand_as(read)], dim=-1))
        if self.direction is None:
            return self.probe(read), self.relation_probe(state), presence
        # the direction the words give each slot from one before it in the middle of the canvas (the prior's mean
        # place): the reconstruction alone left it pointing one way for every relation (docs/MODELS.md, run V)
        direction = self.direction(torch.cat([state, torch.zeros_like(state[..., :2])], dim=-1))
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        relation = RELATION_SHARPNESS * direction @ direction.new_tensor(RELATION_AXES).T
        return self.probe(read), relation, presence

    def placement_logits(self, noise, tokens, mask, pooled) -> torch.Tensor:
        """Where each slot stands from the one before it, as relation logits (B, K, 4): RELATION_SHARPNESS x the
        cosine of the direction between their centres with each of RELATION_AXES (the first slot's: zeros). A loss
        on them against the caption's relations (training.losses.slot_placement_loss) ties the slots' order to the
        picture's: slots8 placed the first-named object's slot on either object, and drew both in a mixed colour."""
        centres = self.layout(noise, tokens, mask, pooled)[1].float()  # (B, K, 2)
        step = centres[:, 1:] - centres[:, :-1]
        direction = step / step.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        logits = RELATION_SHARPNESS * direction @ direction.new_tensor(RELATION_AXES).T  # (B, K - 1, 4)
        return torch.cat([torch.zeros_like(logits[:, :1]), logits], dim=1)

    def compete(self, key: torch.Tensor, value: torch.Tensor, weight: torch.Tensor,
                rounds: int = READ_ROUNDS) -> torch.Tensor:
        """Slot attention (Locatello et al. 2020) over the prompt's tokens: each token's attention is a softmax over
        the slots, so a token one slot claims the others do not read, then each slot takes the mean of what it
        claimed; `rounds` times, each round refining the slots' queries. Plain cross-attention let every slot read
        every phrase, and two-object scenes came out with both objects in one mixed colour.
        """
        key = key + self.read_order(order_features(weight))  # "the first phrase" is then a direction of the key
        slots = self.queries.to(key.dtype).expand(key.shape[0], -1, -1)  # (B, K, C)
        for _ in range(rounds):
            claims = (slots @ key.transpose(1, 2) / key.shape[-1] ** 0.5).softmax(dim=1)  # (B, K, T), over slots
            claims = claims * weight[:, None, :]
            read = (claims / claims.sum(-1, keepdim=True).clamp(min=1e-6)) @ value  # (B, K, C): mean of claims
            slots = slots + self.read_update(read)
        return slots

    def layout(self, noise, tokens, mask, pooled) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per slot: the state its drawing reads (B, K, C), centre (B, K, 2) in [-1, 1], presence (B, K) in (0, 1);
        and the background colour (B, 3)."""
        words, sentence, values = self.words(tokens, pooled)
        slots = self.queries.shape[0]
        if self.prior_moments is not None:  # standard noise onto the words' prior (a VAE's posterior sample comes
            mu, logvar = self._prior(sentence)  # standardised by it: training.objectives.posterior_noise)
            noise = mu + torch.exp(0.5 * logvar) * noise
        own_noise = self.noise(noise).unflatten(1, (slots, -1))  # (B, K, C)
        (read, worded), sentence = self.read(words, mask, sentence, values), sentence[:, None].expand(-1, slots, -1)
        if self.noise_in_state:
            state = self.state(torch.cat([read, own_noise, sentence], dim=-1))
            where_in = state
        else:
            state = self.state(torch.cat([read, sentence], dim=-1))
            where_in = torch.cat([state, own_noise], dim=-1)
        background = self.background(sentence[:, 0])
        if worded is None:
            where = self.where(where_in)
            return state, torch.tanh(where[..., :2]), torch.sigmoid(where[..., 2] + 3.0), background
        first = self.where(torch.cat([where_in[:, 0], torch.zeros_like(where_in[:, 0, :2])], -1))  # no slot before
        centres = [torch.tanh(first[:, :2])]
        for slot in range(1, slots):  # slot by slot, each placed knowing where the one before stands
            if self.direction is None:
                step = self.where(torch.cat([where_in[:, slot], centres[-1]], dim=-1))
            else:
                step = self.step_by_words(state[:, slot], own_noise[:, slot], centres[-1])
            centres.append(self.place_after(centres[-1], step))
        look = state if self.look is None else self.look(read)
        return look, torch.stack(centres, dim=1), worded, background

    def step_by_words(self, state: torch.Tensor, own_noise: torch.Tensor, before: torch.Tensor) -> torch.Tensor:
        """slot_direction "words": the step (B, 2) from the slot before, its direction from the slot's state and the
        centre before (the words: "to the left of"), turned by at most MAX_TURN and lengthened by the noise; with
        slot_distance "own" (B, 3): the unit direction, then the distance's logit from the noise."""
        direction = self.direction(torch.cat([state, before], dim=-1))
        direction = direction / direction.norm(dim=-1, keepdim=True).clamp(min=1e-6)
        extra, turn = self.spread(own_noise).unbind(-1)
        cos, sin = torch.cos(MAX_TURN * torch.tanh(turn)), torch.sin(MAX_TURN * torch.tanh(turn))
        turned = torch.stack([cos * direction[:, 0] - sin * direction[:, 1],
                              sin * direction[:, 0] + cos * direction[:, 1]], dim=-1)
        if self.config.slot_distance == "own":  # the distance bounded (place_after): its logit as a third column
            return torch.cat([turned, extra[:, None]], dim=-1)
        return turned * nn.functional.softplus(extra)[:, None]

    def place_after(self, before: torch.Tensor, step: torch.Tensor) -> torch.Tensor:
        """The centre (B, 2) of a slot from the one before it and the where layer's output (B, 2 or 3): with no
        separation its own place, tanh(step); else `before` moved along step[:, :2] by slot_separation + |step|
        (the canvas's edge aside, never nearer than slot_separation), or with slot_distance "own" by
        slot_separation + (MAX_DISTANCE - slot_separation) * sigmoid(step[:, 2]). Tying the distance to the step's
        length let a VAE's encoder, sharpening the direction by lengthening the step, push the slot off the canvas
        without bound: its KL went from 30 to 10^8 within 500 steps (docs/MODELS.md, the slots5 recipe run)."""
        separation = self.config.slot_separation
        if not separation:
            return torch.tanh(step)
        step, distance = step[:, :2], step[:, 2:]
        length = step.norm(dim=-1, keepdim=True)
        beyond = (MAX_DISTANCE - separation) * torch.sigmoid(distance) if distance.shape[1] else length
        centre = before + step / length.clamp(min=1e-6) * (separation + beyond)
        # kept on the canvas, with the gradient of the unclamped centre (straight through): a slot pushed off the
        # canvas still learns to come back
        return centre + (centre.clamp(-1.0, 1.0) - centre).detach()

    def axis_features(self, offset: torch.Tensor, axis: int) -> torch.Tensor:
        """The coordinate layer's share of one axis (0: x, 1: y): (B, K, R) offsets from each slot's centre ->
        (B, K, R, hidden), the layer's bias in y's share. The layer reads features of x alone and of y alone, so
        on the pixel grid it is a column term plus a row term: 2R rows of features a slot instead of R^2."""
        inputs = [axis] + [2 + 2 * index + axis for index in range(2 * len(FREQUENCIES))]  # sin then cos
        return nn.functional.linear(axis_fourier(offset), self.coordinates.weight[:, inputs],
                                    self.coordinates.bias if axis == 1 else None)

    def forward(self, noise, tokens, mask, pooled):
        # noise: (B, noise_dim), tokens: (B, T, text_dim), mask: (B, T), pooled: (B, text_dim) -> (B, 3, R, R)
        return self.render(*self.layout(noise, tokens, mask, pooled))

    def render(self, state: torch.Tensor, centre: torch.Tensor, presence: torch.Tensor,
               background: torch.Tensor) -> torch.Tensor:
        """A layout (`layout`'s outputs) -> images (B, 3, R, R): each slot's object drawn around its centre and laid
        over the background in slot order. With a render_window W each slot is drawn in the W x W square of pixels
        nearest its centre (W below: the canvas's side R without one) and nothing of it outside, then placed on the
        canvas: a quarter of the drawer's work at W = 32 of 64."""
        side, window = self.config.resolution, self.config.render_window or self.config.resolution
        if window < side:  # the window's pixels, (B, K, 2, W): each slot's, x then y, nearest its centre on the canvas
            start = ((centre.detach().float() + 1) * (side - 1) / 2 - (window - 1) / 2).round().clamp(0, side - window)
            pixels = start[..., None] + torch.arange(window, device=state.device, dtype=start.dtype)
            coordinates = (pixels * (2 / (side - 1)) - 1).to(state.dtype)
            offset_x, offset_y = (coordinates[:, :, index] - centre[..., index, None].to(state.dtype)
                                  for index in (0, 1))  # (B, K, W) each
        else:
            axis = torch.linspace(-1.0, 1.0, side, device=state.device, dtype=state.dtype)
            offset_x, offset_y = (axis - centre[..., index, None].to(axis.dtype) for index in (0, 1))  # (B, K, R) each
        columns, rows = self.axis_features(offset_x, 0), self.axis_features(offset_y, 1)  # (B, K, W, hidden)
        scale, shift = self.film(state).chunk(2, dim=-1)  # (B, K, hidden) each
        features = (rows[:, :, :, None] + columns[:, :, None, :]) * (1 + scale[:, :, None, None]) \
            + shift[:, :, None, None]  # (B, K, W, W, hidden): pixel (row y, column x)
        drawn = self.draw(features)  # (B, K, W, W, 4)
        # alpha starts as a soft disc around the centre (radius about a fifth of the image), so a slot's position
        # gets a gradient from the first step; the drawer learns the shape on top of it
        squared = offset_y.pow(2)[..., :, None] + offset_x.pow(2)[..., None, :]  # (B, K, W, W)
        disc = BLOB_LOGIT - BLOB_FALLOFF * squared[..., None]
        colour = drawn[..., :3]
        coverage = drawn[..., 3:] + disc  # a logit
        alpha = torch.sigmoid(coverage)
        if self.config.slot_alpha == "hard-in-eval" and not self.training:  # hard edges, as the data's
            hard = (coverage > 0).to(coverage.dtype)
            # with a gradient wanted (an edit's latent refined, pipeline/edit.py), the soft coverage's, straight through
            alpha = alpha + (hard - alpha).detach() if torch.is_grad_enabled() else hard
        alpha = alpha * presence[:, :, None, None, None]
        if window < side:  # each window onto the canvas through 0/1 matrices (B, K, W, R) of its rows and columns
            canvas = torch.arange(side, device=state.device, dtype=pixels.dtype)
            rows_of, columns_of = ((pixels[:, :, index, :, None] == canvas).to(colour.dtype) for index in (1, 0))
            placed = torch.einsum("bkiy,bkijc,bkjx->bkyxc", rows_of, torch.cat([colour, alpha], dim=-1), columns_of)
            colour, alpha = placed[..., :3], placed[..., 3:]
        image = background[:, None, None, :].expand(-1, side, side, -1)  # (B, R, R, 3)
        for slot in range(colour.shape[1]):  # in slot order: a later slot covers an earlier one
            image = image * (1 - alpha[:, slot]) + colour[:, slot] * alpha[:, slot]
        return image.permute(0, 3, 1, 2)  # (B, 3, R, R)
