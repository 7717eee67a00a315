"""llmimg data check my_images/ --json report.json

Look after a training set. `check` reads every image of a folder or of tar shards and lists the unreadable,
truncated, tiny and oddly-moded ones, the samples without a caption or an image and the metadata lines training
leaves out (exit code 1 when it lists any, or when no sample is usable). Folders are read as training reads them:
class folders, or Hugging Face imagefolder metadata (metadata.jsonl or metadata.csv with file_name and a `text`
or `caption` column, or the one --caption-column names), at the top or in split sub-folders (train/metadata.jsonl;
--split picks one).
`pack` writes the samples that training would read into tar shards (WebDataset layout: key.png + key.txt),
for datasets too large for a folder listing:

    llmimg data pack my_images/ --out shards/ --samples-per-shard 1000
    llmimg train --data shards/ --out runs/mine
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from llmimg.cli.args import counted


def add_parser(commands) -> None:
    parser = commands.add_parser("data", help="check a dataset, or pack it into tar shards", description=__doc__,
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser("check", help="report unreadable, truncated, tiny, odd-mode and uncaptioned samples")
    check.add_argument("source", metavar="DIR", help="a folder (metadata.jsonl or class folders) or tar shards")
    check.add_argument("--json", type=Path, default=None, help="also write the full report as JSON here")
    check.add_argument("--show", type=int, default=50, help="problems listed in the table (default: 50)")
    pack = actions.add_parser("pack", help="write the usable samples as tar shards")
    pack.add_argument("source", metavar="DIR", help="a folder (metadata.jsonl or class folders) or tar shards")
    pack.add_argument("--out", type=Path, required=True, help="folder for shard-000000.tar, ...")
    pack.add_argument("--samples-per-shard", type=int, default=1000, help="samples per tar file (default: 1000)")
    for sub in (check, pack):
        sub.add_argument("--split", default="train",
                         help="in the split layout (train/metadata.jsonl, test/...), the split read (default: train)")
        sub.add_argument("--min-size", type=int, default=16, help="smaller images count as tiny (default: 16 px)")
        sub.add_argument("--caption-template", default="a photo of a {class}",
                         help="captions of a class-folder dataset, as in train (default: %(default)s)")
        sub.add_argument("--caption-column", default=None,
                         help="the metadata column of the captions, as in train (default: the first of text, "
                              "caption present)")
    parser.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from llmimg.data.check import check, pack

    if args.action == "check":
        report = check(args.source, args.min_size, template=args.caption_template, split=args.split,
                       caption_column=args.caption_column)
        print(report.table(args.show))
        if args.json is not None:
            args.json.write_text(report.to_json() + "\n", encoding="utf-8")
        if report.usable == 0:
            print(f"llmimg data: error: no usable samples in {args.source}: training would find no images",
                  file=sys.stderr)
            return 1
        return 1 if report.problems else 0
    if args.samples_per_shard < 1:
        raise ValueError("--samples-per-shard must be at least 1")
    shards, report = pack(args.source, args.out, args.samples_per_shard, args.min_size, args.caption_template,
                          args.split, args.caption_column)
    print(f"wrote {counted(report.usable, 'sample')} in {counted(len(shards), 'shard')} to {args.out}/" +
          (f"; left out or flagged: {report.counts}" if report.problems else ""))
    return 0
