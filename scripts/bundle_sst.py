"""Build the SST bundle in data/sst/ from the real files under $DLCOURSE_DATA/sst/.

    DLCOURSE_DATA=../shared/data python scripts/bundle_sst.py

Copies the three split files as they are and writes ``glove_6b_50d_sst_train.npz``: the 50-d GloVe
vectors of the words of the train vocabulary (all the lab's embedding matrix uses), in float16,
``words`` (n,) str and ``vectors`` (n, 50) float16, in the vocabulary's order (the instructors'
reference ``Vocab``: this script is not part of the student handout).
"""

from __future__ import annotations

import shutil
import sys

import numpy as np

from autograder.reference import lab3 as reference
from dlcourse import config
from dlcourse.data import sst


def main() -> int:
    source = config.data_root() / "sst"
    glove_file = source / sst.GLOVE_FILE
    missing = [
        p
        for p in [glove_file, *(source / f"sst_{s}_raw.csv" for s in sst.SPLITS)]
        if not p.is_file()
    ]
    if missing:
        print(
            f"missing {', '.join(map(str, missing))}: set DLCOURSE_DATA to the folder that "
            "holds sst/",
            file=sys.stderr,
        )
        return 1
    sst.BUNDLED_DIR.mkdir(parents=True, exist_ok=True)
    for split in sst.SPLITS:
        shutil.copyfile(source / f"sst_{split}_raw.csv", sst.BUNDLED_DIR / f"sst_{split}_raw.csv")
    instances = reference.read_instances(source / "sst_train_raw.csv")
    vocab = reference.Vocab(reference.token_frequencies(instances))
    glove = sst.read_glove(glove_file)
    words = [word for word in vocab.itos if word in glove]
    np.savez_compressed(
        sst.BUNDLED_GLOVE,
        words=np.array(words),
        vectors=np.stack([glove[w] for w in words]).astype(np.float16),
    )
    print(
        f"wrote {sst.BUNDLED_DIR}: 3 split files, {len(words)} of {len(vocab.itos) - 2} train "
        f"words' vectors ({sst.BUNDLED_GLOVE.stat().st_size:,} bytes)"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
