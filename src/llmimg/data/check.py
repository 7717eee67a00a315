"""Find what would be skipped or look wrong in a training set, before training: `llmimg data check DIR`.

Reads every sample of a folder (metadata.jsonl or .csv, or class folders; data/imagefolder.py) or of tar shards
and reports images that can't be decoded (unreadable), end early (truncated), are smaller than the model sees
(tiny), have an unusual mode (e.g. CMYK, 16-bit or 1-bit), samples without a caption or without an image, and
metadata lines that training leaves out (bad-metadata: malformed, or naming a file outside the folder).
`iter_samples` is also what `llmimg data pack` reads.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

from PIL import Image, UnidentifiedImageError
from tqdm import tqdm

from llmimg.data.datasets import IMAGE_SUFFIXES, class_caption, class_folder_files
from llmimg.data.imagefolder import DEFAULT_TEMPLATE, metadata_root, read_metadata, refuse_caption_column
from llmimg.data.shards import expand_shards, is_shard_spec, scan_shard

USUAL_MODES = {"RGB", "RGBA", "L", "LA", "P"}  # what training converts without surprises
SKIPPED = ("unreadable", "truncated", "missing-caption", "missing-image")  # kinds that training leaves out
KINDS = SKIPPED + ("tiny", "mode", "not-an-image", "bad-metadata")  # the last two are no sample


@dataclass
class Sample:
    """One sample of a source: a name to report, its caption (None if it has none), and how to read its image."""

    name: str  # path, or shard:member
    caption: str | None  # None when the sample has no caption
    read: Callable[[], bytes] | None  # None when the sample has no image


@dataclass
class Problem:
    name: str  # the file or shard member
    kind: str  # one of KINDS
    detail: str  # what exactly, e.g. the decoder's message or the image size


@dataclass
class CheckReport:
    source: str  # what was checked
    samples: int  # samples seen (images and caption-only entries)
    problems: list[Problem] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        counted = Counter(problem.kind for problem in self.problems)
        return {kind: counted[kind] for kind in KINDS if counted[kind]}

    @property
    def usable(self) -> int:
        """Samples that training reads (every sample minus the skipped kinds; not-an-image files are no sample)."""
        return self.samples - sum(self.counts.get(kind, 0) for kind in SKIPPED)

    def table(self, limit: int = 50) -> str:
        lines = [f"{self.source}: {self.samples} samples, {self.usable} usable"]
        lines += [f"  {kind:<16} {count}" for kind, count in self.counts.items()]
        if self.problems:
            width = min(60, max(len(p.name) for p in self.problems))
            lines += ["", f"{'file':<{width}}  {'problem':<16} detail"]
            lines += [f"{p.name[-width:]:<{width}}  {p.kind:<16} {p.detail}" for p in self.problems[:limit]]
            if len(self.problems) > limit:
                lines.append(f"... and {len(self.problems) - limit} more (--json lists all)")
        return "\n".join(lines)

    def to_json(self) -> str:
        return json.dumps({"source": self.source, "samples": self.samples, "usable": self.usable,
                           "counts": self.counts, "problems": [asdict(p) for p in self.problems]}, indent=2)


def inspect_image(data: bytes, min_size: int) -> tuple[str, str] | None:
    """(kind, detail) of what is wrong with encoded image bytes, or None when they are fine."""
    if not data:
        return "unreadable", "empty file"
    try:
        with Image.open(io.BytesIO(data)) as image:
            size, mode = image.size, image.mode
            image.load()  # decodes all of it: a cut-off file fails here
    except UnidentifiedImageError:
        return "unreadable", "not an image PIL can decode"
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as error:
        message = str(error)
        return ("truncated" if "truncated" in message.lower() else "unreadable"), message[:120]
    if min(size) < min_size:
        return "tiny", f"{size[0]}x{size[1]} (under {min_size} px)"
    if mode not in USUAL_MODES:
        return "mode", f"mode {mode}"
    return None


def _file_reader(path: Path) -> Callable[[], bytes]:
    return path.read_bytes


def iter_samples(spec: str, problems: list[Problem], template: str = DEFAULT_TEMPLATE, split: str = "train",
                 caption_column: str | None = None) -> Iterator[Sample]:
    """Every sample of a folder or of shards, in the order training lists them; files that are no sample at all
    (a stray non-image in a class folder) go straight to `problems`."""
    if is_shard_spec(spec):
        refuse_caption_column(caption_column, "tar shards")
        for index, path in enumerate(expand_shards(spec)):
            for entry in scan_shard(index, path):
                read = None
                if entry.image_name is not None:
                    def read(path=path, entry=entry) -> bytes:
                        with open(path, "rb") as handle:
                            return entry.read_from(handle)
                yield Sample(f"{path.name}:{entry.image_name or entry.key}", entry.caption, read)
        return
    root = Path(spec)
    if not root.is_dir():
        raise ValueError(f"{spec} is neither a folder nor tar shards")
    folder = metadata_root(root, split)
    if folder is not None:
        yield from _metadata_samples(folder, problems, caption_column)
        return
    refuse_caption_column(caption_column, "class folders")
    for path, class_dir in class_folder_files(root):
        if path.suffix.lower() in IMAGE_SUFFIXES:
            yield Sample(str(path), class_caption(class_dir, template), _file_reader(path))
        else:
            problems.append(Problem(str(path), "not-an-image", f"suffix {path.suffix or '(none)'} is not read"))


def _metadata_samples(folder: Path, problems: list[Problem], caption_column: str | None) -> Iterator[Sample]:
    metadata = read_metadata(folder, caption_column)
    for number, why in metadata.rejected:  # no sample: a line training leaves out, reported
        problems.append(Problem(f"{metadata.file.name}:{number}", "bad-metadata", why))
    listed = set()
    for path, caption in metadata.items:
        listed.add(path.resolve())
        yield Sample(str(path), caption, _file_reader(path) if path.is_file() else None)
    for path in sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
        if path.resolve() not in listed:  # an image the metadata does not mention has no caption
            yield Sample(str(path), None, _file_reader(path))


def check(spec: str, min_size: int = 16, progress: bool = True, template: str = DEFAULT_TEMPLATE,
          split: str = "train", caption_column: str | None = None) -> CheckReport:
    """Inspect every sample of a folder (its `split` in the split layout) or of tar shards."""
    report = CheckReport(spec, 0)
    for _ in _inspected(spec, min_size, report, progress, template, split, caption_column):
        pass
    return report


def pack(spec: str, out: Path, per_shard: int = 1000, min_size: int = 16, template: str = DEFAULT_TEMPLATE,
         split: str = "train", caption_column: str | None = None) -> tuple[list[Path], CheckReport]:
    """Write the samples of a folder (or shards) that training would read into tar shards; the report says what
    was left out (and what was kept with a warning: tiny images, unusual modes)."""
    from llmimg.data.shards import write_shards

    report = CheckReport(spec, 0)
    inspected = _inspected(spec, min_size, report, True, template, split, caption_column)
    kept = ((sample.name, data, sample.caption) for sample, data in inspected if data is not None)
    return write_shards(kept, out, per_shard), report


def _inspected(spec: str, min_size: int, report: CheckReport, progress: bool, template: str, split: str,
               caption_column: str | None) -> Iterator[tuple[Sample, bytes | None]]:
    """Each sample with its image bytes (None when training would skip it), its problem added to `report`."""
    samples = iter_samples(spec, report.problems, template, split, caption_column)
    for sample in tqdm(samples, desc="read", disable=not progress, dynamic_ncols=True):
        report.samples += 1
        data = sample.read() if sample.read is not None else None
        found = _problem(sample, data, min_size)
        if found is not None:
            report.problems.append(Problem(sample.name, *found))
        yield sample, (None if found is not None and found[0] in SKIPPED else data)


def _problem(sample: Sample, data: bytes | None, min_size: int) -> tuple[str, str] | None:
    """The first problem of a sample: no image, then the image's own, then no caption."""
    if data is None:
        return "missing-image", "no image for this caption"
    found = inspect_image(data, min_size)
    if found is not None and found[0] in SKIPPED:
        return found
    if sample.caption is None:
        return "missing-caption", "no caption"
    return found
